//! Record history after real runs against the simulator: one event per record whose standing
//! or roster data changed, nothing for a run that changes nothing, links shown on the record
//! that lists them, removals with their reasons (none when the record vanished), pruning past
//! the retention, and `bromsync history` newest first.

use std::collections::BTreeMap;

use bromsync::snapshot::{EntityKind, SchoolId};
use bromsync::sync::RunOutcome;
use bromsync_sim::churn::{remove_rows, set_field, withdraw_consent};
use serde_json::{Value, json};

use crate::harness::{one_school_config, run_binary, run_once, stderr, stdout};
use crate::ops_fixture::*;
use crate::support::{TestDb, client_for, start_sim, succeeded};

const SCHOOL: SchoolId = 71;

fn id(offset: i64) -> i64 {
    base(SCHOOL) + offset
}

/// (event, columns, reasons)
type Event = (String, Vec<String>, Vec<String>);

/// Every event of one run: (entity, id) -> event.
async fn events_of(db: &TestDb, run_id: i64) -> BTreeMap<(String, i64), Event> {
    #[derive(sqlx::FromRow)]
    struct Row {
        entity: String,
        bromcom_id: i64,
        event: String,
        columns: Vec<String>,
        reasons: Vec<String>,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT entity, bromcom_id, event, columns, reasons FROM record_history WHERE run_id = $1",
    )
    .bind(run_id)
    .fetch_all(db.store.pool())
    .await
    .unwrap();
    rows.into_iter()
        .map(|r| ((r.entity, r.bromcom_id), (r.event, r.columns, r.reasons)))
        .collect()
}

fn event(kind: &str, columns: &[&str], reasons: &[&str]) -> Event {
    let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
    (kind.to_owned(), owned(columns), owned(reasons))
}

fn key(entity: &str, offset: i64) -> (String, i64) {
    (entity.to_owned(), id(offset))
}

async fn run(db: &TestDb, client: &bromsync::bromcom::Client) -> i64 {
    let outcome: RunOutcome = run_once(db, client, SCHOOL).await.expect("run");
    succeeded(outcome).run_id.expect("a run id")
}

#[tokio::test]
async fn runs_record_what_changed_and_history_lists_it_newest_first() {
    let db = TestDb::new().await;
    let sim = start_sim(dataset(&[SCHOOL])).await;
    let client = client_for(&sim);

    let first = run(&db, &client).await;
    let added = events_of(&db, first).await;
    // 3 students, 2 teachers, 2 parents, 2 classes, 1 group: all added, nothing else.
    assert_eq!(added.len(), 10, "{added:?}");
    assert!(added.values().all(|e| *e == event("added", &[], &[])));

    let unchanged = run(&db, &client).await;
    assert!(events_of(&db, unchanged).await.is_empty());

    // An event older than the retention (400 days in the test's request) goes at the next run.
    sqlx::query(
        "INSERT INTO record_history (school_id, entity, bromcom_id, run_id, event, at) \
         VALUES ($1, 'student', 1, 0, 'added', now() - interval '401 days')",
    )
    .bind(SCHOOL)
    .execute(db.store.pool())
    .await
    .unwrap();

    sim.update_dataset(|d| {
        set_field(
            d,
            SCHOOL,
            EntityKind::Students,
            "studentID",
            id(1),
            "lastName",
            json!("Newname"),
        );
        withdraw_consent(d, SCHOOL, id(2));
        remove_rows(
            d,
            SCHOOL,
            EntityKind::Staff,
            "staffID",
            id(TEACHER_WITHOUT_EMAIL),
        );
    });
    let changed = run(&db, &client).await;
    let events = events_of(&db, changed).await;
    let expected = BTreeMap::from([
        (key("student", 1), event("changed", &["last_name"], &[])),
        (key("student", 2), event("removed", &[], &["no_consent"])),
        // Vanished from Bromcom: removed with no reasons.
        (
            key("teacher", TEACHER_WITHOUT_EMAIL),
            event("removed", &[], &[]),
        ),
        // Links show on the record that lists them.
        (
            key("parent", PARENT_WITH_EMAIL),
            event("changed", &["students"], &[]),
        ),
        (
            key("class", CLASS),
            event("changed", &["students", "teachers"], &[]),
        ),
        // Its only teacher gone, the tutor group no longer comes through.
        (
            key("class", TUTOR_GROUP),
            event("removed", &[], &["no_teachers"]),
        ),
        (key("group", HOUSE), event("changed", &["students"], &[])),
    ]);
    assert_eq!(events, expected);
    let old: i64 = sqlx::query_scalar("SELECT count(*) FROM record_history WHERE run_id = 0")
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    assert_eq!(old, 0, "the event past the retention was pruned");

    // The withdrawn student left nothing but IDs and codes in history.
    let everything: String =
        sqlx::query_scalar("SELECT coalesce(string_agg(h::text, '|'), '') FROM record_history h")
            .fetch_one(db.store.pool())
            .await
            .unwrap();
    for personal in ["Ørjan", "Łukasz", "Zoë", "Newname", "Nomail"] {
        assert!(!everything.contains(personal), "{personal} in history");
    }

    let dir = tempfile::tempdir().unwrap();
    let config = one_school_config(dir.path(), &db, &sim, SCHOOL);
    let student = id(2).to_string();
    let school = SCHOOL.to_string();
    let output = run_binary(
        &config,
        &[
            "history", "--school", &school, "student", &student, "--json",
        ],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let listed: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    for (entry, (run_id, kind)) in listed.iter().zip([(changed, "removed"), (first, "added")]) {
        let keys: Vec<&str> = entry
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 5);
        for k in ["run_id", "at", "event", "columns", "reasons"] {
            assert!(keys.contains(&k), "{entry}");
        }
        assert_eq!(entry["run_id"], run_id);
        assert_eq!(entry["event"], kind);
        assert!(
            entry["at"]
                .as_str()
                .unwrap()
                .parse::<chrono::DateTime<chrono::Utc>>()
                .is_ok()
        );
    }
    assert_eq!(listed[0]["reasons"], json!(["no_consent"]));

    let text = run_binary(
        &config,
        &[
            "history",
            "--school",
            &school,
            "class",
            &id(CLASS).to_string(),
        ],
        &[],
    )
    .await;
    assert_eq!(text.status.code(), Some(0));
    let text = stdout(&text);
    assert!(text.contains("changed  students, teachers"), "{text}");
    assert!(
        text.find("changed").unwrap() < text.find("added").unwrap(),
        "newest first: {text}"
    );

    let none = run_binary(
        &config,
        &["history", "--school", &school, "group", "1"],
        &[],
    )
    .await;
    assert_eq!(none.status.code(), Some(0));
    assert!(stdout(&none).contains("no recorded history"));
    let unknown = run_binary(&config, &["history", "--school", "999", "group", "1"], &[]).await;
    assert_eq!(unknown.status.code(), Some(2));
}
