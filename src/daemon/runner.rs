//! What the daemon asks for when a school is due: a [`Job`] handed to a [`Runner`], which comes
//! back with a [`JobOutcome`]. The scheduling core only knows this trait, so it is tested with
//! stand-in runners and no network; [`SyncRunner`] is the real one, over `sync::run_school`.
//!
//! [`SyncRunner`] connects to Postgres lazily and keeps trying: the daemon starts (and keeps
//! its schedules) while the database is down, and a run that finds it down fails like any other
//! run and is retried.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::bromcom::{ClientBuildError, RequestSlots};
use crate::config::{DatabaseSettings, SchoolSettings, Settings};
use crate::failure::Permanent;
use crate::store::{Store, Trigger};
use crate::sync::{
    self, RunHooks, RunOutcome, RunRequest, ServeRequests, SkipReason, SyncContext, SyncError,
};

/// One run the daemon wants done.
#[derive(Clone, Debug)]
pub struct Job {
    /// The configuration in force when the job started (guards, retention, clients).
    pub settings: Arc<Settings>,
    pub school: SchoolSettings,
    pub trigger: Trigger,
    /// The scheduled trigger this job carries out (also on its retries), so that several
    /// daemons carry out each trigger once.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// 0 for the first attempt, n for the n-th retry.
    pub attempt: usize,
}

/// How a job ended, as far as scheduling cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobOutcome {
    Succeeded,
    /// The removal guard refused it: retrying would refuse again, so it is not retried.
    Refused,
    /// Nothing done: another runner holds the school ([`SkipReason::LockHeld`], worth a second
    /// look for a scheduled trigger) or this scheduled trigger was already carried out
    /// ([`SkipReason::AlreadyDone`], final).
    Skipped(SkipReason),
    /// Failed: retried unless waiting cannot heal it (see [`JobFailure::permanent`]).
    Failed(JobFailure),
}

/// Why a job failed, with the kind kept for the scheduler to act on: Bromcom or Postgres
/// unreachable, a bad response (worth retrying), or credentials refused, an entity not
/// granted, an unknown school, a schema not current (not).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobFailure {
    /// The error's text (no secrets), as the run record has it.
    pub error: String,
    /// Set when the failure cannot heal by waiting: the school is not retried.
    pub permanent: Option<Permanent>,
}

impl JobFailure {
    /// A failure that may heal by waiting.
    pub fn transient(error: impl Into<String>) -> JobFailure {
        JobFailure {
            error: error.into(),
            permanent: None,
        }
    }
}

impl From<&SyncError> for JobFailure {
    fn from(error: &SyncError) -> JobFailure {
        JobFailure {
            error: error.to_string(),
            permanent: error.permanent(),
        }
    }
}

impl std::fmt::Display for JobFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.error)
    }
}

/// Carries out jobs. Dropping the returned future cancels the run at a safe point (an open
/// transaction rolls back).
pub trait Runner: Send + Sync + 'static {
    fn run(&self, job: Job) -> BoxFuture<'static, JobOutcome>;

    /// A new configuration was loaded: rebuild whatever depends on it.
    fn reconfigure(&self, _settings: &Settings) {}
}

/// The real runner: `sync::run_school` with a lazily connected store.
#[derive(Clone)]
pub struct SyncRunner {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    /// The cap on requests to Bromcom in flight, kept across the clients a reload rebuilds.
    requests: Arc<RequestSlots>,
    /// One connection attempt at a time, so a dead database is not dialled by every school.
    connecting: tokio::sync::Mutex<()>,
    /// Handed to every run (set by tests only).
    hooks: RunHooks,
}

struct State {
    database: DatabaseSettings,
    store: Option<Store>,
    client: Result<crate::bromcom::Client, ClientBuildError>,
}

/// How long one attempt to reach the database may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

