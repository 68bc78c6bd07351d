//! The long-running daemon (`bromsync run`): cron schedules per school in the school's time
//! zone, signals (SIGUSR1 resync, SIGHUP reload, SIGTERM/SIGINT graceful stop), and a bound on
//! how many schools run at once.
//!
//! The parts: [`school`] (one task per school:
//! triggers, coalescing, retries), [`runner`] (what a run is: the real sync or a test's
//! stand-in), [`supervisor`] (the set of schools, reloads, shutdown) and [`signals`] (Unix
//! signals turned into [`Control`] messages); the cron maths and clock changes are
//! [`crate::schedule`]'s. Only [`signals`] and [`run_command`] touch the process; the rest runs
//! in tests with no network and no signals.

#[cfg(test)]
mod limit_tests;
mod listen;
pub mod open_files;
pub mod runner;
pub mod school;
pub mod signals;
pub mod supervisor;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use runner::{Job, JobOutcome, Runner, SyncRunner};
pub use school::{Clock, SystemClock};
pub use supervisor::{Control, Daemon};

use crate::exit::{self, CommandError};
use crate::sync::RunHooks;

/// `bromsync --config FILE run`: loads the configuration (refusing a bad one with exit code
/// 2), then runs until SIGTERM or SIGINT and exits 0. Never exits because a school failed or
/// the database is down. `hooks` go to every run (tests' only; see [`RunHooks`]).
pub async fn run_command(config_path: Option<&Path>, hooks: RunHooks) -> u8 {
    let Some(path) = config_path else {
        return refused(&CommandError::NoConfig);
    };
    let settings = match crate::config::load(path) {
        Ok(settings) => settings,
        Err(e) => return refused(&CommandError::Config(e)),
    };
    open_files::raise();
    // Signals are taken before anything can send one expecting the daemon to listen: the
    // default action of SIGUSR1 and SIGHUP would end the process.
    let (control_tx, control_rx) = mpsc::channel(16);
    let control_tx_for_requests = control_tx.clone();
    let listening = match signals::listen(path.to_owned(), control_tx) {
        Ok(task) => task,
        Err(e) => {
            eprintln!("bromsync: cannot listen for signals: {e}");
            return exit::FAILED;
        }
    };
    let runner = Arc::new(SyncRunner::new(&settings, hooks));
    let endpoints = match serve_endpoints(&settings, &runner).await {
        Ok(endpoints) => endpoints,
        Err(code) => return code,
    };
    let dashboard = match serve_dashboard(&settings, &runner).await {
        Ok(dashboard) => dashboard,
        Err(code) => return code,
    };
    let connecting = CancellationToken::new();
    let connector = {
        let runner = Arc::clone(&runner);
        let cancel = connecting.clone();
        tokio::spawn(async move { runner.connect_with_backoff(cancel).await })
    };
    let watching = tokio::spawn(listen::watch(
        Arc::clone(&runner),
        control_tx_for_requests,
        settings.daemon.control_poll(),
        connecting.clone(),
    ));
    let daemon = Daemon::start(settings, Arc::clone(&runner), Arc::new(SystemClock));
    daemon.run(control_rx).await;
    connecting.cancel();
    watching.abort();
    listening.abort();
    for (stop, task) in endpoints.into_iter().chain(dashboard) {
        stop.cancel();
        let _ = task.await;
    }
    let _ = connector.await;
    if tokio::time::timeout(Duration::from_secs(5), runner.close())
        .await
        .is_err()
    {
        warn!("closing the database connections took too long; leaving them to the exit");
    }
    info!("daemon stopped");
    exit::OK
}

/// With `[http] listen`: the metrics recorder installed and `/healthz`, `/readyz`, `/metrics`
/// served until the returned token is cancelled. An address that cannot be bound stops the
/// daemon at start (exit 1), rather than running unwatched.
async fn serve_endpoints(
    settings: &crate::config::Settings,
    runner: &Arc<SyncRunner>,
) -> Result<Option<(CancellationToken, tokio::task::JoinHandle<()>)>, u8> {
    let Some(addr) = settings.http.listen else {
        return Ok(None);
    };
    let metrics = crate::metrics::install().map_err(|e| {
        eprintln!("bromsync: cannot set up metrics: {e}");
        exit::FAILED
    })?;
    let listener = crate::http::bind(addr).await.map_err(|e| {
        eprintln!("bromsync: cannot listen on {addr} (http.listen): {e}");
        exit::FAILED
    })?;
    let ready: crate::http::ReadyCheck = {
        let runner = Arc::clone(runner);
        Arc::new(move || {
            let runner = Arc::clone(&runner);
            Box::pin(async move {
                match runner.store().await {
                    Ok(store) => store.ping().await.is_ok(),
                    Err(_) => false,
                }
            })
        })
    };
    // The address bound, not the one asked for: with port 0 the system picks, and the log says
    // which (tests use this rather than guess a free port).
    let addr = listener.local_addr().unwrap_or(addr);
    let stop = CancellationToken::new();
    let limits = settings.http.limits();
    let task = crate::http::serve(listener, limits, metrics, ready, stop.clone());
    info!(
        %addr,
        max_connections = limits.max_connections,
        header_read_timeout_secs = limits.header_read_timeout.as_secs(),
        "serving /healthz, /readyz and /metrics"
    );
    Ok(Some((stop, task)))
}

/// With `[dashboard] listen`: the Data Dashboard served until the returned token is cancelled
/// (reading the configuration the daemon started with). An address that cannot be bound stops
/// the daemon at start (exit 1).
async fn serve_dashboard(
    settings: &crate::config::Settings,
    runner: &Arc<SyncRunner>,
) -> Result<Option<(CancellationToken, tokio::task::JoinHandle<()>)>, u8> {
    let Some(addr) = settings.dashboard.listen else {
        return Ok(None);
    };
    let listener = crate::http::bind(addr).await.map_err(|e| {
        eprintln!("bromsync: cannot listen on {addr} (dashboard.listen): {e}");
        exit::FAILED
    })?;
    // The address bound, as for the health endpoint: with port 0 the log says which.
    let addr = listener.local_addr().unwrap_or(addr);
    let store: crate::web::StoreSource = {
        let runner = Arc::clone(runner);
        Arc::new(move || {
            let runner = Arc::clone(&runner);
            Box::pin(async move { runner.store().await.map_err(|e| e.to_string()) })
        })
    };
    let dashboard = Arc::new(crate::web::Dashboard {
        settings: Arc::new(settings.clone()),
        store,
    });
    let stop = CancellationToken::new();
    let task = crate::web::serve(
        listener,
        settings.dashboard.limits(),
        dashboard,
        stop.clone(),
    );
    info!(%addr, "serving the Data Dashboard");
    Ok(Some((stop, task)))
}

/// The daemon refused to start: the error on stderr, its exit code returned.
fn refused(error: &CommandError) -> u8 {
    eprintln!("bromsync: {error}");
    exit::code_of(error)
}
