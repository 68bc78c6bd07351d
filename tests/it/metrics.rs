//! `bromsync run` with `[http] listen`: health, readiness and Prometheus metrics over real
//! HTTP, scraped and parsed after real runs (one succeeded, one failed on a missing grant).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bromsync::snapshot::{EntityKind, SchoolId};

use crate::harness::{Daemon, reserve_port, wait_count, wait_until, write_config};
use crate::ops_fixture::dataset;
use crate::support::{TestDb, start_sim};

const SCHOOL: SchoolId = 81;
/// A schedule that does not fire during a test.
const NEVER_SOON: &str = "0 0 1 1 *";

/// `(name, labels)` -> value, from the Prometheus text format.
type Samples = BTreeMap<(String, BTreeMap<String, String>), f64>;

fn parse_prometheus(text: &str) -> Samples {
    let mut samples = Samples::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample line: {line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|e| panic!("value of `{line}`: {e}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("labels: {line}"));
                let labels = body
                    .split(',')
                    .filter(|pair| !pair.is_empty())
                    .map(|pair| {
                        let (k, v) = pair
                            .split_once('=')
                            .unwrap_or_else(|| panic!("label: {line}"));
                        (k.to_owned(), v.trim_matches('"').to_owned())
                    })
                    .collect();
                (name.to_owned(), labels)
            }
            None => (series.to_owned(), BTreeMap::new()),
        };
        samples.insert((name, labels), value);
    }
    samples
}

fn sample(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples.get(&(name.to_owned(), labels)).copied()
}

async fn get(url: &str) -> (u16, String) {
    bromsync::bromcom::install_tls_crypto();
    match reqwest::get(url).await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

/// Polls until `base` answers at all.
async fn wait_listening(base: &str) {
    wait_until(
        Duration::from_secs(30),
        || async { get(&format!("{base}/healthz")).await.0 == 200 },
        || format!("{base}/healthz never answered"),
    )
    .await;
}

async fn wait_runs(db: &TestDb, want: i64) {
    let sql = "SELECT count(*) FROM sync_runs";
    wait_count(db.store.pool(), sql, want, Duration::from_secs(30)).await;
}

/// `bromsync run` with a listener on the port the system picks: the daemon and its address.
async fn spawn_daemon(config: &std::path::Path) -> (Daemon, String) {
    let daemon = Daemon::spawn(config, &["run"], &[]);
    let base = daemon.http_base().await;
    (daemon, base)
}

/// Scrapes `/metrics` until `bromsync_runs_total` of the school and signal counts `want` runs
/// whatever their outcome: the counter itself, not the run's row, which is written first.
async fn scrape_once_runs_are_counted(base: &str, want: f64) -> (Samples, String) {
    let school = SCHOOL.to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, text) = get(&format!("{base}/metrics")).await;
        assert_eq!(status, 200, "{text}");
        let samples = parse_prometheus(&text);
        let counted: f64 = ["succeeded", "failed", "refused", "skipped"]
            .iter()
            .filter_map(|outcome| {
                sample(
                    &samples,
                    "bromsync_runs_total",
                    &[
                        ("school", school.as_str()),
                        ("trigger", "signal"),
                        ("outcome", outcome),
                    ],
                )
            })
            .sum();
        if counted >= want {
            return (samples, text);
        }
        assert!(
            Instant::now() < deadline,
            "{want} runs never counted: {text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_serves_health_and_metrics_that_follow_its_runs() {
    let db = TestDb::new().await;
    let sim = start_sim(dataset(&[SCHOOL])).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &db.url,
        &sim,
        100_000,
        &[format!("id = {SCHOOL}")],
        &format!("[daemon]\nschedule = \"{NEVER_SOON}\"\n\n[http]\nlisten = \"127.0.0.1:0\"\n"),
    );
    let started = chrono::Utc::now().timestamp() as f64;
    let (mut daemon, base) = spawn_daemon(&config).await;
    wait_listening(&base).await;
    assert_eq!(get(&format!("{base}/readyz")).await.0, 200);
    assert_eq!(get(&format!("{base}/elsewhere")).await.0, 404);

    daemon.signal("USR1");
    wait_runs(&db, 1).await;
    sim.set_not_granted([(SCHOOL, EntityKind::Contacts)]);
    daemon.signal("USR1");
    wait_runs(&db, 2).await;

    let (samples, text) = scrape_once_runs_are_counted(&base, 2.0).await;
    let school = SCHOOL.to_string();
    let school = school.as_str();
    let runs = |outcome: &str| {
        sample(
            &samples,
            "bromsync_runs_total",
            &[
                ("school", school),
                ("trigger", "signal"),
                ("outcome", outcome),
            ],
        )
    };
    assert_eq!(runs("succeeded"), Some(1.0), "{text}");
    assert_eq!(runs("failed"), Some(1.0), "{text}");
    assert_eq!(
        sample(
            &samples,
            "bromsync_run_duration_seconds_count",
            &[("school", school)]
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &samples,
            "bromsync_run_duration_seconds_bucket",
            &[("school", school), ("le", "+Inf")]
        ),
        Some(2.0),
        "{text}"
    );
    let last_success = sample(
        &samples,
        "bromsync_last_success_timestamp_seconds",
        &[("school", school)],
    )
    .expect("last success");
    assert!(last_success >= started - 1.0 && last_success <= chrono::Utc::now().timestamp() as f64);
    for (table, rows) in [
        ("students", 3.0),
        ("teachers", 2.0),
        ("parents", 2.0),
        ("parent_students", 3.0),
        ("classes", 2.0),
        ("class_students", 6.0),
        ("class_teachers", 3.0),
        ("groups", 1.0),
        ("group_students", 3.0),
    ] {
        assert_eq!(
            sample(
                &samples,
                "bromsync_roster_rows",
                &[("school", school), ("table", table)]
            ),
            Some(rows),
            "{table}"
        );
    }
    assert_eq!(
        sample(
            &samples,
            "bromsync_excluded_records",
            &[("school", school), ("entity", "student")]
        ),
        Some(0.0)
    );
    // The first run asked for every entity once; the second was refused Contacts once (no
    // retry for a 403).
    for entity in EntityKind::ALL {
        let ok = sample(
            &samples,
            "bromsync_bromcom_requests_total",
            &[("entity", entity.api_name()), ("status", "200")],
        )
        .unwrap_or(0.0);
        assert!(ok >= 1.0, "{entity}: {text}");
    }
    assert_eq!(
        sample(
            &samples,
            "bromsync_bromcom_requests_total",
            &[("entity", "Contacts"), ("status", "403")]
        ),
        Some(1.0)
    );

    daemon.stop(Duration::from_secs(30)).await;
}

