//! The configuration an operator writes: a TOML file, each key overridable from the environment
//! as `BROMSYNC_<SECTION>__<KEY>` (and the database URL from `DATABASE_URL`). Loading checks
//! everything a run will rely on, so that a wrong file is refused at start with a message that
//! names the key and says what would be right, never half-way through a night's runs.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use chrono_tz::Tz;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::bromcom::ClientConfig;
use crate::roster::NameChoice;
use crate::schedule::CronSchedule;
use crate::snapshot::SchoolId;
use crate::store::Trigger;
use crate::sync::RunRequest;

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
    pub schools: Vec<SchoolSettings>,
}

/// The daemon's health and metrics endpoints (`/healthz`, `/readyz`, `/metrics`): off unless
/// `listen` is set.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    pub listen: Option<std::net::SocketAddr>,
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
    pub removal_guard: RemovalGuard,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            room_retention_days: 400,
            history_retention_days: 400,
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

    /// A manual-style run request for one school, with the settings' guard and room retention;
    /// the caller sets what its command adds (accepting removals, a dry run, a scheduled time).
    pub fn run_request(&self, school: &SchoolSettings, trigger: Trigger) -> RunRequest {
        RunRequest {
            school: school.clone(),
            trigger,
            guard: self.guard_of(school),
            room_retention: days(self.sync.room_retention_days),
            history_retention: days(self.sync.history_retention_days),
            accept_removals: false,
            dry_run: false,
            scheduled_for: None,
            requests: Default::default(),
        }
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
    #[error("configuration key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// Loads the file, then the environment on top (`BROMSYNC_SECTION__KEY`, then `DATABASE_URL`
/// when `database.url` is not set by a `BROMSYNC_` variable), then checks the result.
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    let mut builder = config::Config::builder()
        .add_source(config::File::from(path).format(config::FileFormat::Toml))
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
            .map_err(|e| invalid("DATABASE_URL", e.to_string()))?;
    }
    let raw = builder.build().map_err(|e| ConfigError::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    checked(raw)
}

/// Parses a configuration given as TOML text (no environment), for tests and the demo.
pub fn from_toml(text: &str) -> Result<Settings, ConfigError> {
    let raw = config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .build()
        .map_err(|e| ConfigError::Read {
            path: "<inline>".to_owned(),
            message: e.to_string(),
        })?;
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
    let text = error.to_string();
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
            "`{name}` is not an IANA time zone; write e.g. \"Europe/London\""
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
        if self.bromcom.max_attempts == 0 {
            return Err(invalid("bromcom.max_attempts", "must be at least 1"));
        }
        if self.daemon.max_concurrent_schools == 0 {
            return Err(invalid(
                "daemon.max_concurrent_schools",
                "must be at least 1",
            ));
        }
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
}
