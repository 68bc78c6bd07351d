//! The daemon's core driven with a stand-in runner: no network, no database, no signals, and no
//! waiting on the wall clock: tokio's time is paused (it jumps ahead whenever every task waits)
//! and the daemon's injected clock reads that time, so seconds of schedules, retries and runs
//! pass in an instant.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Timelike, Utc};
use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::runner::{Job, JobFailure, JobOutcome, Runner};
use super::school::Clock;
use super::supervisor::{Control, Daemon};
use crate::config::{self, Settings};
use crate::failure::Permanent;
use crate::snapshot::SchoolId;
use crate::store::Trigger;
use crate::sync::SkipReason;

/// The daemon's clock in these tests: a fixed wall-clock start (10:00:00 UTC on a winter day, no
/// clock change near) moved on by tokio's paused time.
struct PausedClock {
    origin: DateTime<Utc>,
    started: Instant,
}

impl PausedClock {
    fn new() -> PausedClock {
        PausedClock {
            origin: Utc
                .with_ymd_and_hms(2026, 1, 15, 10, 0, 0)
                .single()
                .unwrap_or_else(|| panic!("a fixed instant")),
            started: Instant::now(),
        }
    }
}

impl Clock for PausedClock {
    fn now(&self) -> DateTime<Utc> {
        self.origin
            + chrono::Duration::from_std(self.started.elapsed())
                .unwrap_or_else(|e| panic!("elapsed time: {e}"))
    }
}

/// A schedule that does not fire during a test.
const NEVER_SOON: &str = "0 0 1 1 *";

fn settings(
    schedule: &str,
    schools: &[SchoolId],
    max_concurrent: usize,
    retries: &[u64],
) -> Settings {
    let schools: String = schools
        .iter()
        .map(|id| format!("[[schools]]\nid = {id}\n"))
        .collect();
    let retries: Vec<String> = retries.iter().map(u64::to_string).collect();
    let text = format!(
        "[database]\nurl = \"postgres://nobody@127.0.0.1:1/none\"\n\
         [bromcom]\nbase_url = \"http://127.0.0.1:1\"\napplication_id = \"t\"\napplication_secret = \"s\"\n\
         [daemon]\nschedule = \"{schedule}\"\nmax_concurrent_schools = {max_concurrent}\n\
         grace_period_secs = 3\nretry_delays_secs = [{}]\n{schools}",
        retries.join(", ")
    );
    config::from_toml(&text).unwrap_or_else(|e| panic!("test settings: {e}"))
}

#[derive(Debug, Clone)]
struct Call {
    school: SchoolId,
    trigger: Trigger,
    scheduled_for: Option<DateTime<Utc>>,
    attempt: usize,
    at: Instant,
}

/// Records every job, takes `duration` per run, ends a school's first runs as `scripted` says,
/// fails the schools in `failing`, and counts runs at once (per school and overall) and runs
/// dropped before they ended.
#[derive(Default)]
struct Fake {
    duration: Duration,
    scripted: Mutex<HashMap<SchoolId, VecDeque<JobOutcome>>>,
    failing: Vec<SchoolId>,
    calls: Mutex<Vec<Call>>,
    running: Mutex<HashMap<SchoolId, usize>>,
    most_per_school: AtomicUsize,
    now_overall: AtomicUsize,
    most_overall: AtomicUsize,
    finished: AtomicUsize,
    cancelled: AtomicUsize,
}

#[derive(Clone)]
struct FakeRunner(Arc<Fake>);

struct Running {
    fake: Arc<Fake>,
    school: SchoolId,
    ended: bool,
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut running = self
            .fake
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *running.entry(self.school).or_default() -= 1;
        self.fake.now_overall.fetch_sub(1, Ordering::SeqCst);
        if !self.ended {
            self.fake.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Runner for FakeRunner {
    fn run(&self, job: Job) -> BoxFuture<'static, JobOutcome> {
        let fake = Arc::clone(&self.0);
        Box::pin(async move {
            fake.calls
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Call {
                    school: job.school.id,
                    trigger: job.trigger,
                    scheduled_for: job.scheduled_for,
                    attempt: job.attempt,
                    at: Instant::now(),
                });
            {
                let mut running = fake.running.lock().unwrap_or_else(PoisonError::into_inner);
                let here = running.entry(job.school.id).or_default();
                *here += 1;
                fake.most_per_school.fetch_max(*here, Ordering::SeqCst);
            }
            let overall = fake.now_overall.fetch_add(1, Ordering::SeqCst) + 1;
            fake.most_overall.fetch_max(overall, Ordering::SeqCst);
            let mut guard = Running {
                fake: Arc::clone(&fake),
                school: job.school.id,
                ended: false,
            };
            tokio::time::sleep(fake.duration).await;
            guard.ended = true;
            fake.finished.fetch_add(1, Ordering::SeqCst);
            let scripted = fake
                .scripted
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_mut(&job.school.id)
                .and_then(VecDeque::pop_front);
            if let Some(outcome) = scripted {
                outcome
            } else if fake.failing.contains(&job.school.id) {
                JobOutcome::Failed(JobFailure::transient("simulated failure"))
            } else {
                JobOutcome::Succeeded
            }
        })
    }
}

