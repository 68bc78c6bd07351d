//! Least privilege, run as the real binary: only `migrate` creates the database or changes the
//! schema; every other command checks that the schema is current and otherwise refuses, naming
//! `bromsync migrate`; and `sync` and `why` work for a role given exactly the GRANTs of
//! `deploy/grants.sql` (docs/operations.md, least privilege) on a database whose PUBLIC
//! privileges were revoked.

use std::path::Path;
use std::time::{Duration, Instant};

use bromsync::store::Store;
use secrecy::SecretString;
use sqlx::{Connection, PgConnection};

use crate::harness::{differences_from_eligibility, run_binary, stderr, stdout, write_config};
use crate::support::*;

const SCHOOL: i64 = 20001;
/// `bromsync`'s exit code for a schema that is not current.
const NOT_MIGRATED: i32 = 5;

/// A database and a login role of the test's own, both dropped at the end (roles belong to the
/// whole cluster: the name is unique, and the database goes first so the role owns nothing).
struct Fixture {
    database: String,
    role: String,
}

impl Fixture {
    fn new() -> Fixture {
        let tag = format!("{}_{}", std::process::id(), rand::random::<u32>());
        Fixture {
            database: format!("bromsync_test_lp_{tag}"),
            role: format!("bromsync_test_app_{tag}"),
        }
    }

    fn url_as(&self, role: &str) -> String {
        let server = server_url();
        let host = server
            .rsplit_once('@')
            .map_or("127.0.0.1:5432", |(_, host)| host);
        format!("postgres://{role}@{host}/{}", self.database)
    }

    fn owner_url(&self) -> String {
        format!("{}/{}", server_url(), self.database)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        drop_database(self.database.clone());
        on_server_blocking(format!("DROP ROLE IF EXISTS \"{}\"", self.role));
    }
}

async fn execute(url: &str, sql: String) {
    let mut conn = PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = conn.close().await;
}

async fn database_exists(name: &str) -> bool {
    let mut conn = PgConnection::connect(&format!("{}/postgres", server_url()))
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("pg_database: {e}"))
}

async fn table_count(url: &str) -> i64 {
    let mut conn = PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        .fetch_one(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("pg_tables: {e}"))
}

/// `deploy/grants.sql` with its psql variables filled in.
fn grants(database: &str, app_role: &str, owner_role: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grants.sql");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    assert!(
        text.contains(":\"app_role\""),
        "grants.sql names no app role"
    );
    text.replace(":\"database\"", &format!("\"{database}\""))
        .replace(":\"app_role\"", &format!("\"{app_role}\""))
        .replace(":\"owner_role\"", &format!("\"{owner_role}\""))
}

