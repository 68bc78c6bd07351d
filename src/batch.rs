//! Many schools of one `bromsync sync` at once: up to `daemon.max_concurrent_schools` runs go
//! together (the same bound as the daemon's), sharing the Bromcom client's cap on requests in
//! flight and the database pool. Schools one after another left every Bromcom request slot
//! idle while a school was being written, and the database idle while one was being fetched.
//!
//! Each run is [`sync::run_school`] as always (its own lock, its own transaction), so running
//! them together changes no guarantee: one runner per school, all or nothing per run.

use futures::StreamExt;

use crate::snapshot::SchoolId;
use crate::sync::{self, RunOutcome, RunRequest, SyncContext, SyncError};

/// Runs `requests` with at most `max_concurrent` at a time, calling `on_outcome` as each ends
/// (in the order they end). Once Bromcom rejects the application's credentials no further
/// school is started, since none could succeed; runs already going finish.
pub async fn run_schools(
    ctx: &SyncContext,
    requests: Vec<RunRequest>,
    max_concurrent: usize,
    mut on_outcome: impl FnMut(SchoolId, &Result<RunOutcome, SyncError>),
) {
    let credentials_rejected = std::sync::atomic::AtomicBool::new(false);
    let rejected = &credentials_rejected;
    let mut runs = futures::stream::iter(requests)
        .map(|request| async move {
            if rejected.load(std::sync::atomic::Ordering::SeqCst) {
                return None;
            }
            let school_id = request.school.id;
            let outcome = sync::run_school(ctx, request).await;
            if matches!(&outcome, Err(e) if e.is_credentials_rejected()) {
                rejected.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            Some((school_id, outcome))
        })
        .buffer_unordered(max_concurrent.max(1));
    while let Some(ended) = runs.next().await {
        if let Some((school_id, outcome)) = ended {
            on_outcome(school_id, &outcome);
        }
    }
}