#[tokio::test]
async fn readyz_says_503_while_the_database_does_not_answer() {
    let sim = start_sim(dataset(&[SCHOOL])).await;
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on the database's port.
    let dead = reserve_port();
    let dead_db = format!("postgres://root@127.0.0.1:{}/nowhere", dead.port);
    let config = write_config(
        dir.path(),
        &dead_db,
        &sim,
        100_000,
        &[format!("id = {SCHOOL}")],
        &format!("[daemon]\nschedule = \"{NEVER_SOON}\"\n\n[http]\nlisten = \"127.0.0.1:0\"\n"),
    );
    let (mut daemon, base) = spawn_daemon(&config).await;
    wait_listening(&base).await;
    assert_eq!(get(&format!("{base}/readyz")).await.0, 503);
    assert_eq!(get(&format!("{base}/healthz")).await.0, 200);
    // Whatever it exits with, without a database.
    daemon.signal("TERM");
    daemon.wait_exit(Duration::from_secs(30)).await;
}

/// A run the removal guard refuses is counted as `refused`, never as `failed`: an alert on
/// failed runs must not fire for a refusal an operator is meant to review, and the refusals
/// must be countable on their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_refused_by_the_removal_guard_is_counted_as_refused_not_failed() {
    let db = TestDb::new().await;
    let sim = start_sim(dataset(&[SCHOOL])).await;
    let dir = tempfile::tempdir().unwrap();
    // No removal at all is allowed without acceptance.
    let config = write_config(
        dir.path(),
        &db.url,
        &sim,
        100_000,
        &[format!("id = {SCHOOL}")],
        &format!(
            "[sync.removal_guard]\nmax_fraction = 0.0\nmax_count = 0\n\n\
             [daemon]\nschedule = \"{NEVER_SOON}\"\n\n[http]\nlisten = \"127.0.0.1:0\"\n"
        ),
    );
    let (mut daemon, base) = spawn_daemon(&config).await;
    wait_listening(&base).await;

    daemon.signal("USR1");
    wait_runs(&db, 1).await;
    // A student leaves Bromcom: the next run would remove them, which the guard refuses.
    let removed = sim.update_dataset(|d| {
        bromsync_sim::churn::remove_rows(
            d,
            SCHOOL,
            EntityKind::Students,
            "studentID",
            crate::ops_fixture::base(SCHOOL) + crate::ops_fixture::STUDENTS[2],
        )
    });
    assert_eq!(removed, 1);
    daemon.signal("USR1");

    // Both runs are counted (whatever the outcome label), waited for on the counter itself.
    let school = SCHOOL.to_string();
    let runs_of = |samples: &Samples, outcome: &str| {
        sample(
            samples,
            "bromsync_runs_total",
            &[
                ("school", school.as_str()),
                ("trigger", "signal"),
                ("outcome", outcome),
            ],
        )
    };
    let (samples, text) = scrape_once_runs_are_counted(&base, 2.0).await;
    let status: String =
        sqlx::query_scalar("SELECT status FROM sync_runs ORDER BY run_id DESC LIMIT 1")
            .fetch_one(db.store.pool())
            .await
            .unwrap();
    assert_eq!(status, "refused", "the guard did not refuse the run");
    assert_eq!(runs_of(&samples, "succeeded"), Some(1.0), "{text}");
    assert_eq!(runs_of(&samples, "refused"), Some(1.0), "{text}");
    assert_eq!(runs_of(&samples, "failed"), None, "{text}");

    daemon.stop(Duration::from_secs(30)).await;
}
