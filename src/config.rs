//! The configuration an operator writes: a TOML file, each key overridable from the environment
//! as `BROMSYNC_<SECTION>__<KEY>` (and the database URL from `DATABASE_URL`). Loading checks
//! everything a run will rely on, so that a wrong file is refused at start with a message that
//! names the key and says what would be right, never half-way through a night's runs. No error
//! quotes the file's text (a syntax error gives its line, column and key: [`syntax`]) and a
//! value echoed is clipped to 80 characters.

pub mod syntax;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use chrono_tz::Tz;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::bromcom::ClientConfig;
use crate::clip::{clip, clip_quoted};
use crate::roster::NameChoice;
use crate::schedule::CronSchedule;
use crate::snapshot::SchoolId;

/// The whole configuration, checked.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub bromcom: ClientConfig,
    #[serde(default)]
    pub sync: SyncSettings,
    #[serde(default)]
    pub daemon: DaemonSettings,
    #[serde(default)]
    pub http: HttpSettings,
    #[serde(default)]
    pub dashboard: DashboardSettings,
    #[serde(default)]
    pub schools: Vec<SchoolSettings>,
}

/// The daemon's health and metrics endpoints (`/healthz`, `/readyz`, `/metrics`): off unless
/// `listen` is set. `/metrics` has no authentication, so an address other than loopback is
/// refused unless `allow_remote` says it is meant.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    pub listen: Option<std::net::SocketAddr>,
    pub allow_remote: bool,
    /// Connections open at once; one more is closed at once.
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers (or, kept alive, its next request).
    pub header_read_timeout_secs: u64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            listen: None,
            allow_remote: false,
            max_connections: 64,
            header_read_timeout_secs: 10,
        }
    }
}

impl HttpSettings {
    fn listener(&self) -> Listener {
        Listener {
            section: "http",
            listen: self.listen,
            allow_remote: self.allow_remote,
            max_connections: self.max_connections,
            header_read_timeout_secs: self.header_read_timeout_secs,
        }
    }

    pub fn limits(&self) -> crate::http::Limits {
        self.listener().limits()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.listener().validate(
            "/metrics answers anyone who can reach it (no authentication); listen on 127.0.0.1 \
             or ::1, or set http.allow_remote = true if other hosts are meant to reach it",
        )
    }
}

/// The keys `[http]` and `[dashboard]` share: where a listener listens and its bounds. (Two
/// structs name them rather than one flattened into both, since serde cannot deny unknown keys
/// through a flattened field.)
struct Listener {
    section: &'static str,
    listen: Option<std::net::SocketAddr>,
    allow_remote: bool,
    max_connections: usize,
    header_read_timeout_secs: u64,
}

impl Listener {
    fn limits(&self) -> crate::http::Limits {
        crate::http::Limits {
            max_connections: self.max_connections,
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs),
        }
    }

    /// `remote_risk` says why this listener belongs on loopback and how to go past it.
    fn validate(&self, remote_risk: &str) -> Result<(), ConfigError> {
        let key = |name: &str| format!("{}.{name}", self.section);
        if let Some(addr) = self.listen
            && !addr.ip().to_canonical().is_loopback()
            && !self.allow_remote
        {
            return Err(invalid(
                key("listen"),
                format!("{addr} is not a loopback address: {remote_risk}"),
            ));
        }
        if self.max_connections == 0 {
            return Err(invalid(key("max_connections"), "must be at least 1"));
        }
        if self.header_read_timeout_secs == 0 {
            return Err(invalid(
                key("header_read_timeout_secs"),
                "must be at least 1 (seconds)",
            ));
        }
        Ok(())
    }
}