#[tokio::test]
async fn only_migrate_creates_or_changes_the_schema_and_a_row_only_role_syncs() {
    let fixture = Fixture::new();
    let sim = start_sim(generated(31, &[SCHOOL], 60)).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let owner_dir = dir.path().join("owner");
    let app_dir = dir.path().join("app");
    for d in [&owner_dir, &app_dir] {
        std::fs::create_dir(d).unwrap_or_else(|e| panic!("{e}"));
    }
    let school = [format!("id = {SCHOOL}")];
    let owner_config = write_config(&owner_dir, &fixture.owner_url(), &sim, 100_000, &school, "");
    let app_url = fixture.url_as(&fixture.role);
    let app_config = write_config(&app_dir, &app_url, &sim, 100_000, &school, "");

    // No database yet: `sync`, even as the owner, does not create it.
    let output = run_binary(&owner_config, &["sync"], &[]).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(!database_exists(&fixture.database).await);

    // An empty database, locked down: PUBLIC keeps no privilege on it, so the role has only
    // what grants.sql gives. The grants come before the migrations, as on a new server: the
    // default privileges must cover the tables `migrate` creates.
    execute(
        &format!("{}/postgres", server_url()),
        format!("CREATE DATABASE \"{}\"", fixture.database),
    )
    .await;
    let owner: String = {
        let mut conn = PgConnection::connect(&fixture.owner_url())
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"));
        sqlx::query_scalar("SELECT current_user::text")
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("current_user: {e}"))
    };
    execute(
        &fixture.owner_url(),
        format!(
            "CREATE ROLE \"{role}\" LOGIN; REVOKE ALL ON DATABASE \"{db}\" FROM PUBLIC; \
             REVOKE ALL ON SCHEMA public FROM PUBLIC; {grants}",
            role = fixture.role,
            db = fixture.database,
            grants = grants(&fixture.database, &fixture.role, &owner),
        ),
    )
    .await;

    // Not migrated: the commands refuse, name `bromsync migrate`, and create nothing.
    for (config, args) in [
        (&app_config, &["sync"][..]),
        (&owner_config, &["sync"][..]),
        (
            &app_config,
            &["why", "--school", "20001", "student", "1"][..],
        ),
        (&app_config, &["status"][..]),
        (
            &app_config,
            &["history", "--school", "20001", "student", "1"][..],
        ),
        (&app_config, &["export", "--school", "20001", "classes"][..]),
    ] {
        let output = run_binary(config, args, &[]).await;
        assert_eq!(
            output.status.code(),
            Some(NOT_MIGRATED),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains("bromsync migrate"),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    assert_eq!(
        table_count(&fixture.owner_url()).await,
        0,
        "a command changed the schema"
    );

    let output = run_binary(&owner_config, &["migrate"], &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(table_count(&fixture.owner_url()).await > 0);

    // The row-only role syncs (advisory lock, temporary staging tables, sequences) and asks why.
    let output = run_binary(&app_config, &["sync"], &[]).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&output),
        stderr(&output)
    );
    let store = Store::connect(&SecretString::from(fixture.owner_url()), 4)
        .await
        .unwrap_or_else(|e| panic!("store: {e}"));
    let db = TestDb {
        name: fixture.database.clone(),
        url: fixture.owner_url(),
        store,
    };
    let client = client_for(&sim);
    assert_eq!(
        differences_from_eligibility(&db, &client, SCHOOL).await,
        Vec::<String>::new()
    );
    let student: i64 = sqlx::query_scalar("SELECT min(student_id) FROM students")
        .fetch_one(db.store.pool())
        .await
        .unwrap_or_else(|e| panic!("a student: {e}"));
    let output = run_binary(
        &app_config,
        &["why", "--school", "20001", "student", &student.to_string()],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("comes through"),
        "{}",
        stdout(&output)
    );

    // And it may not change the schema itself.
    let denied = {
        let mut conn = PgConnection::connect(&app_url)
            .await
            .unwrap_or_else(|e| panic!("connect as the role: {e}"));
        sqlx::query("CREATE TABLE not_allowed (x int)")
            .execute(&mut conn)
            .await
    };
    assert!(denied.is_err(), "the row-only role created a table");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_waits_for_migrate_as_for_a_database_that_is_down() {
    let fixture = Fixture::new();
    execute(
        &format!("{}/postgres", server_url()),
        format!("CREATE DATABASE \"{}\"", fixture.database),
    )
    .await;
    let sim = start_sim(generated(32, &[SCHOOL], 40)).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write_config(
        dir.path(),
        &fixture.owner_url(),
        &sim,
        100_000,
        &[format!("id = {SCHOOL}")],
        "[daemon]\nschedule = \"* * * * * *\"\nretry_delays_secs = [1]\ngrace_period_secs = 5",
    );
    let mut daemon = crate::harness::Daemon::spawn(&config, &["run"], &[]);
    daemon
        .wait_for("bromsync migrate", 2, Duration::from_secs(60))
        .await;
    assert!(daemon.running(), "the daemon gave up");
    assert_eq!(
        table_count(&fixture.owner_url()).await,
        0,
        "the daemon changed the schema"
    );

    let output = run_binary(&config, &["migrate"], &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let store = Store::connect(&SecretString::from(fixture.owner_url()), 2)
        .await
        .unwrap_or_else(|e| panic!("store: {e}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let succeeded: i64 =
            sqlx::query_scalar("SELECT count(*) FROM sync_runs WHERE status = 'succeeded'")
                .fetch_one(store.pool())
                .await
                .unwrap_or_else(|e| panic!("sync_runs: {e}"));
        if succeeded > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no run succeeded after `bromsync migrate`"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    store.close().await;
    daemon.stop(Duration::from_secs(30)).await;
}
