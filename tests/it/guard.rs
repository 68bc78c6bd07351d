//! The removal guard end to end: a run that would remove too much writes nothing, is recorded
//! as refused with its counts, and says in one log line how to accept it; `--accept-removals`
//! accepts once; per-school thresholds; `--dry-run` writes nothing; a source hiccup (an empty
//! list, half the classes gone) is refused rather than written.

use std::collections::BTreeMap;

use bromsync::snapshot::{EntityKind, SchoolId};
use bromsync::sync::RunOutcome;
use bromsync_sim::churn;
use bromsync_sim::dataset::Dataset;
use bromsync_sim::faults::{Fault, FaultPlan, FaultRule};
use bytes::Bytes;
use serde_json::Value;

use crate::harness::*;
use crate::support::*;

const SCHOOL: SchoolId = 20001;

/// The latest run of a school: (status, removed, accepted_removals).
async fn latest_run(db: &TestDb, school: SchoolId) -> (String, Value, bool) {
    sqlx::query_as(
        "SELECT status, removed, accepted_removals FROM sync_runs WHERE school_id = $1 \
         ORDER BY run_id DESC LIMIT 1",
    )
    .bind(school)
    .fetch_one(db.store.pool())
    .await
    .unwrap_or_else(|e| panic!("latest run: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mass_removal_is_refused_with_one_clear_line_until_accepted_once() {
    let db = TestDb::new().await;
    let sim = start_sim(generated(61, &[SCHOOL], 300)).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = one_school_config(dir.path(), &db, &sim, SCHOOL);
    let sync = ["sync", "--school", "20001"];
    let first = run_binary(&config, &sync, &[]).await;
    assert_eq!(first.status.code(), Some(0), "{}", stdout(&first));

    // A quarter of the stored students leave Bromcom at once.
    let students = stored_students(&db, SCHOOL).await;
    let leaving: Vec<i64> = students.iter().step_by(4).copied().collect();
    assert!(leaving.len() > 25 && leaving.len() * 10 > students.len());
    remove_students(&sim, SCHOOL, &leaving);
    let before = checksums(&db, SCHOOL).await;
    let row_counts = row_counts(&db, SCHOOL).await;

    let refused = run_binary(&config, &sync, &[]).await;
    assert_eq!(refused.status.code(), Some(3), "{}", stdout(&refused));
    assert!(stdout(&refused).contains("REFUSED"), "{}", stdout(&refused));
    assert_eq!(checksums(&db, SCHOOL).await, before, "a refused run wrote");
    let (status, removed, accepted) = latest_run(&db, SCHOOL).await;
    assert_eq!(status, "refused");
    assert!(!accepted);
    assert_eq!(
        removed["students"].as_u64(),
        Some(leaving.len() as u64),
        "{removed}"
    );
    // One line says it all: the tables, how many, and the command to accept.
    let log = stderr(&refused);
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("refused")).collect();
    assert_eq!(lines.len(), 1, "one refusal line, got:\n{log}");
    let line = lines[0];
    assert!(
        line.contains(&format!(
            "{} of the school's {} students",
            leaving.len(),
            students.len()
        )),
        "{line}"
    );
    assert!(
        line.contains("bromsync sync --school 20001 --accept-removals"),
        "{line}"
    );
    for (table, count) in removed.as_object().into_iter().flatten() {
        let count = count.as_u64().unwrap_or_default();
        let existing = row_counts[table.as_str()];
        let over = count as f64 > 0.10 * existing as f64 && count > 25;
        if over {
            assert!(
                line.contains(&format!("{count} of the school's {existing} {table}")),
                "{table} not named: {line}"
            );
        }
    }

    // Accepted once: written, and recorded as accepted.
    let accepted_run =
        run_binary(&config, &[&sync[..], &["--accept-removals"]].concat(), &[]).await;
    assert_eq!(
        accepted_run.status.code(),
        Some(0),
        "{}",
        stdout(&accepted_run)
    );
    let (status, _, accepted) = latest_run(&db, SCHOOL).await;
    assert_eq!((status.as_str(), accepted), ("succeeded", true));
    let now = stored_students(&db, SCHOOL).await;
    assert_eq!(now.len(), students.len() - leaving.len());
    assert!(leaving.iter().all(|id| !now.contains(id)));

    // The next mass removal without the flag is guarded again.
    let more: Vec<i64> = now.iter().step_by(3).copied().collect();
    assert!(more.len() > 25);
    remove_students(&sim, SCHOOL, &more);
    let before = checksums(&db, SCHOOL).await;
    let again = run_binary(&config, &sync, &[]).await;
    assert_eq!(again.status.code(), Some(3), "{}", stdout(&again));
    assert_eq!(checksums(&db, SCHOOL).await, before);
    let (status, _, accepted) = latest_run(&db, SCHOOL).await;
    assert_eq!((status.as_str(), accepted), ("refused", false));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_school_is_guarded_by_its_own_thresholds_or_the_global_ones() {
    let db = TestDb::new().await;
    let (lenient, global, own_default) = (31, 32, 33);
    let sim = start_sim(generated(62, &[lenient, global, own_default], 150)).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write_config(
        dir.path(),
        &db.url,
        &sim,
        100_000,
        &[
            format!("id = {lenient}\nremoval_guard = {{ max_fraction = 0.9, max_count = 1000 }}"),
            format!("id = {global}"),
            format!(
                "id = {own_default}\nremoval_guard = {{ max_fraction = 0.10, max_count = 25 }}"
            ),
        ],
        // A strict global guard: more than 3 rows and 1% of a table is too many.
        "[sync.removal_guard]\nmax_fraction = 0.01\nmax_count = 3\n",
    );
    let first = run_binary(&config, &["sync"], &[]).await;
    assert_eq!(first.status.code(), Some(0), "{}", stdout(&first));

    // 30 leave the lenient school (the default would refuse); 5 leave each of the others
    // (the default would accept, the strict global guard refuses).
    let mut before = BTreeMap::new();
    for (school, count) in [(lenient, 30), (global, 5), (own_default, 5)] {
        let students = stored_students(&db, school).await;
        assert!(students.len() > 100, "school {school}: {}", students.len());
        remove_students(&sim, school, &students[..count]);
        before.insert(school, checksums(&db, school).await);
    }
    let output = run_binary(&config, &["sync"], &[]).await;
    assert_eq!(output.status.code(), Some(3), "{}", stdout(&output));
    let mut statuses = BTreeMap::new();
    for school in [lenient, global, own_default] {
        statuses.insert(school, latest_run(&db, school).await.0);
    }
    assert_eq!(
        statuses,
        BTreeMap::from([
            (lenient, "succeeded".to_owned()),
            (global, "refused".to_owned()),
            (own_default, "succeeded".to_owned()),
        ])
    );
    assert_eq!(checksums(&db, global).await, before[&global]);
    assert_ne!(checksums(&db, lenient).await, before[&lenient]);
    assert!(stderr(&output).contains("bromsync sync --school 32 --accept-removals"));
    sim.shutdown().await;
}

/// The `table had added changed removed` lines and the `left out` totals of a summary.
fn parse_summary(text: &str) -> (BTreeMap<String, [u64; 4]>, BTreeMap<String, u64>) {
    let mut tables = BTreeMap::new();
    let mut left_out = BTreeMap::new();
    let mut in_left_out = false;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if line.trim() == "left out:" {
            in_left_out = true;
            continue;
        }
        if line.trim_start().starts_with("links and memberships") {
            in_left_out = false;
        }
        if in_left_out && words.len() >= 2 {
            if let Ok(n) = words[1].parse() {
                left_out.insert(words[0].to_owned(), n);
            }
            continue;
        }
        if words.len() == 5 && bromsync::store::ROSTER_TABLES.contains(&words[0]) {
            let n: Vec<u64> = words[1..].iter().filter_map(|w| w.parse().ok()).collect();
            if let [had, added, changed, removed] = n[..] {
                tables.insert(words[0].to_owned(), [had, added, changed, removed]);
            }
        }
    }
    (tables, left_out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_prints_what_a_run_would_do_and_writes_nothing() {
    let db = TestDb::new().await;
    let sim = start_sim(generated(63, &[SCHOOL], 300)).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = one_school_config(dir.path(), &db, &sim, SCHOOL);
    let first = run_binary(&config, &["sync"], &[]).await;
    assert_eq!(first.status.code(), Some(0), "{}", stdout(&first));
    let churned = sim.update_dataset(|d| churn::churn(d, SCHOOL, 0.05, 7, today()));
    assert!(churned.total() > 0);
    let before = checksums(&db, SCHOOL).await;
    let row_counts = row_counts(&db, SCHOOL).await;
    let runs = run_count(&db).await;

    let dry = run_binary(&config, &["sync", "--dry-run"], &[]).await;
    assert_eq!(dry.status.code(), Some(0), "{}", stdout(&dry));
    assert!(stdout(&dry).contains("dry run, nothing written"));
    assert_eq!(checksums(&db, SCHOOL).await, before, "a dry run wrote");
    assert_eq!(run_count(&db).await, runs, "a dry run was recorded");
    let (would, would_leave_out) = parse_summary(&stdout(&dry));
    assert_eq!(
        would.len(),
        bromsync::store::ROSTER_TABLES.len(),
        "{}",
        stdout(&dry)
    );
    assert!(would.values().any(|c| c[1] > 0), "churn adds");
    assert!(would.values().any(|c| c[2] > 0), "churn changes");
    assert!(would.values().any(|c| c[3] > 0), "churn removes");
    assert!(!would_leave_out.is_empty(), "{}", stdout(&dry));

    // The real run does exactly what the dry run said.
    let real = run_binary(&config, &["sync"], &[]).await;
    assert_eq!(real.status.code(), Some(0), "{}", stdout(&real));
    let (added, changed, removed, excluded): (Value, Value, Value, Value) = sqlx::query_as(
        "SELECT added, changed, removed, excluded FROM sync_runs ORDER BY run_id DESC LIMIT 1",
    )
    .fetch_one(db.store.pool())
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    for (table, [had, add, change, remove]) in &would {
        let rows = row_counts[table.as_str()];
        assert_eq!(*had, rows, "{table} had");
        assert_eq!(added[table].as_u64(), Some(*add), "{table} added");
        assert_eq!(changed[table].as_u64(), Some(*change), "{table} changed");
        assert_eq!(removed[table].as_u64(), Some(*remove), "{table} removed");
    }
    for (entity, count) in &would_leave_out {
        assert_eq!(excluded[entity].as_u64(), Some(*count), "{entity} left out");
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_hiccup_that_would_empty_or_halve_a_table_is_refused() {
    let db = TestDb::new().await;
    let good: Dataset = generated(64, &[SCHOOL], 300);
    let sim = start_sim(good.clone()).await;
    let client = client_for(&sim);
    succeeded(
        run_once(&db, &client, SCHOOL)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let before = checksums(&db, SCHOOL).await;

    type Hiccup = (&'static str, Box<dyn Fn(&bromsync_sim::server::SimHandle)>);
    let hiccups: Vec<Hiccup> = vec![
        (
            "Students served as an empty list",
            Box::new(|sim| {
                sim.update_dataset(|d| {
                    d.schools
                        .get_mut(&SCHOOL)
                        .map(|s| s.insert(EntityKind::Students, vec![]))
                });
            }),
        ),
        (
            "Students answered with success and no rows (one response)",
            Box::new(|sim| {
                sim.set_faults(
                    FaultPlan::none().rule(
                        FaultRule::new(Fault::Body(Bytes::from_static(
                            br#"{"success":true,"data":[]}"#,
                        )))
                        .entity(EntityKind::Students)
                        .first(1),
                    ),
                )
            }),
        ),
        (
            "half the classes missing from Collections",
            Box::new(|sim| {
                sim.update_dataset(|d| {
                    if let Some(rows) = d
                        .schools
                        .get_mut(&SCHOOL)
                        .and_then(|s| s.get_mut(&EntityKind::Collections))
                    {
                        let mut class = 0;
                        rows.retain(|row| {
                            let is_class = row["collectionTypeName"] == "CLASS";
                            class += usize::from(is_class);
                            !is_class || class % 2 == 0
                        });
                    }
                });
            }),
        ),
        (
            "CollectionAssociates served empty",
            Box::new(|sim| {
                sim.update_dataset(|d| {
                    d.schools
                        .get_mut(&SCHOOL)
                        .map(|s| s.insert(EntityKind::CollectionAssociates, vec![]))
                });
            }),
        ),
    ];
    for (name, hiccup) in hiccups {
        hiccup(&sim);
        let outcome = run_once(&db, &client, SCHOOL)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let RunOutcome::Refused(summary) = outcome else {
            panic!("{name}: not refused: {outcome:?}");
        };
        assert!(!summary.violations.is_empty(), "{name}");
        assert_eq!(checksums(&db, SCHOOL).await, before, "{name}: written");
        assert_eq!(last_run(&db, SCHOOL).await.0, "refused", "{name}");
        sim.clear_faults();
        sim.update_dataset(|d| *d = good.clone());
    }
    // With the source back to normal, nothing is removed and the run goes through.
    let summary = succeeded(
        run_once(&db, &client, SCHOOL)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    );
    assert!(summary.roster_changes.iter().all(|c| c.removed == 0));
    sim.shutdown().await;
}
