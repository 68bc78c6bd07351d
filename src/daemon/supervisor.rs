//! The set of schools the daemon runs: one task per school (see [`school`](super::school)),
//! started from the configuration, changed in place on a reload, and all stopped on shutdown.
//!
//! It takes orders as [`Control`] messages, so tests drive it without signals. A school task
//! that panics is logged and started again; no school's trouble reaches another school.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::task::{Id, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::runner::Runner;
use super::school::{Clock, SchoolMsg, SchoolPlan, Shared, school_loop};
use crate::config::{ConfigError, Settings};
use crate::limit::Limit;
use crate::snapshot::SchoolId;

/// What the daemon is told to do.
#[derive(Debug)]
pub enum Control {
    /// Run every school now (SIGUSR1).
    ResyncAll,
    /// Control requests were made for these schools (`bromsync resync`, `approve`): each
    /// configured one tries to serve them now.
    Requested(Vec<SchoolId>),
    /// Use this configuration from now on, or (when it failed to load) keep the one in force.
    Reload(Box<Result<Settings, ConfigError>>),
    /// Take no new work, cancel runs in flight, return within the grace period.
    Stop,
}

/// The daemon with its schools running.
pub struct Daemon<R: Runner> {
    shared: Arc<Shared<R>>,
    settings: Arc<Settings>,
    schools: BTreeMap<SchoolId, Entry>,
    tasks: JoinSet<()>,
    task_school: HashMap<Id, SchoolId>,
}

struct Entry {
    plan: SchoolPlan,
    inbox: mpsc::UnboundedSender<SchoolMsg>,
}

impl<R: Runner> Daemon<R> {
    /// Starts a task for every configured school and logs each school's next run. Must be
    /// called inside a tokio runtime.
    pub fn start(settings: Settings, runner: Arc<R>, clock: Arc<dyn Clock>) -> Daemon<R> {
        let settings = Arc::new(settings);
        let shared = Arc::new(Shared {
            runner,
            permits: Limit::new(settings.daemon.max_concurrent_schools.max(1)),
            clock,
            cancel: CancellationToken::new(),
            in_flight: AtomicUsize::new(0),
        });
        let mut daemon = Daemon {
            shared,
            settings: Arc::clone(&settings),
            schools: BTreeMap::new(),
            tasks: JoinSet::new(),
            task_school: HashMap::new(),
        };
        info!(
            schools = settings.schools.len(),
            max_concurrent_schools = settings.daemon.max_concurrent_schools,
            schedule = settings.daemon.schedule.expression(),
            retry_delays_secs = ?settings.daemon.retry_delays_secs,
            "daemon started"
        );
        for school in &settings.schools {
            let plan = SchoolPlan::new(&settings, school);
            daemon.log_next_run(&plan, "school scheduled");
            daemon.spawn(plan);
        }
        daemon
    }

    /// The schools being run now.
    pub fn school_ids(&self) -> Vec<SchoolId> {
        self.schools.keys().copied().collect()
    }

    /// Serves `control` until told to stop (or until every sender is gone), then shuts down.
    pub async fn run(mut self, mut control: mpsc::Receiver<Control>) {
        loop {
            tokio::select! {
                message = control.recv() => match message {
                    Some(Control::ResyncAll) => self.resync_all(),
                    Some(Control::Requested(schools)) => self.requested(&schools),
                    Some(Control::Reload(loaded)) => self.reload(*loaded),
                    Some(Control::Stop) | None => break,
                },
                Some(ended) = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => {
                    self.task_ended(ended);
                }
            }
        }
        self.shutdown().await;
    }

    fn spawn(&mut self, plan: SchoolPlan) {
        let (inbox, receiver) = mpsc::unbounded_channel();
        let school = plan.school.id;
        let handle = self.tasks.spawn(school_loop(
            plan.clone(),
            receiver,
            Arc::clone(&self.shared),
        ));
        self.task_school.insert(handle.id(), school);
        self.schools.insert(school, Entry { plan, inbox });
    }

