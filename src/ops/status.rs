//! `bromsync status`: per configured school, its latest run, when it last succeeded, whether a
//! refused run waits for `--accept-removals`, when its schedule runs it next, and (for schools
//! with SSO) who in the roster has no email. Exits 0 only when every school's latest run
//! succeeded, so a monitor can run it as a check.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{OpsError, Verdict, chosen_schools, connect, rfc3339, store_failed};
use crate::config::{SchoolSettings, Settings};
use crate::failure::Permanent;
use crate::snapshot::SchoolId;
use crate::store::{MissingEmail, Store};

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Only this school; default every configured school.
    #[arg(long, value_name = "ID")]
    pub school: Option<SchoolId>,
    /// Print a JSON array (one object per school) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// One school's status; serialized with exactly the keys `--json` promises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchoolStatus {
    pub school_id: SchoolId,
    pub last_run: Option<LastRun>,
    pub last_success_at: Option<String>,
    pub refused_pending: bool,
    pub next_scheduled_at: Option<String>,
    pub sso_missing_email: Option<MissingEmail>,
    /// Control requests (`bromsync resync`, `approve`) not yet served, oldest first.
    pub requests_waiting: Vec<RequestWaiting>,
}

/// A request not yet served: who asked and when, and the daemon whose run has it, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestWaiting {
    pub request_id: i64,
    pub requested_by: String,
    pub requested_at: String,
    pub claimed_by: Option<String>,
    pub claimed_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastRun {
    pub run_id: i64,
    pub status: String,
    pub trigger: String,
    pub started_at: String,
    pub finished_at: String,
    /// A failed run's error category (`server_error_message`, `http_5xx`, `database`...);
    /// the error's text stays in `sync_runs.error`.
    pub error_category: Option<String>,
    /// The run failed in a way waiting cannot heal (credentials, not_granted, unknown_school,
    /// schema): the daemon does not retry it, and a person has to act.
    pub permanent: bool,
}

impl SchoolStatus {
    pub fn latest_succeeded(&self) -> bool {
        self.last_run
            .as_ref()
            .is_some_and(|run| run.status == "succeeded")
    }
}

pub async fn run(settings: &Settings, args: &StatusArgs) -> Result<Verdict, OpsError> {
    let schools = chosen_schools(settings, args.school)?;
    let store = connect(settings).await?;
    let mut statuses = Vec::with_capacity(schools.len());
    let mut failure = None;
    for school in schools {
        match school_status(&store, settings, school, Utc::now()).await {
            Ok(status) => statuses.push(status),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    store.close().await;
    if let Some(e) = failure {
        return Err(e);
    }
    if args.json {
        let text = serde_json::to_string_pretty(&statuses)
            .map_err(|e| OpsError::Failed(format!("writing JSON: {e}")))?;
        println!("{text}");
    } else {
        for status in &statuses {
            print_text(status);
        }
    }
    Ok(if statuses.iter().all(SchoolStatus::latest_succeeded) {
        Verdict::AllWell
    } else {
        Verdict::Problems
    })
}

/// One school's status at `now`.
pub async fn school_status(
    store: &Store,
    settings: &Settings,
    school: &SchoolSettings,
    now: DateTime<Utc>,
) -> Result<SchoolStatus, OpsError> {
    let runs = store.run_history(school.id).await.map_err(store_failed)?;
    let sso_missing_email = if school.sso {
        Some(store.missing_email(school.id).await.map_err(store_failed)?)
    } else {
        None
    };
    let requests_waiting = store
        .waiting_requests(Some(school.id))
        .await
        .map_err(store_failed)?
        .into_iter()
        .map(|r| RequestWaiting {
            request_id: r.request_id,
            requested_by: r.requested_by,
            requested_at: rfc3339(r.requested_at),
            claimed_by: r.claimed_by,
            claimed_at: r.claimed_at.map(rfc3339),
        })
        .collect();
    // A schedule that never fires again has no next time.
    let next = settings
        .schedule_of(school)
        .next_after(now, school.timezone);
    Ok(SchoolStatus {
        school_id: school.id,
        last_run: runs.latest.map(|run| {
            let error_category = run.error.as_deref().and_then(error_category);
            LastRun {
                run_id: run.run_id,
                permanent: run.status == "failed"
                    && error_category.and_then(Permanent::of_recorded).is_some(),
                status: run.status,
                trigger: run.trigger,
                started_at: rfc3339(run.started_at),
                finished_at: rfc3339(run.finished_at),
                error_category: error_category.map(str::to_owned),
            }
        }),
        last_success_at: runs.last_success_at.map(rfc3339),
        refused_pending: runs.refused_pending,
        next_scheduled_at: next.map(rfc3339),
        sso_missing_email,
        requests_waiting,
    })
}

/// The category a run record's error starts with (`category: ...`, see `sync::SyncError`);
/// `None` for a record written before errors had one.
fn error_category(error: &str) -> Option<&str> {
    let (head, _) = error.split_once(": ")?;
    let word = !head.is_empty()
        && head
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    word.then_some(head)
}

fn print_text(status: &SchoolStatus) {
    let school = status.school_id;
    match &status.last_run {
        Some(run) => {
            println!(
                "school {school}: latest run {} {} ({}, {} to {})",
                run.run_id, run.status, run.trigger, run.started_at, run.finished_at
            );
            if let Some(category) = &run.error_category {
                println!("  error category:  {category}");
                if let Some(cause) = run
                    .permanent
                    .then(|| Permanent::of_recorded(category))
                    .flatten()
                {
                    println!("  not retried:     {}", cause.advice());
                }
            }
        }
        None => println!("school {school}: never run"),
    }
    println!(
        "  last success:    {}",
        status.last_success_at.as_deref().unwrap_or("never")
    );
    println!(
        "  next scheduled:  {}",
        status.next_scheduled_at.as_deref().unwrap_or("never")
    );
    if status.refused_pending {
        println!(
            "  a refused run waits: if its removals are expected, bromsync sync --school {school} --accept-removals"
        );
        println!("    (or have a daemon write them: bromsync approve --school {school})");
    }
    for request in &status.requests_waiting {
        let state = match (&request.claimed_by, &request.claimed_at) {
            (Some(by), Some(at)) => format!("claimed by {by} at {at}"),
            _ => "not yet claimed".to_owned(),
        };
        println!(
            "  request waiting: {} by {} at {} ({state})",
            request.request_id, request.requested_by, request.requested_at
        );
    }
    if let Some(missing) = status.sso_missing_email {
        println!(
            "  without email (SSO sign-in fails): parents {}, teachers {}",
            missing.parents, missing.teachers
        );
    }
}

#[cfg(test)]
mod tests {
    use super::error_category;

    #[test]
    fn the_category_is_the_first_word_of_a_recorded_error() {
        assert_eq!(
            error_category("server_error_message: fetching Students for school 1 failed"),
            Some("server_error_message")
        );
        assert_eq!(error_category("http_5xx: x"), Some("http_5xx"));
        assert_eq!(error_category("database: school 1: gone"), Some("database"));
        assert_eq!(error_category("school 1: old text"), None);
        assert_eq!(error_category("no category"), None);
    }
}
