//! Checks and processes shared by the integration tests (sync, cli, guard, faults, hostile,
//! secrets): checksums of a school's tables, a client that pages, a comparison of the store with
//! eligibility, and the real binary run with a configuration of the test's own. Fixtures (a
//! database, the simulator) are in `support`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bromsync::bromcom::{Client, ClientConfig};
use bromsync::roster::{Decision, Roster};
use bromsync::snapshot::{EntityKind, SchoolId};
use bromsync::store::ROSTER_TABLES;
use bromsync::sync::{Hook, RunHooks, RunOutcome, SyncContext, SyncError};
use bromsync_sim::server::SimHandle;
use tokio::sync::Notify;

use crate::support::{APP_ID, APP_SECRET, TestDb, request, today};

/// Every roster and exclusion table of one school, as (table, md5 of its rows), run ids
/// included: "exactly as before" means not even a run id moved.
pub async fn checksums(db: &TestDb, school: SchoolId) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for table in ROSTER_TABLES.iter().chain(["exclusions"].iter()) {
        let sql = format!(
            "SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), 'empty') \
             FROM {table} t WHERE school_id = $1"
        );
        let sum: String = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(school)
            .fetch_one(db.store.pool())
            .await
            .unwrap_or_else(|e| panic!("checksum of {table}: {e}"));
        out.push((table.to_string(), sum));
    }
    out
}

/// Rows of each roster and exclusion table for one school.
pub async fn row_counts(db: &TestDb, school: SchoolId) -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    for table in ROSTER_TABLES.iter().chain(["exclusions"].iter()) {
        let sql = format!("SELECT count(*) FROM {table} WHERE school_id = $1");
        let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(school)
            .fetch_one(db.store.pool())
            .await
            .unwrap_or_else(|e| panic!("count of {table}: {e}"));
        out.insert(table.to_string(), count as u64);
    }
    out
}

/// A client for `sim` that pages at `page_size` (the simulator must page the same), with the
/// short backoffs of `support::client_for`.
pub fn paging_client(sim: &SimHandle, page_size: usize) -> Client {
    Client::new(paging_config(sim, page_size)).unwrap_or_else(|e| panic!("client: {e}"))
}

pub fn paging_config(sim: &SimHandle, page_size: usize) -> ClientConfig {
    ClientConfig {
        base_url: sim.base_url(),
        application_id: APP_ID.to_owned(),
        application_secret: secrecy::SecretString::from(APP_SECRET),
        page_size,
        max_attempts: 3,
        initial_backoff: Duration::from_millis(2),
        max_backoff: Duration::from_millis(10),
        max_retry_time: Duration::from_secs(10),
        retry_after_cap: Duration::from_millis(30),
        request_timeout: Duration::from_secs(20),
        ..ClientConfig::default()
    }
}

/// One in-process run with the default request (manual, default guard).
pub async fn run_once(
    db: &TestDb,
    client: &Client,
    school: SchoolId,
) -> Result<RunOutcome, SyncError> {
    let ctx = SyncContext::new(db.store.clone(), client.clone());
    bromsync::sync::run_school(&ctx, request(school)).await
}

/// Holds a run just before its write (the difference staged, its transaction open) until the
/// test lets it go, through the run's [`RunHooks::before_commit`].
pub struct HeldBeforeCommit {
    reached: Arc<Notify>,
    go: Arc<Notify>,
}

impl HeldBeforeCommit {
    /// The holder, and the hooks to give the run's context.
    pub fn new() -> (HeldBeforeCommit, RunHooks) {
        let (reached, go) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let hook: Hook = {
            let (reached, go) = (Arc::clone(&reached), Arc::clone(&go));
            Arc::new(move || {
                let (reached, go) = (Arc::clone(&reached), Arc::clone(&go));
                Box::pin(async move {
                    reached.notify_one();
                    go.notified().await;
                })
            })
        };
        let hooks = RunHooks {
            before_commit: Some(hook),
        };
        (HeldBeforeCommit { reached, go }, hooks)
    }

    /// Waits until a run is held; fails the test if none is within `within`.
    pub async fn reached(&self, within: Duration) {
        tokio::time::timeout(within, self.reached.notified())
            .await
            .unwrap_or_else(|_| panic!("no run reached its write within {within:?}"));
    }