/// The Data Dashboard (docs/dashboard.md): off unless `listen` is set. It speaks plain HTTP for
/// a reverse proxy that holds the TLS; it listens on loopback unless `allow_remote` says
/// otherwise (as `[http]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DashboardSettings {
    pub listen: Option<std::net::SocketAddr>,
    pub allow_remote: bool,
    /// The address users reach it at through the proxy; an `https` one makes the session
    /// cookie `Secure`.
    pub public_url: Option<String>,
    /// How long a session lasts after login, in seconds.
    pub session_ttl_secs: u64,
    /// Failed logins in a row (within `lockout_secs`) after which a name is locked.
    pub lock_after_failures: u32,
    /// How long a locked name stays locked, in seconds.
    pub lockout_secs: u64,
    pub max_connections: usize,
    pub header_read_timeout_secs: u64,
}

impl Default for DashboardSettings {
    fn default() -> Self {
        DashboardSettings {
            listen: None,
            allow_remote: false,
            public_url: None,
            session_ttl_secs: 8 * 3600,
            lock_after_failures: 10,
            lockout_secs: 15 * 60,
            max_connections: 64,
            header_read_timeout_secs: 10,
        }
    }
}

impl DashboardSettings {
    /// Whether users reach the dashboard over https (through the proxy).
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|url| url.starts_with("https://"))
    }

    fn listener(&self) -> Listener {
        Listener {
            section: "dashboard",
            listen: self.listen,
            allow_remote: self.allow_remote,
            max_connections: self.max_connections,
            header_read_timeout_secs: self.header_read_timeout_secs,
        }
    }

    pub fn limits(&self) -> crate::http::Limits {
        self.listener().limits()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.listener().validate(
            "the dashboard speaks plain HTTP and belongs behind a reverse proxy that holds the \
             TLS on the same host; listen on 127.0.0.1 or ::1, or set dashboard.allow_remote = \
             true if the proxy is elsewhere",
        )?;
        if let Some(url) = &self.public_url {
            let parsed = url::Url::parse(url).map_err(|_| {
                invalid(
                    "dashboard.public_url",
                    format!("`{}` is not a URL", clip(url)),
                )
            })?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(invalid(
                    "dashboard.public_url",
                    "must start with https:// (or http:// for a trial on one machine)",
                ));
            }
        }
        if self.session_ttl_secs < 60 {
            return Err(invalid(
                "dashboard.session_ttl_secs",
                "must be at least 60 (seconds)",
            ));
        }
        if self.lock_after_failures == 0 {
            return Err(invalid(
                "dashboard.lock_after_failures",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// May hold a password: kept secret, never printed.
    pub url: SecretString,
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
}

fn default_max_connections() -> u32 {
    10
}

/// How a run treats what it is about to write.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncSettings {
    /// How long a teacher's hand-set room is kept after the teacher leaves the roster, so that
    /// it comes back with them.
    pub room_retention_days: u32,
    /// How long record history (`bromsync history`) is kept.
    pub history_retention_days: u32,
    /// A table is compared in full, whatever its edit count says, once its last full
    /// comparison is this old (0: every run), so that an edit hidden from the count is repaired.
    pub full_compare_every_hours: u32,
    pub removal_guard: RemovalGuard,
}

impl SyncSettings {
    /// How long a leaving teacher's room is kept.
    pub fn room_retention(&self) -> Duration {
        days(self.room_retention_days)
    }

    /// How long record history is kept.
    pub fn history_retention(&self) -> Duration {
        days(self.history_retention_days)
    }

    /// How long a table may go without a full comparison, whatever its edit count says.
    pub fn full_compare_every(&self) -> Duration {
        Duration::from_secs(u64::from(self.full_compare_every_hours) * 3600)
    }
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            room_retention_days: 400,
            history_retention_days: 400,
            // Not 24: a daily run starts a little later or earlier each day (the fetch comes
            // first), and one a few minutes early must still compare in full.
            full_compare_every_hours: 23,
            removal_guard: RemovalGuard::default(),
        }
    }
}

