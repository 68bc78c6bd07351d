//! Many schools in one `bromsync sync`, and what every run guarantees whatever the speed-ups:
//! schools run at the same time, and a run repairs roster rows edited or deleted by hand.

use std::time::Duration;

use chrono::{DateTime, Utc};

use bromsync::store::{ApplyOptions, RunRecord, RunStatus, Trigger, prepare};

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

    // The simulator had requests of both schools in flight at once: the simulator holds every
    // request at least a latency from its arrival, so a request of one school that arrived
    // less than a latency after one of the other's found it still in flight. A slow machine
    // only holds them longer. One school after the other, the second school's first request
    // would come a whole latency (and a write) after the first school's last.
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
        closest < LATENCY,
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
    // Two exclusions, so that their count differs from every roster table's.
    exec("UPDATE exclusions SET reasons = '{}' WHERE (entity, bromcom_id) IN (SELECT entity, bromcom_id FROM exclusions ORDER BY 1, 2 LIMIT 2)").await;
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
    assert_eq!(
        (
            summary.exclusion_change.added,
            summary.exclusion_change.changed,
            summary.exclusion_change.removed
        ),
        (0, 2, 0)
    );
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
        "TRUNCATE group_students",
    ] {
        sqlx::query(sql).execute(pool).await.expect(sql);
    }
    let repairing = succeeded(run_once(&db, &client, FIRST).await.expect("third run"));
    // A room is the operator's: setting one is not an edit a run need look for.
    assert_eq!(repairing.tables_read, ["students", "group_students"]);
    let changes = |table: &str| change_in(&repairing, table);
    assert_eq!(changes("students").changed, 1);
    assert!(changes("teachers").is_empty());
    assert_eq!(
        changes("group_students").added,
        change_in(&first, "group_students").added
    );
    let differences = differences_from_eligibility(&db, &client, FIRST).await;
    assert!(differences.is_empty(), "{differences:?}");

    // The tables read are recorded again, so the next run reads nothing.
    let after = succeeded(run_once(&db, &client, FIRST).await.expect("fourth run"));
    assert!(after.tables_read.is_empty(), "{:?}", after.tables_read);
}

/// A run compares, then writes; an edit by hand committed in between is one the run never saw,
/// so it must not count as seen: the next run reads the table and repairs the edit.
#[tokio::test]
async fn an_edit_committed_while_a_run_writes_is_repaired_by_the_next_run() {
    let db = TestDb::new().await;
    let sim = start_sim(generated(35, &[FIRST], 120)).await;
    let client = client_for(&sim);
    succeeded(run_once(&db, &client, FIRST).await.expect("first run"));
    sim.update_dataset(|d| bromsync_sim::churn::churn(d, FIRST, 0.05, 11, today()));

    // A run taken step by step: staged (students read, some of them to change), then held
    // while a hand edit of a student it does not touch commits, then committed.
    let decision = decision_now(&client, FIRST).await;
    let mut lock = db
        .store
        .try_lock_school(FIRST)
        .await
        .expect("lock")
        .expect("the school is free");
    let staged = lock
        .stage(prepare(&decision), Duration::from_secs(23 * 3600))
        .await
        .expect("stage");
    assert!(staged.tables_read().contains(&"students"));
    let students = staged
        .diffs()
        .find(|diff| diff.table() == "students")
        .expect("students");
    let touched: Vec<i64> = students
        .changed()
        .map(|row| row.id)
        .chain(students.added_ids())
        .chain(students.removed_ids())
        .collect();
    let edited: i64 =
        sqlx::query_scalar("SELECT min(student_id) FROM students WHERE NOT student_id = ANY($1)")
            .bind(&touched)
            .fetch_one(db.store.pool())
            .await
            .expect("an untouched student");
    sqlx::query("UPDATE students SET last_name = 'Edited' WHERE student_id = $1")
        .bind(edited)
        .execute(db.store.pool())
        .await
        .expect("hand edit");
    let record = RunRecord::empty(FIRST, Trigger::Manual, RunStatus::Succeeded, Utc::now());
    let options = ApplyOptions {
        room_retention: Duration::from_secs(3600),
        history_retention: Duration::from_secs(3600),
    };
    staged
        .commit(&record, &decision.exclusions, options)
        .await
        .expect("commit");
    lock.release().await.expect("release");

    let next = succeeded(run_once(&db, &client, FIRST).await.expect("next run"));
    assert_eq!(next.tables_read, ["students"]);
    assert_eq!(change_in(&next, "students").changed, 1);
    let differences = differences_from_eligibility(&db, &client, FIRST).await;
    assert!(differences.is_empty(), "{differences:?}");
}