impl Fake {
    fn calls(&self) -> Vec<Call> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn calls_of(&self, school: SchoolId) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.school == school)
            .collect()
    }
}

/// Starts a daemon over `fake`; returns the control sender and the daemon's task.
fn start(
    settings: Settings,
    fake: &Arc<Fake>,
) -> (mpsc::Sender<Control>, tokio::task::JoinHandle<()>) {
    let daemon = Daemon::start(
        settings,
        Arc::new(FakeRunner(Arc::clone(fake))),
        Arc::new(PausedClock::new()),
    );
    let (tx, rx) = mpsc::channel(16);
    (tx, tokio::spawn(daemon.run(rx)))
}

async fn send(tx: &mpsc::Sender<Control>, control: Control) {
    tx.send(control)
        .await
        .unwrap_or_else(|_| panic!("the daemon stopped early"));
}

async fn stop(tx: &mpsc::Sender<Control>, task: tokio::task::JoinHandle<()>) -> Duration {
    let asked = Instant::now();
    send(tx, Control::Stop).await;
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap_or_else(|_| panic!("the daemon did not stop"))
        .unwrap_or_else(|e| panic!("the daemon's task failed: {e}"));
    asked.elapsed()
}

#[tokio::test(start_paused = true)]
async fn resyncs_during_a_run_coalesce_into_exactly_one_more_run() {
    let fake = Arc::new(Fake {
        duration: Duration::from_millis(500),
        ..Fake::default()
    });
    let (tx, task) = start(settings(NEVER_SOON, &[7], 4, &[]), &fake);
    send(&tx, Control::ResyncAll).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    for _ in 0..3 {
        send(&tx, Control::ResyncAll).await;
    }
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let calls = fake.calls_of(7);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls
            .iter()
            .all(|c| c.trigger == Trigger::Signal && c.scheduled_for.is_none())
    );
    // The second run started after the first ended, not alongside it.
    assert!(calls[1].at.duration_since(calls[0].at) >= Duration::from_millis(450));
    assert_eq!(fake.most_per_school.load(Ordering::SeqCst), 1);
    stop(&tx, task).await;
}

