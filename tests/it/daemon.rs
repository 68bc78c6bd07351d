//! Integration tests: `bromsync run` as a real process, with real signals, the simulator over
//! HTTP and a database of the test's own. Schedules use seconds so each test takes seconds.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bromsync::snapshot::{EntityKind, SchoolId};
use bromsync_sim::dataset::Dataset;
use bromsync_sim::server::{SimHandle, SimOptions, SimServer};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::harness::reserve_port;
use crate::harness::{
    Daemon, checksums, count, run_binary, stdout, wait_count, wait_until, write_config_text,
};
use crate::relay::Relay;
use crate::support::TestDb;

const APP_ID: &str = "daemon-test-app";
const APP_SECRET: &str = "app-Secret-Never-Logged-93kq";
const DB_PASSWORD: &str = "db-Password-Never-Logged-x71";
/// A schedule that does not fire during a test.
const NEVER_SOON: &str = "0 0 1 1 *";
/// Names and contact details in the simulated schools: none may reach a log line.
const PERSONAL: [&str; 4] = [
    "Quillonby",
    "Marrowmere",
    "quillonby.marrowmere@",
    "07700 900",
];

/// A small school: five students, two staff, a class and a tutor group.
fn school_rows(school: SchoolId) -> BTreeMap<EntityKind, Vec<Value>> {
    let base = school * 1000;
    let students: Vec<Value> = (1..=5)
        .map(|n| {
            json!({"studentID": base + n, "firstName": format!("Quillonby{n}"), "lastName": "Marrowmere",
                   "dateOfBirth": format!("2012-04-0{n}T00:00:00"), "tutorGroup": "7QM", "yearGroup": "7",
                   "startDate": "2023-09-01T00:00:00", "dataProcessingConsent": "Granted"})
        })
        .collect();
    let staff: Vec<Value> = (1..=2)
        .map(|n| {
            json!({"staffID": base + 100 + n, "title": "Ms", "firstName": format!("Quillonby{n}"),
                   "lastName": "Marrowmere", "workEmail": format!("quillonby.marrowmere{n}@school.example"),
                   "startDate": "2020-09-01T00:00:00", "dataProcessingConsent": "Granted"})
        })
        .collect();
    let collections = vec![
        json!({"collectionID": base + 200, "collectionName": "7QM/Ma1", "subjectName": "Maths", "collectionTypeName": "CLASS"}),
        json!({"collectionID": base + 201, "collectionName": "7QM", "collectionTypeName": "TUTORGRP"}),
    ];
    let associates: Vec<Value> = (1..=5)
        .flat_map(|n| {
            [base + 200, base + 201].map(|c| json!({"collectionID": c, "personID": base + n}))
        })
        .collect();
    let executives = vec![
        json!({"collectionID": base + 200, "staffID": base + 101, "collectionRoleTypeDescription": "Main Teacher"}),
        json!({"collectionID": base + 201, "staffID": base + 102, "collectionRoleTypeDescription": "Main Tutor"}),
    ];
    let contacts = vec![
        json!({"personID": base + 300, "title": "Mr", "firstName": "Quillonby",
                               "lastName": "Marrowmere", "dataProcessingConsent": "Granted"}),
    ];
    let links = vec![
        json!({"studentID": base + 1, "personID": base + 300, "relationship": "Father",
                            "parentalResponsibility": "Yes"}),
    ];
    let phones =
        vec![json!({"personID": base + 300, "telephoneNumber": "07700 900123", "priority": 1})];
    BTreeMap::from([
        (EntityKind::Students, students),
        (EntityKind::Staff, staff),
        (EntityKind::Contacts, contacts),
        (EntityKind::StudentContacts, links),
        (EntityKind::PersonTelephones, phones),
        (EntityKind::Collections, collections),
        (EntityKind::CollectionAssociates, associates),
        (EntityKind::CollectionExecutives, executives),
    ])
}

async fn simulator(schools: &[SchoolId], latency: Duration) -> SimHandle {
    let mut dataset = Dataset::default();
    for &school in schools {
        dataset.schools.insert(school, school_rows(school));
    }
    SimServer::start(SimOptions {
        dataset,
        latency,
        application_id: APP_ID.to_owned(),
        application_secret: APP_SECRET.to_owned(),
        ..SimOptions::default()
    })
    .await
    .unwrap_or_else(|e| panic!("simulator: {e}"))
}

