//! One school's run from start to end: take the school's lock, fetch everything, decide, stage
//! the difference, refuse it if it would remove too much, then write it and the run record in
//! one transaction. Every way a run ends leaves one line in the log and (where the database can
//! be reached) one row in `sync_runs`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use tracing::{Instrument, info, warn};

use crate::bromcom::{self, FetchError};
use crate::config::{RemovalGuard, SchoolSettings, Settings};
use crate::eligibility;
use crate::failure::Permanent;
use crate::roster::Decision;
use crate::snapshot::SchoolId;
use crate::store::{
    self, ApplyOptions, Approval, MissingEmail, RunControl, RunRecord, RunStatus, SchoolLock,
    Store, StoreError, TableChange, Trigger,
};
use crate::telemetry::millis;

/// What a run needs from the process: the database and the Bromcom client.
#[derive(Clone, Debug)]
pub struct SyncContext {
    pub store: Store,
    pub client: bromcom::Client,
    /// Where a test steps into a run; none is set in production.
    pub hooks: RunHooks,
}

impl SyncContext {
    /// A context with no hooks.
    pub fn new(store: Store, client: bromcom::Client) -> SyncContext {
        SyncContext {
            store,
            client,
            hooks: RunHooks::default(),
        }
    }
}

/// Something a run awaits at a given point.
pub type Hook = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// The points where a test can step into a run, through the library: a run awaits each hook
/// that is set when it gets there. The run reads no environment for this.
#[derive(Clone, Default)]
pub struct RunHooks {
    /// Awaited with the difference staged and the run's transaction open, just before the
    /// write: a test holds a run here to stop, kill or cut it mid-write.
    pub before_commit: Option<Hook>,
}

impl std::fmt::Debug for RunHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunHooks")
            .field("before_commit", &self.before_commit.is_some())
            .finish()
    }
}

/// One run of one school, as asked for.
#[derive(Clone, Debug)]
pub struct RunRequest {
    pub school: SchoolSettings,
    pub trigger: Trigger,
    pub guard: RemovalGuard,
    pub room_retention: Duration,
    /// How long record history is kept.
    pub history_retention: Duration,
    /// A table whose last full comparison is this old is compared in full whatever its
    /// fingerprint says (zero: every run).
    pub full_compare_every: Duration,
    /// Write removals the guard would refuse (recorded on the run).
    pub accept_removals: bool,
    /// Decide and count, write nothing, record nothing.
    pub dry_run: bool,
    /// The scheduled trigger this run carries out, when the schedule started it.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// Whether the run serves the control requests waiting for its school.
    pub requests: ServeRequests,
}

/// How a run treats the control requests (`bromsync resync`, `approve`) waiting for its school.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ServeRequests {
    /// Leaves them to the daemons (a one-shot `sync`).
    #[default]
    Ignore,
    /// Claims those waiting when it takes the lock and marks them served by it (a daemon's
    /// runs: a request made before a run started is served by that run).
    Serve,
    /// As `Serve`, for a run started because of a request: skipped when there is none left
    /// to claim (another daemon's run served it), so that a request is served by one run.
    Require,
}

impl RunRequest {
    /// A manual-style run request for one school, with the settings' guard and room retention;
    /// the caller sets what its command adds (accepting removals, a dry run, a scheduled time).
    pub fn new(settings: &Settings, school: &SchoolSettings, trigger: Trigger) -> RunRequest {
        RunRequest {
            school: school.clone(),
            trigger,
            guard: settings.guard_of(school),
            room_retention: settings.sync.room_retention(),
            history_retention: settings.sync.history_retention(),
            full_compare_every: settings.sync.full_compare_every(),
            accept_removals: false,
            dry_run: false,
            scheduled_for: None,
            requests: Default::default(),
        }
    }
}

/// A table whose removals the guard refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardViolation {
    pub table: &'static str,
    pub existing: u64,
    pub removed: u64,
    /// The table would be left empty.
    pub empties: bool,
}

