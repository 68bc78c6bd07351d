//! One school's life in the daemon: a task that waits for the school's next scheduled time,
//! for a resync, or for a retry, and runs the school — never twice at once. A trigger that
//! arrives while the school runs is remembered once and run after (coalesced); a failed run is
//! retried after the configured delays, then the school waits for its next scheduled time (a
//! failure that cannot heal by waiting, such as rejected credentials, is not retried). A
//! scheduled run that finds the school held by another runner looks again after the first
//! retry delay (the holder may not be carrying out that trigger); one already carried out is
//! left.
//!
//! Everything the task needs from outside comes in [`Shared`] (the runner, the bound on schools
//! running together, the clock, the shutdown token), so it runs in tests with no network.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::runner::{Job, JobFailure, JobOutcome, Runner};
use crate::config::{SchoolSettings, Settings};
use crate::limit::Limit;
use crate::schedule::CronSchedule;
use crate::store::Trigger;
use crate::sync::SkipReason;

/// Where "now" comes from; injected so schedule decisions can be checked without waiting.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// What every school task shares.
pub struct Shared<R> {
    pub runner: Arc<R>,
    /// The bound on schools running at once; resized in place when a reload changes it.
    pub permits: Limit,
    pub clock: Arc<dyn Clock>,
    pub cancel: CancellationToken,
    /// Runs started and not yet ended (for shutdown's log).
    pub in_flight: AtomicUsize,
}

/// A school as the daemon runs it: its settings, its parsed schedule, and the configuration
/// it came with.
#[derive(Clone, Debug)]
pub struct SchoolPlan {
    pub settings: Arc<Settings>,
    pub school: SchoolSettings,
    pub schedule: CronSchedule,
}

impl SchoolPlan {
    pub fn new(settings: &Arc<Settings>, school: &SchoolSettings) -> SchoolPlan {
        SchoolPlan {
            settings: Arc::clone(settings),
            school: school.clone(),
            schedule: settings.schedule_of(school).clone(),
        }
    }

    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule.next_after(after, self.school.timezone)
    }

    /// Whether a reload changes anything this school's task uses.
    pub fn differs_from(&self, other: &SchoolPlan) -> bool {
        self.schedule != other.schedule
            || self.school.timezone != other.school.timezone
            || !Arc::ptr_eq(&self.settings, &other.settings)
    }
}

/// What the daemon tells a school's task.
#[derive(Debug)]
pub enum SchoolMsg {
    /// Run now (SIGUSR1).
    Resync,
    /// Serve the control requests waiting for the school, unless another run serves them.
    Request,
    /// A reloaded configuration.
    Update(Box<SchoolPlan>),
}

/// A run waiting to start.
#[derive(Clone, Copy, Debug)]
struct Pending {
    trigger: Trigger,
    scheduled_for: Option<DateTime<Utc>>,
    attempt: usize,
}

impl Pending {
    fn fresh(trigger: Trigger, scheduled_for: Option<DateTime<Utc>>) -> Pending {
        Pending {
            trigger,
            scheduled_for,
            attempt: 0,
        }
    }

    /// Two triggers become one run: a scheduled trigger wins (it is newer, and its time lets
    /// several daemons agree on who carries it out); a resync joins whatever is waiting.
    fn merge(waiting: Option<Pending>, new: Pending) -> Pending {
        match waiting {
            Some(old) if new.trigger != Trigger::Schedule => old,
            _ => new,
        }
    }
}

/// A tolerance for timers that wake a hair before the wall clock reaches the target.
const EARLY_WAKE: Duration = Duration::from_millis(5);

