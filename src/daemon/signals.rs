//! Unix signals turned into [`Control`] messages for the supervisor: SIGUSR1 resyncs every
//! school, SIGHUP reloads the configuration file (loaded here, so a broken file is reported
//! with its reason and the supervisor keeps the configuration it has), SIGTERM and SIGINT stop.

use std::path::PathBuf;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::info;

use super::supervisor::Control;

/// Installs the handlers now (so that from the moment this returns, the signals no longer
/// have their default effect) and forwards them until the receiver goes away.
pub fn listen(
    config_path: PathBuf,
    control: mpsc::Sender<Control>,
) -> std::io::Result<JoinHandle<()>> {
    let mut resync = signal(SignalKind::user_defined1())?;
    let mut reload = signal(SignalKind::hangup())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(tokio::spawn(async move {
        loop {
            let message = tokio::select! {
                Some(()) = resync.recv() => {
                    info!(signal = "SIGUSR1", "signal received: resyncing every school");
                    Control::ResyncAll
                }
                Some(()) = reload.recv() => {
                    info!(signal = "SIGHUP", path = %config_path.display(), "signal received: reloading the configuration");
                    let path = config_path.clone();
                    let loaded = tokio::task::spawn_blocking(move || crate::config::load(&path))
                        .await
                        .map_err(|_| crate::config::ConfigError::LoaderStopped)
                        .and_then(|result| result);
                    Control::Reload(Box::new(loaded))
                }
                Some(()) = terminate.recv() => {
                    info!(signal = "SIGTERM", "signal received: stopping");
                    Control::Stop
                }
                Some(()) = interrupt.recv() => {
                    info!(signal = "SIGINT", "signal received: stopping");
                    Control::Stop
                }
                else => return,
            };
            if control.send(message).await.is_err() {
                return;
            }
        }
    }))
}
