//! `bromsync check` as the real binary against the simulator: every entity asked once per
//! school with a page past the end, grants missing per school named and sorted, credentials
//! rejected and unknown schools told apart, the database's readiness reported.

use bromsync::snapshot::{EntityKind, SchoolId};
use serde_json::{Value, json};

use crate::harness::{run_binary, stderr, stdout, write_config};
use crate::ops_fixture::dataset;
use crate::support::{APP_SECRET, TestDb, start_sim};

const GRANTED: SchoolId = 61;
const PARTLY: SchoolId = 62;
const UNKNOWN: SchoolId = 69;

fn parse(output: &std::process::Output) -> Value {
    serde_json::from_str(&stdout(output))
        .unwrap_or_else(|e| panic!("check --json ({e}): {}\n{}", stdout(output), stderr(output)))
}

#[tokio::test]
async fn check_names_what_each_school_must_grant_and_asks_cheaply() {
    let db = TestDb::new().await;
    let sim = start_sim(dataset(&[GRANTED, PARTLY])).await;
    sim.set_not_granted([
        (PARTLY, EntityKind::Emails),
        (PARTLY, EntityKind::Contacts),
        (PARTLY, EntityKind::CollectionExecutives),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &db.url,
        &sim,
        100_000,
        &[format!("id = {GRANTED}"), format!("id = {PARTLY}")],
        "",
    );
    // The tests connect as a superuser: runs work, but that is more than the README asks of
    // the service's role, and check says so (a role with exactly the grants is checked in
    // `least_privilege`).
    let user: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    let superuser = format!("the role {user} is a superuser");
    sim.clear_requests();
    let output = run_binary(&config, &["check", "--json"], &[]).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(
        parse(&output),
        json!({
            "database": {"ok": false, "migrations_pending": [], "missing_privileges": [],
                         "role_problems": [superuser], "error": null},
            "schools": [
                {"school_id": GRANTED, "ok": true, "not_granted": [], "error": null},
                {"school_id": PARTLY, "ok": false,
                 "not_granted": ["CollectionExecutives", "Contacts", "Emails"], "error": null},
            ]
        })
    );
    // One request per school and entity, each for a page no school reaches.
    let requests = sim.requests();
    assert_eq!(requests.len(), 2 * EntityKind::ALL.len());
    assert!(
        requests.iter().all(|r| r.page == Some(1_000_000)),
        "{requests:?}"
    );

    let text = run_binary(&config, &["check", "--school", &PARTLY.to_string()], &[]).await;
    assert_eq!(text.status.code(), Some(1));
    let text = stdout(&text);
    assert!(text.contains("database: NOT READY"), "{text}");
    assert!(
        text.contains(&superuser) && text.contains("deploy/grants.sql"),
        "{text}"
    );
    assert!(
        text.contains(&format!("school {PARTLY}: NOT READY")),
        "{text}"
    );
    assert!(
        text.contains("CollectionExecutives, Contacts, Emails") && text.contains("tick"),
        "{text}"
    );
    assert!(!text.contains(&format!("school {GRANTED}")), "{text}");

    let only_granted = run_binary(&config, &["check", "--school", &GRANTED.to_string()], &[]).await;
    assert_eq!(
        only_granted.status.code(),
        Some(1),
        "the superuser: {}",
        stdout(&only_granted)
    );
    assert!(stdout(&only_granted).contains(&format!("school {GRANTED}: ok")));
}

#[tokio::test]
async fn check_tells_rejected_credentials_from_an_unknown_school() {
    let db = TestDb::new().await;
    let sim = start_sim(dataset(&[GRANTED])).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &db.url,
        &sim,
        100_000,
        &[format!("id = {GRANTED}"), format!("id = {UNKNOWN}")],
        "",
    );
    let output = run_binary(&config, &["check", "--json"], &[]).await;
    assert_eq!(output.status.code(), Some(1));
    let report = parse(&output);
    assert_eq!(report["schools"][0]["ok"], true);
    let unknown = &report["schools"][1];
    assert_eq!(unknown["ok"], false);
    assert!(
        unknown["error"].as_str().unwrap().contains("HTTP 404"),
        "{unknown}"
    );
    assert!(
        unknown["error"]
            .as_str()
            .unwrap()
            .contains(&UNKNOWN.to_string())
    );

    let wrong = run_binary(
        &config,
        &["check", "--json"],
        &[("BROMSYNC_BROMCOM__APPLICATION_SECRET", "not-the-secret")],
    )
    .await;
    assert_eq!(wrong.status.code(), Some(1));
    let report = parse(&wrong);
    for school in report["schools"].as_array().unwrap() {
        assert_eq!(school["ok"], false);
        let error = school["error"].as_str().unwrap();
        assert!(
            error.contains("HTTP 401") && error.contains("application_secret"),
            "{error}"
        );
        assert_eq!(school["not_granted"], json!([]));
    }
    // The secret given is never printed back.
    assert!(
        !stdout(&wrong).contains("not-the-secret") && !stderr(&wrong).contains("not-the-secret")
    );
    assert!(!stdout(&output).contains(APP_SECRET));
}

