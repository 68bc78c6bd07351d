//! Many schools in one `bromsync sync`, and what every run guarantees whatever the speed-ups:
//! schools run at the same time, and a run repairs roster rows edited or deleted by hand.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::harness::*;
use crate::support::*;

const FIRST: i64 = 20001;
const SECOND: i64 = 20002;
const LATENCY: Duration = Duration::from_millis(60);

#[tokio::test]
async fn one_sync_runs_two_schools_at_the_same_time() {
    let db = TestDb::new().await;
    let sim = start_sim(generated(31, &[FIRST, SECOND], 60)).await;
    // Every answer takes a while, so that a school's fetch lasts several round trips and one
    // school after the other could not overlap by chance.
    sim.set_latency(LATENCY);
    let dir = tempfile::tempdir().unwrap();
    let schools = [format!("id = {FIRST}"), format!("id = {SECOND}")];
    let config = write_config(dir.path(), &db.url, &sim, 100_000, &schools, "");
    let output = run_binary(&config, &["sync"], &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));

    // The simulator had requests of both schools in flight at once: some request of one
    // school arrived within half a latency of one of the other's. One school after the other,
    // the second school's first request would come a whole latency (and a write) after the
    // first school's last.
    let requests = sim.requests();
    let arrivals = |school: i64| -> Vec<_> {
        requests
            .iter()
            .filter(|r| r.school == Some(school))
            .map(|r| r.received_at)
            .collect()
    };
    let (first, second) = (arrivals(FIRST), arrivals(SECOND));
    assert!(!first.is_empty() && !second.is_empty(), "{requests:?}");
    let closest = first
        .iter()
        .flat_map(|a| {
            second
                .iter()
                .map(move |b| a.max(b).duration_since(*a.min(b)))
        })
        .min()
        .unwrap();
    assert!(
        closest < LATENCY / 2,
        "the schools' requests were never in flight together: closest {closest:?} apart"
    );

    // And the database saw the two runs' intervals overlap.
    let runs: Vec<(i64, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT school_id, started_at, finished_at FROM sync_runs \
         WHERE status = 'succeeded' ORDER BY school_id",
    )
    .fetch_all(db.store.pool())
    .await
    .unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    let (a, b) = (&runs[0], &runs[1]);
    assert!(a.1 < b.2 && b.1 < a.2, "the runs did not overlap: {runs:?}");
    for school in [FIRST, SECOND] {
        let differences =
            differences_from_eligibility(&db, &paging_client(&sim, 100_000), school).await;
        assert!(differences.is_empty(), "school {school}: {differences:?}");
    }
}

#[tokio::test]
async fn a_run_repairs_roster_rows_edited_or_deleted_by_hand_but_keeps_rooms() {
    let db = TestDb::new().await;
    let sim = start_sim(generated(32, &[FIRST], 120)).await;
    let client = client_for(&sim);
    succeeded(run_once(&db, &client, FIRST).await.expect("first run"));
    let pool = db.store.pool();
    let exec = |sql: &'static str| async move {
        sqlx::query(sql)
            .execute(pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    };
    exec("UPDATE students SET first_name = 'Edited' WHERE student_id = (SELECT min(student_id) FROM students)").await;
    exec("DELETE FROM parents WHERE person_id = (SELECT min(person_id) FROM parents)").await;
    exec("DELETE FROM class_students WHERE (class_id, student_id) = (SELECT class_id, student_id FROM class_students ORDER BY 1, 2 LIMIT 1)").await;
    exec("INSERT INTO groups (school_id, group_id, name, kind, changed_in_run) VALUES (20001, 999999999, 'Stray', 'custom', 1)").await;
    exec("UPDATE exclusions SET reasons = '{}' WHERE bromcom_id = (SELECT min(bromcom_id) FROM exclusions)").await;
    exec("UPDATE teachers SET room = 'B12', email = 'edited@example.org' WHERE staff_id = (SELECT min(staff_id) FROM teachers)").await;
    assert!(
        !differences_from_eligibility(&db, &client, FIRST)
            .await
            .is_empty(),
        "the edits show"
    );

    let summary = succeeded(run_once(&db, &client, FIRST).await.expect("repairing run"));
    let changes = |table: &str| change_in(&summary, table);
    assert_eq!(changes("students").changed, 1);
    assert_eq!(changes("parents").added, 1);
    assert_eq!(changes("class_students").added, 1);
    assert_eq!(changes("groups").removed, 1);
    assert_eq!(changes("teachers").changed, 1, "the email, not the room");
    assert_eq!(summary.exclusion_change.changed, 1);
    let differences = differences_from_eligibility(&db, &client, FIRST).await;
    assert!(differences.is_empty(), "{differences:?}");
    let room: Option<String> = sqlx::query_scalar(
        "SELECT room FROM teachers WHERE staff_id = (SELECT min(staff_id) FROM teachers)",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(room.as_deref(), Some("B12"), "the operator's room stays");

    // And the next run finds nothing left to do.
    let again = succeeded(run_once(&db, &client, FIRST).await.expect("third run"));
    assert!(
        again.roster_changes.iter().all(|c| c.is_empty()),
        "{:?}",
        again.roster_changes
    );
    assert!(again.exclusion_change.is_empty());
}

#[tokio::test]
async fn an_unchanged_table_is_not_read_back_yet_a_later_hand_edit_is_repaired() {
    let db = TestDb::new().await;
    let sim = start_sim(generated(33, &[FIRST], 120)).await;
    let client = client_for(&sim);
    let first = succeeded(run_once(&db, &client, FIRST).await.expect("first run"));
    assert_eq!(first.tables_read.len(), 10, "{:?}", first.tables_read);

    let unchanged = succeeded(run_once(&db, &client, FIRST).await.expect("second run"));
    assert!(
        unchanged.tables_read.is_empty(),
        "{:?}",
        unchanged.tables_read
    );
    for (before, now) in first.roster_changes.iter().zip(&unchanged.roster_changes) {
        assert!(now.is_empty(), "{now:?}");
        assert_eq!(now.existing, before.added, "{}", now.table);
    }
    assert!(unchanged.exclusion_change.is_empty());

    let pool = db.store.pool();
    for sql in [
        "UPDATE students SET first_name = 'Edited' WHERE student_id = (SELECT min(student_id) FROM students)",
        "UPDATE teachers SET room = 'C3' WHERE staff_id = (SELECT min(staff_id) FROM teachers)",
    ] {
        sqlx::query(sql).execute(pool).await.expect(sql);
    }
    let repairing = succeeded(run_once(&db, &client, FIRST).await.expect("third run"));
    assert_eq!(repairing.tables_read, ["students", "teachers"]);
    let changes = |table: &str| change_in(&repairing, table);
    assert_eq!(changes("students").changed, 1);
    assert!(changes("teachers").is_empty(), "a room is the operator's");
    let differences = differences_from_eligibility(&db, &client, FIRST).await;
    assert!(differences.is_empty(), "{differences:?}");

    // The tables read are recorded again, so the next run reads nothing.
    let after = succeeded(run_once(&db, &client, FIRST).await.expect("fourth run"));
    assert!(after.tables_read.is_empty(), "{:?}", after.tables_read);
}
