//! A teacher's hand-set room through the real binary and the database: kept aside when the
//! teacher drops out of the roster, given back when they come back within
//! `sync.room_retention_days`, not given back after it, and pruned once older than it.

use bromsync::snapshot::{EntityKind, SchoolId};
use bromsync_sim::churn;
use bromsync_sim::server::SimHandle;
use serde_json::json;

use crate::harness::{run_binary, stdout, write_config};
use crate::ops_fixture::{CLASS, TEACHER_WITH_EMAIL, base, dataset};
use crate::support::{TestDb, start_sim};

const SCHOOL: SchoolId = 83;
/// A third teacher of the fixture's class, so that two can leave and the class stays.
const EXTRA_TEACHER: i64 = 103;

fn staff_id(offset: i64) -> i64 {
    base(SCHOOL) + offset
}

fn set_consent(sim: &SimHandle, offset: i64, consent: &str) {
    let changed = sim.update_dataset(|d| {
        churn::set_field(
            d,
            SCHOOL,
            EntityKind::Staff,
            "staffID",
            staff_id(offset),
            "dataProcessingConsent",
            json!(consent),
        )
    });
    assert_eq!(changed, 1, "staff {offset}");
}

async fn set_room(db: &TestDb, offset: i64, room: &str) {
    let updated =
        sqlx::query("UPDATE teachers SET room = $3 WHERE school_id = $1 AND staff_id = $2")
            .bind(SCHOOL)
            .bind(staff_id(offset))
            .bind(room)
            .execute(db.store.pool())
            .await
            .unwrap_or_else(|e| panic!("set room: {e}"))
            .rows_affected();
    assert_eq!(updated, 1, "teacher {offset} is not in the roster");
}

/// The teacher's row: `None` when not in the roster, else `Some(room)`.
async fn teacher_room(db: &TestDb, offset: i64) -> Option<Option<String>> {
    sqlx::query_scalar("SELECT room FROM teachers WHERE school_id = $1 AND staff_id = $2")
        .bind(SCHOOL)
        .bind(staff_id(offset))
        .fetch_optional(db.store.pool())
        .await
        .unwrap_or_else(|e| panic!("teacher: {e}"))
}

async fn retained(db: &TestDb) -> Vec<(i64, String)> {
    sqlx::query_as(
        "SELECT staff_id, room FROM retained_rooms WHERE school_id = $1 ORDER BY staff_id",
    )
    .bind(SCHOOL)
    .fetch_all(db.store.pool())
    .await
    .unwrap_or_else(|e| panic!("retained rooms: {e}"))
}

/// Moves the day a teacher left back by `days`, as if that long had passed.
async fn left_days_ago(db: &TestDb, offset: i64, days: i32) {
    let moved = sqlx::query(
        "UPDATE retained_rooms SET left_at = now() - make_interval(days => $3) \
         WHERE school_id = $1 AND staff_id = $2",
    )
    .bind(SCHOOL)
    .bind(staff_id(offset))
    .bind(days)
    .execute(db.store.pool())
    .await
    .unwrap_or_else(|e| panic!("move left_at: {e}"))
    .rows_affected();
    assert_eq!(moved, 1, "no retained room for teacher {offset}");
}

async fn sync(config: &std::path::Path) {
    let output = run_binary(config, &["sync"], &[]).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        stdout(&output),
        crate::harness::stderr(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_comes_back_within_the_retention_and_not_after_and_old_rooms_are_pruned() {
    let db = TestDb::new().await;
    let mut data = dataset(&[SCHOOL]);
    let rows = data.schools.get_mut(&SCHOOL).expect("the school");
    rows.entry(EntityKind::Staff).or_default().push(json!({
        "staffID": staff_id(EXTRA_TEACHER), "title": "Dr", "firstName": "Cy", "lastName": "Third",
        "startDate": "2020-09-01T00:00:00", "dataProcessingConsent": "Granted"}));
    rows.entry(EntityKind::CollectionExecutives)
        .or_default()
        .push(
            json!({"collectionID": base(SCHOOL) + CLASS, "staffID": staff_id(EXTRA_TEACHER),
                     "collectionRoleTypeDescription": "Teacher"}),
        );
    let sim = start_sim(data).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write_config(
        dir.path(),
        &db.url,
        &sim,
        100_000,
        &[format!("id = {SCHOOL}")],
        "[sync]\nroom_retention_days = 30\n",
    );
    let (first, third) = (TEACHER_WITH_EMAIL, EXTRA_TEACHER);

    sync(&config).await;
    set_room(&db, first, "R1").await;
    set_room(&db, third, "R3").await;

    // Both drop out (consent withdrawn): their rooms are put aside.
    set_consent(&sim, first, "Withdrawn");
    set_consent(&sim, third, "Withdrawn");
    sync(&config).await;
    assert_eq!(teacher_room(&db, first).await, None);
    assert_eq!(teacher_room(&db, third).await, None);
    assert_eq!(
        retained(&db).await,
        vec![
            (staff_id(first), "R1".to_owned()),
            (staff_id(third), "R3".to_owned())
        ]
    );

    // Both come back: one within the retention, the other 31 days after leaving.
    left_days_ago(&db, third, 31).await;
    set_consent(&sim, first, "Granted");
    set_consent(&sim, third, "Granted");
    sync(&config).await;
    assert_eq!(
        teacher_room(&db, first).await,
        Some(Some("R1".to_owned())),
        "back within the retention: the room comes back"
    );
    assert_eq!(
        teacher_room(&db, third).await,
        Some(None),
        "back after the retention: no room"
    );
    assert_eq!(
        retained(&db).await,
        vec![],
        "rooms back in use or too old are let go"
    );

    // Both leave again; one room ages past the retention while neither comes back.
    set_room(&db, third, "R3b").await;
    set_consent(&sim, first, "Withdrawn");
    set_consent(&sim, third, "Withdrawn");
    sync(&config).await;
    assert_eq!(retained(&db).await.len(), 2);
    left_days_ago(&db, third, 31).await;
    left_days_ago(&db, first, 29).await;
    sync(&config).await;
    assert_eq!(
        retained(&db).await,
        vec![(staff_id(first), "R1".to_owned())],
        "only the room past the retention is pruned"
    );
    // And the one kept still comes back.
    set_consent(&sim, first, "Granted");
    sync(&config).await;
    assert_eq!(teacher_room(&db, first).await, Some(Some("R1".to_owned())));
}
