//! Run records: one `sync_runs` row for every run that got as far as asking for its school —
//! what started it, how it ended, and what it added, changed, removed and left out.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;
use strum::{Display, EnumString, IntoStaticStr};

use super::{Store, StoreError};
use crate::snapshot::SchoolId;
use crate::trigger::Trigger;

/// How a run ended.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Display, EnumString, IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum RunStatus {
    Succeeded,
    Failed,
    Refused,
}

impl RunStatus {
    /// The word the `sync_runs` column holds.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One `sync_runs` row. Counts are keyed by roster table (added/changed/removed), by excluded
/// entity (excluded), and by link entity then reason (dropped). IDs and counts only.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub school_id: SchoolId,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub trigger: Trigger,
    pub status: RunStatus,
    pub added: BTreeMap<String, u64>,
    pub changed: BTreeMap<String, u64>,
    pub removed: BTreeMap<String, u64>,
    pub excluded: BTreeMap<String, u64>,
    pub dropped: BTreeMap<String, BTreeMap<String, u64>>,
    pub accepted_removals: bool,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub error: Option<String>,
    /// For schools with SSO: the roster's parents and teachers without an email.
    pub sso_missing_email: Option<super::MissingEmail>,
}

impl RunRecord {
    /// A record with no counts, for a run that ended before it had any.
    pub fn empty(
        school_id: SchoolId,
        trigger: Trigger,
        status: RunStatus,
        started_at: DateTime<Utc>,
    ) -> RunRecord {
        RunRecord {
            school_id,
            started_at,
            finished_at: Utc::now(),
            trigger,
            status,
            added: BTreeMap::new(),
            changed: BTreeMap::new(),
            removed: BTreeMap::new(),
            excluded: BTreeMap::new(),
            dropped: BTreeMap::new(),
            accepted_removals: false,
            scheduled_for: None,
            error: None,
            sso_missing_email: None,
        }
    }
}

fn json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_default()
}

/// Inserts the record and returns its run ID.
pub(super) async fn insert_run<'e>(
    executor: impl PgExecutor<'e>,
    record: &RunRecord,
) -> Result<i64, StoreError> {
    let run_id = sqlx::query_scalar!(
        "INSERT INTO sync_runs (school_id, started_at, finished_at, trigger, status, added, \
         changed, removed, excluded, dropped, accepted_removals, scheduled_for, error, \
         sso_missing_email) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING run_id",
        record.school_id,
        record.started_at,
        record.finished_at,
        record.trigger.as_str(),
        record.status.as_str(),
        json(&record.added),
        json(&record.changed),
        json(&record.removed),
        json(&record.excluded),
        json(&record.dropped),
        record.accepted_removals,
        record.scheduled_for,
        record.error.as_deref(),
        record.sso_missing_email.as_ref().map(json),
    )
    .fetch_one(executor)
    .await?;
    Ok(run_id)
}

impl Store {
    /// Records a run that wrote nothing (failed or refused) in a statement of its own.
    pub async fn record_run(&self, record: &RunRecord) -> Result<i64, StoreError> {
        insert_run(&self.pool, record).await
    }

    /// Whether a run that did not fail was already recorded for this scheduled trigger (by
    /// this daemon or another on the same database). Asked under the school's lock.
    pub async fn scheduled_run_recorded(
        &self,
        school_id: SchoolId,
        scheduled_for: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let recorded = sqlx::query_scalar!(
            "SELECT EXISTS (SELECT 1 FROM sync_runs WHERE school_id = $1 AND scheduled_for = $2 \
             AND status <> 'failed') AS \"recorded!\"",
            school_id,
            scheduled_for,
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(recorded)
    }
}
