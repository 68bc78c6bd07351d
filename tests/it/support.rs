//! Helpers every integration test shares: a fresh database of its own (created and migrated
//! explicitly, as `bromsync migrate` does; dropped afterwards even when the test fails).

use std::sync::atomic::{AtomicU32, Ordering};

use bromsync::store::Store;
use secrecy::SecretString;
use sqlx::Connection;

/// The server the tests use; trust auth as root, as on these machines.
pub fn server_url() -> String {
    std::env::var("BROMSYNC_TEST_PG").unwrap_or_else(|_| "postgres://root@127.0.0.1:5432".into())
}

/// A database of the test's own, dropped when this is dropped.
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub store: Store,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    pub async fn new() -> TestDb {
        let name = format!(
            "bromsync_test_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst),
            rand::random::<u32>()
        );
        let url = format!("{}/{}", server_url(), name);
        let store = Store::connect_and_migrate(&SecretString::from(url.clone()), 8)
            .await
            .expect("test database: is PostgreSQL running at 127.0.0.1:5432?");
        TestDb { name, url, store }
    }

    pub fn secret_url(&self) -> SecretString {
        SecretString::from(self.url.clone())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        drop_database(self.name.clone());
    }
}

/// Drops the database `name` if it exists, forcing off any connection left open; callable
/// outside async code (from `Drop`).
pub fn drop_database(name: String) {
    on_server_blocking(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
}

/// Runs one statement on the test server's `postgres` database, ignoring failure (clean-up);
/// callable from `Drop`, where it runs on a short-lived runtime of its own.
pub fn on_server_blocking(sql: String) {
    let _ = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        runtime.block_on(async move {
            let mut conn = sqlx::PgConnection::connect(&format!("{}/postgres", server_url()))
                .await
                .ok()?;
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .ok()
        })
    })
    .join();
}

use std::time::Duration;

use bromsync::bromcom::{Client, ClientConfig};
use bromsync::config::{RemovalGuard, SchoolSettings};
use bromsync::snapshot::SchoolId;
use bromsync::store::Trigger;
use bromsync::sync::{RunOutcome, RunRequest, RunSummary};
use bromsync_sim::dataset::Dataset;
use bromsync_sim::generator::{GenerateOptions, generate};
use bromsync_sim::server::{SimHandle, SimOptions, SimServer};
use chrono::NaiveDate;

pub const APP_ID: &str = "test-app";
pub const APP_SECRET: &str = "test-secret-Zq8";

/// Today as the sync sees it for a school in the default zone (on the real clock: tests that
/// need a date that does not move use a fixed one of their own).
pub fn today() -> NaiveDate {
    today_in(chrono_tz::Europe::London)
}

/// A date that does not move, for tests whose data is written around "today" and must not
/// change with the calendar (the generator's shapes, the eligibility properties).
pub fn fixed_today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 3, 10).unwrap_or_default()
}

/// Today's date in `zone`, as a sync for a school in that zone sees it.
pub fn today_in(zone: chrono_tz::Tz) -> NaiveDate {
    chrono::Utc::now().with_timezone(&zone).date_naive()
}

/// A generated dataset of one or more schools.
pub fn generated(seed: u64, schools: &[SchoolId], students: usize) -> Dataset {
    generate(&GenerateOptions {
        seed,
        schools: schools.to_vec(),
        students_per_school: students,
        today: today(),
    })
}

/// The simulator serving `dataset` on loopback with the test credentials.
pub async fn start_sim(dataset: Dataset) -> SimHandle {
    SimServer::start(SimOptions {
        dataset,
        application_id: APP_ID.to_owned(),
        application_secret: APP_SECRET.to_owned(),
        ..SimOptions::default()
    })
    .await
    .expect("simulator starts")
}

/// A client for `sim` with short backoffs, so fault tests stay fast.
pub fn client_for(sim: &SimHandle) -> Client {
    Client::new(ClientConfig {
        base_url: sim.base_url(),
        application_id: APP_ID.to_owned(),
        application_secret: secrecy::SecretString::from(APP_SECRET),
        max_attempts: 3,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        max_retry_time: Duration::from_secs(10),
        retry_after_cap: Duration::from_millis(50),
        request_timeout: Duration::from_secs(20),
        ..ClientConfig::default()
    })
    .expect("client builds")
}

pub fn request(school: SchoolId) -> RunRequest {
    RunRequest {
        school: SchoolSettings::new(school),
        trigger: Trigger::Manual,
        guard: RemovalGuard::default(),
        room_retention: Duration::from_secs(3600),
        history_retention: Duration::from_secs(400 * 24 * 3600),
        full_compare_every: Duration::from_secs(23 * 3600),
        accept_removals: false,
        dry_run: false,
        scheduled_for: None,
        requests: Default::default(),
    }
}

pub fn succeeded(outcome: RunOutcome) -> RunSummary {
    match outcome {
        RunOutcome::Succeeded(summary) => summary,
        other => panic!("expected a successful run, got {other:?}"),
    }
}

/// What a run did to one roster table.
pub fn change_in(summary: &RunSummary, table: &str) -> bromsync::store::TableChange {
    summary
        .roster_changes
        .iter()
        .find(|c| c.table == table)
        .copied()
        .unwrap_or_else(|| panic!("no roster table {table}"))
}

/// Rows written to the roster and exclusion tables of the test's database so far.
pub async fn write_counters(db: &TestDb) -> i64 {
    crate::write_counters::write_counters(&db.url).await
}