/// What a run did (or, for a dry run or a refusal, would have done).
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub school_id: SchoolId,
    pub run_id: Option<i64>,
    pub roster_changes: Vec<TableChange>,
    pub exclusion_change: TableChange,
    /// Records left out, per entity.
    pub excluded: BTreeMap<String, u64>,
    /// Links and memberships dropped, per entity and reason.
    pub dropped: BTreeMap<String, BTreeMap<String, u64>>,
    /// Records left out, per entity and reason.
    pub excluded_by_reason: BTreeMap<String, BTreeMap<String, u64>>,
    pub violations: Vec<GuardViolation>,
    pub duration: Duration,
    /// For schools with SSO: the roster's parents and teachers without an email.
    pub sso_missing_email: Option<MissingEmail>,
    /// Tables whose rows were read back and compared one by one; the others' fingerprints
    /// showed them to hold the new rows already.
    pub tables_read: Vec<&'static str>,
}

#[derive(Debug)]
pub enum RunOutcome {
    Succeeded(RunSummary),
    Refused(RunSummary),
    DryRun(RunSummary),
    /// Nothing was done; the reason tells a daemon whether to look again.
    Skipped(SkipReason),
}

/// Why a run was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// Another runner holds the school's lock: an operator's `sync`, another daemon's run, or
    /// one whose lock is about to go. It may not be carrying out this trigger, so a scheduled
    /// trigger is worth a second look once it is free.
    LockHeld,
    /// This scheduled trigger was already carried out (by this daemon or another): final.
    AlreadyDone,
    /// Started for a control request that another run has served already: final.
    AlreadyServed,
}

/// Why a run failed. Texts name the school and the stage, never a secret or personal data, and
/// start with a category (`database: `, `eligibility: `, or a Bromcom error's own) that
/// `status` reads back from the run record.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{0}")]
    Fetch(#[from] FetchError),
    #[error("database: school {school_id}: {source}")]
    Store {
        school_id: SchoolId,
        #[source]
        source: StoreError,
    },
    #[error("eligibility: school {school_id}: deciding eligibility stopped unexpectedly")]
    Decide { school_id: SchoolId },
}

impl SyncError {
    /// Bromcom rejected the application's credentials: no school can run until that is fixed.
    pub fn is_credentials_rejected(&self) -> bool {
        matches!(self, SyncError::Fetch(e) if e.is_credentials_rejected())
    }

    /// Why this failure cannot heal by waiting, when it cannot (see [`crate::failure`]).
    pub fn permanent(&self) -> Option<Permanent> {
        match self {
            SyncError::Fetch(e) => Permanent::of_category(e.category()),
            SyncError::Store { source, .. } if source.is_schema_mismatch() => {
                Some(Permanent::Schema)
            }
            SyncError::Store { .. } | SyncError::Decide { .. } => None,
        }
    }
}

/// How long a failed run waits for the database to take its record.
const RECORD_FAILURE_WITHIN: Duration = Duration::from_secs(5);

/// Runs one school once. The span carries the school, the trigger and, once known, the run id.
pub async fn run_school(ctx: &SyncContext, request: RunRequest) -> Result<RunOutcome, SyncError> {
    let span = tracing::info_span!(
        "run",
        school = request.school.id,
        trigger = %request.trigger,
        run_id = tracing::field::Empty
    );
    let (school_id, trigger, dry_run) = (request.school.id, request.trigger, request.dry_run);
    let clock = Instant::now();
    let result = run_school_inner(ctx, request).instrument(span).await;
    if !dry_run {
        record_metrics(school_id, trigger, &result, clock.elapsed());
    }
    result
}

/// The run's outcome in the process's metrics (a no-op unless the daemon serves them).
fn record_metrics(
    school_id: SchoolId,
    trigger: Trigger,
    result: &Result<RunOutcome, SyncError>,
    elapsed: Duration,
) {
    use crate::metrics::{RunOutcomeLabel, run_finished, run_succeeded};
    use crate::roster::ExcludedEntity;
    use strum::VariantArray;
    let outcome = match result {
        Ok(RunOutcome::Succeeded(summary)) => {
            let rows = summary
                .roster_changes
                .iter()
                .map(|c| (c.table, (c.existing + c.added).saturating_sub(c.removed)));
            // Every entity, so that one whose exclusions all came back reads 0, not its old count.
            let excluded = ExcludedEntity::VARIANTS.iter().map(|entity| {
                let entity = entity.as_str();
                (entity, summary.excluded.get(entity).copied().unwrap_or(0))
            });
            run_succeeded(school_id, Utc::now(), rows, excluded);
            RunOutcomeLabel::Succeeded
        }
        Ok(RunOutcome::Refused(_)) => RunOutcomeLabel::Refused,
        Ok(RunOutcome::Skipped(_)) => RunOutcomeLabel::Skipped,
        Ok(RunOutcome::DryRun(_)) => return,
        Err(_) => RunOutcomeLabel::Failed,
    };
    run_finished(school_id, trigger, outcome, elapsed);
}

