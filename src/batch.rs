//! Many schools of one `bromsync sync` at once: up to `daemon.max_concurrent_schools` runs go
//! together (the same bound as the daemon's), sharing the Bromcom client's cap on requests in
//! flight and the database pool. Schools one after another left every Bromcom request slot
//! idle while a school was being written, and the database idle while one was being fetched.
//!
//! Each run is [`sync::run_school`] as always (its own lock, its own transaction), so running
//! them together changes no guarantee: one runner per school, all or nothing per run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
    let credentials_rejected = Arc::new(AtomicBool::new(false));
    let mut runs = futures::stream::iter(requests)
        .map(|request| {
            let (ctx, rejected) = (ctx.clone(), Arc::clone(&credentials_rejected));
            // A task of its own, so that schools are read, compared and written on every
            // worker thread rather than all on the one polling this stream.
            let run = tokio::spawn(async move {
                if rejected.load(Ordering::SeqCst) {
                    return None;
                }
                let school_id = request.school.id;
                let outcome = sync::run_school(&ctx, request).await;
                if matches!(&outcome, Err(e) if e.is_credentials_rejected()) {
                    rejected.store(true, Ordering::SeqCst);
                }
                Some((school_id, outcome))
            });
            async move {
                match run.await {
                    Ok(ended) => ended,
                    Err(join_error) if join_error.is_panic() => {
                        std::panic::resume_unwind(join_error.into_panic())
                    }
                    // Cancelled: only when the runtime is shutting down.
                    Err(_) => None,
                }
            }
        })
        .buffer_unordered(max_concurrent.max(1));
    while let Some(ended) = runs.next().await {
        if let Some((school_id, outcome)) = ended {
            on_outcome(school_id, &outcome);
        }
    }
}
