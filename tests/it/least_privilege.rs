//! Least privilege, run as the real binary: only `migrate` creates the database or changes the
//! schema; every other command checks that the schema is current and otherwise refuses, naming
//! `bromsync migrate`; and `sync` and `why` work for a role given exactly the GRANTs of
//! `deploy/grants.sql` (docs/operations.md, least privilege) on a database whose PUBLIC
//! privileges were revoked.

use std::path::Path;
use std::time::Duration;

use bromsync::store::Store;
use secrecy::SecretString;
use sqlx::{Connection, PgConnection};

use crate::harness::{
    differences_from_eligibility, run_binary, stderr, stdout, wait_count, write_config,
};
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
        .replace(":'app_role'", &format!("'{app_role}'"))
}

/// Creates the fixture's database empty and locked down: PUBLIC keeps no privilege on it, so
/// the fixture's role has only what `deploy/grants.sql` gives it. Returns the owner role.
async fn lock_down(fixture: &Fixture) -> String {
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
    owner
}

/// The role may read `_sqlx_migrations` and nothing more: a row deleted there stops every
/// command and the owner's next `migrate`.
async fn assert_migrations_table_read_only(url: &str) {
    let mut conn = PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect as the role: {e}"));
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("the role reads _sqlx_migrations: {e}"));
    assert!(applied > 0);
    for sql in [
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)",
        "UPDATE _sqlx_migrations SET success = false",
        "INSERT INTO _sqlx_migrations SELECT version + 1, description, installed_on, success, \
           checksum, execution_time FROM _sqlx_migrations ORDER BY version DESC LIMIT 1",
        "TRUNCATE _sqlx_migrations",
    ] {
        match sqlx::query(sql).execute(&mut conn).await {
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42501") => {}
            other => panic!("{sql}: {other:?}"),
        }
    }
    let _ = conn.close().await;
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

    // An empty database, locked down. The grants come before the migrations, as on a new
    // server: the default privileges must cover the tables `migrate` creates.
    let owner = lock_down(&fixture).await;

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

    // It reads the migrations table and may not write it: neither as the migrations left it
    // (the grants came first, so the default privileges gave the writes), nor once the grants
    // are run again after `migrate`. And `check` finds the role exactly what a run needs.
    assert_migrations_table_read_only(&app_url).await;
    execute(
        &fixture.owner_url(),
        grants(&fixture.database, &fixture.role, &owner),
    )
    .await;
    assert_migrations_table_read_only(&app_url).await;
    let output = run_binary(&app_config, &["check", "--json"], &[]).await;
    let report: serde_json::Value = serde_json::from_str(&stdout(&output))
        .unwrap_or_else(|e| panic!("check --json ({e}): {}", stdout(&output)));
    assert_eq!(
        report["database"],
        serde_json::json!({"ok": true, "migrations_pending": [], "missing_privileges": [],
                           "role_problems": [], "error": null})
    );
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));

    // It records control requests (the default privileges cover tables added by later
    // migrations) and reads them back.
    let output = run_binary(&app_config, &["resync"], &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let output = run_binary(&app_config, &["status"], &[]).await;
    assert!(
        stdout(&output).contains("request waiting"),
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
    // The daemon, still up, syncs once the schema is there.
    let succeeded = "SELECT count(*) FROM sync_runs WHERE status = 'succeeded'";
    wait_count(store.pool(), succeeded, 1, Duration::from_secs(20)).await;
    store.close().await;
    daemon.stop(Duration::from_secs(30)).await;
}

/// What the row-only role may do and which triggers fire, as the owner sees them: an attack
/// that gained anything changes one of these.
async fn privileges_and_triggers(owner: &mut PgConnection, role: &str) -> Vec<String> {
    let role_facts: Vec<String> = sqlx::query_scalar(
        "SELECT format('superuser %s, createrole %s, createdb %s, bypassrls %s, \
                        create on schema %s, member of %s', \
                       r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls, \
                       has_schema_privilege(r.oid, current_schema(), 'CREATE'), \
                       (SELECT coalesce(string_agg(m.roleid::regrole::text, ',' ORDER BY 1), '') \
                          FROM pg_auth_members m WHERE m.member = r.oid)) \
           FROM pg_roles r WHERE r.rolname = $1",
    )
    .bind(role)
    .fetch_all(&mut *owner)
    .await
    .unwrap_or_else(|e| panic!("pg_roles: {e}"));
    let triggers: Vec<String> = sqlx::query_scalar(
        "SELECT t.tgrelid::regclass::text || '.' || t.tgname || ' ' || t.tgenabled::text \
           FROM pg_trigger t WHERE NOT t.tgisinternal ORDER BY 1",
    )
    .fetch_all(&mut *owner)
    .await
    .unwrap_or_else(|e| panic!("pg_trigger: {e}"));
    assert!(!triggers.is_empty(), "no trigger to watch");
    role_facts.into_iter().chain(triggers).collect()
}

/// The edit-counting trigger runs as the schema's owner. A role with exactly the README's
/// grants (which include TEMPORARY) shadows the table it writes with a temporary one of its
/// own, with a trigger whose function grants it what it can reach, then touches a roster
/// table: it must gain nothing, and no trigger may be switched off.
#[tokio::test]
async fn the_row_only_role_cannot_run_its_code_as_the_owner() {
    let fixture = Fixture::new();
    let _owner = lock_down(&fixture).await;
    let store = Store::connect_and_migrate(&SecretString::from(fixture.owner_url()), 2)
        .await
        .unwrap_or_else(|e| panic!("migrate: {e}"));
    store.close().await;
    let mut owner = PgConnection::connect(&fixture.owner_url())
        .await
        .unwrap_or_else(|e| panic!("connect as the owner: {e}"));
    let before = privileges_and_triggers(&mut owner, &fixture.role).await;
    assert!(
        before[0].starts_with("superuser f,") && before[0].contains("create on schema f,"),
        "{before:?}"
    );

    let mut app = PgConnection::connect(&fixture.url_as(&fixture.role))
        .await
        .unwrap_or_else(|e| panic!("connect as the role: {e}"));
    let schema: String = sqlx::query_scalar("SELECT current_schema()::text")
        .fetch_one(&mut app)
        .await
        .unwrap_or_else(|e| panic!("current_schema: {e}"));
    // Each step on its own, so that one refused does not spare the others.
    let attack = format!(
        r#"
        CREATE TEMPORARY TABLE roster_edits (table_name text PRIMARY KEY, edits bigint);
        INSERT INTO roster_edits VALUES ('students', 0);
        CREATE FUNCTION pg_temp.take_over() RETURNS trigger LANGUAGE plpgsql AS $f$
        BEGIN
            BEGIN EXECUTE 'GRANT CREATE ON SCHEMA {schema} TO {role}';
            EXCEPTION WHEN OTHERS THEN NULL; END;
            BEGIN EXECUTE 'ALTER TABLE {schema}.teachers DISABLE TRIGGER count_roster_edits';
            EXCEPTION WHEN OTHERS THEN NULL; END;
            BEGIN EXECUTE 'ALTER ROLE {role} SUPERUSER';
            EXCEPTION WHEN OTHERS THEN NULL; END;
            RETURN NULL;
        END
        $f$;
        CREATE TRIGGER take_over AFTER UPDATE ON pg_temp.roster_edits
            FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.take_over();
        "#,
        schema = format_args!("\"{schema}\""),
        role = format_args!("\"{}\"", fixture.role),
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(attack))
        .execute(&mut app)
        .await
        .unwrap_or_else(|e| panic!("the role's own temporary objects: {e}"));
    // The role may edit roster rows: that is what fires the edit-counting trigger.
    sqlx::query("UPDATE students SET first_name = first_name WHERE false")
        .execute(&mut app)
        .await
        .unwrap_or_else(|e| panic!("an edit by the role: {e}"));
    let _ = app.close().await;

    let after = privileges_and_triggers(&mut owner, &fixture.role).await;
    let _ = owner.close().await;
    assert_eq!(
        after, before,
        "the row-only role gained by the edit trigger"
    );
}

/// Every SECURITY DEFINER function of the schema sets its own search_path, with pg_temp named
/// and last (unnamed, pg_temp is searched first), so no caller's objects stand in for its own.
#[tokio::test]
async fn every_security_definer_function_fixes_its_search_path() {
    let db = TestDb::new().await;
    let functions: Vec<(String, Option<Vec<String>>)> = sqlx::query_as(
        "SELECT p.oid::regprocedure::text, p.proconfig::text[] FROM pg_proc p \
          WHERE p.prosecdef AND p.pronamespace = current_schema()::regnamespace ORDER BY 1",
    )
    .fetch_all(db.store.pool())
    .await
    .unwrap_or_else(|e| panic!("pg_proc: {e}"));
    assert!(
        !functions.is_empty(),
        "no SECURITY DEFINER function to check"
    );
    for (function, config) in functions {
        let path = config
            .unwrap_or_default()
            .into_iter()
            .find_map(|setting| setting.strip_prefix("search_path=").map(str::to_owned))
            .unwrap_or_else(|| panic!("{function} takes its caller's search_path"));
        let schemas: Vec<&str> = path.split(',').map(str::trim).collect();
        assert_eq!(schemas.first(), Some(&"pg_catalog"), "{function}: {path}");
        assert_eq!(schemas.last(), Some(&"pg_temp"), "{function}: {path}");
        assert!(
            !schemas.iter().any(|s| s.contains("$user")),
            "{function}: {path}"
        );
    }
}