/// A run that would remove more than both `max_fraction` and `max_count` of one entity's rows,
/// or empty an entity, is refused.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemovalGuard {
    pub max_fraction: f64,
    pub max_count: u64,
}

impl Default for RemovalGuard {
    fn default() -> Self {
        RemovalGuard {
            max_fraction: 0.10,
            max_count: 25,
        }
    }
}

/// How the daemon (`bromsync run`) schedules and bounds its work.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonSettings {
    /// Cron expression for every school (5 fields, or 6 with seconds), in each school's zone.
    pub schedule: CronSchedule,
    pub max_concurrent_schools: usize,
    /// How long SIGTERM waits for runs in flight to stop before the process exits anyway.
    pub grace_period_secs: u64,
    /// After a failed run, retry after these delays (seconds) before waiting for the next
    /// scheduled trigger.
    pub retry_delays_secs: Vec<u64>,
    /// How often the daemon looks for control requests (`bromsync resync`, `approve`) that
    /// nobody is serving: a notification lost with a connection, a run that died with its
    /// daemon. Requests are normally heard at once (`LISTEN`/`NOTIFY`).
    pub control_poll_secs: u64,
}

impl Default for DaemonSettings {
    fn default() -> Self {
        DaemonSettings {
            schedule: CronSchedule::parse("0 2 * * *").expect("the default schedule parses"),
            max_concurrent_schools: 4,
            grace_period_secs: 30,
            retry_delays_secs: vec![60, 300, 1800],
            control_poll_secs: 15,
        }
    }
}

impl DaemonSettings {
    pub fn grace_period(&self) -> Duration {
        Duration::from_secs(self.grace_period_secs)
    }

    /// The periodic look for unserved control requests; at least a second.
    pub fn control_poll(&self) -> Duration {
        Duration::from_secs(self.control_poll_secs.max(1))
    }
}

/// One school this deployment syncs.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchoolSettings {
    pub id: SchoolId,
    #[serde(default)]
    pub names: NameChoice,
    /// An IANA time zone; the school's "today" and its schedule are read in it.
    #[serde(default = "default_timezone", deserialize_with = "iana_zone")]
    pub timezone: Tz,
    /// Overrides `daemon.schedule` for this school.
    #[serde(default)]
    pub schedule: Option<CronSchedule>,
    /// Overrides `sync.removal_guard` for this school.
    #[serde(default)]
    pub removal_guard: Option<RemovalGuard>,
    /// Parents and staff sign in through single sign-on: runs count who has no email.
    #[serde(default)]
    pub sso: bool,
}

fn default_timezone() -> Tz {
    chrono_tz::Europe::London
}

impl SchoolSettings {
    /// A school with every default, for the demo and tests.
    pub fn new(id: SchoolId) -> Self {
        SchoolSettings {
            id,
            names: NameChoice::default(),
            timezone: default_timezone(),
            schedule: None,
            removal_guard: None,
            sso: false,
        }
    }
}

impl Settings {
    /// The schedule of one school: its own, or the daemon's.
    pub fn schedule_of<'a>(&'a self, school: &'a SchoolSettings) -> &'a CronSchedule {
        school.schedule.as_ref().unwrap_or(&self.daemon.schedule)
    }

    /// The removal guard of one school: its own, or the sync's.
    pub fn guard_of(&self, school: &SchoolSettings) -> RemovalGuard {
        school.removal_guard.unwrap_or(self.sync.removal_guard)
    }

    pub fn school(&self, id: SchoolId) -> Option<&SchoolSettings> {
        self.schools.iter().find(|s| s.id == id)
    }
}

fn days(count: u32) -> Duration {
    Duration::from_secs(u64::from(count) * 24 * 3600)
}