async fn run_school_inner(ctx: &SyncContext, request: RunRequest) -> Result<RunOutcome, SyncError> {
    let school_id = request.school.id;
    let store_error = |source| SyncError::Store { school_id, source };
    let Some(mut lock) = ctx
        .store
        .try_lock_school(school_id)
        .await
        .map_err(store_error)?
    else {
        info!(
            "school {school_id} is being synced by another runner; skipped this {} run",
            request.trigger
        );
        return Ok(RunOutcome::Skipped(SkipReason::LockHeld));
    };
    // Several daemons share one schedule: the first to take the lock carries the trigger out,
    // the others find it recorded here and leave it.
    if let Some(scheduled_for) = request.scheduled_for
        && ctx
            .store
            .scheduled_run_recorded(school_id, scheduled_for)
            .await
            .map_err(store_error)?
    {
        info!(
            scheduled_for = %scheduled_for,
            "school {school_id}: this scheduled run was already carried out by another runner; skipped"
        );
        release(lock).await;
        return Ok(RunOutcome::Skipped(SkipReason::AlreadyDone));
    }
    let control = match take_control(&mut lock, &request).await {
        Ok(Some(control)) => control,
        Ok(None) => {
            info!(
                "school {school_id}: the requests this run was started for were served by another run; skipped"
            );
            release(lock).await;
            return Ok(RunOutcome::Skipped(SkipReason::AlreadyServed));
        }
        Err(e) => {
            release(lock).await;
            return Err(store_error(e));
        }
    };
    let started_at = Utc::now();
    let clock = Instant::now();
    info!(
        dry_run = request.dry_run,
        requests = ?control.requests,
        approval = ?control.approval.as_ref().map(|a| a.approval_id),
        "run started"
    );

    let result = fetch_decide_write(ctx, &mut lock, &request, &control, started_at, clock).await;
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(error) => {
            warn!(duration_ms = millis(clock.elapsed()), "run failed: {error}");
            if !request.dry_run {
                let mut record =
                    RunRecord::empty(school_id, request.trigger, RunStatus::Failed, started_at);
                record.error = Some(error.to_string());
                record.scheduled_for = request.scheduled_for;
                // A failed run serves its requests too: the daemon's retries carry it on. Should
                // this record not be written, the requests stay claimed and are served again.
                let served = RunControl {
                    requests: control.requests.clone(),
                    ..RunControl::default()
                };
                // The database may be what failed: waiting the pool's whole acquire timeout
                // for it would only hold the school (and a one-shot `sync`) longer.
                match tokio::time::timeout(
                    RECORD_FAILURE_WITHIN,
                    ctx.store.record_run_with(&record, &served),
                )
                .await
                {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => warn!("could not record the failed run: {e}"),
                    Err(_) => warn!(
                        "could not record the failed run: the database did not answer within {} s",
                        RECORD_FAILURE_WITHIN.as_secs()
                    ),
                }
            }
            release(lock).await;
            return Err(error);
        }
    };
    release(lock).await;
    Ok(outcome)
}

/// What a run took on from the control tables when it took the school's lock.
struct TakenControl {
    /// The requests it claimed, which it marks served.
    requests: Vec<i64>,
    /// An operator's approval of the school's latest refused run, in force for this run.
    approval: Option<Approval>,
}

/// Claims the requests waiting (as the run's [`ServeRequests`] says) and finds the approval in
/// force; `None` when the run was started for requests and none is left to serve.
async fn take_control(
    lock: &mut SchoolLock,
    request: &RunRequest,
) -> Result<Option<TakenControl>, StoreError> {
    let requests = match request.requests {
        _ if request.dry_run => Vec::new(),
        ServeRequests::Ignore => Vec::new(),
        ServeRequests::Serve | ServeRequests::Require => {
            lock.claim_requests(&crate::store::this_runner()).await?
        }
    };
    if request.requests == ServeRequests::Require && requests.is_empty() && !request.dry_run {
        return Ok(None);
    }
    let approval = lock.approval_in_force().await?;
    Ok(Some(TakenControl { requests, approval }))
}