#[tokio::test]
async fn check_names_each_privilege_the_role_lacks() {
    let db = TestDb::new().await;
    let sim = start_sim(dataset(&[GRANTED])).await;
    let role = format!("bromsync_check_{}", rand::random::<u32>());
    let pool = db.store.pool();
    // What the service role got before (docs/operations.md, least privilege: writes on every
    // table, the migrations table too), less two privileges.
    for sql in [
        format!("CREATE ROLE {role} LOGIN"),
        format!("GRANT USAGE ON SCHEMA public TO {role}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"),
        format!("GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}"),
        format!("REVOKE INSERT ON students FROM {role}"),
        format!("REVOKE DELETE ON record_history FROM {role}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let url = format!("postgres://{role}@127.0.0.1:5432/{}", db.name);
    let config = write_config(
        dir.path(),
        &url,
        &sim,
        100_000,
        &[format!("id = {GRANTED}")],
        "",
    );
    let output = run_binary(&config, &["check", "--json"], &[]).await;
    let text = run_binary(&config, &["check"], &[]).await;
    for sql in [format!("DROP OWNED BY {role}"), format!("DROP ROLE {role}")] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .unwrap();
    }
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(
        parse(&output)["database"],
        json!({"ok": false, "migrations_pending": [],
               "missing_privileges": ["INSERT on students", "DELETE on record_history"],
               "role_problems": [format!(
                   "the role {role} may write _sqlx_migrations (a run only reads it; a row \
                    deleted stops every command and the next `bromsync migrate`)")],
               "error": null})
    );
    let text = stdout(&text);
    assert!(
        text.contains("the role lacks: INSERT on students, DELETE on record_history"),
        "{text}"
    );
}

/// A role that owns the schema (not a superuser) runs, but could change the schema and switch
/// off its triggers: check says so.
#[tokio::test]
async fn check_says_when_the_role_owns_the_schema() {
    let db = TestDb::new().await;
    let sim = start_sim(dataset(&[GRANTED])).await;
    let role = format!("bromsync_check_owner_{}", rand::random::<u32>());
    let pool = db.store.pool();
    for sql in [
        format!("CREATE ROLE {role} LOGIN"),
        format!("ALTER SCHEMA public OWNER TO {role}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"),
        format!("GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let url = format!("postgres://{role}@127.0.0.1:5432/{}", db.name);
    let config = write_config(
        dir.path(),
        &url,
        &sim,
        100_000,
        &[format!("id = {GRANTED}")],
        "",
    );
    let output = run_binary(&config, &["check", "--json"], &[]).await;
    for sql in [
        "ALTER SCHEMA public OWNER TO pg_database_owner".to_owned(),
        format!("DROP OWNED BY {role}"),
        format!("DROP ROLE {role}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .unwrap();
    }
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let database = &parse(&output)["database"];
    assert_eq!(database["ok"], false, "{database}");
    assert_eq!(database["missing_privileges"], json!([]), "{database}");
    let problems = database["role_problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{database}");
    assert!(
        problems[0]
            .as_str()
            .unwrap()
            .starts_with(&format!("the role {role} owns schema public")),
        "{database}"
    );
}