/// The database URL with a password (trust auth ignores it) so the logs can be searched for it.
fn db_url_with_password(db: &TestDb, port: u16) -> String {
    format!("postgres://root:{DB_PASSWORD}@127.0.0.1:{port}/{}", db.name)
}

struct Setup<'a> {
    db_url: String,
    sim_url: String,
    schedule: &'a str,
    /// Schools with their own schedule, if any.
    schools: Vec<(SchoolId, Option<&'a str>)>,
    grace_secs: u64,
    retry_delays: &'a str,
}

fn config_text(setup: &Setup) -> String {
    let mut text = format!(
        "[database]\nurl = \"{}\"\nmax_connections = 4\n\n\
         [bromcom]\nbase_url = \"{}\"\napplication_id = \"{APP_ID}\"\napplication_secret = \"{APP_SECRET}\"\n\
         request_timeout = 10\nmax_attempts = 2\ninitial_backoff = 50\nmax_backoff = 100\nmax_retry_time = 5\n\n\
         [daemon]\nschedule = \"{}\"\nmax_concurrent_schools = 4\ngrace_period_secs = {}\nretry_delays_secs = [{}]\n",
        setup.db_url, setup.sim_url, setup.schedule, setup.grace_secs, setup.retry_delays
    );
    for (id, schedule) in &setup.schools {
        text.push_str(&format!("\n[[schools]]\nid = {id}\n"));
        if let Some(schedule) = schedule {
            text.push_str(&format!("schedule = \"{schedule}\"\n"));
        }
    }
    text
}

/// `bromsync --log-format json run` with its log lines collected as they come.
fn spawn_daemon(config: &Path, env: &[(&str, &str)]) -> Daemon {
    Daemon::spawn(config, &["--log-format", "json", "run"], env)
}

async fn started(daemon: &Daemon) {
    daemon
        .wait_for("daemon started", 1, Duration::from_secs(20))
        .await;
}

/// SIGTERM, then the exit code 0 within `within` and log lines that pass the checks.
async fn stop_cleanly(mut daemon: Daemon, within: Duration) {
    daemon.stop(within).await;
    check_log_lines(&daemon);
}