/// Why a configuration was refused; every message names the key and what would be right.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration {path}: {message}")]
    Read { path: String, message: String },
    #[error("configuration file {path}: {error}")]
    Syntax {
        path: String,
        error: syntax::SyntaxError,
    },
    #[error("configuration key `{key}`: {message}")]
    Invalid { key: String, message: String },
    /// The task reading the file (for a reload) ended without an answer.
    #[error("the configuration loader stopped unexpectedly")]
    LoaderStopped,
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// An error of the `config` crate, whose text may echo a value: every quoted part clipped.
fn read_error(path: &str, error: &config::ConfigError) -> ConfigError {
    ConfigError::Read {
        path: path.to_owned(),
        message: clip_quoted(&error.to_string()),
    }
}

/// Loads the file, then the environment on top (`BROMSYNC_SECTION__KEY`, then `DATABASE_URL`
/// when `database.url` is not set by a `BROMSYNC_` variable), then checks the result.
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: shown.clone(),
        message: e.to_string(),
    })?;
    // The syntax is checked here, not by the `config` crate, whose error quotes the line.
    syntax::check(&text).map_err(|error| ConfigError::Syntax {
        path: shown.clone(),
        error,
    })?;
    let mut builder = config::Config::builder()
        .add_source(config::File::from_str(&text, config::FileFormat::Toml))
        .add_source(
            config::Environment::with_prefix("BROMSYNC")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .source(Some(section_variables())),
        );
    if std::env::var_os("BROMSYNC_DATABASE__URL").is_none()
        && let Ok(url) = std::env::var("DATABASE_URL")
    {
        builder = builder
            .set_override("database.url", url)
            .map_err(|e| invalid("DATABASE_URL", clip_quoted(&e.to_string())))?;
    }
    let raw = builder.build().map_err(|e| read_error(&shown, &e))?;
    checked(raw)
}

/// Parses a configuration given as TOML text (no environment), for tests and the demo.
pub fn from_toml(text: &str) -> Result<Settings, ConfigError> {
    syntax::check(text).map_err(|error| ConfigError::Syntax {
        path: "<inline>".to_owned(),
        error,
    })?;
    let raw = config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .build()
        .map_err(|e| read_error("<inline>", &e))?;
    checked(raw)
}

/// Deserializes the layered sources and checks what serde cannot.
fn checked(raw: config::Config) -> Result<Settings, ConfigError> {
    let settings: Settings = raw
        .try_deserialize()
        .map_err(|e| describe_serde_error(&e))?;
    settings.validate()?;
    Ok(settings)
}

/// The environment's `BROMSYNC_<SECTION>__<KEY>` variables only: others with the prefix, such
/// as `BROMSYNC_CONFIG` (the file's path), are not configuration keys.
fn section_variables() -> config::Map<String, String> {
    std::env::vars()
        .filter(|(name, _)| {
            name.strip_prefix("BROMSYNC_")
                .is_some_and(|rest| rest.contains("__"))
        })
        .collect()
}

fn describe_serde_error(error: &config::ConfigError) -> ConfigError {
    let text = clip_quoted(&error.to_string());
    // config reports "<what is wrong> for key `x`" (and writes an array element's field as
    // `schools[1]timezone`); name the key the way the file spells it, once.
    match text.rsplit_once(" for key `") {
        Some((message, rest)) => {
            let key = rest.split_once('`').map_or(rest, |(key, _)| key);
            invalid(key.replace("]", "].").trim_end_matches('.'), message)
        }
        None => invalid("<root>", text),
    }
}

/// Reads an IANA time zone name, saying what is wrong with one that is not.
fn iana_zone<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Tz, D::Error> {
    let name = String::deserialize(deserializer)?;
    name.trim().parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "`{}` is not an IANA time zone; write e.g. \"Europe/London\"",
            clip(&name)
        ))
    })
}