#[tokio::test(start_paused = true)]
async fn no_school_runs_twice_at_once_and_the_bound_on_schools_holds() {
    let fake = Arc::new(Fake {
        duration: Duration::from_millis(1300),
        ..Fake::default()
    });
    // Every second, runs of 1.3 s, four schools, two at a time.
    let (tx, task) = start(settings("* * * * * *", &[1, 2, 3, 4], 2, &[]), &fake);
    tokio::time::sleep(Duration::from_millis(4200)).await;
    stop(&tx, task).await;
    assert_eq!(fake.most_per_school.load(Ordering::SeqCst), 1);
    assert_eq!(fake.most_overall.load(Ordering::SeqCst), 2);
    let calls = fake.calls();
    assert!(calls.len() >= 4, "{calls:?}");
    for call in &calls {
        assert_eq!(call.trigger, Trigger::Schedule);
        let at = call
            .scheduled_for
            .unwrap_or_else(|| panic!("a scheduled run without its time"));
        assert_eq!(
            at.nanosecond(),
            0,
            "scheduled times are whole seconds: {at}"
        );
    }
    // Four seconds of triggers at two runs per 1.3 s: far fewer runs than triggers.
    assert!(
        calls.len() <= 8,
        "{} runs: triggers were queued, not coalesced",
        calls.len()
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_run_is_retried_after_the_delays_and_others_carry_on() {
    let fake = Arc::new(Fake {
        duration: Duration::from_millis(20),
        failing: vec![1],
        ..Fake::default()
    });
    let (tx, task) = start(settings(NEVER_SOON, &[1, 2], 4, &[1, 1]), &fake);
    send(&tx, Control::ResyncAll).await;
    tokio::time::sleep(Duration::from_millis(3400)).await;
    let failing = fake.calls_of(1);
    let attempts: Vec<usize> = failing.iter().map(|c| c.attempt).collect();
    assert_eq!(
        attempts,
        vec![0, 1, 2],
        "two retries, then it waits for the schedule"
    );
    for pair in failing.windows(2) {
        assert!(pair[1].at.duration_since(pair[0].at) >= Duration::from_millis(950));
    }
    assert_eq!(
        fake.calls_of(2).len(),
        1,
        "the other school ran once and was not retried"
    );
    // The daemon is still there and takes work.
    send(&tx, Control::ResyncAll).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fake.calls_of(2).len(), 2);
    stop(&tx, task).await;
}

/// A failure that cannot heal by waiting (here, credentials refused) is not retried, while a
/// transient one beside it climbs the whole ladder; a resync still runs the school at once.
#[tokio::test(start_paused = true)]
async fn a_permanent_failure_is_not_retried_and_a_transient_one_climbs_the_ladder() {
    let permanent = JobOutcome::Failed(JobFailure {
        error: "credentials: Bromcom rejected the application id/secret".to_owned(),
        permanent: Some(Permanent::Credentials),
    });
    let transient = JobOutcome::Failed(JobFailure::transient("http_5xx: simulated"));
    let fake = Arc::new(Fake {
        duration: Duration::from_millis(20),
        scripted: script(&[
            (1, vec![permanent.clone(), permanent]),
            (2, vec![transient.clone(), transient.clone(), transient]),
        ]),
        ..Fake::default()
    });
    let (tx, task) = start(settings(NEVER_SOON, &[1, 2], 4, &[1, 1]), &fake);
    send(&tx, Control::ResyncAll).await;
    // Well past both retry delays: school 2 has climbed its ladder by now.
    tokio::time::sleep(Duration::from_millis(5000)).await;
    let transient_attempts: Vec<usize> = fake.calls_of(2).iter().map(|c| c.attempt).collect();
    assert_eq!(
        transient_attempts,
        vec![0, 1, 2],
        "two retries, then the schedule"
    );
    let permanent_calls = fake.calls_of(1);
    assert_eq!(permanent_calls.len(), 1, "not retried: {permanent_calls:?}");
    // An operator's resync (after fixing the secret) still runs it.
    send(&tx, Control::ResyncAll).await;
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let permanent_calls = fake.calls_of(1);
    assert_eq!(
        permanent_calls
            .iter()
            .map(|c| c.attempt)
            .collect::<Vec<_>>(),
        vec![0, 0],
        "the resync ran once, and its permanent failure was not retried either"
    );
    stop(&tx, task).await;
}

#[tokio::test(start_paused = true)]
async fn a_reload_adds_and_removes_schools_and_a_failed_one_keeps_the_old() {
    let fake = Arc::new(Fake {
        duration: Duration::from_millis(10),
        ..Fake::default()
    });
    let (tx, task) = start(settings(NEVER_SOON, &[1], 4, &[]), &fake);
    send(
        &tx,
        Control::Reload(Box::new(Err(config::ConfigError::Read {
            path: "bromsync.toml".to_owned(),
            message: "broken file".to_owned(),
        }))),
    )
    .await;
    send(&tx, Control::ResyncAll).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        fake.calls_of(1).len(),
        1,
        "the old configuration still runs"
    );

    let reloaded = settings("* * * * * *", &[2, 3], 4, &[]);
    send(&tx, Control::Reload(Box::new(Ok(reloaded)))).await;
    tokio::time::sleep(Duration::from_millis(2300)).await;
    assert_eq!(fake.calls_of(1).len(), 1, "a removed school no longer runs");
    for school in [2, 3] {
        let calls = fake.calls_of(school);
        assert!(
            calls.len() >= 2,
            "school {school} runs on the new schedule: {calls:?}"
        );
        assert!(calls.iter().all(|c| c.trigger == Trigger::Schedule));
    }
    stop(&tx, task).await;
}