/// Lets the school go at the end of a run, however it ended, so that a run straight after it
/// is not skipped as if another runner held the school. Should the database not answer, the
/// lock goes with its connection, which is closed.
async fn release(lock: SchoolLock) {
    match tokio::time::timeout(RECORD_FAILURE_WITHIN, lock.release()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            warn!("releasing the school's lock: {e} (it is freed as its connection closes)");
        }
        Err(_) => warn!(
            "releasing the school's lock: the database did not answer within {} s (it is freed as its connection closes)",
            RECORD_FAILURE_WITHIN.as_secs()
        ),
    }
}

async fn fetch_decide_write(
    ctx: &SyncContext,
    lock: &mut SchoolLock,
    request: &RunRequest,
    control: &TakenControl,
    started_at: DateTime<Utc>,
    clock: Instant,
) -> Result<RunOutcome, SyncError> {
    let school = &request.school;
    let school_id = school.id;
    let store_error = |source| SyncError::Store { school_id, source };

    let snapshot = ctx.client.fetch_school(school_id).await?;
    let today = started_at.with_timezone(&school.timezone).date_naive();
    let names = school.names;
    // Deciding and rendering the rows for the database are CPU work: off the async workers,
    // and the snapshot is let go as soon as the decision is made.
    let span = tracing::Span::current();
    let (decision, prepared) = tokio::task::spawn_blocking(move || {
        let _span = span.enter();
        let deciding = Instant::now();
        let decision = eligibility::decide(&snapshot, today, names);
        free_later(snapshot);
        let preparing = Instant::now();
        let prepared = store::prepare(&decision);
        tracing::debug!(
            decide_ms = millis(preparing - deciding),
            prepare_ms = millis(preparing.elapsed()),
            "decided"
        );
        (decision, prepared)
    })
    .await
    .map_err(|_| SyncError::Decide { school_id })?;

    let staging = Instant::now();
    let mut staged = lock
        .stage(prepared, request.full_compare_every)
        .await
        .map_err(store_error)?;
    tracing::debug!(
        stage_ms = millis(staging.elapsed()),
        "compared with the stored rows"
    );
    let mut summary = summarize(school_id, &decision, &staged, clock);
    if school.sso {
        summary.sso_missing_email = Some(missing_email(&decision.roster));
    }
    summary.violations = check_removals(&summary.roster_changes, request.guard);

    if request.dry_run {
        staged.abandon().await.map_err(store_error)?;
        summary.duration = clock.elapsed();
        info!(
            duration_ms = millis(summary.duration),
            "dry run finished; nothing written: {}",
            describe_changes(&summary)
        );
        return Ok(RunOutcome::DryRun(summary));
    }

    let over_limits = !summary.violations.is_empty() && !request.accept_removals;
    // An approval lets through what the refused run would have removed, and nothing more.
    let (approved, uncovered) = match (&control.approval, over_limits) {
        (Some(approval), true) => {
            let uncovered = approval.uncovered(&staged.removed_keys());
            (uncovered.is_empty(), uncovered)
        }
        _ => (false, Vec::new()),
    };
    let refused = over_limits && !approved;
    let mut record = record_of(request, &summary, started_at);
    if refused {
        let held = RunControl {
            requests: control.requests.clone(),
            approval: None,
            refused_removals: staged.removed_keys(),
        };
        staged.abandon().await.map_err(store_error)?;
        record.status = RunStatus::Refused;
        record.finished_at = Utc::now();
        let run_id = ctx
            .store
            .record_run_with(&record, &held)
            .await
            .map_err(store_error)?;
        tracing::Span::current().record("run_id", run_id);
        summary.run_id = Some(run_id);
        summary.duration = clock.elapsed();
        // One line for the whole refusal, so an operator reading the log (or an alert on
        // it) sees every table at once next to the command that accepts them.
        let tables: Vec<&str> = summary.violations.iter().map(|v| v.table).collect();
        let removals: Vec<String> = summary
            .violations
            .iter()
            .map(|v| {
                format!(
                    "{} of the school's {} {} rows{}",
                    v.removed,
                    v.existing,
                    v.table,
                    if v.empties { ", leaving none" } else { "" }
                )
            })
            .collect();
        if let Some(approval) = &control.approval {
            let more: Vec<String> = uncovered
                .iter()
                .map(|(table, n)| format!("{n} {table} rows"))
                .collect();
            warn!(
                approval = approval.approval_id,
                approved_run = approval.refused_run,
                "the approval of run {}'s removals does not cover this run: it would also remove {}",
                approval.refused_run,
                more.join(", ")
            );
        }
        warn!(
            tables = %tables.join(","),
            "run refused: it would remove {}; nothing was written. \
             If the removals are expected, approve them with: bromsync approve --school {} \
             (or accept them once with: bromsync sync --school {} --accept-removals)",
            removals.join(", "),
            school_id,
            school_id,
        );
        return Ok(RunOutcome::Refused(summary));
    }

    record.accepted_removals = !summary.violations.is_empty();
    staged.serve(RunControl {
        requests: control.requests.clone(),
        approval: control.approval.as_ref().map(|a| a.approval_id),
        refused_removals: Vec::new(),
    });
    if let Some(hook) = &ctx.hooks.before_commit {
        hook().await;
    }
    record.finished_at = Utc::now();
    let outcome = staged
        .commit(
            &record,
            &decision.exclusions,
            ApplyOptions {
                room_retention: request.room_retention,
                history_retention: request.history_retention,
            },
        )
        .await
        .map_err(store_error)?;
    tracing::Span::current().record("run_id", outcome.run_id);
    summary.run_id = Some(outcome.run_id);
    summary.duration = clock.elapsed();
    if approved && let Some(approval) = &control.approval {
        warn!(
            approval = approval.approval_id,
            approved_run = approval.refused_run,
            "removals over the guard's limits were written as approved (approval {}, of the removals of run {})",
            approval.approval_id,
            approval.refused_run
        );
    } else if record.accepted_removals {
        warn!("removals over the guard's limits were accepted for this run (--accept-removals)");
    }
    info!(
        duration_ms = millis(summary.duration),
        "run succeeded: {}",
        describe_changes(&summary)
    );
    free_later(decision);
    Ok(RunOutcome::Succeeded(summary))
}

