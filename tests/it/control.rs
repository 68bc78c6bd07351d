//! Fleet control end to end: `bromsync resync` and `bromsync approve` against real daemons
//! (`bromsync run` processes) sharing one database, with the simulator over HTTP. Every wait is
//! on an event (a row, a log line) with a generous deadline.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bromsync::snapshot::SchoolId;
use bromsync_sim::server::SimHandle;
use serde_json::Value;

use crate::harness::*;
use crate::support::*;

/// A schedule that does not fire during a test.
const NEVER_SOON: &str = "0 0 1 1 *";
const WITHIN: Duration = Duration::from_secs(60);

/// The daemons' settings: no scheduled run, a look for unserved requests every second.
fn daemon_settings(max_concurrent: usize) -> String {
    format!(
        "[daemon]\nschedule = \"{NEVER_SOON}\"\nmax_concurrent_schools = {max_concurrent}\n\
         grace_period_secs = 5\nretry_delays_secs = [1]\ncontrol_poll_secs = 1\n"
    )
}

fn config_for(dir: &Path, db: &TestDb, sim: &SimHandle, schools: &[SchoolId]) -> PathBuf {
    let schools: Vec<String> = schools.iter().map(|id| format!("id = {id}")).collect();
    write_config(dir, &db.url, sim, 100_000, &schools, &daemon_settings(2))
}

/// `bromsync --log-format json run`, once it listens for control requests.
async fn start_daemon(config: &Path) -> Daemon {
    let daemon = Daemon::spawn(config, &["--log-format", "json", "run"], &[]);
    daemon
        .wait_for("listening for control requests", 1, WITHIN)
        .await;
    daemon
}

const REQUESTS_DONE: &str = "SELECT count(*) FROM control_requests WHERE done_at IS NOT NULL";