/// Every line must be a JSON object and hold no secret and no personal data.
fn check_log_lines(daemon: &Daemon) -> Vec<Value> {
    let lines = daemon.lines();
    assert!(!lines.is_empty());
    lines
        .iter()
        .map(|line| {
            for forbidden in [APP_SECRET, DB_PASSWORD].iter().chain(PERSONAL.iter()) {
                assert!(
                    !line.contains(forbidden),
                    "`{forbidden}` in a log line: {line}"
                );
            }
            serde_json::from_str::<Value>(line)
                .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigusr1_resyncs_every_school_and_repeats_during_a_run_coalesce() {
    let db = TestDb::new().await;
    // Nine entities, four requests at a time, 400 ms each: a run lasts over a second.
    let sim = simulator(&[31, 32], Duration::from_millis(400)).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write_config_text(
        dir.path(),
        &config_text(&Setup {
            db_url: db_url_with_password(&db, 5432),
            sim_url: sim.base_url(),
            schedule: NEVER_SOON,
            schools: vec![(31, None), (32, None)],
            grace_secs: 10,
            retry_delays: "60",
        }),
    );
    let mut daemon = spawn_daemon(&config, &[]);
    started(&daemon).await;
    let pool = db.store.pool();
    let signal_runs = "SELECT count(*) FROM sync_runs WHERE trigger = 'signal'";

    daemon.signal("USR1");
    daemon
        .wait_for("run started", 2, Duration::from_secs(15))
        .await;
    assert_eq!(
        count(pool, signal_runs).await,
        0,
        "both runs are still going"
    );
    for _ in 0..3 {
        daemon.signal("USR1");
    }
    // One run each for the first signal, one more each for the three that came during it.
    // That no fifth run follows is `daemon::tests::resyncs_during_a_run_coalesce_into_exactly_
    // one_more_run`, on paused time; here a fifth would start the moment the fourth ended, so
    // it shows as a fifth `run started` in the log checked after the stop below.
    wait_count(pool, signal_runs, 4, Duration::from_secs(60)).await;
    assert_eq!(
        count(
            pool,
            "SELECT count(*) FROM sync_runs WHERE trigger = 'signal' AND status = 'succeeded'"
        )
        .await,
        4
    );
    for school in [31, 32] {
        let sql = format!("SELECT count(*) FROM sync_runs WHERE school_id = {school}");
        assert_eq!(count(pool, &sql).await, 2, "school {school}");
    }
    assert!(daemon.count("coalesced") >= 2, "coalescing is logged");

    daemon.signal("TERM");
    let status = daemon.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "{status}");

    // The log: JSON, with school and run id on the run's lines, and no secret or name.
    let lines = check_log_lines(&daemon);
    let finished: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("run succeeded"))
        })
        .collect();
    assert_eq!(finished.len(), 4, "one end line per run");
    assert_eq!(
        daemon.count("run started"),
        4,
        "no run beyond the coalesced ones"
    );
    assert_eq!(count(pool, signal_runs).await, 4);
    for line in finished {
        let school = line["span"]["school"].as_i64();
        assert!(matches!(school, Some(31 | 32)), "{line}");
        assert!(
            line["span"]["run_id"].as_i64().is_some_and(|id| id > 0),
            "{line}"
        );
        assert_eq!(line["span"]["trigger"], "signal", "{line}");
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_adds_a_school_and_a_broken_file_keeps_the_old_configuration() {
    let db = TestDb::new().await;
    let sim = simulator(&[41, 42], Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut setup = Setup {
        db_url: db_url_with_password(&db, 5432),
        sim_url: sim.base_url(),
        schedule: NEVER_SOON,
        schools: vec![(41, None)],
        grace_secs: 10,
        retry_delays: "60",
    };
    let config = write_config_text(dir.path(), &config_text(&setup));
    let mut daemon = spawn_daemon(&config, &[]);
    started(&daemon).await;
    let pool = db.store.pool();
    let runs_of_42 = "SELECT count(*) FROM sync_runs WHERE school_id = 42 AND trigger = 'schedule'";

    // Add school 42 with a schedule of its own, every second.
    setup.schools.push((42, Some("* * * * * *")));
    write_config_text(dir.path(), &config_text(&setup));
    daemon.signal("HUP");
    daemon
        .wait_for("configuration reloaded", 1, Duration::from_secs(10))
        .await;
    wait_count(pool, runs_of_42, 1, Duration::from_secs(10)).await;
    assert_eq!(
        count(pool, "SELECT count(*) FROM sync_runs WHERE school_id = 41").await,
        0,
        "school 41 keeps its schedule"
    );

    // A broken file: the daemon says why and keeps going with what it has.
    write_config_text(dir.path(), "this is [[[ not toml");
    daemon.signal("HUP");
    daemon
        .wait_for("configuration reload failed", 1, Duration::from_secs(10))
        .await;
    assert!(daemon.running());
    let before = count(pool, runs_of_42).await;
    wait_count(pool, runs_of_42, before + 2, Duration::from_secs(10)).await;
    daemon.signal("USR1");
    wait_count(
        pool,
        "SELECT count(*) FROM sync_runs WHERE school_id = 41 AND trigger = 'signal'",
        1,
        Duration::from_secs(10),
    )
    .await;

    stop_cleanly(daemon, Duration::from_secs(10)).await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_the_write_exits_zero_in_the_grace_period_and_writes_nothing() {
    let db = TestDb::new().await;
    let sim = simulator(&[51], Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let grace = Duration::from_secs(5);
    let config = write_config_text(
        dir.path(),
        &config_text(&Setup {
            db_url: db_url_with_password(&db, 5432),
            sim_url: sim.base_url(),
            schedule: NEVER_SOON,
            schools: vec![(51, None)],
            grace_secs: grace.as_secs(),
            retry_delays: "60",
        }),
    );
    // A first sync, so that there is a roster to keep.
    let first = run_binary(&config, &["sync"], &[]).await;
    assert!(first.status.success(), "{}", stdout(&first));
    let pool = db.store.pool();
    // Then the school changes: a student leaves, another's details change.
    sim.update_dataset(|data| {
        if let Some(students) = data
            .schools
            .get_mut(&51)
            .and_then(|s| s.get_mut(&EntityKind::Students))
        {
            students.pop();
            students[0]["tutorGroup"] = json!("7XX");
        }
    });
    let before = checksums(&db, 51).await;
    assert_ne!(
        before[0],
        ("students".to_owned(), "empty".to_owned()),
        "the first sync wrote a roster"
    );

    let daemon = stop_with_a_write_in_flight(&config, &db, "TERM", grace).await;
    daemon.wait_for("stopping", 1, Duration::from_secs(1)).await;

    assert_eq!(
        checksums(&db, 51).await,
        before,
        "the roster is exactly as before"
    );
    assert_eq!(
        count(pool, "SELECT count(*) FROM sync_runs").await,
        1,
        "only the first sync's run"
    );
    // The daemon's connections went with it: no transaction is left open.
    let open = open_transactions(&db);
    wait_until(
        Duration::from_secs(30),
        || async { count(pool, &open).await == 0 },
        || "a transaction is still open".to_owned(),
    )
    .await;

    // The cancelled run would have changed the roster: a run now does.
    let second = run_binary(&config, &["sync"], &[]).await;
    assert!(second.status.success(), "{}", stdout(&second));
    assert_ne!(
        checksums(&db, 51).await,
        before,
        "the change was there to write"
    );
    check_log_lines(&daemon);
    sim.shutdown().await;
}

/// Counts the test database's sessions that sit inside an open transaction.
fn open_transactions(db: &TestDb) -> String {
    format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND state = 'idle in transaction'",
        db.name
    )
}

/// Starts a daemon whose runs pause before commit, resyncs, waits until the run is caught with
/// its transaction open (the difference staged, nothing committed), sends `signal`, and
/// asserts the daemon exits 0 within `grace`.
async fn stop_with_a_write_in_flight(
    config: &Path,
    db: &TestDb,
    signal: &str,
    grace: Duration,
) -> Daemon {
    let mut daemon = spawn_daemon(config, &[("TEST_BROMSYNC_PAUSE_BEFORE_COMMIT_MS", "30000")]);
    started(&daemon).await;
    daemon.signal("USR1");
    wait_count(
        db.store.pool(),
        &open_transactions(db),
        1,
        Duration::from_secs(15),
    )
    .await;
    let asked = Instant::now();
    daemon.signal(signal);
    let status = daemon.wait_exit(grace + Duration::from_secs(2)).await;
    let took = asked.elapsed();
    assert!(status.success(), "SIG{signal}: {status}");
    assert!(took < grace, "stopping on SIG{signal} took {took:?}");
    daemon
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_starts_with_the_database_down_and_syncs_once_it_is_back() {
    let db = TestDb::new().await;
    let sim = simulator(&[71], Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // Held, refusing connections, until the relay takes it: the database is down.
    let reserved = reserve_port();
    let port = reserved.port;
    let config = write_config_text(
        dir.path(),
        &config_text(&Setup {
            db_url: db_url_with_password(&db, port),
            sim_url: sim.base_url(),
            schedule: "*/2 * * * * *",
            schools: vec![(71, None)],
            grace_secs: 5,
            retry_delays: "1",
        }),
    );
    let mut daemon = spawn_daemon(&config, &[]);
    started(&daemon).await;
    daemon
        .wait_for("cannot use the database yet", 2, Duration::from_secs(10))
        .await;
    daemon
        .wait_for("run failed", 1, Duration::from_secs(10))
        .await;
    assert!(
        daemon.running(),
        "the daemon keeps running without its database"
    );

    let relay = Relay::start_on(reserved);
    let pool = db.store.pool();
    wait_count(
        pool,
        "SELECT count(*) FROM sync_runs WHERE school_id = 71 AND status = 'succeeded'",
        1,
        Duration::from_secs(20),
    )
    .await;
    stop_cleanly(daemon, Duration::from_secs(8)).await;
    relay.cut().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_going_away_fails_runs_and_the_daemon_syncs_again_once_it_is_back() {
    let db = TestDb::new().await;
    let sim = simulator(&[81], Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let relay = Relay::start(0).await;
    let port = relay.port;
    let config = write_config_text(
        dir.path(),
        &config_text(&Setup {
            db_url: db_url_with_password(&db, port),
            sim_url: sim.base_url(),
            schedule: NEVER_SOON,
            schools: vec![(81, None)],
            grace_secs: 5,
            retry_delays: "1",
        }),
    );
    let mut daemon = spawn_daemon(&config, &[]);
    started(&daemon).await;
    daemon
        .wait_for("connected to the database", 1, Duration::from_secs(15))
        .await;
    let pool = db.store.pool();
    let succeeded = "SELECT count(*) FROM sync_runs WHERE school_id = 81 AND status = 'succeeded'";
    daemon.signal("USR1");
    wait_count(pool, succeeded, 1, Duration::from_secs(15)).await;

    // The database goes away: nothing listens, and the pool's connections are cut.
    relay.cut().await;
    daemon.signal("USR1");
    daemon
        .wait_for("no retries left", 1, Duration::from_secs(15))
        .await;
    assert!(
        daemon.running(),
        "the daemon keeps running without its database"
    );

    // Back on the same port: the next run syncs, over fresh connections.
    let relay = Relay::start(port).await;
    daemon.signal("USR1");
    wait_count(pool, succeeded, 2, Duration::from_secs(60)).await;
    // The run and its one retry failed; then the school waited for the next trigger, and the
    // process stayed. (That the retries stop after the delays is `daemon::tests::a_failed_run_
    // is_retried_after_the_delays_and_others_carry_on`, on paused time.)
    assert_eq!(
        daemon.count("run failed ("),
        2,
        "one run, one retry, no loop"
    );
    assert_eq!(daemon.count("stopped unexpectedly"), 0);
    assert_eq!(
        count(pool, "SELECT count(*) FROM sync_runs").await,
        2,
        "the failed runs could not be recorded; nothing else was"
    );
    stop_cleanly(daemon, Duration::from_secs(8)).await;
    relay.cut().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_during_a_run_stops_the_daemon_like_sigterm() {
    let db = TestDb::new().await;
    let sim = simulator(&[91], Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let grace = Duration::from_secs(5);
    let config = write_config_text(
        dir.path(),
        &config_text(&Setup {
            db_url: db_url_with_password(&db, 5432),
            sim_url: sim.base_url(),
            schedule: NEVER_SOON,
            schools: vec![(91, None)],
            grace_secs: grace.as_secs(),
            retry_delays: "60",
        }),
    );
    let daemon = stop_with_a_write_in_flight(&config, &db, "INT", grace).await;
    let pool = db.store.pool();
    let lines = check_log_lines(&daemon);
    assert!(
        lines.iter().any(|l| l["signal"] == "SIGINT"),
        "the SIGINT is logged"
    );
    daemon
        .wait_for("daemon stopped", 1, Duration::from_secs(1))
        .await;
    assert_eq!(
        count(pool, "SELECT count(*) FROM sync_runs").await,
        0,
        "the cancelled run wrote nothing"
    );
    assert_eq!(count(pool, "SELECT count(*) FROM students").await, 0);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_carry_out_each_trigger_once_and_one_carries_on_alone() {
    let db = TestDb::new().await;
    let schools = [61, 62, 63];
    let sim = simulator(&schools, Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write_config_text(
        dir.path(),
        &config_text(&Setup {
            db_url: db_url_with_password(&db, 5432),
            sim_url: sim.base_url(),
            schedule: "*/2 * * * * *",
            schools: schools.iter().map(|&s| (s, None)).collect(),
            grace_secs: 5,
            // A daemon that finds the lock held looks again a second later, within the same
            // two-second step: the trigger must still be carried out once.
            retry_delays: "1",
        }),
    );
    let mut first = spawn_daemon(&config, &[]);
    let mut second = spawn_daemon(&config, &[]);
    started(&first).await;
    started(&second).await;
    let pool = db.store.pool();
    // Schools with `n` scheduled triggers carried out later than `after`.
    let each_school_has = |n: usize, after: DateTime<Utc>| {
        format!(
            "SELECT count(*) FROM (SELECT school_id FROM sync_runs \
             WHERE scheduled_for > '{}' AND status = 'succeeded' \
             GROUP BY school_id HAVING count(*) >= {n}) t",
            after.to_rfc3339()
        )
    };
    // Three triggers each with both daemons up.
    let long_ago = Utc::now() - chrono::Duration::days(1);
    wait_count(
        pool,
        &each_school_has(3, long_ago),
        3,
        Duration::from_secs(60),
    )
    .await;

    first.signal("KILL");
    first.wait_exit(Duration::from_secs(30)).await;
    let killed_at = Utc::now();
    // After one died, the other carries every school: two triggers each, later than the kill.
    wait_count(
        pool,
        &each_school_has(2, killed_at),
        3,
        Duration::from_secs(60),
    )
    .await;
    assert!(second.running());
    second.signal("TERM");
    let status = second.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "{status}");

    let twice = count(
        pool,
        "SELECT count(*) FROM (SELECT 1 FROM sync_runs WHERE scheduled_for IS NOT NULL \
         GROUP BY school_id, scheduled_for HAVING count(*) > 1) t",
    )
    .await;
    assert_eq!(twice, 0, "a scheduled trigger ran twice");
    assert_eq!(
        count(
            pool,
            "SELECT count(*) FROM sync_runs WHERE status <> 'succeeded'"
        )
        .await,
        0
    );
    let step = chrono::Duration::seconds(2);
    for school in schools {
        let runs: Vec<(DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
            "SELECT scheduled_for, finished_at FROM sync_runs WHERE school_id = $1 \
             ORDER BY scheduled_for",
        )
        .bind(school)
        .fetch_all(pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        // With both daemons up, every trigger ran (once): no gaps in the two-second steps,
        // except where a run was still going when the next step came (the triggers during a
        // run become one run after it, which a loaded machine may bring about).
        let both_up: Vec<_> = runs.iter().filter(|(t, _)| *t < killed_at).collect();
        for pair in both_up.windows(2) {
            let ((t0, finished0), (t1, _)) = (pair[0], pair[1]);
            let gap = *t1 - *t0;
            assert!(
                gap == step || (gap > step && *finished0 >= *t0 + step),
                "school {school}: a step skipped after {t0}: {runs:?}"
            );
            assert_eq!(
                gap.num_milliseconds() % step.num_milliseconds(),
                0,
                "school {school}: off the two-second steps: {runs:?}"
            );
        }
    }
    // Both fire at once, so one mostly finds the other's lock and looks again a second later,
    // when the trigger has been carried out.
    let looked_again = |needle: &str| first.count(needle) + second.count(needle);
    assert!(looked_again("looking again") >= 1, "no daemon looked again");
    assert!(looked_again("already carried out") >= 1);
    check_log_lines(&second);
    sim.shutdown().await;
}

/// CPU time (user + system) the process has used so far, from /proc/PID/stat.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/stat: {e}"));
    // The name in parentheses may hold spaces; the fields after it start with the state (3rd).
    let fields: Vec<u64> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| {
            rest.split_whitespace()
                .map(|f| f.parse().unwrap_or(0))
                .collect()
        })
        .unwrap_or_default();
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    let per_second = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(100);
    Duration::from_millis(ticks * 1000 / per_second)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_removes_a_running_school_leaves_the_daemon_idle_until_the_run_ends() {
    let db = TestDb::new().await;
    // Nine entities, four requests at a time, 1.5 s each: the run lasts about 4.5 s.
    let sim = simulator(&[51], Duration::from_millis(1500)).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut setup = Setup {
        db_url: db_url_with_password(&db, 5432),
        sim_url: sim.base_url(),
        schedule: NEVER_SOON,
        schools: vec![(51, None)],
        grace_secs: 10,
        retry_delays: "60",
    };
    let config = write_config_text(dir.path(), &config_text(&setup));
    let daemon = spawn_daemon(&config, &[]);
    started(&daemon).await;
    daemon.signal("USR1");
    daemon
        .wait_for("run started", 1, Duration::from_secs(10))
        .await;

    setup.schools.clear();
    write_config_text(dir.path(), &config_text(&setup));
    daemon.signal("HUP");
    daemon
        .wait_for("configuration reloaded", 1, Duration::from_secs(10))
        .await;
    let window = Duration::from_secs(1);
    let before = cpu_time(daemon.pid());
    tokio::time::sleep(window).await;
    let used = cpu_time(daemon.pid()) - before;
    eprintln!("daemon CPU while the removed school's run was in flight: {used:?} in {window:?}");
    assert_eq!(
        daemon.count("its task ends"),
        0,
        "the run ended before the window did: make the simulator slower"
    );
    // Idle, the daemon uses a few milliseconds; the spin this guards against burnt more than
    // a core. The bound only tells the two apart.
    assert!(
        used < window / 4,
        "{used:?} of CPU in {window:?} while the removed school's run was in flight"
    );
    daemon
        .wait_for("its task ends", 1, Duration::from_secs(20))
        .await;
    stop_cleanly(daemon, Duration::from_secs(10)).await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cap_on_requests_in_flight_holds_across_a_reload() {
    let db = TestDb::new().await;
    // Nine entities, two requests at a time, 400 ms each: a run lasts about two seconds.
    let sim = simulator(&[61, 62], Duration::from_millis(400)).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut setup = Setup {
        db_url: db_url_with_password(&db, 5432),
        sim_url: sim.base_url(),
        schedule: NEVER_SOON,
        schools: vec![(61, None)],
        grace_secs: 10,
        retry_delays: "60",
    };
    let with_cap = |setup: &Setup| {
        config_text(setup).replace(
            "request_timeout = 10\n",
            "request_timeout = 10\nmax_in_flight = 2\n",
        )
    };
    let config = write_config_text(dir.path(), &with_cap(&setup));
    let daemon = spawn_daemon(&config, &[]);
    started(&daemon).await;
    daemon.signal("USR1");
    daemon
        .wait_for("run started", 1, Duration::from_secs(10))
        .await;

    // School 62 arrives by a reload (which builds a new Bromcom client) and runs every second,
    // while school 61's run, started before, is still fetching.
    setup.schools.push((62, Some("* * * * * *")));
    write_config_text(dir.path(), &with_cap(&setup));
    daemon.signal("HUP");
    daemon
        .wait_for("configuration reloaded", 1, Duration::from_secs(10))
        .await;
    daemon
        .wait_for("run started", 2, Duration::from_secs(10))
        .await;
    let pool = db.store.pool();
    let done_61 = "SELECT count(*) FROM sync_runs WHERE school_id = 61 AND status = 'succeeded'";
    assert_eq!(
        count(pool, done_61).await,
        0,
        "school 61's run ended before school 62's began: make the simulator slower"
    );
    wait_count(pool, done_61, 1, Duration::from_secs(20)).await;
    assert_eq!(
        sim.peak_in_flight(),
        2,
        "requests in flight at once across the reload (the cap is 2)"
    );
    stop_cleanly(daemon, Duration::from_secs(10)).await;
    sim.shutdown().await;
}

/// A reload of a file whose TOML breaks on the secret's line: the failure is logged by line,
/// column and key, the secret is in no log line (`stop_cleanly` checks every one), and the
/// daemon keeps its configuration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_with_a_syntax_error_logs_where_it_is_but_not_the_secret() {
    let db = TestDb::new().await;
    let sim = simulator(&[43], Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let setup = Setup {
        db_url: db_url_with_password(&db, 5432),
        sim_url: sim.base_url(),
        schedule: NEVER_SOON,
        schools: vec![(43, None)],
        grace_secs: 10,
        retry_delays: "60",
    };
    let good = config_text(&setup);
    let config = write_config_text(dir.path(), &good);
    let daemon = spawn_daemon(&config, &[]);
    started(&daemon).await;

    let secret_line = format!("application_secret = \"{APP_SECRET}\"");
    assert!(good.contains(&secret_line));
    let url_line = format!("url = \"{}\"", setup.db_url);
    assert!(good.contains(&url_line));
    for (broken, key) in [
        (
            good.replace(
                &secret_line,
                &format!("application_secret = \"{APP_SECRET}"),
            ),
            "bromcom.application_secret",
        ),
        (
            good.replace(&url_line, &format!("url = {}", setup.db_url)),
            "database.url",
        ),
    ] {
        let failures = daemon.count("configuration reload failed");
        write_config_text(dir.path(), &broken);
        daemon.signal("HUP");
        daemon
            .wait_for(
                "configuration reload failed",
                failures + 1,
                Duration::from_secs(10),
            )
            .await;
        let lines = daemon.lines();
        let failure = lines
            .iter()
            .rfind(|l| l.contains("configuration reload failed"))
            .expect("the failure is logged");
        assert!(
            !failure.contains(APP_SECRET) && !failure.contains(DB_PASSWORD),
            "{failure}"
        );
        assert!(
            failure.contains("TOML syntax error at line") && failure.contains(key),
            "{failure}"
        );
    }
    daemon.signal("USR1");
    wait_count(
        db.store.pool(),
        "SELECT count(*) FROM sync_runs WHERE school_id = 43 AND status = 'succeeded'",
        1,
        Duration::from_secs(10),
    )
    .await;
    stop_cleanly(daemon, Duration::from_secs(10)).await;
    sim.shutdown().await;
}

/// A wrong secret (the simulator answers 401) cannot heal by waiting: the school runs once, is
/// not retried (however short the ladder), the log says why, and `status` says so. Before,
/// every retry failed the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_secret_is_not_retried_and_status_says_so() {
    let db = TestDb::new().await;
    let sim = SimServer::start(SimOptions {
        dataset: {
            let mut dataset = Dataset::default();
            dataset.schools.insert(91, school_rows(91));
            dataset
        },
        application_id: APP_ID.to_owned(),
        // Not the configured one: every request is answered 401.
        application_secret: "the-secret-Bromcom-expects".to_owned(),
        ..SimOptions::default()
    })
    .await
    .unwrap_or_else(|e| panic!("simulator: {e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write_config_text(
        dir.path(),
        &config_text(&Setup {
            db_url: db_url_with_password(&db, 5432),
            sim_url: sim.base_url(),
            schedule: NEVER_SOON,
            schools: vec![(91, None)],
            grace_secs: 5,
            retry_delays: "1, 1",
        }),
    );
    let daemon = spawn_daemon(&config, &[]);
    started(&daemon).await;
    daemon.signal("USR1");
    daemon
        .wait_for(
            "not retried: the failure cannot heal by waiting (credentials)",
            1,
            Duration::from_secs(15),
        )
        .await;
    let pool = db.store.pool();
    let failed = "SELECT count(*) FROM sync_runs WHERE school_id = 91 AND status = 'failed'";
    wait_count(pool, failed, 1, Duration::from_secs(10)).await;
    // A generous look past the whole ladder (two retries a second apart): nothing more comes.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(count(pool, "SELECT count(*) FROM sync_runs").await, 1);
    assert_eq!(daemon.count("retrying"), 0, "{}", daemon.lines().join("\n"));
    let not_retried: Vec<Value> = check_log_lines(&daemon)
        .into_iter()
        .filter(|line| line["permanent"] == "credentials")
        .collect();
    assert_eq!(not_retried.len(), 1, "{not_retried:?}");
    assert_eq!(not_retried[0]["level"], "WARN");

    let text = crate::harness::run_binary(&config, &["status"], &[]).await;
    assert_eq!(text.status.code(), Some(1));
    let shown = stdout(&text);
    assert!(shown.contains("error category:  credentials"), "{shown}");
    assert!(
        shown.contains("not retried:     credentials rejected; fix the configuration"),
        "{shown}"
    );
    let json = crate::harness::run_binary(&config, &["status", "--json"], &[]).await;
    let schools: Value = serde_json::from_str(&stdout(&json))
        .unwrap_or_else(|e| panic!("status --json ({e}): {}", stdout(&json)));
    assert_eq!(schools[0]["last_run"]["status"], "failed");
    assert_eq!(schools[0]["last_run"]["error_category"], "credentials");
    assert_eq!(schools[0]["last_run"]["permanent"], true);

    stop_cleanly(daemon, Duration::from_secs(8)).await;
    sim.shutdown().await;
}