/// Runs write the same tables for many schools; one school's run writing is no edit of
/// another's rows, and must not make the other read its tables back.
#[tokio::test]
async fn one_schools_run_does_not_make_another_read_its_tables() {
    let db = TestDb::new().await;
    let sim = start_sim(generated(36, &[FIRST, SECOND], 80)).await;
    let client = client_for(&sim);
    for school in [FIRST, SECOND] {
        succeeded(run_once(&db, &client, school).await.expect("first runs"));
    }
    sim.update_dataset(|d| bromsync_sim::churn::churn(d, FIRST, 0.05, 12, today()));
    let churned = succeeded(run_once(&db, &client, FIRST).await.expect("churned run"));
    assert!(
        churned.roster_changes.iter().any(|c| !c.is_empty()),
        "{:?}",
        churned.roster_changes
    );
    let other = succeeded(run_once(&db, &client, SECOND).await.expect("other school"));
    assert!(other.tables_read.is_empty(), "{:?}", other.tables_read);
}

/// The teachers' trigger lists its columns, so that setting a room alone is no edit: every
/// other column, including any a later migration adds, must be on that list.
#[tokio::test]
async fn every_teachers_column_but_the_room_counts_as_an_edit() {
    let db = TestDb::new().await;
    let uncounted: Vec<String> = sqlx::query_scalar(
        "SELECT a.attname::text FROM pg_trigger t \
           JOIN pg_attribute a ON a.attrelid = t.tgrelid \
          WHERE t.tgrelid = 'teachers'::regclass AND t.tgname = 'count_roster_edits' \
            AND a.attnum > 0 AND NOT a.attisdropped AND a.attnum <> ALL (t.tgattr::int2[]) \
          ORDER BY a.attnum",
    )
    .fetch_all(db.store.pool())
    .await
    .expect("trigger columns");
    assert_eq!(uncounted, ["room"]);
}

/// Any role that may edit roster rows may mark its transaction as a run's, and its edit then
/// raises no count: the fingerprint alone would let that table go unread for ever. Once the
/// table's last full comparison is older than the configured interval, the next run reads it
/// whatever the count says, and repairs the edit.
#[tokio::test]
async fn a_hidden_edit_is_repaired_once_the_last_full_compare_is_old_enough() {
    let db = TestDb::new().await;
    let sim = start_sim(generated(37, &[FIRST], 120)).await;
    let client = client_for(&sim);
    let ctx = bromsync::sync::SyncContext::new(db.store.clone(), client.clone());
    let every = Duration::from_secs(6 * 3600);
    let run = || {
        let mut request = request(FIRST);
        request.full_compare_every = every;
        bromsync::sync::run_school(&ctx, request)
    };
    let first = succeeded(run().await.expect("first run"));
    assert_eq!(first.tables_read.len(), 10, "{:?}", first.tables_read);

    let pool = db.store.pool();
    let mut tx = pool.begin().await.expect("begin");
    for sql in [
        "SET LOCAL bromsync.run = 'on'",
        "UPDATE students SET first_name = 'Hidden' WHERE student_id = (SELECT min(student_id) FROM students)",
    ] {
        sqlx::query(sql).execute(&mut *tx).await.expect(sql);
    }
    tx.commit().await.expect("commit");
    let hidden = differences_from_eligibility(&db, &client, FIRST).await;
    assert!(!hidden.is_empty(), "the edit shows");

    // The last full comparison is recent: the count, which the edit did not raise, decides.
    let recent = succeeded(run().await.expect("second run"));
    assert!(recent.tables_read.is_empty(), "{:?}", recent.tables_read);
    assert_eq!(
        differences_from_eligibility(&db, &client, FIRST).await,
        hidden,
        "the hidden edit stays while the last full comparison is recent"
    );

    // Just inside the interval, still unread; just past it, every table is read.
    let age = |seconds: u64| {
        sqlx::query(
            "UPDATE roster_fingerprints \
                SET compared_at = now() - make_interval(secs => $1::double precision)",
        )
        .bind(i64::try_from(seconds).expect("seconds"))
        .execute(pool)
    };
    age(every.as_secs() - 60)
        .await
        .expect("age the fingerprints");
    let inside = succeeded(run().await.expect("third run"));
    assert!(inside.tables_read.is_empty(), "{:?}", inside.tables_read);
    age(every.as_secs() + 60)
        .await
        .expect("age the fingerprints");
    let repairing = succeeded(run().await.expect("fourth run"));
    assert_eq!(
        repairing.tables_read.len(),
        10,
        "{:?}",
        repairing.tables_read
    );
    assert_eq!(change_in(&repairing, "students").changed, 1);
    let differences = differences_from_eligibility(&db, &client, FIRST).await;
    assert!(differences.is_empty(), "{differences:?}");

    // Compared in full just now: the next run reads nothing again; with an interval of zero,
    // every run compares in full.
    let after = succeeded(run().await.expect("fifth run"));
    assert!(after.tables_read.is_empty(), "{:?}", after.tables_read);
    let mut every_run = request(FIRST);
    every_run.full_compare_every = Duration::ZERO;
    let zero = succeeded(
        bromsync::sync::run_school(&ctx, every_run)
            .await
            .expect("run with zero"),
    );
    assert_eq!(zero.tables_read.len(), 10, "{:?}", zero.tables_read);
}