impl Settings {
    /// Checks what serde cannot: URLs, credentials, time zones, schedules, repeats.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let db_url = self.database.url.expose_secret();
        match url::Url::parse(db_url) {
            Ok(u) if matches!(u.scheme(), "postgres" | "postgresql") => {}
            _ => {
                return Err(invalid(
                    "database.url",
                    "is not a Postgres URL; write it as postgres://USER@HOST[:PORT]/DATABASE",
                ));
            }
        }
        if let Some(refusal) = crate::bromcom::base_url::refusal(&self.bromcom.base_url) {
            return Err(invalid("bromcom.base_url", refusal));
        }
        if self.bromcom.application_id.trim().is_empty() {
            return Err(invalid(
                "bromcom.application_id",
                "is missing; set it to the partner application's ID (or BROMSYNC_BROMCOM__APPLICATION_ID)",
            ));
        }
        if self
            .bromcom
            .application_secret
            .expose_secret()
            .trim()
            .is_empty()
        {
            return Err(invalid(
                "bromcom.application_secret",
                "is missing; set it to the partner application's secret, preferably from the environment as BROMSYNC_BROMCOM__APPLICATION_SECRET",
            ));
        }
        if self.bromcom.page_size == 0 {
            return Err(invalid("bromcom.page_size", "must be at least 1"));
        }
        if self.bromcom.max_in_flight == 0 {
            return Err(invalid("bromcom.max_in_flight", "must be at least 1"));
        }
        if self.bromcom.request_timeout < Duration::from_secs(1) {
            return Err(invalid(
                "bromcom.request_timeout",
                "must be at least 1 (seconds): it bounds each whole request, and a shorter one \
                 (0 in particular) would fail every request",
            ));
        }
        if self.bromcom.max_attempts == 0 {
            return Err(invalid("bromcom.max_attempts", "must be at least 1"));
        }
        if self.daemon.max_concurrent_schools == 0 {
            return Err(invalid(
                "daemon.max_concurrent_schools",
                "must be at least 1",
            ));
        }
        self.http.validate()?;
        self.dashboard.validate()?;
        check_guard("sync.removal_guard", &self.sync.removal_guard)?;
        let mut seen = HashSet::new();
        for (index, school) in self.schools.iter().enumerate() {
            let key = |field: &str| format!("schools[{index}].{field}");
            if !seen.insert(school.id) {
                return Err(invalid(
                    key("id"),
                    format!(
                        "school {} is listed twice; list each school once",
                        school.id
                    ),
                ));
            }
            if let Some(guard) = &school.removal_guard {
                check_guard(&key("removal_guard"), guard)?;
            }
        }
        Ok(())
    }
}