    /// Lets the held run (or the next one to get there) go on and write.
    pub fn release(&self) {
        self.go.notify_one();
    }
}

/// The latest run record of a school: (status, error).
pub async fn last_run(db: &TestDb, school: SchoolId) -> (String, Option<String>) {
    sqlx::query_as(
        "SELECT status, error FROM sync_runs WHERE school_id = $1 ORDER BY run_id DESC LIMIT 1",
    )
    .bind(school)
    .fetch_one(db.store.pool())
    .await
    .unwrap_or_else(|e| panic!("last run: {e}"))
}

pub async fn run_count(db: &TestDb) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM sync_runs")
        .fetch_one(db.store.pool())
        .await
        .unwrap_or_else(|e| panic!("count runs: {e}"))
}

/// What eligibility decides for the data the simulator serves now (fetched by `client`).
pub async fn decision_now(client: &Client, school: SchoolId) -> Decision {
    let snapshot = client
        .fetch_school(school)
        .await
        .unwrap_or_else(|e| panic!("fetch for the expectation: {e}"));
    bromsync::eligibility::decide(&snapshot, today(), Default::default())
}

/// Where the store differs from what eligibility decides for the data the simulator serves
/// now, table by table; empty when they agree.
pub async fn differences_from_eligibility(
    db: &TestDb,
    client: &Client,
    school: SchoolId,
) -> Vec<String> {
    let expected = decision_now(client, school).await;
    differences_from(db, school, &expected).await
}

/// Where the store differs from `expected`, table by table; empty when they agree.
pub async fn differences_from(db: &TestDb, school: SchoolId, expected: &Decision) -> Vec<String> {
    let stored = db
        .store
        .load_roster(school)
        .await
        .unwrap_or_else(|e| panic!("load roster: {e}"));
    let mut differences = roster_differences(&stored, &expected.roster);
    let stored_exclusions: Vec<_> = db
        .store
        .load_exclusions(school)
        .await
        .unwrap_or_else(|e| panic!("load exclusions: {e}"))
        .iter()
        .map(|e| e.to_exclusion())
        .collect();
    let mut expected_exclusions = expected.exclusions.records.clone();
    // The store reads exclusions back ordered by the entity's name, not the enum's order.
    expected_exclusions.sort_by(|a, b| (a.entity.as_str(), a.id).cmp(&(b.entity.as_str(), b.id)));
    if stored_exclusions != expected_exclusions {
        differences.push(format!(
            "exclusions: stored {} expected {}",
            stored_exclusions.len(),
            expected_exclusions.len()
        ));
    }
    differences
}

pub fn roster_differences(stored: &Roster, expected: &Roster) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |name: &str, same: bool, stored: usize, expected: usize| {
        if !same {
            out.push(format!("{name}: stored {stored} rows, expected {expected}"));
        }
    };
    macro_rules! table {
        ($field:ident) => {
            check(
                stringify!($field),
                stored.$field == expected.$field,
                stored.$field.len(),
                expected.$field.len(),
            )
        };
    }
    table!(students);
    table!(teachers);
    table!(parents);
    table!(parent_students);
    table!(classes);
    table!(class_students);
    table!(class_teachers);
    table!(groups);
    table!(group_students);
    out
}

/// A configuration file for the binary: the database, the simulator, one or more schools
/// (each line of `schools` is appended as is after a `[[schools]]` header), and extra TOML.
pub fn write_config(
    dir: &Path,
    db_url: &str,
    sim: &SimHandle,
    page_size: usize,
    schools: &[String],
    extra: &str,
) -> PathBuf {
    let mut text = format!(
        "[database]\nurl = \"{db_url}\"\nmax_connections = 4\n\n\
         [bromcom]\nbase_url = \"{}\"\napplication_id = \"{APP_ID}\"\napplication_secret = \"{APP_SECRET}\"\n\
         page_size = {page_size}\nrequest_timeout = 10\nmax_attempts = 2\ninitial_backoff = 5\nmax_backoff = 20\nmax_retry_time = 5\n\n{extra}\n",
        sim.base_url()
    );
    for school in schools {
        text.push_str(&format!("\n[[schools]]\n{school}\n"));
    }
    write_config_text(dir, &text)
}

/// `text` as `bromsync.toml` in `dir` (replacing what was there, as a reload wants).
pub fn write_config_text(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("bromsync.toml");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing the config: {e}"));
    path
}