impl SyncRunner {
    pub fn new(settings: &Settings, hooks: RunHooks) -> SyncRunner {
        let requests = RequestSlots::new(settings.bromcom.max_in_flight.max(1));
        SyncRunner {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    database: settings.database.clone(),
                    store: None,
                    client: build_client(settings, &requests),
                }),
                requests,
                connecting: tokio::sync::Mutex::new(()),
                hooks,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The store, connecting first when there is none yet. A schema that is not current
    /// fails as permanent (a run is not retried until `bromsync migrate` has been run), but the
    /// next run connects again: an operator may be about to migrate.
    pub async fn store(&self) -> Result<Store, JobFailure> {
        if let Some(store) = self.state().store.clone() {
            return Ok(store);
        }
        let _one_at_a_time = self.inner.connecting.lock().await;
        let database = {
            let state = self.state();
            if let Some(store) = state.store.clone() {
                return Ok(store);
            }
            state.database.clone()
        };
        let connected = tokio::time::timeout(
            CONNECT_TIMEOUT,
            Store::connect(&database.url, database.max_connections),
        )
        .await;
        let store = match connected {
            Ok(Ok(store)) => store,
            Ok(Err(e)) => {
                return Err(JobFailure {
                    error: format!("cannot use the database: {e}"),
                    permanent: e.is_schema_mismatch().then_some(Permanent::Schema),
                });
            }
            Err(_) => {
                return Err(JobFailure::transient(format!(
                    "database unreachable: no answer within {}s",
                    CONNECT_TIMEOUT.as_secs()
                )));
            }
        };
        let mut state = self.state();
        // A reload may have pointed us elsewhere meanwhile: then this store is not wanted.
        if same_database(&state.database, &database) {
            state.store = Some(store.clone());
            info!("connected to the database");
            Ok(store)
        } else {
            Err(JobFailure::transient(
                "the database settings changed while connecting; will connect again",
            ))
        }
    }

    /// Connects at start, retrying with a growing pause (1 s doubling to 60 s) and logging each
    /// failure, until connected or `cancel` fires. Runs that come due meanwhile try too.
    pub async fn connect_with_backoff(&self, cancel: CancellationToken) {
        let attempt = AtomicU32::new(0);
        let connecting = (|| self.store())
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_secs(1))
                    .with_max_delay(Duration::from_secs(60))
                    .without_max_times(),
            )
            .notify(|e, pause| {
                warn!(
                    attempt = attempt.fetch_add(1, Ordering::Relaxed) + 1,
                    retry_in_secs = pause.as_secs(),
                    "cannot use the database yet ({e}); the daemon keeps running and retries"
                );
            });
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = connecting => {}
        }
    }

    /// Closes the database connections (at shutdown).
    pub async fn close(&self) {
        let store = self.state().store.take();
        if let Some(store) = store {
            store.close().await;
        }
    }

    async fn run_job(self, job: Job) -> JobOutcome {
        let store = match self.store().await {
            Ok(store) => store,
            Err(e) => return JobOutcome::Failed(e),
        };
        let client = match &self.state().client {
            Ok(client) => client.clone(),
            Err(e) => {
                return JobOutcome::Failed(JobFailure::transient(format!(
                    "cannot set up the Bromcom client: {e}"
                )));
            }
        };
        let ctx = SyncContext {
            store,
            client,
            hooks: self.inner.hooks.clone(),
        };
        let mut request = RunRequest::new(&job.settings, &job.school, job.trigger);
        request.scheduled_for = job.scheduled_for;
        // A daemon's runs serve the requests waiting; one started for a request (not a retry
        // of it, which carries on a run that served them) only when some are left.
        request.requests = if job.trigger == Trigger::Request && job.attempt == 0 {
            ServeRequests::Require
        } else {
            ServeRequests::Serve
        };
        match sync::run_school(&ctx, request).await {
            Ok(RunOutcome::Succeeded(_)) | Ok(RunOutcome::DryRun(_)) => JobOutcome::Succeeded,
            Ok(RunOutcome::Refused(_)) => JobOutcome::Refused,
            Ok(RunOutcome::Skipped(reason)) => JobOutcome::Skipped(reason),
            Err(e) => JobOutcome::Failed(JobFailure::from(&e)),
        }
    }
}

impl Runner for SyncRunner {
    fn run(&self, job: Job) -> BoxFuture<'static, JobOutcome> {
        Box::pin(self.clone().run_job(job))
    }

    fn reconfigure(&self, settings: &Settings) {
        self.inner
            .requests
            .resize(settings.bromcom.max_in_flight.max(1));
        let mut state = self.state();
        state.client = build_client(settings, &self.inner.requests);
        if !same_database(&state.database, &settings.database) {
            info!("database settings changed: reconnecting at the next run");
            state.database = settings.database.clone();
            // Runs in flight keep their clone of the old pool until they end.
            state.store = None;
        }
    }
}

fn build_client(
    settings: &Settings,
    requests: &Arc<RequestSlots>,
) -> Result<crate::bromcom::Client, ClientBuildError> {
    crate::bromcom::Client::with_request_limit(settings.bromcom.clone(), Arc::clone(requests))
}

fn same_database(a: &DatabaseSettings, b: &DatabaseSettings) -> bool {
    a.url.expose_secret() == b.url.expose_secret() && a.max_connections == b.max_connections
}
