//! Checks and processes shared by the integration tests (sync, cli, guard, faults, hostile,
//! secrets): checksums of a school's tables, a client that pages, a comparison of the store with
//! eligibility, and the real binary run with a configuration of the test's own. Fixtures (a
//! database, the simulator) are in `support`.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bromsync::bromcom::{Client, ClientConfig};
use bromsync::roster::{Decision, Roster};
use bromsync::snapshot::SchoolId;
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
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_bromsync"));
    command
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "info")
        .env_remove("DATABASE_URL")
        .env_remove("BROMSYNC_TEST_PG")
        .env_remove("BROMSYNC_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
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