#[tokio::test(start_paused = true)]
async fn stop_cancels_runs_in_flight_and_returns_at_once() {
    let fake = Arc::new(Fake {
        duration: Duration::from_secs(30),
        ..Fake::default()
    });
    let (tx, task) = start(settings(NEVER_SOON, &[1, 2], 4, &[60]), &fake);
    send(&tx, Control::ResyncAll).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fake.now_overall.load(Ordering::SeqCst), 2);
    let took = stop(&tx, task).await;
    assert!(took < Duration::from_secs(1), "stopping took {took:?}");
    assert_eq!(fake.cancelled.load(Ordering::SeqCst), 2);
    assert_eq!(fake.finished.load(Ordering::SeqCst), 0);
    assert_eq!(fake.now_overall.load(Ordering::SeqCst), 0);
}

/// A schedule that fires two seconds after the test clock starts, then not for a minute.
const ONCE_SHORTLY: &str = "2 * * * * *";

fn script(
    outcomes: &[(SchoolId, Vec<JobOutcome>)],
) -> Mutex<HashMap<SchoolId, VecDeque<JobOutcome>>> {
    Mutex::new(
        outcomes
            .iter()
            .map(|(school, list)| (*school, list.iter().cloned().collect()))
            .collect(),
    )
}

#[tokio::test(start_paused = true)]
async fn a_scheduled_run_that_finds_the_lock_held_looks_again_and_one_already_done_does_not() {
    use JobOutcome::{Failed, Skipped};
    let held = Skipped(SkipReason::LockHeld);
    let fake = Arc::new(Fake {
        duration: Duration::from_millis(20),
        scripted: script(&[
            // Held twice (an operator's long sync), then free.
            (1, vec![held.clone(), held.clone()]),
            // Another daemon carried the trigger out.
            (2, vec![Skipped(SkipReason::AlreadyDone)]),
            // Held, then free but the run fails: the look did not use up the retry.
            (
                3,
                vec![
                    held.clone(),
                    Failed(JobFailure::transient("simulated failure")),
                ],
            ),
        ]),
        ..Fake::default()
    });
    let (tx, task) = start(settings(ONCE_SHORTLY, &[1, 2, 3], 4, &[1]), &fake);
    // The trigger within 2 s, then two looks a second apart and a retry a second later.
    let deadline = Instant::now() + Duration::from_secs(8);
    while fake.calls_of(1).len() < 3 || fake.calls_of(3).len() < 3 {
        assert!(Instant::now() < deadline, "{:?}", fake.calls());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Nothing more comes: the run ended it, and the school waits for the next minute.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    stop(&tx, task).await;

    let scheduled_for = |calls: &[Call]| {
        calls
            .iter()
            .map(|c| {
                assert_eq!(c.trigger, Trigger::Schedule, "{c:?}");
                c.scheduled_for
                    .unwrap_or_else(|| panic!("a scheduled run without its time: {c:?}"))
            })
            .collect::<Vec<_>>()
    };
    let held_twice = fake.calls_of(1);
    let attempts: Vec<usize> = held_twice.iter().map(|c| c.attempt).collect();
    assert_eq!(
        attempts,
        vec![0, 0, 0],
        "two looks again, then the run: {held_twice:?}"
    );
    let times = scheduled_for(&held_twice);
    assert!(
        times.iter().all(|t| *t == times[0]),
        "one trigger: {times:?}"
    );
    for pair in held_twice.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at);
        assert!(
            gap >= Duration::from_millis(950),
            "looked again after {gap:?}"
        );
    }

    let done = fake.calls_of(2);
    assert_eq!(done.len(), 1, "already carried out is final: {done:?}");

    let held_then_failed = fake.calls_of(3);
    let attempts: Vec<usize> = held_then_failed.iter().map(|c| c.attempt).collect();
    assert_eq!(attempts, vec![0, 0, 1], "{held_then_failed:?}");
    let times = scheduled_for(&held_then_failed);
    assert!(
        times.iter().all(|t| *t == times[0]),
        "one trigger: {times:?}"
    );
    assert_eq!(times[0], scheduled_for(&held_twice)[0]);
}

#[tokio::test(start_paused = true)]
async fn a_resync_that_finds_the_lock_held_is_not_repeated() {
    let fake = Arc::new(Fake {
        duration: Duration::from_millis(20),
        scripted: script(&[(1, vec![JobOutcome::Skipped(SkipReason::LockHeld)])]),
        ..Fake::default()
    });
    let (tx, task) = start(settings(NEVER_SOON, &[1], 4, &[1]), &fake);
    send(&tx, Control::ResyncAll).await;
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let calls = fake.calls_of(1);
    assert_eq!(calls.len(), 1, "{calls:?}");
    stop(&tx, task).await;
}