/// The configuration most tests want: one school, default settings, no paging.
pub fn one_school_config(dir: &Path, db: &TestDb, sim: &SimHandle, school: SchoolId) -> PathBuf {
    write_config(dir, &db.url, sim, 100_000, &[format!("id = {school}")], "")
}

/// `bromsync --config FILE <args>` as a real process, without the test's own environment
/// variables that the binary would read as configuration.
pub fn bromsync(config: &Path, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Command {
    let mut command = clean_command();
    command
        .arg("--config")
        .arg(config)
        .args(args)
        .envs(env.iter().copied());
    let mut command = tokio::process::Command::from(command);
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// The binary with none of the test's own environment that it would read as configuration
/// (`DATABASE_URL`, and every `BROMSYNC_` variable is a configuration key), `RUST_LOG=info`
/// and no stdin. Every way the tests start the binary starts here.
pub fn clean_command() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_bromsync"));
    command.env_remove("DATABASE_URL");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("BROMSYNC_") {
            command.env_remove(key);
        }
    }
    command.env("RUST_LOG", "info").stdin(Stdio::null());
    command
}

/// Runs the binary to the end.
pub async fn run_binary(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    bromsync(config, args, env)
        .output()
        .await
        .unwrap_or_else(|e| panic!("running bromsync: {e}"))
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Sends `signal` (a name as `kill -s` takes it: TERM, INT, HUP, USR1, KILL) to `pid`.
pub fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .args(["-s", name, &pid.to_string()])
        .status()
        .unwrap_or_else(|e| panic!("kill: {e}"));
    assert!(status.success(), "kill -s {name} {pid} failed");
}

/// Lines of a child's stderr, collected as they come (by a thread of their own, so they
/// arrive whatever runtime the test uses).
#[derive(Clone, Default)]
pub struct LogLines(Arc<Mutex<Vec<String>>>);

impl LogLines {
    /// Starts collecting `stderr` of a child.
    pub fn collect(stderr: impl std::io::Read + Send + 'static) -> LogLines {
        let log = LogLines::default();
        let lines = Arc::clone(&log.0);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line);
            }
        });
        log
    }

    pub fn lines(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn text(&self) -> String {
        self.lines().join("\n")
    }

    /// Lines that contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.lines().iter().filter(|l| l.contains(needle)).count()
    }

    /// Waits until `count` lines contain `needle`, and panics with the log if they do not
    /// within `within` (a deadline for a broken program, not a timing: make it generous).
    pub async fn wait_for(&self, needle: &str, count: usize, within: Duration) {
        let text = || self.text();
        wait_until(
            within,
            || async { self.count(needle) >= count },
            || format!("no {count} log lines with `{needle}`; the log:\n{}", text()),
        )
        .await;
    }
}

/// Polls `check` until it is true, every 50 ms, and panics with `what()` if it is not within
/// `within`. Returns as soon as it is true: the deadline only bounds a test that would hang.
pub async fn wait_until<F, Fut>(within: Duration, mut check: F, what: impl Fn() -> String)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + within;
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "not within {within:?}: {}",
            what()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `sql` (a count) on `pool` until it reaches `want`; returns the count then.
