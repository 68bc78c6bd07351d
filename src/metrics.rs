//! The daemon's Prometheus metrics, named in one place. Stages call these functions; they cost
//! nothing until [`install`] sets a recorder (only `bromsync run` with `[http] listen` does), so
//! one-shot commands and tests without a recorder pay nothing. Labels are IDs, table and entity
//! names, and status codes: never personal data.

use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::snapshot::{EntityKind, SchoolId};
use crate::trigger::Trigger;

pub const RUNS_TOTAL: &str = "bromsync_runs_total";
pub const RUN_DURATION: &str = "bromsync_run_duration_seconds";
pub const LAST_SUCCESS: &str = "bromsync_last_success_timestamp_seconds";
pub const ROSTER_ROWS: &str = "bromsync_roster_rows";
pub const EXCLUDED_RECORDS: &str = "bromsync_excluded_records";
pub const BROMCOM_REQUESTS: &str = "bromsync_bromcom_requests_total";
pub const HTTP_CONNECTIONS_REFUSED: &str = "bromsync_http_connections_refused_total";

/// Run durations from a second to a few hours: a small school takes seconds, the largest over
/// a slow Bromcom many minutes.
const DURATION_BUCKETS: [f64; 12] = [
    0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// Installs the process-wide Prometheus recorder and returns the handle that renders it.
pub fn install() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(RUN_DURATION.to_owned()), &DURATION_BUCKETS)
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| e.to_string())?;
    metrics::describe_counter!(RUNS_TOTAL, "Runs by school, trigger and outcome.");
    metrics::describe_histogram!(
        RUN_DURATION,
        metrics::Unit::Seconds,
        "How long each school's runs take (skipped runs excluded)."
    );
    metrics::describe_gauge!(
        LAST_SUCCESS,
        "Unix time of the school's latest successful run in this process."
    );
    metrics::describe_gauge!(
        ROSTER_ROWS,
        "Rows per roster table after the school's latest successful run."
    );
    metrics::describe_gauge!(
        EXCLUDED_RECORDS,
        "Records left out per entity by the school's latest successful run."
    );
    metrics::describe_counter!(
        BROMCOM_REQUESTS,
        "Requests to Bromcom by entity and HTTP status (`error` when no answer came)."
    );
    metrics::describe_counter!(
        HTTP_CONNECTIONS_REFUSED,
        "Connections to the health endpoint ([http]) or the dashboard ([dashboard]) closed at once because that listener had max_connections open."
    );
    Ok(handle)
}

/// How a run ended, as the `outcome` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcomeLabel {
    Succeeded,
    Failed,
    Refused,
    Skipped,
}

impl RunOutcomeLabel {
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcomeLabel::Succeeded => "succeeded",
            RunOutcomeLabel::Failed => "failed",
            RunOutcomeLabel::Refused => "refused",
            RunOutcomeLabel::Skipped => "skipped",
        }
    }
}

/// A run ended; skipped runs did no work, so they have no duration.
pub fn run_finished(
    school: SchoolId,
    trigger: Trigger,
    outcome: RunOutcomeLabel,
    duration: Duration,
) {
    counter!(RUNS_TOTAL, "school" => school.to_string(), "trigger" => trigger.as_str(),
        "outcome" => outcome.as_str())
    .increment(1);
    if outcome != RunOutcomeLabel::Skipped {
        histogram!(RUN_DURATION, "school" => school.to_string()).record(duration.as_secs_f64());
    }
}

/// What a successful run left: the time, each roster table's rows, each entity's exclusions.
pub fn run_succeeded<'a>(
    school: SchoolId,
    finished_at: chrono::DateTime<chrono::Utc>,
    roster_rows: impl IntoIterator<Item = (&'a str, u64)>,
    excluded: impl IntoIterator<Item = (&'a str, u64)>,
) {
    gauge!(LAST_SUCCESS, "school" => school.to_string()).set(finished_at.timestamp() as f64);
    for (table, rows) in roster_rows {
        gauge!(ROSTER_ROWS, "school" => school.to_string(), "table" => table.to_owned())
            .set(rows as f64);
    }
    for (entity, records) in excluded {
        gauge!(EXCLUDED_RECORDS, "school" => school.to_string(), "entity" => entity.to_owned())
            .set(records as f64);
    }
}

/// One request to Bromcom answered with `status`, or with no answer at all (`None`).
pub fn bromcom_request(entity: EntityKind, status: Option<u16>) {
    let status = status.map_or_else(|| "error".to_owned(), |s| s.to_string());
    counter!(BROMCOM_REQUESTS, "entity" => entity.api_name(), "status" => status).increment(1);
}

/// [`bromcom_request`] for a request URL of the client (`.../v2/{Entity}?...`).
pub fn bromcom_request_to(url: &str, status: Option<reqwest::StatusCode>) {
    let entity = url
        .split_once("/v2/")
        .map(|(_, rest)| rest.split(['?', '/']).next().unwrap_or(rest))
        .and_then(EntityKind::from_api_name);
    if let Some(entity) = entity {
        bromcom_request(entity, status.map(|s| s.as_u16()));
    }
}