/// Counts a run in flight for as long as it lives (dropped when it ends or is cancelled).
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The school's task; ends when the shutdown token fires (dropping any run in flight, which
/// rolls back what it had not committed) or when the school leaves the configuration (after
/// its run in flight, if any, ends).
pub async fn school_loop<R: Runner>(
    mut plan: SchoolPlan,
    mut inbox: mpsc::UnboundedReceiver<SchoolMsg>,
    shared: Arc<Shared<R>>,
) {
    let school = plan.school.id;
    let mut next_fire = plan.next_after(shared.clock.now());
    let mut pending: Option<Pending> = None;
    let mut retry: Option<(DateTime<Utc>, Pending)> = None;
    let mut running: Option<(Pending, BoxFuture<'static, JobOutcome>)> = None;
    let mut removed = false;
    loop {
        if running.is_none() {
            if removed {
                info!(school, "school left the configuration; its task ends");
                return;
            }
            if let Some(next) = pending.take() {
                // Any run now covers a retry that was waiting.
                retry = None;
                running = Some((next, start(&shared, &plan, next)));
            }
        }
        let wake_at = [next_fire, retry.map(|(at, _)| at)]
            .into_iter()
            .flatten()
            .min();
        let now = shared.clock.now();
        let nap = wake_at.map(|at| (at - now).to_std().unwrap_or(Duration::ZERO));
        tokio::select! {
            biased;
            _ = shared.cancel.cancelled() => {
                if let Some((job, _)) = running.take() {
                    info!(school, trigger = %job.trigger, "run cancelled by shutdown; nothing it had not committed is kept");
                }
                return;
            }
            outcome = finish(&mut running) => {
                let Some((job, _)) = running.take() else { continue };
                retry = after_run(school, job, outcome, &plan, next_fire, shared.clock.now());
            }
            // Once the school has left, its closed inbox would answer `None` at once on every
            // turn: not listening to it keeps the task asleep until its last run ends.
            message = inbox.recv(), if !removed => match message {
                Some(SchoolMsg::Resync) => {
                    let busy = running.is_some();
                    pending = Some(receive(school, pending, busy, Pending::fresh(Trigger::Signal, None)));
                }
                Some(SchoolMsg::Request) => {
                    let busy = running.is_some();
                    pending = Some(receive(school, pending, busy, Pending::fresh(Trigger::Request, None)));
                }
                Some(SchoolMsg::Update(new_plan)) => {
                    plan = *new_plan;
                    next_fire = plan.next_after(shared.clock.now());
                    info!(
                        school,
                        schedule = plan.schedule.expression(),
                        timezone = %plan.school.timezone,
                        next_run = ?next_fire,
                        "school's configuration updated"
                    );
                }
                None => {
                    removed = true;
                    pending = None;
                    retry = None;
                    next_fire = None;
                }
            },
            _ = nap_for(nap) => {
                let now = shared.clock.now() + chrono::Duration::from_std(EARLY_WAKE).unwrap_or_default();
                if let Some(due) = next_fire.filter(|at| *at <= now) {
                    // A missed time (the host slept) is run once; the next one is after now.
                    next_fire = plan.next_after(due.max(shared.clock.now()));
                    if let Some((_, waiting)) = retry.take() {
                        info!(school, retry = waiting.attempt, "a scheduled run replaces the retry that was waiting");
                    }
                    let busy = running.is_some();
                    pending = Some(receive(school, pending, busy, Pending::fresh(Trigger::Schedule, Some(due))));
                    debug!(school, next_run = ?next_fire, "next scheduled run");
                }
                if let Some((_, waiting)) = retry.filter(|(at, _)| *at <= now) {
                    retry = None;
                    let busy = running.is_some();
                    pending = Some(receive(school, pending, busy, waiting));
                }
            }
        }
    }
}

/// Logs a trigger and folds it into what is waiting.
fn receive(
    school: crate::snapshot::SchoolId,
    waiting: Option<Pending>,
    busy: bool,
    new: Pending,
) -> Pending {
    info!(
        school,
        trigger = %new.trigger,
        scheduled_for = ?new.scheduled_for,
        retry = new.attempt,
        "trigger received"
    );
    if busy || waiting.is_some() {
        info!(
            school,
            trigger = %new.trigger,
            "school is already running: trigger coalesced, one more run follows this one"
        );
    }
    Pending::merge(waiting, new)
}

fn start<R: Runner>(
    shared: &Arc<Shared<R>>,
    plan: &SchoolPlan,
    pending: Pending,
) -> BoxFuture<'static, JobOutcome> {
    let job = Job {
        settings: Arc::clone(&plan.settings),
        school: plan.school.clone(),
        trigger: pending.trigger,
        scheduled_for: pending.scheduled_for,
        attempt: pending.attempt,
    };
    let shared = Arc::clone(shared);
    async move {
        let Ok(_permit) = shared.permits.acquire().await else {
            return JobOutcome::Failed(JobFailure::transient("the daemon is stopping"));
        };
        shared.in_flight.fetch_add(1, Ordering::SeqCst);
        let _counted = InFlight(&shared.in_flight);
        shared.runner.run(job).await
    }
    .boxed()
}