pub async fn wait_count(pool: &sqlx::PgPool, sql: &str, want: i64, within: Duration) -> i64 {
    let deadline = std::time::Instant::now() + within;
    loop {
        let have = count(pool, sql).await;
        if have >= want {
            return have;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "`{sql}` is {have}, wanted {want} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of a count query.
pub async fn count(pool: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The students a school's stored roster holds, by ID.
pub async fn stored_students(db: &TestDb, school: SchoolId) -> Vec<i64> {
    sqlx::query_scalar("SELECT student_id FROM students WHERE school_id = $1 ORDER BY student_id")
        .bind(school)
        .fetch_all(db.store.pool())
        .await
        .unwrap_or_else(|e| panic!("students: {e}"))
}

/// Removes the rows of the students `ids` from what the simulator serves (each must be
/// served), so that the next run sees them gone.
pub fn remove_students(sim: &SimHandle, school: SchoolId, ids: &[i64]) {
    for id in ids {
        let removed = sim.update_dataset(|d| {
            bromsync_sim::churn::remove_rows(d, school, EntityKind::Students, "studentID", *id)
        });
        assert!(removed > 0, "student {id} was not served");
    }
}

/// A long-running `bromsync ... run` (or any command) with its stderr collected; killed when
/// dropped.
pub struct Daemon {
    pub child: tokio::process::Child,
    pub log: LogLines,
}

impl Daemon {
    /// `bromsync --config FILE <args>`, clean environment plus `env`, stdout dropped.
    pub fn spawn(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let mut command = bromsync(config, args, env);
        command.stdout(Stdio::null());
        Daemon::spawn_command(command)
    }

    /// A command the caller prepared (e.g. with limits set before exec); stderr is piped here.
    pub fn spawn_command(mut command: tokio::process::Command) -> Daemon {
        command.stderr(Stdio::piped()).kill_on_drop(true);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting bromsync: {e}"));
        let stderr = child
            .stderr
            .take()
            .and_then(|s| s.into_owned_fd().ok())
            .map(std::fs::File::from)
            .unwrap_or_else(|| panic!("bromsync's stderr"));
        Daemon {
            child,
            log: LogLines::collect(stderr),
        }
    }

    pub fn lines(&self) -> Vec<String> {
        self.log.lines()
    }

    /// Log lines that contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.log.count(needle)
    }

    /// See [`LogLines::wait_for`].
    pub async fn wait_for(&self, needle: &str, count: usize, within: Duration) {
        self.log.wait_for(needle, count, within).await;
    }

    pub fn pid(&self) -> u32 {
        self.child
            .id()
            .unwrap_or_else(|| panic!("bromsync has exited; the log:\n{}", self.log.text()))
    }

    pub fn signal(&self, name: &str) {
        signal(self.pid(), name);
    }

    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The exit status, or a panic with the log if it has not exited within `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => status.unwrap_or_else(|e| panic!("waiting for bromsync: {e}")),
            Err(_) => panic!(
                "bromsync did not exit within {within:?}; the log:\n{}",
                self.log.text()
            ),
        }
    }

    /// SIGTERM, then exit 0 within `within`.
    pub async fn stop(&mut self, within: Duration) {
        self.signal("TERM");
        let status = self.wait_exit(within).await;
        assert!(status.success(), "{status}; the log:\n{}", self.log.text());
    }

    /// SIGKILL, as a crash: no grace period, no clean-up; then the exit within `within`.
    pub async fn kill(&mut self, within: Duration) -> std::process::ExitStatus {
        self.signal("KILL");
        self.wait_exit(within).await
    }

    /// `http://ADDR` of the HTTP listener, from the line the daemon logs once it is bound: a
    /// configuration may say port 0, and the system's pick is read back here.
    pub async fn http_base(&self) -> String {
        self.base_logged_by("serving /healthz").await
    }

    /// The Data Dashboard's `http://address`, read from the log as [`Daemon::http_base`].
    pub async fn dashboard_base(&self) -> String {
        self.base_logged_by("serving the Data Dashboard").await
    }

    /// The address in the first log line holding `needle`, waited for.
    async fn base_logged_by(&self, needle: &str) -> String {
        self.log.wait_for(needle, 1, Duration::from_secs(30)).await;
        let lines = self.log.lines();
        let line = lines
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no `{needle}`"));
        let addr = without_colours(line)
            .split(|c: char| !(c.is_ascii_alphanumeric() || ".:[]".contains(c)))
            .find_map(|word| word.parse::<std::net::SocketAddr>().ok())
            .unwrap_or_else(|| panic!("no address in `{line}`"));
        format!("http://{addr}")
    }
}

/// A loopback port held for the test: bound, not listening, so a connection to it is refused
/// (a database that is down) and no other test can take it. Unlike asking for a free port and
/// letting it go, nothing can take it in between.
pub struct ReservedPort {
    pub socket: tokio::net::TcpSocket,
    pub port: u16,
}

pub fn reserve_port() -> ReservedPort {
    let socket = tokio::net::TcpSocket::new_v4().unwrap_or_else(|e| panic!("socket: {e}"));
    socket
        .bind(([127, 0, 0, 1], 0).into())
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let port = socket
        .local_addr()
        .unwrap_or_else(|e| panic!("address: {e}"))
        .port();
    ReservedPort { socket, port }
}

/// `line` without the terminal colour codes of the text log format.
pub fn without_colours(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // An SGR sequence: ESC [ ... m
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
