//! Operator views: the commands that show people around the sync what it did, without SQL.
//! [`export`] (the roster as CSV), [`status`] (each school's latest run and next one),
//! [`check`] (is everything in place for a run: configuration, database, Bromcom grants) and
//! [`history`] (since when is a record in, out or changed). The daemon's health and metrics
//! server is [`crate::http`]'s.
//!
//! They read what the store holds; only `check` asks Bromcom, and only whether each entity is
//! granted. They print IDs, counts and codes (export alone prints the roster, which is its
//! job, to its output and never to the log). Each returns a [`Verdict`] or an [`OpsError`];
//! the command line turns those into exit codes.

pub mod check;
pub mod export;
pub mod history;
pub mod status;

use crate::config::Settings;
use crate::snapshot::SchoolId;
use crate::store::Store;

/// How a command that ran to the end judged what it saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Everything asked about is well (exit 0).
    AllWell,
    /// The command worked and found something wrong: a failed run, a missing grant (exit 1).
    Problems,
}

/// Why a command could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The arguments ask for something the configuration does not have (exit 2).
    #[error("{0}")]
    Refused(String),
    /// The database or the output could not be used (exit 1).
    #[error("{0}")]
    Failed(String),
    /// The database schema is not the one this binary was built for (exit 5, as for `sync`).
    #[error("{0}")]
    NotMigrated(String),
}

/// The configured school, or a refusal that lists the configured ones.
pub fn configured_school(
    settings: &Settings,
    school: SchoolId,
) -> Result<&crate::config::SchoolSettings, OpsError> {
    settings.school(school).ok_or_else(|| {
        let configured: Vec<String> = settings.schools.iter().map(|s| s.id.to_string()).collect();
        OpsError::Refused(format!(
            "school {school} is not in the configuration; configured: {}",
            if configured.is_empty() {
                "none".to_owned()
            } else {
                configured.join(", ")
            }
        ))
    })
}

/// The schools a command covers: the one named (which must be configured), or all.
pub fn chosen_schools(
    settings: &Settings,
    school: Option<SchoolId>,
) -> Result<Vec<&crate::config::SchoolSettings>, OpsError> {
    match school {
        Some(id) => Ok(vec![configured_school(settings, id)?]),
        None => Ok(settings.schools.iter().collect()),
    }
}

pub(crate) async fn connect(settings: &Settings) -> Result<Store, OpsError> {
    Store::connect(&settings.database.url, settings.database.max_connections)
        .await
        .map_err(|e| {
            let message = format!("cannot use the database: {e}");
            if e.is_schema_mismatch() {
                OpsError::NotMigrated(message)
            } else {
                OpsError::Failed(message)
            }
        })
}

pub(crate) fn store_failed(error: crate::store::StoreError) -> OpsError {
    OpsError::Failed(error.to_string())
}

/// RFC 3339 in UTC to the second, as every view prints times.
pub fn rfc3339(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
