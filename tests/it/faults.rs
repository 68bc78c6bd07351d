//! Faults at every step of a run: a fatal answer at each request a run makes, transient faults
//! that must leave exactly the fault-free result, the process killed at random moments (inside
//! the write too), and the database going away while the run's transaction is open. Every
//! case ends with the tables either exactly as before or exactly as a finished run leaves them.

use std::time::{Duration, Instant};

use bromsync::snapshot::{EntityKind, SchoolId};
use bromsync::store::Store;
use bromsync::sync::{self, RunOutcome, SyncContext};
use bromsync_sim::churn;
use bromsync_sim::dataset::Dataset;
use bromsync_sim::faults::{Fault, FaultPlan, FaultRule};
use bromsync_sim::server::SimHandle;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use secrecy::SecretString;
use sqlx::AssertSqlSafe;

use crate::harness::*;
use crate::relay::Relay;
use crate::support::*;

const SCHOOL: SchoolId = 20001;

/// A school that already has data, whose Bromcom data has changed since (so a partial write
/// would show), served in pages of `page_size`.
async fn synced_then_changed(
    db: &TestDb,
    seed: u64,
    students: usize,
    page_size: usize,
) -> (SimHandle, bromsync::bromcom::Client) {
    let sim = start_sim(generated(seed, &[SCHOOL], students)).await;
    sim.set_page_size(page_size);
    let client = paging_client(&sim, page_size);
    succeeded(
        run_once(db, &client, SCHOOL)
            .await
            .unwrap_or_else(|e| panic!("first run: {e}")),
    );
    let churned = sim.update_dataset(|d| churn::churn(d, SCHOOL, 0.05, seed, today()));
    assert!(churned.total() > 0);
    (sim, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fatal_answer_at_any_request_fails_the_run_and_changes_nothing() {
    let db = TestDb::new().await;
    let page_size = 60;
    let (sim, client) = synced_then_changed(&db, 71, 40, page_size).await;
    // The run's requests, counted on a clean fetch (which writes nothing).
    sim.clear_requests();
    client
        .fetch_school(SCHOOL)
        .await
        .unwrap_or_else(|e| panic!("clean fetch: {e}"));
    let requests = sim.requests();
    let n = requests.len() as u64;
    assert!(
        n >= 15 && requests.iter().any(|r| r.page == Some(3)),
        "several pages per entity: {n} requests"
    );
    let before = checksums(&db, SCHOOL).await;
    let runs_before = run_count(&db).await;

    let mut plans: Vec<(String, FaultPlan)> = Vec::new();
    for code in [401, 403, 404] {
        for k in 1..=n {
            plans.push((
                format!("{code} at request {k}"),
                FaultPlan::none().rule(FaultRule::nth_request(k, Fault::Status(code))),
            ));
        }
    }
    // A transient fault that never clears: the request's page fails every attempt.
    for (index, request) in requests.iter().enumerate() {
        let (Some(entity), Some(page)) = (request.entity, request.page) else {
            panic!("request without entity or page: {request:?}");
        };
        plans.push((
            format!(
                "503 on every attempt of request {} ({entity} page {page})",
                index + 1
            ),
            FaultPlan::none().rule(
                FaultRule::new(Fault::Status(503))
                    .school(SCHOOL)
                    .entity(entity)
                    .page(page),
            ),
        ));
    }
    for (name, plan) in &plans {
        sim.set_faults(plan.clone());
        sim.clear_requests();
        let outcome = run_once(&db, &client, SCHOOL).await;
        let error = match outcome {
            Err(error) => error.to_string(),
            Ok(other) => panic!("{name}: the run did not fail: {other:?}"),
        };
        assert!(
            sim.requests().iter().any(|r| r.fault.is_some()),
            "{name}: the fault was never served"
        );
        assert_eq!(
            checksums(&db, SCHOOL).await,
            before,
            "{name}: tables changed"
        );
        let (status, recorded) = last_run(&db, SCHOOL).await;
        assert_eq!(status, "failed", "{name}");
        assert_eq!(recorded.as_deref(), Some(error.as_str()), "{name}");
    }
    assert_eq!(run_count(&db).await, runs_before + plans.len() as i64);

    sim.clear_faults();
    let summary = succeeded(
        run_once(&db, &client, SCHOOL)
            .await
            .unwrap_or_else(|e| panic!("clean run: {e}")),
    );
    assert!(summary.roster_changes.iter().any(|c| !c.is_empty()));
    assert_ne!(checksums(&db, SCHOOL).await, before);
    let differences = differences_from_eligibility(&db, &client, SCHOOL).await;
    assert!(differences.is_empty(), "{differences:?}");
    eprintln!("fatal matrix: {} requests, {} cases", n, plans.len());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_faults_end_in_exactly_the_fault_free_tables() {
    let db = TestDb::new().await;
    let page_size = 60;
    let (sim, client) = synced_then_changed(&db, 72, 40, page_size).await;
    let changed: Dataset = sim.with_dataset(Clone::clone);
    let original: Dataset = {
        let mut d = generated(72, &[SCHOOL], 40);
        d.schools.retain(|s, _| *s == SCHOOL);
        d
    };
    // What a fault-free run stores for each of the two datasets the cases alternate between.
    let expected_changed = decision_now(&client, SCHOOL).await;
    sim.update_dataset(|d| *d = original.clone());
    let expected_original = decision_now(&client, SCHOOL).await;
    sim.clear_requests();
    client
        .fetch_school(SCHOOL)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let n = sim.request_count() as u64;

    let faults = [
        Fault::TooManyRequests {
            retry_after_secs: None,
        },
        Fault::TooManyRequests {
            retry_after_secs: Some(1),
        },
        Fault::Status(500),
        Fault::Status(502),
        Fault::Status(503),
        Fault::Status(408),
        Fault::CutMidBody,
        Fault::BrokenJson,
        Fault::SuccessFalse {
            message: Some("simulated".to_owned()),
        },
        Fault::SuccessFalse { message: None },
        Fault::HtmlPage,
        Fault::EmptyBody,
    ];
    let mut cases: Vec<(String, FaultPlan)> = Vec::new();
    for fault in &faults {
        for k in [1, n / 2, n] {
            cases.push((
                format!("{} at request {k}", fault.label()),
                FaultPlan::none().rule(FaultRule::nth_request(k, fault.clone())),
            ));
        }
    }
    // Twice in a row on one page (one attempt short of giving up), and mixed at random.
    cases.push((
        "cut mid-body twice on CollectionAssociates page 1".to_owned(),
        FaultPlan::none().rule(
            FaultRule::new(Fault::CutMidBody)
                .entity(EntityKind::CollectionAssociates)
                .page(1)
                .first(2),
        ),
    ));
    cases.push((
        "broken json then html on Students page 0".to_owned(),
        FaultPlan::none()
            .rule(
                FaultRule::new(Fault::BrokenJson)
                    .entity(EntityKind::Students)
                    .first(1),
            )
            .rule(
                FaultRule::new(Fault::HtmlPage)
                    .entity(EntityKind::Students)
                    .first(2),
            ),
    ));
    let patient = {
        let mut config = paging_config(&sim, page_size);
        config.max_attempts = 12;
        bromsync::bromcom::Client::new(config).unwrap_or_else(|e| panic!("{e}"))
    };
    let random_cases = [3u64, 4, 5];
    for seed in random_cases {
        cases.push((
            format!("random faults at 25%, seed {seed}"),
            FaultPlan::random(0.25, seed),
        ));
    }

    let mut serving_original = true;
    for (index, (name, plan)) in cases.iter().enumerate() {
        // Alternate the data so that every case has changes to write.
        serving_original = !serving_original;
        let (data, expected) = if serving_original {
            (&original, &expected_original)
        } else {
            (&changed, &expected_changed)
        };
        sim.update_dataset(|d| *d = data.clone());
        sim.set_faults(plan.clone());
        sim.clear_requests();
        let run_client = if name.starts_with("random") {
            &patient
        } else {
            &client
        };
        let outcome = run_once(&db, run_client, SCHOOL).await;
        let summary = match outcome {
            Ok(RunOutcome::Succeeded(summary)) => summary,
            other => panic!("{name}: {other:?}"),
        };
        assert!(
            index == 0 || summary.roster_changes.iter().any(|c| !c.is_empty()),
            "{name}: nothing to write"
        );
        let served_faults = sim.requests().iter().filter(|r| r.fault.is_some()).count();
        assert!(served_faults > 0, "{name}: no fault was served");
        let differences = differences_from(&db, SCHOOL, expected).await;
        assert!(differences.is_empty(), "{name}: {differences:?}");
    }
    eprintln!("transient matrix: {n} requests, {} cases", cases.len());
    sim.shutdown().await;
}

/// Polls until `sql` (a count) is at least 1, or the process has exited, or `within` passes.
async fn wait_for_state(
    db: &TestDb,
    sql: &str,
    child: &mut tokio::process::Child,
    within: Duration,
) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(db.store.pool())
            .await
            .unwrap_or(0);
        if n > 0 {
            return true;
        }
        if matches!(child.try_wait(), Ok(Some(_))) {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    false
}

/// Waits until no session of the database holds an advisory (school) lock: a killed
/// process's backend goes away a moment after the process.
async fn wait_locks_released(db: &TestDb) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let held: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
             WHERE l.locktype = 'advisory' AND d.datname = $1",
        )
        .bind(&db.name)
        .fetch_one(db.store.pool())
        .await
        .unwrap_or(1);
        if held == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "a killed run's lock stayed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_leaves_before_or_after_never_between() {
    let started = Instant::now();
    let db = TestDb::new().await;
    let school_a: Dataset = generated(73, &[SCHOOL], 1200);
    let mut school_b = school_a.clone();
    churn::churn(&mut school_b, SCHOOL, 0.2, 73, today());
    let sim = start_sim(school_a.clone()).await;
    let client = client_for(&sim);
    let expected_a = decision_now(&client, SCHOOL).await;
    sim.update_dataset(|d| *d = school_b.clone());
    let expected_b = decision_now(&client, SCHOOL).await;
    sim.update_dataset(|d| *d = school_a.clone());

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // The guard would refuse a 20% churn; this test is about kills, not the guard.
    let config = write_config(
        dir.path(),
        &db.url,
        &sim,
        100_000,
        &[format!("id = {SCHOOL}")],
        "[sync.removal_guard]\nmax_fraction = 1.0\nmax_count = 100000000\n",
    );
    let clean_started = Instant::now();
    let first = run_binary(&config, &["sync"], &[]).await;
    let clean_run = clean_started.elapsed();
    assert_eq!(first.status.code(), Some(0), "{}", stdout(&first));
    let mut at_a = true;

    let in_transaction = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND xact_start IS NOT NULL \
         AND (state = 'idle in transaction' OR query ILIKE 'CREATE TEMP%' OR query ILIKE 'MERGE%' \
              OR query ILIKE 'DELETE%' OR query ILIKE 'ANALYZE%' OR query ILIKE 'INSERT%')",
        db.name
    );
    let paused = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND state = 'idle in transaction'",
        db.name
    );
    let mut rng = StdRng::seed_from_u64(20_261_128);
    let (mut kept_before, mut reached_after, mut killed_in_write) = (0, 0, 0);
    let trials = 24;
    for trial in 0..trials {
        let (target, expected) = if at_a {
            (&school_b, &expected_b)
        } else {
            (&school_a, &expected_a)
        };
        sim.update_dataset(|d| *d = target.clone());
        wait_locks_released(&db).await;
        let before = checksums(&db, SCHOOL).await;
        let kind = trial % 3;
        let pause = if kind == 1 { "400" } else { "0" };
        let mut child = bromsync(
            &config,
            &["sync"],
            &[("TEST_BROMSYNC_PAUSE_BEFORE_COMMIT_MS", pause)],
        )
        .spawn()
        .unwrap_or_else(|e| panic!("spawn: {e}"));
        let description = match kind {
            // Anywhere in the run, from start-up to the end.
            0 => {
                let delay = rng.random_range(0..clean_run.as_millis() as u64 * 3 / 2 + 1);
                tokio::time::sleep(Duration::from_millis(delay)).await;
                format!("{delay} ms after start")
            }
            // Inside the open transaction, while the run waits before committing.
            1 => {
                let caught =
                    wait_for_state(&db, &paused, &mut child, Duration::from_secs(20)).await;
                assert!(caught, "trial {trial}: never saw the open transaction");
                killed_in_write += 1;
                let delay = rng.random_range(0..380);
                tokio::time::sleep(Duration::from_millis(delay)).await;
                format!("{delay} ms into the pause before commit")
            }
            // Inside the write itself: staging, deleting, merging.
            _ => {
                let caught =
                    wait_for_state(&db, &in_transaction, &mut child, Duration::from_secs(20)).await;
                killed_in_write += usize::from(caught);
                let delay = rng.random_range(0..400);
                tokio::time::sleep(Duration::from_millis(delay)).await;
                format!("{delay} ms into the write (seen: {caught})")
            }
        };
        let _ = child.start_kill();
        let status = child.wait().await.unwrap_or_else(|e| panic!("wait: {e}"));
        wait_locks_released(&db).await;
        let now = checksums(&db, SCHOOL).await;
        if now == before {
            kept_before += 1;
        } else {
            let differences = differences_from(&db, SCHOOL, expected).await;
            assert!(
                differences.is_empty(),
                "trial {trial} (killed {description}, {status}): the tables are neither before nor after: {differences:?}"
            );
            reached_after += 1;
        }
        // The next run succeeds and stores the target.
        let next = run_binary(&config, &["sync"], &[]).await;
        assert_eq!(
            next.status.code(),
            Some(0),
            "trial {trial}: the run after a kill: {}",
            stdout(&next)
        );
        let differences = differences_from(&db, SCHOOL, expected).await;
        assert!(differences.is_empty(), "trial {trial}: {differences:?}");
        at_a = !at_a;
    }
    assert!(kept_before > 0, "no kill landed before the commit");
    assert!(
        killed_in_write >= trials / 3,
        "{killed_in_write} kills in the write"
    );
    eprintln!(
        "sigkill: {trials} trials, {kept_before} before, {reached_after} after, {killed_in_write} in the write; clean run {clean_run:?}; total {:?}",
        started.elapsed()
    );
    sim.shutdown().await;
}