/// The OS user this test runs as, as `resync` records it.
fn os_user() -> String {
    let output = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap_or_else(|e| panic!("id -un: {e}"));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

async fn cli(config: &Path, args: &[&str]) -> std::process::Output {
    let output = run_binary(config, args, &[]).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "bromsync {args:?}: {}{}",
        stdout(&output),
        stderr(&output)
    );
    output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_daemons_serve_one_resync_of_every_school_once_and_share_the_schools() {
    let db = TestDb::new().await;
    let schools = [41, 42, 43, 44, 45, 46];
    let sim = start_sim(generated(71, &schools, 30)).await;
    // Each answer takes a while, so a run lasts long enough for the others to find it held.
    sim.set_latency(Duration::from_millis(150));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = config_for(dir.path(), &db, &sim, &schools);
    let daemons = [
        start_daemon(&config).await,
        start_daemon(&config).await,
        start_daemon(&config).await,
    ];

    let asked = cli(&config, &["resync"]).await;
    assert_eq!(
        stdout(&asked).matches("resync requested").count(),
        schools.len()
    );
    let pool = db.store.pool();
    wait_count(pool, REQUESTS_DONE, schools.len() as i64, WITHIN).await;
    // Every daemon heard every request and had its say (a run, or finding it held or served).
    for daemon in &daemons {
        daemon
            .wait_for("control request heard", schools.len(), WITHIN)
            .await;
    }
    // Two more looks of every daemon: nothing is left for anyone to run.
    tokio::time::sleep(Duration::from_millis(2500)).await;

    for school in schools {
        let sql = format!(
            "SELECT count(*) FROM sync_runs WHERE school_id = {school} AND trigger = 'request' \
             AND status = 'succeeded'"
        );
        assert_eq!(count(pool, &sql).await, 1, "school {school}");
    }
    assert_eq!(
        count(pool, "SELECT count(*) FROM sync_runs").await,
        schools.len() as i64,
        "one run per school, no other"
    );
    // Each request names the run that served it, that run is its school's, and who asked.
    let served: Vec<(i64, i64, String, String)> = sqlx::query_as(
        "SELECT r.school_id, s.school_id, r.claimed_by, r.requested_by FROM control_requests r \
         JOIN sync_runs s ON s.run_id = r.served_by_run ORDER BY r.school_id",
    )
    .fetch_all(pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(served.len(), schools.len());
    let user = os_user();
    for (school, run_school, _, requested_by) in &served {
        assert_eq!(school, run_school);
        assert_eq!(requested_by, &user);
    }
    let pids: Vec<String> = daemons.iter().map(|d| format!(":{}", d.pid())).collect();
    let mut claimers: Vec<&String> = served.iter().map(|(_, _, by, _)| by).collect();
    claimers.sort();
    claimers.dedup();
    for claimer in &claimers {
        assert!(
            pids.iter().any(|pid| claimer.ends_with(pid.as_str())),
            "{claimer} is none of the daemons {pids:?}"
        );
    }
    assert!(
        claimers.len() > 1,
        "every run landed on one daemon: {claimers:?}"
    );
    for mut daemon in daemons {
        daemon.stop(WITHIN).await;
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_daemon_dies_mid_run_is_served_by_another() {
    let db = TestDb::new().await;
    let school = 51;
    let sim = start_sim(generated(72, &[school], 30)).await;
    // Nine entities at 600 ms an answer: the run lasts seconds.
    sim.set_latency(Duration::from_millis(600));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = config_for(dir.path(), &db, &sim, &[school]);
    let mut first = start_daemon(&config).await;
    cli(&config, &["resync", "--school", "51"]).await;
    first.wait_for("run started", 1, WITHIN).await;
    let pool = db.store.pool();
    let claimed_by: Option<String> = sqlx::query_scalar("SELECT claimed_by FROM control_requests")
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        claimed_by
            .as_deref()
            .is_some_and(|by| by.ends_with(&format!(":{}", first.pid()))),
        "{claimed_by:?}"
    );
    first.kill(WITHIN).await;
    assert_eq!(
        count(pool, REQUESTS_DONE).await,
        0,
        "the run died unfinished"
    );

    sim.set_latency(Duration::ZERO);
    let mut second = start_daemon(&config).await;
    wait_count(pool, REQUESTS_DONE, 1, WITHIN).await;
    let (run_status, claimed_by): (String, String) = sqlx::query_as(
        "SELECT s.status, r.claimed_by FROM control_requests r \
         JOIN sync_runs s ON s.run_id = r.served_by_run",
    )
    .fetch_one(pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run_status, "succeeded");
    assert!(
        claimed_by.ends_with(&format!(":{}", second.pid())),
        "{claimed_by}"
    );
    assert_eq!(count(pool, "SELECT count(*) FROM sync_runs").await, 1);
    second.stop(WITHIN).await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resync_made_while_no_daemon_runs_waits_in_status_and_is_served_when_one_starts() {
    let db = TestDb::new().await;
    let school = 52;
    let sim = start_sim(generated(73, &[school], 30)).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = config_for(dir.path(), &db, &sim, &[school]);
    cli(&config, &["resync", "--school", "52"]).await;

    let status = run_binary(&config, &["status", "--json"], &[]).await;
    let statuses: Value = serde_json::from_str(&stdout(&status))
        .unwrap_or_else(|e| panic!("status --json: {e}: {}", stdout(&status)));
    let waiting = &statuses[0]["requests_waiting"];
    assert_eq!(waiting.as_array().map(Vec::len), Some(1), "{statuses}");
    assert_eq!(waiting[0]["requested_by"], os_user().as_str());
    assert_eq!(waiting[0]["claimed_by"], Value::Null);
    let text = stdout(&run_binary(&config, &["status"], &[]).await);
    assert!(text.contains("request waiting: 1 by"), "{text}");

    let mut daemon = start_daemon(&config).await;
    let pool = db.store.pool();
    wait_count(pool, REQUESTS_DONE, 1, WITHIN).await;
    assert_eq!(
        count(
            pool,
            "SELECT count(*) FROM sync_runs WHERE trigger = 'request' AND status = 'succeeded'"
        )
        .await,
        1
    );
    let status = run_binary(&config, &["status", "--json"], &[]).await;
    let statuses: Value = serde_json::from_str(&stdout(&status)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(statuses[0]["requests_waiting"], Value::Array(Vec::new()));
    daemon.stop(WITHIN).await;
    sim.shutdown().await;
}

/// A school synced once, then a quarter of its students gone from Bromcom and a `sync` refused
/// for it; returns the configuration, the students before and those that left.
async fn refused_school(
    dir: &Path,
    db: &TestDb,
    sim: &SimHandle,
    school: SchoolId,
) -> (PathBuf, Vec<i64>, Vec<i64>) {
    let config = config_for(dir, db, sim, &[school]);
    let id = school.to_string();
    cli(&config, &["sync", "--school", &id]).await;
    let students = stored_students(db, school).await;
    let leaving: Vec<i64> = students.iter().step_by(4).copied().collect();
    remove_students(sim, school, &leaving);
    // Two students who never came through leave as well: their exclusions go, and that is not
    // a removal any approval is about.
    let never_came: Vec<i64> = sqlx::query_scalar(
        "SELECT bromcom_id FROM exclusions WHERE school_id = $1 AND entity = 'student' \
         ORDER BY bromcom_id LIMIT 2",
    )
    .bind(school)
    .fetch_all(db.store.pool())
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        never_came.len(),
        2,
        "the generated school has excluded students"
    );
    remove_students(sim, school, &never_came);
    let refused = run_binary(&config, &["sync", "--school", &id], &[]).await;
    assert_eq!(refused.status.code(), Some(3), "{}", stdout(&refused));
    assert!(
        stderr(&refused).contains(&format!("bromsync approve --school {id}")),
        "{}",
        stderr(&refused)
    );
    // What the approval will be held to: the students who came through and left, and only
    // roster tables that lose rows (no table listed with nothing in it, never exclusions).
    let held: Vec<(String, Vec<String>)> = sqlx::query_as(
        "SELECT table_name, keys FROM refused_removals \
         WHERE run_id = (SELECT max(run_id) FROM sync_runs) ORDER BY table_name",
    )
    .fetch_all(db.store.pool())
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let mut students_held: Vec<i64> = held
        .iter()
        .find(|(table, _)| table == "students")
        .map(|(_, keys)| keys.iter().map(|k| k.parse().unwrap()).collect())
        .unwrap_or_default();
    students_held.sort_unstable();
    let mut expected = leaving.clone();
    expected.sort_unstable();
    assert_eq!(students_held, expected);
    for (table, keys) in &held {
        assert!(!keys.is_empty(), "{table} is held with no keys: {held:?}");
        assert_ne!(table, "exclusions");
    }
    (config, students, leaving)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_lets_the_next_run_remove_exactly_what_was_refused_and_is_recorded() {
    let db = TestDb::new().await;
    let school = 53;
    let sim = start_sim(generated(74, &[school], 300)).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (config, students, leaving) = refused_school(dir.path(), &db, &sim, school).await;
    let pool = db.store.pool();
    let refused_run: i64 = sqlx::query_scalar("SELECT max(run_id) FROM sync_runs")
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let mut daemon = start_daemon(&config).await;
    let approved = cli(&config, &["approve", "--school", "53"]).await;
    assert!(
        stdout(&approved).contains(&format!("removals of run {refused_run}")),
        "{}",
        stdout(&approved)
    );
    wait_count(pool, REQUESTS_DONE, 1, WITHIN).await;

    let (run_id, status, trigger, removed, accepted): (i64, String, String, Value, bool) =
        sqlx::query_as(
            "SELECT run_id, status, trigger, removed, accepted_removals FROM sync_runs \
             ORDER BY run_id DESC LIMIT 1",
        )
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (status.as_str(), trigger.as_str()),
        ("succeeded", "request")
    );
    assert!(accepted, "the approved removals are recorded on the run");
    assert_eq!(removed["students"].as_u64(), Some(leaving.len() as u64));
    let left: Vec<i64> = students
        .iter()
        .filter(|id| !leaving.contains(id))
        .copied()
        .collect();
    assert_eq!(stored_students(&db, school).await, left);
    let (approved_run, decision, decided_by, used_by_run, served_by_run): (
        i64,
        String,
        String,
        Option<i64>,
        Option<i64>,
    ) = sqlx::query_as(
        "SELECT a.run_id, a.decision, a.decided_by, a.used_by_run, r.served_by_run \
         FROM removal_approvals a, control_requests r",
    )
    .fetch_one(pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(approved_run, refused_run);
    assert_eq!(decision, "approved");
    assert_eq!(decided_by, os_user());
    assert_eq!(used_by_run, Some(run_id));
    assert_eq!(served_by_run, Some(run_id));
    // Nothing waits any more: approving again is refused.
    let again = run_binary(&config, &["approve", "--school", "53"], &[]).await;
    assert_eq!(again.status.code(), Some(1), "{}", stdout(&again));
    assert!(stderr(&again).contains("no refused run waits"));
    daemon.stop(WITHIN).await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_does_not_carry_over_to_a_larger_removal_and_a_rejection_holds() {
    let db = TestDb::new().await;
    let school = 54;
    let sim = start_sim(generated(75, &[school], 300)).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (config, students, leaving) = refused_school(dir.path(), &db, &sim, school).await;
    let pool = db.store.pool();
    // A rejection is recorded and starts nothing.
    cli(&config, &["approve", "--school", "54", "--reject"]).await;
    assert_eq!(
        count(pool, "SELECT count(*) FROM control_requests").await,
        0
    );
    // Bromcom changes again: one more student leaves.
    let one_more: Vec<i64> = students
        .iter()
        .filter(|id| !leaving.contains(id))
        .take(1)
        .copied()
        .collect();
    remove_students(&sim, school, &one_more);
    let before = checksums(&db, school).await;

    let mut daemon = start_daemon(&config).await;
    cli(&config, &["approve", "--school", "54"]).await;
    wait_count(pool, REQUESTS_DONE, 1, WITHIN).await;
    let (status, removed): (String, Value) = sqlx::query_as(
        "SELECT s.status, s.removed FROM control_requests r \
         JOIN sync_runs s ON s.run_id = r.served_by_run",
    )
    .fetch_one(pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, "refused");
    assert_eq!(removed["students"].as_u64(), Some(leaving.len() as u64 + 1));
    assert_eq!(checksums(&db, school).await, before, "a refused run wrote");
    assert_eq!(
        count(
            pool,
            "SELECT count(*) FROM removal_approvals WHERE used_by_run IS NOT NULL"
        )
        .await,
        0
    );
    daemon.wait_for("does not cover this run", 1, WITHIN).await;
    // The new refusal is what an approval now decides on, and it covers the larger removal.
    cli(&config, &["approve", "--school", "54"]).await;
    wait_count(pool, REQUESTS_DONE, 2, WITHIN).await;
    assert_eq!(
        stored_students(&db, school).await.len(),
        students.len() - leaving.len() - 1
    );
    daemon.stop(WITHIN).await;
    sim.shutdown().await;
}

/// The periodic look leaves a school whose lock is held (its runner is serving it, or will
/// look when it ends) and finds it once the lock is free.
#[tokio::test]
async fn a_school_whose_lock_is_held_is_not_looked_for_as_unserved() {
    let db = TestDb::new().await;
    db.store
        .add_requests(&[61, 62], "tester")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let lock = db
        .store
        .try_lock_school(61)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .expect("the school is free");
    assert_eq!(db.store.schools_to_serve().await.unwrap(), vec![62]);
    lock.release().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(db.store.schools_to_serve().await.unwrap(), vec![61, 62]);
}

/// A request made while its school runs (on SIGUSR1 here) is not served by that run, which
/// began before it: one more run follows and serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_for_a_school_already_running_is_served_by_one_more_run_after_it() {
    let db = TestDb::new().await;
    let school = 55;
    let sim = start_sim(generated(76, &[school], 30)).await;
    sim.set_latency(Duration::from_millis(400));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = config_for(dir.path(), &db, &sim, &[school]);
    let mut daemon = start_daemon(&config).await;
    daemon.signal("USR1");
    daemon.wait_for("run started", 1, WITHIN).await;
    cli(&config, &["resync", "--school", "55"]).await;
    let pool = db.store.pool();
    wait_count(pool, REQUESTS_DONE, 1, WITHIN).await;

    let runs: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT run_id, trigger, status FROM sync_runs ORDER BY run_id")
            .fetch_all(pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    let served_by: i64 = sqlx::query_scalar("SELECT served_by_run FROM control_requests")
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(
        (runs[0].1.as_str(), runs[0].2.as_str()),
        ("signal", "succeeded")
    );
    assert_eq!(
        (runs[1].1.as_str(), runs[1].2.as_str()),
        ("request", "succeeded")
    );
    assert_eq!(
        served_by, runs[1].0,
        "served by the run after the one in flight"
    );
    daemon.stop(WITHIN).await;
    sim.shutdown().await;
}

/// A run that fails still serves the requests it claimed, with its run (the daemon's retries
/// carry it on); the request does not wait for another run. cargo-mutants found nothing
/// guarding this (docs/testing.md).
#[tokio::test]
async fn a_failed_run_marks_the_requests_it_claimed_served_by_it() {
    use bromsync_sim::faults::{Fault, FaultPlan, FaultRule};
    const SCHOOL: SchoolId = 20_061;
    let db = TestDb::new().await;
    let sim = start_sim(generated(61, &[SCHOOL], 40)).await;
    sim.set_faults(FaultPlan::none().rule(FaultRule::new(Fault::Status(403)).school(SCHOOL)));
    let ids = db
        .store
        .add_requests(&[SCHOOL], "tester")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ctx = bromsync::sync::SyncContext::new(db.store.clone(), client_for(&sim));
    let mut request = request(SCHOOL);
    request.requests = bromsync::sync::ServeRequests::Serve;
    let outcome = bromsync::sync::run_school(&ctx, request).await;
    assert!(outcome.is_err(), "{outcome:?}");
    let failed: i64 = sqlx::query_scalar(
        "SELECT run_id FROM sync_runs WHERE school_id = $1 AND status = 'failed'",
    )
    .bind(SCHOOL)
    .fetch_one(db.store.pool())
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let (served_by, done): (Option<i64>, bool) = sqlx::query_as(
        "SELECT served_by_run, done_at IS NOT NULL FROM control_requests WHERE request_id = $1",
    )
    .bind(ids[0])
    .fetch_one(db.store.pool())
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((served_by, done), (Some(failed), true));
    sim.shutdown().await;
}
