//! The daemon's ear for fleet control (`crate::control`): it listens on the control channel
//! (Postgres `LISTEN`) and hands each school a request is made for to the daemon's schools; a
//! periodic look finds requests nobody is serving (a notification lost with its connection, a
//! request made while no daemon ran, one whose run died with its daemon).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::Control;
use super::runner::SyncRunner;
use crate::snapshot::SchoolId;

/// The daemon's ear for control: listens on the control channel and hands each school a
/// request is made for to the daemon as [`Control::Requested`]; every `poll` (and at once, at
/// start) it also looks for schools whose requests nobody is serving. Runs until `cancel`.
pub async fn watch(
    runner: Arc<SyncRunner>,
    daemon: mpsc::Sender<Control>,
    poll: Duration,
    cancel: CancellationToken,
) {
    let mut listener = None;
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let schools = tokio::select! {
            _ = cancel.cancelled() => return,
            heard = next_notification(&mut listener) => match heard {
                Ok(payload) => match payload.parse::<SchoolId>() {
                    Ok(school) => {
                        info!(school, "control request heard");
                        vec![school]
                    }
                    Err(_) => {
                        debug!("a control notification without a school ID; ignored");
                        continue;
                    }
                },
                Err(e) => {
                    warn!("lost the control channel ({e}); listening again at the next look");
                    listener = None;
                    continue;
                }
            },
            _ = tick.tick() => {
                let store = match runner.store().await {
                    Ok(store) => store,
                    Err(_) => continue,
                };
                if listener.is_none() {
                    match store.listen_control().await {
                        Ok(listening) => {
                            info!(every_secs = poll.as_secs(), "listening for control requests");
                            listener = Some(listening);
                        }
                        Err(e) => warn!("cannot listen for control requests ({e}); looking again in {} s", poll.as_secs()),
                    }
                }
                match store.schools_to_serve().await {
                    Ok(schools) if !schools.is_empty() => {
                        info!(schools = ?schools, "control requests nobody is serving found");
                        schools
                    }
                    Ok(_) => continue,
                    Err(e) => {
                        warn!("looking for control requests failed: {e}");
                        continue;
                    }
                }
            }
        };
        if daemon.send(Control::Requested(schools)).await.is_err() {
            return;
        }
    }
}

async fn next_notification(
    listener: &mut Option<sqlx::postgres::PgListener>,
) -> Result<String, sqlx::Error> {
    match listener {
        Some(listener) => Ok(listener.recv().await?.payload().to_owned()),
        None => std::future::pending().await,
    }
}