/// The run in flight's outcome; never resolves when nothing runs.
async fn finish(running: &mut Option<(Pending, BoxFuture<'static, JobOutcome>)>) -> JobOutcome {
    match running {
        Some((_, run)) => run.await,
        None => std::future::pending().await,
    }
}

async fn nap_for(nap: Option<Duration>) {
    match nap {
        Some(nap) => tokio::time::sleep(nap).await,
        None => std::future::pending().await,
    }
}

/// A configured delay as a time span; absurd values are cut to a year.
fn retry_delay(secs: u64) -> chrono::Duration {
    const YEAR_SECS: u64 = 366 * 24 * 3600;
    chrono::Duration::seconds(i64::try_from(secs.min(YEAR_SECS)).unwrap_or(0))
}

/// Logs how a run ended and returns the retry to wait for, if any.
fn after_run(
    school: crate::snapshot::SchoolId,
    job: Pending,
    outcome: JobOutcome,
    plan: &SchoolPlan,
    next_fire: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, Pending)> {
    match outcome {
        JobOutcome::Succeeded => {
            debug!(school, trigger = %job.trigger, next_run = ?next_fire, "run ended");
            None
        }
        JobOutcome::Refused => {
            warn!(school, next_run = ?next_fire, "run refused by the removal guard; not retried");
            None
        }
        JobOutcome::Skipped(SkipReason::AlreadyDone) => {
            info!(school, trigger = %job.trigger, scheduled_for = ?job.scheduled_for, "run skipped: this scheduled trigger was already carried out");
            None
        }
        JobOutcome::Skipped(SkipReason::AlreadyServed) => {
            info!(school, trigger = %job.trigger, "run skipped: the requests were served by another run");
            None
        }
        JobOutcome::Skipped(SkipReason::LockHeld) => {
            // The holder may be an operator's `sync` or a runner that just died, not another
            // daemon carrying out this trigger: look again, with the same scheduled time so
            // that the trigger is still carried out once, until it is done or the next
            // scheduled time replaces it. The look is not a retry: the attempt stays.
            // A delay of 0 would redial the database without pause for as long as the lock
            // is held, so a look waits at least a second.
            let recheck_in = plan.settings.daemon.retry_delays_secs.first();
            match (job.scheduled_for, recheck_in.map(|&secs| secs.max(1))) {
                (Some(scheduled_for), Some(secs)) => {
                    info!(
                        school,
                        trigger = %job.trigger,
                        scheduled_for = %scheduled_for,
                        recheck_in_secs = secs,
                        "run skipped: another runner holds the school; looking again in case it is not carrying out this trigger"
                    );
                    Some((now + retry_delay(secs), job))
                }
                _ => {
                    info!(school, trigger = %job.trigger, next_run = ?next_fire, "run skipped: another runner holds the school");
                    None
                }
            }
        }
        JobOutcome::Failed(JobFailure {
            error,
            permanent: Some(cause),
        }) => {
            // It would fail the same way on every retry (a wrong secret would cost every
            // school its whole ladder): wait for the next scheduled time or a resync instead.
            warn!(
                school,
                trigger = %job.trigger,
                permanent = %cause,
                next_run = ?next_fire,
                "run failed ({error}); not retried: the failure cannot heal by waiting ({cause}): {}; waiting for the next scheduled run",
                cause.advice()
            );
            None
        }
        JobOutcome::Failed(JobFailure {
            error,
            permanent: None,
        }) => {
            let delays = &plan.settings.daemon.retry_delays_secs;
            match delays.get(job.attempt) {
                Some(&secs) => {
                    let at = now + retry_delay(secs);
                    warn!(
                        school,
                        trigger = %job.trigger,
                        retry = job.attempt + 1,
                        retries = delays.len(),
                        retry_in_secs = secs,
                        "run failed ({error}); retrying"
                    );
                    Some((
                        at,
                        Pending {
                            attempt: job.attempt + 1,
                            ..job
                        },
                    ))
                }
                None => {
                    warn!(
                        school,
                        trigger = %job.trigger,
                        next_run = ?next_fire,
                        "run failed ({error}); no retries left, waiting for the next scheduled run"
                    );
                    None
                }
            }
        }
    }
}