fn check_guard(key: &str, guard: &RemovalGuard) -> Result<(), ConfigError> {
    if !(0.0..=1.0).contains(&guard.max_fraction) {
        return Err(invalid(
            format!("{key}.max_fraction"),
            "must be a fraction between 0 and 1 (0.10 is 10%)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        [database]
        url = "postgres://root@127.0.0.1/bromsync"
        [bromcom]
        base_url = "https://api.bromcomcloud.com"
        application_id = "app"
        application_secret = "s3cret-value"
        [[schools]]
        id = 20001
        [[schools]]
        id = 20002
        names = "legal"
        timezone = "Europe/Dublin"
        schedule = "30 1 * * *"
    "#;

    fn refused(text: &str) -> String {
        match from_toml(text) {
            Ok(_) => panic!("configuration should have been refused"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_good_file_loads_with_defaults() {
        let settings = from_toml(GOOD).expect("loads");
        assert_eq!(settings.schools.len(), 2);
        assert_eq!(settings.schools[0].names, NameChoice::Preferred);
        assert_eq!(settings.schools[0].timezone, chrono_tz::Europe::London);
        assert_eq!(settings.schools[1].timezone, chrono_tz::Europe::Dublin);
        assert_eq!(settings.schools[1].names, NameChoice::Legal);
        assert_eq!(
            settings.schedule_of(&settings.schools[0]).expression(),
            "0 2 * * *"
        );
        assert_eq!(
            settings.schedule_of(&settings.schools[1]).expression(),
            "30 1 * * *"
        );
        assert_eq!(settings.bromcom.page_size, 100_000);
        assert_eq!(
            settings.guard_of(&settings.schools[0]),
            RemovalGuard::default()
        );
    }

    #[test]
    fn sso_and_the_http_listener_are_off_unless_set() {
        let settings = from_toml(GOOD).expect("loads");
        assert!(!settings.schools[0].sso);
        assert_eq!(settings.http.listen, None);
        assert_eq!(settings.sync.history_retention_days, 400);
        assert_eq!(settings.sync.full_compare_every_hours, 23);
        let text = GOOD
            .replace("id = 20001", "id = 20001\nsso = true")
            .replace(
                "[[schools]]\n        id = 20001",
                "[http]\nlisten = \"127.0.0.1:9187\"\n[[schools]]\n        id = 20001",
            );
        let settings = from_toml(&text).expect("loads");
        assert!(settings.schools[0].sso && !settings.schools[1].sso);
        assert_eq!(settings.http.listen, Some(([127, 0, 0, 1], 9187).into()));
        let message = refused(&text.replace("127.0.0.1:9187", "localhost"));
        assert!(message.contains("http.listen"), "{message}");
    }

    #[test]
    fn an_unknown_key_is_refused_by_name() {
        let text = GOOD.replace(
            "application_id = \"app\"",
            "application_id = \"app\"\npage_sise = 5",
        );
        let message = refused(&text);
        assert!(message.contains("page_sise"), "{message}");
    }

    #[test]
    fn a_bad_url_is_refused_by_key() {
        let message = refused(&GOOD.replace("https://api.bromcomcloud.com", "api bromcom"));
        assert!(message.contains("bromcom.base_url"), "{message}");
        let message = refused(&GOOD.replace("postgres://root@127.0.0.1/bromsync", "mysql://x/y"));
        assert!(message.contains("database.url"), "{message}");
    }

    #[test]
    fn a_school_listed_twice_is_refused() {
        let message = refused(&GOOD.replace("id = 20002", "id = 20001"));
        assert!(message.contains("schools[1].id"), "{message}");
        assert!(message.contains("listed twice"), "{message}");
    }

    #[test]
    fn a_missing_secret_is_refused_and_never_printed() {
        let message = refused(&GOOD.replace("application_secret = \"s3cret-value\"", ""));
        assert!(message.contains("bromcom.application_secret"), "{message}");
        let settings = from_toml(GOOD).expect("loads");
        assert!(!format!("{settings:?}").contains("s3cret-value"));
    }

    #[test]
    fn bad_time_zones_and_schedules_are_refused_with_the_value() {
        let message = refused(&GOOD.replace("Europe/Dublin", "Europe/Atlantis"));
        assert!(message.contains("schools[1].timezone") && message.contains("Europe/Atlantis"));
        let message = refused(&GOOD.replace("30 1 * * *", "30 1 * *"));
        assert!(message.contains("schools[1].schedule") && message.contains("30 1 * *"));
    }

    #[test]
    fn a_listener_off_loopback_is_refused_unless_allowed() {
        let with_http = |http: &str| {
            GOOD.replace(
                "[[schools]]\n        id = 20001",
                &format!("{http}\n[[schools]]\n        id = 20001"),
            )
        };
        for addr in ["0.0.0.0:9187", "192.0.2.7:9187", "[::]:9187"] {
            let message = refused(&with_http(&format!("[http]\nlisten = \"{addr}\"")));
            assert!(message.contains("http.listen"), "{message}");
            assert!(message.contains("http.allow_remote"), "{message}");
            let settings = from_toml(&with_http(&format!(
                "[http]\nlisten = \"{addr}\"\nallow_remote = true"
            )))
            .unwrap_or_else(|e| panic!("{addr}: {e}"));
            assert!(settings.http.allow_remote);
        }
        for addr in ["127.0.0.1:9187", "127.3.2.1:9187", "[::1]:9187"] {
            let settings = from_toml(&with_http(&format!("[http]\nlisten = \"{addr}\"")))
                .unwrap_or_else(|e| panic!("{addr}: {e}"));
            assert_eq!(settings.http.limits().max_connections, 64);
            assert_eq!(
                settings.http.limits().header_read_timeout,
                Duration::from_secs(10)
            );
        }
        let message = refused(&with_http("[http]\nmax_connections = 0"));
        assert!(message.contains("http.max_connections"), "{message}");
        let message = refused(&with_http("[http]\nheader_read_timeout_secs = 0"));
        assert!(
            message.contains("http.header_read_timeout_secs"),
            "{message}"
        );
    }

    #[test]
    fn a_request_timeout_of_zero_is_refused_by_key() {
        for timeout in ["0", "0.0", "0.2"] {
            let message = refused(&GOOD.replace(
                "application_id = \"app\"",
                &format!("application_id = \"app\"\nrequest_timeout = {timeout}"),
            ));
            assert!(message.contains("bromcom.request_timeout"), "{message}");
        }
        let settings = from_toml(&GOOD.replace(
            "application_id = \"app\"",
            "application_id = \"app\"\nrequest_timeout = 1",
        ))
        .expect("one second is accepted");
        assert_eq!(settings.bromcom.request_timeout, Duration::from_secs(1));
    }

    #[test]
    fn a_schedule_that_never_fires_is_refused_by_key() {
        let message = refused(&GOOD.replace("30 1 * * *", "0 2 30 2 *"));
        assert!(message.contains("schools[1].schedule"), "{message}");
        assert!(message.contains("never fires"), "{message}");
        let message = refused(&GOOD.replace(
            "[[schools]]\n        id = 20001",
            "[daemon]\nschedule = \"0 2 30 2 *\"\n[[schools]]\n        id = 20001",
        ));
        assert!(message.contains("daemon.schedule"), "{message}");
    }

    #[test]
    fn a_syntax_error_names_line_and_key_but_never_the_secret() {
        let text = GOOD.replace(
            "application_secret = \"s3cret-value\"",
            "application_secret = \"s3cret-value",
        );
        let message = refused(&text);
        assert!(!message.contains("s3cret"), "{message}");
        assert!(
            message.contains("line 7") && message.contains("(key `bromcom.application_secret`)"),
            "{message}"
        );
    }

    #[test]
    fn durations_are_read_in_their_documented_units() {
        let text = GOOD.replace(
            "[[schools]]\n        id = 20001",
            "[sync]\nroom_retention_days = 3\nhistory_retention_days = 2\nfull_compare_every_hours = 5\n\
             [daemon]\ngrace_period_secs = 7\ncontrol_poll_secs = 9\n[[schools]]\n        id = 20001",
        );
        let settings = from_toml(&text).expect("loads");
        assert_eq!(
            settings.sync.room_retention(),
            Duration::from_secs(3 * 86_400)
        );
        assert_eq!(
            settings.sync.history_retention(),
            Duration::from_secs(2 * 86_400)
        );
        assert_eq!(
            settings.sync.full_compare_every(),
            Duration::from_secs(5 * 3_600)
        );
        assert_eq!(settings.daemon.grace_period(), Duration::from_secs(7));
        assert_eq!(settings.daemon.control_poll(), Duration::from_secs(9));
        let defaults = from_toml(GOOD).expect("loads");
        assert_eq!(defaults.database.max_connections, 10);
        assert_eq!(
            defaults.sync.room_retention(),
            Duration::from_secs(400 * 86_400)
        );
        assert_eq!(defaults.daemon.grace_period(), Duration::from_secs(30));
        assert_eq!(defaults.daemon.control_poll(), Duration::from_secs(15));
    }

    #[test]
    fn a_school_is_found_by_id_and_its_own_guard_wins() {
        let text = GOOD
            .replace(
                "[[schools]]\n        id = 20001",
                "[sync.removal_guard]\nmax_fraction = 0.5\nmax_count = 3\n[[schools]]\n        id = 20001",
            )
            .replace(
                "names = \"legal\"",
                "names = \"legal\"\nremoval_guard = { max_fraction = 0.2, max_count = 7 }",
            );
        let settings = from_toml(&text).expect("loads");
        let first = settings.school(20001).expect("listed");
        let second = settings.school(20002).expect("listed");
        assert_eq!(first.id, 20001);
        assert_eq!(second.id, 20002);
        assert!(settings.school(20003).is_none());
        let shared = RemovalGuard {
            max_fraction: 0.5,
            max_count: 3,
        };
        let own = RemovalGuard {
            max_fraction: 0.2,
            max_count: 7,
        };
        assert_eq!(settings.guard_of(first), shared);
        assert_eq!(settings.guard_of(second), own);
    }

    #[test]
    fn a_guard_fraction_outside_zero_to_one_is_refused_by_key() {
        let message = refused(&GOOD.replace(
            "[[schools]]\n        id = 20001",
            "[sync.removal_guard]\nmax_fraction = 1.5\n[[schools]]\n        id = 20001",
        ));
        assert!(
            message.contains("sync.removal_guard.max_fraction"),
            "{message}"
        );
        let message = refused(&GOOD.replace(
            "names = \"legal\"",
            "names = \"legal\"\nremoval_guard = { max_fraction = -0.1 }",
        ));
        assert!(
            message.contains("schools[1].removal_guard.max_fraction"),
            "{message}"
        );
    }

    #[test]
    fn an_echoed_value_is_clipped() {
        let zone = format!("Europe/{}", "A".repeat(400));
        let message = refused(&GOOD.replace("Europe/Dublin", &zone));
        assert!(message.contains("schools[1].timezone"), "{message}");
        assert!(
            message.contains("characters)") && message.len() < 400,
            "{message}"
        );
        let long = "p".repeat(400);
        let message = refused(&GOOD.replace("max_connections", "x").replace(
            "[bromcom]",
            &format!("max_connections = \"{long}\"\n[bromcom]"),
        ));
        assert!(message.contains("database.max_connections"), "{message}");
        assert!(message.len() < 400, "{message}");
    }

    #[test]
    fn the_dashboard_is_off_unless_set_on_loopback_unless_allowed_and_secure_over_https() {
        let with = |section: &str| {
            GOOD.replace(
                "[[schools]]\n        id = 20001",
                &format!("{section}\n[[schools]]\n        id = 20001"),
            )
        };
        let settings = from_toml(&with("")).expect("loads");
        assert_eq!(settings.dashboard.listen, None);
        let message = refused(&with("[dashboard]\nlisten = \"0.0.0.0:8088\""));
        assert!(message.contains("dashboard.listen"), "{message}");
        let settings = from_toml(&with(
            "[dashboard]\nlisten = \"0.0.0.0:8088\"\nallow_remote = true\npublic_url = \"https://d.example.org\"",
        ))
        .expect("loads");
        assert!(settings.dashboard.secure_cookies());
        let settings = from_toml(&with("[dashboard]\nlisten = \"127.0.0.1:8088\"")).expect("loads");
        assert!(!settings.dashboard.secure_cookies());
        for (bad, key) in [
            ("public_url = \"ftp://x\"", "dashboard.public_url"),
            ("public_url = \"not a url\"", "dashboard.public_url"),
            ("session_ttl_secs = 5", "dashboard.session_ttl_secs"),
            ("lock_after_failures = 0", "dashboard.lock_after_failures"),
        ] {
            let message = refused(&with(&format!("[dashboard]\n{bad}")));
            assert!(message.contains(key), "{bad}: {message}");
        }
    }
}