/// In-process: the run is held at its write through the library's hook (no pause of fixed
/// length), the database goes, and the run is let go into the cut connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_going_away_during_the_write_fails_the_run_cleanly() {
    let db = TestDb::new().await;
    let sim = start_sim(generated(74, &[SCHOOL], 200)).await;
    let client = client_for(&sim);
    succeeded(
        run_once(&db, &client, SCHOOL)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    );
    sim.update_dataset(|d| churn::churn(d, SCHOOL, 0.05, 74, today()));
    let before = checksums(&db, SCHOOL).await;
    let runs = run_count(&db).await;

    let relay = Relay::start(0).await;
    let url = format!("postgres://root@127.0.0.1:{}/{}", relay.port, db.name);
    let store = Store::connect(&SecretString::from(url), 4)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (held, hooks) = HeldBeforeCommit::new();
    let mut ctx = SyncContext::new(store, client);
    ctx.hooks = hooks;
    let run = tokio::spawn(async move { sync::run_school(&ctx, request(SCHOOL)).await });
    held.reached(Duration::from_secs(20)).await;
    let paused = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND state = 'idle in transaction'",
        db.name
    );
    let open: i64 = sqlx::query_scalar(AssertSqlSafe(paused))
        .fetch_one(db.store.pool())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(open, 1, "the run holds its transaction open");
    relay.cut().await;
    let cut_at = Instant::now();
    held.release();
    let result = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .unwrap_or_else(|_| panic!("the run did not end within 60 s of losing its database"))
        .unwrap_or_else(|e| panic!("the run panicked: {e}"));
    let took = cut_at.elapsed();
    let error = match result {
        Err(error) => error,
        Ok(outcome) => panic!("the run should fail without its database: {outcome:?}"),
    };
    assert!(
        error
            .to_string()
            .starts_with("database: school 20001: database error"),
        "{error}"
    );
    assert_eq!(
        bromsync::report::print_outcome(SCHOOL, &Err(error)),
        bromsync::exit::FAILED
    );
    assert_eq!(checksums(&db, SCHOOL).await, before, "the tables changed");
    assert_eq!(
        run_count(&db).await,
        runs,
        "a run was recorded without the database"
    );
    assert!(
        took < Duration::from_secs(10),
        "the run took {took:?} to end after the cut"
    );
    eprintln!("database cut: the run ended {took:?} after the cut");
    sim.shutdown().await;
}