/// Frees `value` on the blocking pool instead of here: a large school's rows are hundreds of
/// thousands of strings, tens of milliseconds to free (callgrind: 4% of a 25,000-student run),
/// which the run need not wait for.
fn free_later<T: Send + 'static>(value: T) {
    tokio::task::spawn_blocking(move || drop(value));
}

/// The removal guard: a table loses more than both the fraction and the count of its rows, or
/// would be left empty.
pub fn check_removals(changes: &[TableChange], guard: RemovalGuard) -> Vec<GuardViolation> {
    changes
        .iter()
        .filter_map(|change| {
            let empties =
                change.existing > 0 && change.existing - change.removed + change.added == 0;
            let too_many = change.removed as f64 > guard.max_fraction * change.existing as f64
                && change.removed > guard.max_count;
            (empties || too_many).then_some(GuardViolation {
                table: change.table,
                existing: change.existing,
                removed: change.removed,
                empties,
            })
        })
        .collect()
}

fn summarize(
    school_id: SchoolId,
    decision: &Decision,
    staged: &crate::store::StagedRun<'_>,
    clock: Instant,
) -> RunSummary {
    let mut excluded: BTreeMap<String, u64> = BTreeMap::new();
    let mut excluded_by_reason: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for record in &decision.exclusions.records {
        *excluded
            .entry(record.entity.as_str().to_owned())
            .or_default() += 1;
        let by_reason = excluded_by_reason
            .entry(record.entity.as_str().to_owned())
            .or_default();
        for reason in &record.reasons {
            *by_reason.entry(reason.as_str().to_owned()).or_default() += 1;
        }
    }
    let mut dropped: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for ((entity, reason), count) in &decision.exclusions.dropped {
        dropped
            .entry(entity.api_name().to_owned())
            .or_default()
            .insert(reason.as_str().to_owned(), *count);
    }
    RunSummary {
        school_id,
        run_id: None,
        roster_changes: staged.roster_changes(),
        exclusion_change: staged.exclusion_change(),
        excluded,
        dropped,
        excluded_by_reason,
        violations: Vec::new(),
        duration: clock.elapsed(),
        sso_missing_email: None,
        tables_read: staged.tables_read(),
    }
}

/// Parents and teachers that come through without an email: locked out where sign-in is SSO.
fn missing_email(roster: &crate::roster::Roster) -> MissingEmail {
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    MissingEmail {
        parents: count(roster.parents.iter().filter(|p| p.email.is_none()).count()),
        teachers: count(roster.teachers.iter().filter(|t| t.email.is_none()).count()),
    }
}

