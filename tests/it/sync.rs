//! `bromsync sync` end to end: the simulator over HTTP, eligibility, and a real Postgres.

use std::time::Duration;

use bromsync::snapshot::EntityKind;
use bromsync::store::Store;
use bromsync::sync::{self, RunOutcome, SkipReason, SyncContext};
use bromsync_sim::churn;
use bromsync_sim::faults::{Fault, FaultPlan, FaultRule};
use serde_json::{Value, json};

use crate::harness::*;
use crate::support::*;

const SCHOOL: i64 = 20001;

/// A run on a store of its own, closed afterwards so that its statistics reach pg_stat.
async fn run_alone(db: &TestDb, sim: &bromsync_sim::server::SimHandle) -> RunOutcome {
    let store = Store::connect(&db.secret_url(), 4).await.expect("store");
    let ctx = SyncContext::new(store.clone(), client_for(sim));
    let outcome = sync::run_school(&ctx, request(SCHOOL)).await.expect("run");
    store.close().await;
    outcome
}

/// The store holds exactly what eligibility decides for what the simulator serves now.
async fn assert_store_matches_eligibility(db: &TestDb, sim: &bromsync_sim::server::SimHandle) {
    let differences = differences_from_eligibility(db, &client_for(sim), SCHOOL).await;
    assert!(differences.is_empty(), "{differences:?}");
}

#[tokio::test]
async fn first_sync_stores_exactly_what_eligibility_decides() {
    let db = TestDb::new().await;
    let sim = start_sim(generated(11, &[SCHOOL], 400)).await;
    let summary = succeeded(run_alone(&db, &sim).await);
    assert!(summary.roster_changes.iter().any(|c| c.added > 0));
    assert_store_matches_eligibility(&db, &sim).await;
    let roster = db.store.load_roster(SCHOOL).await.unwrap();
    assert!(roster.students.len() > 300, "most students come through");
    let (status, added): (String, Value) =
        sqlx::query_as("SELECT status, added FROM sync_runs WHERE run_id = $1")
            .bind(summary.run_id.unwrap())
            .fetch_one(db.store.pool())
            .await
            .unwrap();
    assert_eq!(status, "succeeded");
    assert_eq!(added["students"], json!(roster.students.len()));
}

#[tokio::test]
async fn a_resync_with_no_change_writes_no_roster_or_exclusion_row() {
    let db = TestDb::new().await;
    let sim = start_sim(generated(12, &[SCHOOL], 300)).await;
    succeeded(run_alone(&db, &sim).await);
    let before_rows = checksums(&db, SCHOOL).await;
    let before = write_counters(&db).await;
    assert!(before > 0, "the first run wrote rows");

    let summary = succeeded(run_alone(&db, &sim).await);
    assert!(summary.roster_changes.iter().all(|c| c.is_empty()));
    assert!(summary.exclusion_change.is_empty());
    assert_eq!(write_counters(&db).await, before, "pg_stat counters moved");
    assert_eq!(checksums(&db, SCHOOL).await, before_rows);
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM sync_runs WHERE status = 'succeeded'")
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    assert_eq!(runs, 2, "the second run is still recorded");
}

#[tokio::test]
async fn after_churn_a_resync_writes_only_the_changes() {
    let db = TestDb::new().await;
    let sim = start_sim(generated(13, &[SCHOOL], 500)).await;
    succeeded(run_alone(&db, &sim).await);
    let before = write_counters(&db).await;

    let churned = sim.update_dataset(|d| churn::churn(d, SCHOOL, 0.01, 99, today()));
    assert!(churned.total() > 0);
    let summary = succeeded(run_alone(&db, &sim).await);
    let touched: u64 = summary
        .roster_changes
        .iter()
        .chain(std::iter::once(&summary.exclusion_change))
        .map(|c| c.added + c.changed + c.removed)
        .sum();
    assert!(touched > 0, "1% churn changes something");
    let after = write_counters(&db).await;
    // Rows written are exactly the counted changes, plus a room restored or kept (none here).
    assert_eq!(
        (after - before) as u64,
        touched,
        "only the changes were written"
    );
    let total_rows: u64 = summary.roster_changes.iter().map(|c| c.existing).sum();
    assert!(
        touched < total_rows / 10,
        "a 1% churn touches few rows: {touched} of {total_rows}"
    );
    assert_store_matches_eligibility(&db, &sim).await;
}