/// A scheduled trigger that falls due while the school runs (here, a resync's run) is kept and
/// run once more after that run, with its scheduled time; it is not dropped because the school
/// was busy.
#[tokio::test(start_paused = true)]
async fn a_scheduled_trigger_during_a_run_runs_once_after_it() {
    let fake = Arc::new(Fake {
        duration: Duration::from_secs(5),
        ..Fake::default()
    });
    // The schedule fires at 10:00:02, two seconds into the resync's five-second run.
    let (tx, task) = start(settings(ONCE_SHORTLY, &[1], 4, &[]), &fake);
    send(&tx, Control::ResyncAll).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while fake.calls_of(1).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the scheduled trigger that came during the run was never run: {:?}",
            fake.calls()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Nothing more comes before the next minute's time.
    tokio::time::sleep(Duration::from_secs(20)).await;
    stop(&tx, task).await;

    let calls = fake.calls_of(1);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].trigger, Trigger::Signal);
    assert_eq!(calls[1].trigger, Trigger::Schedule);
    let expected = Utc
        .with_ymd_and_hms(2026, 1, 15, 10, 0, 2)
        .single()
        .unwrap_or_else(|| panic!("a fixed instant"));
    assert_eq!(calls[1].scheduled_for, Some(expected));
    // Once the first run had ended, not alongside it.
    assert!(calls[1].at.duration_since(calls[0].at) >= Duration::from_millis(4950));
    assert_eq!(fake.most_per_school.load(Ordering::SeqCst), 1);
}

/// As above with a resync already waiting when the scheduled time comes: the two make one more
/// run, and it carries the scheduled trigger and its time (so that several daemons can agree
/// on who carried it out), not the resync's.
#[tokio::test(start_paused = true)]
async fn a_scheduled_trigger_joins_a_waiting_resync_as_one_scheduled_run() {
    let fake = Arc::new(Fake {
        duration: Duration::from_secs(5),
        ..Fake::default()
    });
    let (tx, task) = start(settings(ONCE_SHORTLY, &[1], 4, &[]), &fake);
    send(&tx, Control::ResyncAll).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // A second resync waits behind the run; the schedule fires a second later.
    send(&tx, Control::ResyncAll).await;
    tokio::time::sleep(Duration::from_secs(20)).await;
    stop(&tx, task).await;

    let calls = fake.calls_of(1);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].trigger, Trigger::Signal);
    assert_eq!(calls[1].trigger, Trigger::Schedule, "{calls:?}");
    let expected = Utc
        .with_ymd_and_hms(2026, 1, 15, 10, 0, 2)
        .single()
        .unwrap_or_else(|| panic!("a fixed instant"));
    assert_eq!(calls[1].scheduled_for, Some(expected));
}

/// A control request runs the schools it names that this daemon has, once each, and a request
/// heard again while a school runs makes one more run after it.
#[tokio::test(start_paused = true)]
async fn a_control_request_runs_only_the_schools_named_and_joins_a_run_in_flight() {
    let fake = Arc::new(Fake {
        duration: Duration::from_millis(500),
        scripted: script(&[(2, vec![JobOutcome::Skipped(SkipReason::AlreadyServed)])]),
        ..Fake::default()
    });
    let (tx, task) = start(settings(NEVER_SOON, &[1, 2, 3], 4, &[1]), &fake);
    // School 99 is not this daemon's: left to the others.
    send(&tx, Control::Requested(vec![1, 2, 99])).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    // Heard again while school 1 runs: one more run after it, however many.
    for _ in 0..3 {
        send(&tx, Control::Requested(vec![1])).await;
    }
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let first = fake.calls_of(1);
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(
        first
            .iter()
            .all(|c| c.trigger == Trigger::Request && c.attempt == 0)
    );
    assert!(first[1].at.duration_since(first[0].at) >= Duration::from_millis(450));
    // Served by another daemon's run: not retried.
    assert_eq!(fake.calls_of(2).len(), 1);
    assert!(fake.calls_of(3).is_empty());
    assert_eq!(fake.calls().len(), 3);
    stop(&tx, task).await;
}