fn record_of(request: &RunRequest, summary: &RunSummary, started_at: DateTime<Utc>) -> RunRecord {
    let per_table = |f: fn(&TableChange) -> u64| {
        summary
            .roster_changes
            .iter()
            .map(|c| (c.table.to_owned(), f(c)))
            .collect::<BTreeMap<_, _>>()
    };
    let mut record = RunRecord::empty(
        request.school.id,
        request.trigger,
        RunStatus::Succeeded,
        started_at,
    );
    record.added = per_table(|c| c.added);
    record.changed = per_table(|c| c.changed);
    record.removed = per_table(|c| c.removed);
    record.excluded = summary.excluded.clone();
    record.dropped = summary.dropped.clone();
    record.sso_missing_email = summary.sso_missing_email;
    record.scheduled_for = request.scheduled_for;
    record
}

/// `students +3 ~1 -0 (of 950), ...`: counts only, for one log line.
pub fn describe_changes(summary: &RunSummary) -> String {
    let tables: Vec<String> = summary
        .roster_changes
        .iter()
        .map(|c| {
            format!(
                "{} +{} ~{} -{} (had {})",
                c.table, c.added, c.changed, c.removed, c.existing
            )
        })
        .collect();
    let excluded: Vec<String> = summary
        .excluded
        .iter()
        .map(|(entity, n)| format!("{entity} {n}"))
        .collect();
    let sso = match summary.sso_missing_email {
        Some(missing) => format!(
            "; without email (SSO): parents {}, teachers {}",
            missing.parents, missing.teachers
        ),
        None => String::new(),
    };
    format!(
        "{}; excluded: {}{sso}",
        tables.join(", "),
        if excluded.is_empty() {
            "none".to_owned()
        } else {
            excluded.join(", ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(existing: u64, added: u64, removed: u64) -> TableChange {
        TableChange {
            table: "students",
            existing,
            added,
            changed: 0,
            removed,
        }
    }

    #[test]
    fn guard_needs_both_fraction_and_count_exceeded() {
        let guard = RemovalGuard {
            max_fraction: 0.10,
            max_count: 25,
        };
        // 30 of 100 is over 10% and over 25.
        assert_eq!(check_removals(&[change(100, 0, 30)], guard).len(), 1);
        // 20 of 100 is over 10% but not over 25.
        assert!(check_removals(&[change(100, 0, 20)], guard).is_empty());
        // 30 of 1000 is over 25 but not over 10%.
        assert!(check_removals(&[change(1000, 0, 30)], guard).is_empty());
    }

    #[test]
    fn guard_limits_are_strict_exactly_at_the_limit_is_allowed() {
        // "More than" the fraction and the count: removing exactly the limit is allowed.
        let guard = RemovalGuard {
            max_fraction: 0.10,
            max_count: 5,
        };
        // 10 of 100 is exactly 10% (and over 5).
        assert!(check_removals(&[change(100, 0, 10)], guard).is_empty());
        assert_eq!(check_removals(&[change(100, 0, 11)], guard).len(), 1);
        let guard = RemovalGuard {
            max_fraction: 0.10,
            max_count: 30,
        };
        // 30 of 100 is over 10% and exactly 30.
        assert!(check_removals(&[change(100, 0, 30)], guard).is_empty());
        assert_eq!(check_removals(&[change(100, 0, 31)], guard).len(), 1);
    }

    #[test]
    fn guard_counts_added_rows_when_deciding_a_table_is_emptied() {
        let guard = RemovalGuard::default();
        // 3 rows, 2 leave and 1 arrives: 2 are left, nothing is emptied.
        assert!(check_removals(&[change(3, 1, 2)], guard).is_empty());
        let violations = check_removals(&[change(3, 0, 3), change(3, 1, 2)], guard);
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].existing, 3);
        assert_eq!(violations[0].removed, 3);
    }

    #[test]
    fn guard_refuses_emptying_a_table_however_small() {
        let guard = RemovalGuard::default();
        let violations = check_removals(&[change(3, 0, 3)], guard);
        assert_eq!(violations.len(), 1);
        assert!(violations[0].empties);
        // Replacing every row is not emptying.
        assert!(check_removals(&[change(3, 3, 3)], guard).is_empty());
        // An empty table staying empty is fine.
        assert!(check_removals(&[change(0, 0, 0)], guard).is_empty());
    }
}