/// Sets `field` of the row of `entity` whose `id_field` is `id`, in what the simulator serves.
fn set_field(
    sim: &bromsync_sim::server::SimHandle,
    entity: EntityKind,
    id_field: &str,
    id: i64,
    field: &str,
    value: Value,
) {
    let changed =
        sim.update_dataset(|d| churn::set_field(d, SCHOOL, entity, id_field, id, field, value));
    assert!(changed > 0, "no {entity} row with {id_field} {id}");
}

#[tokio::test]
async fn a_student_who_withdraws_consent_leaves_no_personal_data() {
    let db = TestDb::new().await;
    let sim = start_sim(generated(14, &[SCHOOL], 200)).await;
    let expected = decision_now(&client_for(&sim), SCHOOL).await;
    let student = expected.roster.students[0].student_id;
    // Distinctive values, so that a search of the whole database cannot match someone else.
    for (field, marker) in [
        ("firstName", "Qxfirstmarker"),
        ("lastName", "Qxlastmarker"),
        ("preferredFirstName", "Qxprefmarker"),
        ("preferredLastName", "Qxpreflastmarker"),
        ("dateOfBirth", "2011-02-03T00:00:00"),
    ] {
        set_field(
            &sim,
            EntityKind::Students,
            "studentID",
            student,
            field,
            json!(marker),
        );
    }
    succeeded(run_alone(&db, &sim).await);
    let stored = db.store.load_roster(SCHOOL).await.unwrap();
    let row = stored
        .students
        .iter()
        .find(|s| s.student_id == student)
        .expect("stored");
    assert_eq!(row.first_name, "Qxprefmarker");

    set_field(
        &sim,
        EntityKind::Students,
        "studentID",
        student,
        "dataProcessingConsent",
        json!("Withdrawn"),
    );
    succeeded(run_alone(&db, &sim).await);

    let tables: Vec<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
            .fetch_all(db.store.pool())
            .await
            .unwrap();
    for table in tables {
        let sql = format!(
            "SELECT count(*) FROM {table} t WHERE t::text ~* '(Qx[a-z]*marker|2011-02-03)'"
        );
        let hits: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(db.store.pool())
            .await
            .unwrap();
        assert_eq!(
            hits, 0,
            "table {table} still holds the student's personal data"
        );
    }
    let reasons: Vec<String> = sqlx::query_scalar(
        "SELECT unnest(reasons) FROM exclusions WHERE entity = 'student' AND bromcom_id = $1",
    )
    .bind(student)
    .fetch_all(db.store.pool())
    .await
    .unwrap();
    assert!(reasons.contains(&"no_consent".to_owned()), "{reasons:?}");
    for table in [
        "students",
        "class_students",
        "group_students",
        "parent_students",
    ] {
        let sql = format!("SELECT count(*) FROM {table} WHERE student_id = $1");
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(student)
            .fetch_one(db.store.pool())
            .await
            .unwrap();
        assert_eq!(n, 0, "{table} still links the student");
    }
}

#[tokio::test]
async fn a_hand_set_room_survives_a_name_change_and_a_return() {
    let db = TestDb::new().await;
    let sim = start_sim(generated(15, &[SCHOOL], 200)).await;
    succeeded(run_alone(&db, &sim).await);
    let teacher = db.store.load_roster(SCHOOL).await.unwrap().teachers[0].staff_id;
    sqlx::query("UPDATE teachers SET room = 'B12' WHERE school_id = $1 AND staff_id = $2")
        .bind(SCHOOL)
        .bind(teacher)
        .execute(db.store.pool())
        .await
        .unwrap();
    let room = || async {
        sqlx::query_scalar::<_, Option<String>>(
            "SELECT room FROM teachers WHERE school_id = $1 AND staff_id = $2",
        )
        .bind(SCHOOL)
        .bind(teacher)
        .fetch_optional(db.store.pool())
        .await
        .unwrap()
    };

    set_field(
        &sim,
        EntityKind::Staff,
        "staffID",
        teacher,
        "lastName",
        json!("Renamed"),
    );
    set_field(
        &sim,
        EntityKind::Staff,
        "staffID",
        teacher,
        "preferredLastName",
        Value::Null,
    );
    let summary = succeeded(run_alone(&db, &sim).await);
    assert_eq!(change_in(&summary, "teachers").changed, 1);
    assert_eq!(room().await, Some(Some("B12".to_owned())));

    // Out of the roster (no title), then back: the room comes back with the teacher.
    set_field(
        &sim,
        EntityKind::Staff,
        "staffID",
        teacher,
        "title",
        Value::Null,
    );
    succeeded(run_alone(&db, &sim).await);
    assert_eq!(room().await, None, "the teacher left the roster");
    set_field(
        &sim,
        EntityKind::Staff,
        "staffID",
        teacher,
        "title",
        json!("Dr"),
    );
    succeeded(run_alone(&db, &sim).await);
    assert_eq!(room().await, Some(Some("B12".to_owned())));
}