    fn log_next_run(&self, plan: &SchoolPlan, message: &'static str) {
        let next = plan.next_after(self.shared.clock.now());
        let tz = plan.school.timezone;
        info!(
            school = plan.school.id,
            schedule = plan.schedule.expression(),
            timezone = %tz,
            next_run = %describe(next),
            next_run_local = %next.map(|t| t.with_timezone(&tz).to_rfc3339()).unwrap_or_else(|| "never".to_owned()),
            "{message}"
        );
    }

    fn resync_all(&self) {
        for entry in self.schools.values() {
            let _ = entry.inbox.send(SchoolMsg::Resync);
        }
    }

    fn requested(&self, schools: &[SchoolId]) {
        for school in schools {
            match self.schools.get(school) {
                Some(entry) => {
                    let _ = entry.inbox.send(SchoolMsg::Request);
                }
                // The periodic look repeats this for as long as the request waits: not at info.
                None => debug!(
                    school,
                    "a control request for a school this daemon does not run; left to the others"
                ),
            }
        }
    }

    fn reload(&mut self, loaded: Result<Settings, ConfigError>) {
        let settings = match loaded {
            Ok(settings) => Arc::new(settings),
            Err(e) => {
                warn!("configuration reload failed; keeping the previous configuration: {e}");
                return;
            }
        };
        let plans: BTreeMap<SchoolId, SchoolPlan> = settings
            .schools
            .iter()
            .map(|school| (school.id, SchoolPlan::new(&settings, school)))
            .collect();
        self.shared.runner.reconfigure(&settings);
        // Runs in flight keep their permits; the new bound counts them.
        self.shared
            .permits
            .resize(settings.daemon.max_concurrent_schools.max(1));
        let removed: Vec<SchoolId> = self
            .schools
            .keys()
            .filter(|id| !plans.contains_key(id))
            .copied()
            .collect();
        for id in &removed {
            // Dropping the sender ends the task once its run in flight (if any) ends.
            self.schools.remove(id);
        }
        let (mut added, mut rescheduled) = (Vec::new(), Vec::new());
        for (id, plan) in plans {
            match self.schools.get_mut(&id) {
                Some(entry) => {
                    let moved = entry.plan.schedule != plan.schedule
                        || entry.plan.school.timezone != plan.school.timezone;
                    if moved {
                        rescheduled.push(id);
                    }
                    entry.plan = plan.clone();
                    let _ = entry.inbox.send(SchoolMsg::Update(Box::new(plan)));
                }
                None => {
                    added.push(id);
                    self.log_next_run(&plan, "school added");
                    self.spawn(plan);
                }
            }
        }
        self.settings = settings;
        info!(
            schools = self.schools.len(),
            added = ?added,
            removed = ?removed,
            rescheduled = ?rescheduled,
            max_concurrent_schools = self.settings.daemon.max_concurrent_schools,
            "configuration reloaded"
        );
    }

    fn task_ended(&mut self, ended: Result<(Id, ()), tokio::task::JoinError>) {
        let (id, panicked) = match &ended {
            Ok((id, ())) => (*id, false),
            Err(e) => (e.id(), e.is_panic()),
        };
        let Some(school) = self.task_school.remove(&id) else {
            return;
        };
        if !panicked {
            return;
        }
        error!(
            school,
            "the school's task stopped unexpectedly; starting it again"
        );
        if let Some(entry) = self.schools.remove(&school) {
            self.spawn(entry.plan);
        }
    }

    async fn shutdown(mut self) {
        let grace = self.settings.daemon.grace_period();
        info!(
            runs_in_flight = self.shared.in_flight.load(Ordering::SeqCst),
            grace_period_secs = grace.as_secs(),
            "stopping: no new runs; cancelling runs in flight (what they have not committed is rolled back)"
        );
        self.shared.cancel.cancel();
        self.schools.clear();
        let tasks = &mut self.tasks;
        let all_stopped = async { while tasks.join_next().await.is_some() {} };
        let stopped_in_time = tokio::time::timeout(grace, all_stopped).await.is_ok();
        if stopped_in_time {
            info!("every school task stopped");
        } else {
            warn!(
                tasks_left = self.tasks.len(),
                "grace period over; abandoning the tasks still stopping"
            );
            self.tasks.abort_all();
        }
    }
}

fn describe(at: Option<DateTime<Utc>>) -> String {
    at.map(|t| t.to_rfc3339())
        .unwrap_or_else(|| "never".to_owned())
}