#[tokio::test]
async fn a_run_that_fails_at_any_entity_changes_nothing() {
    let db = TestDb::new().await;
    let sim = start_sim(generated(16, &[SCHOOL], 150)).await;
    succeeded(run_alone(&db, &sim).await);
    sim.update_dataset(|d| churn::churn(d, SCHOOL, 0.05, 5, today()));
    let before = checksums(&db, SCHOOL).await;
    for entity in EntityKind::ALL {
        sim.set_faults(FaultPlan::none().rule(FaultRule::new(Fault::Status(403)).entity(entity)));
        let store = Store::connect(&db.secret_url(), 4).await.unwrap();
        let ctx = SyncContext::new(store.clone(), client_for(&sim));
        let error = sync::run_school(&ctx, request(SCHOOL))
            .await
            .expect_err("403 fails the run");
        assert!(error.to_string().contains(entity.api_name()), "{error}");
        store.close().await;
        assert_eq!(
            checksums(&db, SCHOOL).await,
            before,
            "a failure at {entity} wrote"
        );
    }
    let failed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sync_runs WHERE status = 'failed' AND error IS NOT NULL",
    )
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    assert_eq!(failed, EntityKind::ALL.len() as i64);
    sim.clear_faults();
    succeeded(run_alone(&db, &sim).await);
    assert_store_matches_eligibility(&db, &sim).await;
}

#[tokio::test]
async fn two_sync_processes_on_one_school_one_syncs_one_skips() {
    let db = TestDb::new().await;
    let sim = start_sim(generated(17, &[SCHOOL], 100)).await;
    // Slow responses keep the first runner inside its run while the second arrives.
    sim.set_latency(Duration::from_millis(300));
    let dir = tempfile::tempdir().unwrap();
    let config = one_school_config(dir.path(), &db, &sim, SCHOOL);
    let (a, b) = tokio::join!(
        run_binary(&config, &["sync"], &[]),
        run_binary(&config, &["sync"], &[])
    );
    let mut codes = [a, b];
    codes.sort_by_key(|o| o.status.code());
    let text = |o: &std::process::Output| stdout(o);
    assert_eq!(
        codes[0].status.code(),
        Some(0),
        "one syncs: {}",
        text(&codes[0])
    );
    assert_eq!(
        codes[1].status.code(),
        Some(4),
        "one skips: {}",
        text(&codes[1])
    );
    assert!(text(&codes[1]).contains("skipped"));
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM sync_runs")
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    assert_eq!(runs, 1);
}

/// A run held at its write (through the library's hook, the difference staged and the
/// transaction open) still holds the school: another run is skipped, readers see the rows as
/// they were, and once let go it writes the whole difference.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_held_at_its_write_keeps_the_school_and_shows_nothing_until_it_commits() {
    let db = TestDb::new().await;
    let sim = start_sim(generated(12, &[SCHOOL], 200)).await;
    succeeded(run_alone(&db, &sim).await);
    let churned = sim.update_dataset(|d| churn::churn(d, SCHOOL, 0.05, 12, today()));
    assert!(churned.total() > 0);
    let before = checksums(&db, SCHOOL).await;

    let (held, hooks) = HeldBeforeCommit::new();
    let mut ctx = SyncContext::new(db.store.clone(), client_for(&sim));
    ctx.hooks = hooks;
    let first = tokio::spawn(async move { sync::run_school(&ctx, request(SCHOOL)).await });
    held.reached(Duration::from_secs(20)).await;
    let other = SyncContext::new(db.store.clone(), client_for(&sim));
    let second = sync::run_school(&other, request(SCHOOL))
        .await
        .expect("second run");
    assert!(
        matches!(second, RunOutcome::Skipped(SkipReason::LockHeld)),
        "{second:?}"
    );
    assert_eq!(
        checksums(&db, SCHOOL).await,
        before,
        "nothing shows before the commit"
    );

    held.release();
    let summary = succeeded(
        first
            .await
            .expect("the run did not panic")
            .expect("first run"),
    );
    assert!(summary.roster_changes.iter().any(|c| !c.is_empty()));
    assert_ne!(checksums(&db, SCHOOL).await, before);
    assert_store_matches_eligibility(&db, &sim).await;
}
