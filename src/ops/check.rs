//! `bromsync check`: is everything in place for a run? The configuration (checked when it was
//! loaded), the database (reachable, migrations current, every privilege a run uses), and per
//! school every entity the sync reads, asked of Bromcom with one request for a page past the
//! end, so that it is cheap even for the largest school. What is wrong is said in words a school
//! can act on: credentials rejected, school unknown, or exactly which entities to tick.

use futures::future::join_all;
use serde::Serialize;

use super::{OpsError, Verdict, chosen_schools};
use crate::bromcom::{Client, ProbeAnswer};
use crate::config::Settings;
use crate::snapshot::{EntityKind, SchoolId};
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Only this school; default every configured school.
    #[arg(long, value_name = "ID")]
    pub school: Option<SchoolId>,
    /// Print {"database": {...}, "schools": [...]} as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What `--json` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    pub database: DatabaseCheck,
    pub schools: Vec<SchoolCheck>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatabaseCheck {
    pub ok: bool,
    pub migrations_pending: Vec<String>,
    pub missing_privileges: Vec<String>,
    /// What the role may do beyond what a run needs (a superuser, the schema's owner, a writer
    /// of `_sqlx_migrations`): runs work, but the role is not the one `deploy/grants.sql` makes.
    pub role_problems: Vec<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchoolCheck {
    pub school_id: SchoolId,
    pub ok: bool,
    /// Entity names as Bromcom spells them, sorted.
    pub not_granted: Vec<String>,
    pub error: Option<String>,
}

impl CheckReport {
    pub fn all_well(&self) -> bool {
        self.database.ok && self.schools.iter().all(|s| s.ok)
    }
}

pub async fn run(settings: &Settings, args: &CheckArgs) -> Result<Verdict, OpsError> {
    let schools = chosen_schools(settings, args.school)?;
    let client =
        Client::new(settings.bromcom.clone()).map_err(|e| OpsError::Refused(e.to_string()))?;
    let database = check_database(settings).await;
    let school_ids: Vec<SchoolId> = schools.iter().map(|s| s.id).collect();
    let schools = join_all(school_ids.iter().map(|&id| check_school(&client, id))).await;
    let report = CheckReport { database, schools };
    if args.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| OpsError::Failed(format!("writing JSON: {e}")))?;
        println!("{text}");
    } else {
        print_text(settings, &report);
    }
    Ok(if report.all_well() {
        Verdict::AllWell
    } else {
        Verdict::Problems
    })
}

/// Connects and asks what a run would need.
pub async fn check_database(settings: &Settings) -> DatabaseCheck {
    let failed = |error: String| DatabaseCheck {
        ok: false,
        migrations_pending: Vec::new(),
        missing_privileges: Vec::new(),
        role_problems: Vec::new(),
        error: Some(error),
    };
    let store =
        match Store::connect_unchecked(&settings.database.url, settings.database.max_connections)
            .await
        {
            Ok(store) => store,
            Err(e) => return failed(format!("cannot use the database: {e}")),
        };
    let readiness = store.readiness().await;
    store.close().await;
    match readiness {
        Ok(readiness) => DatabaseCheck {
            ok: readiness.migrations_pending.is_empty()
                && readiness.missing_privileges.is_empty()
                && readiness.role_problems.is_empty(),
            migrations_pending: readiness.migrations_pending,
            missing_privileges: readiness.missing_privileges,
            role_problems: readiness.role_problems,
            error: None,
        },
        Err(e) => failed(e.to_string()),
    }
}

/// Every entity the sync reads, asked at once.
pub async fn check_school(client: &Client, school_id: SchoolId) -> SchoolCheck {
    let answers = join_all(
        EntityKind::ALL
            .map(|entity| async move { (entity, client.probe(school_id, entity).await) }),
    )
    .await;
    judge(school_id, &answers)
}

/// Turns one school's answers into what is wrong, most fundamental first: credentials, then
/// the school itself, then grants; trouble on the way is listed by entity.
pub fn judge(school_id: SchoolId, answers: &[(EntityKind, ProbeAnswer)]) -> SchoolCheck {
    let any = |wanted: &ProbeAnswer| answers.iter().any(|(_, answer)| answer == wanted);
    let mut not_granted: Vec<String> = answers
        .iter()
        .filter(|(_, answer)| *answer == ProbeAnswer::NotGranted)
        .map(|(entity, _)| entity.api_name().to_owned())
        .collect();
    not_granted.sort();
    let troubles: Vec<String> = answers
        .iter()
        .filter_map(|(entity, answer)| match answer {
            ProbeAnswer::Trouble(what) => Some(format!("{entity}: {what}")),
            _ => None,
        })
        .collect();
    let error = if any(&ProbeAnswer::CredentialsRejected) {
        Some(
            "Bromcom rejected the application's credentials (HTTP 401): correct \
             bromcom.application_id and bromcom.application_secret"
                .to_owned(),
        )
    } else if any(&ProbeAnswer::SchoolUnknown) {
        Some(format!(
            "Bromcom does not know school {school_id} (HTTP 404): check the school's ID in the \
             configuration, and that the school has added the partner application"
        ))
    } else if !troubles.is_empty() {
        Some(format!(
            "Bromcom did not answer properly: {}",
            troubles.join("; ")
        ))
    } else {
        None
    };
    SchoolCheck {
        school_id,
        ok: error.is_none() && not_granted.is_empty(),
        not_granted,
        error,
    }
}

fn print_text(settings: &Settings, report: &CheckReport) {
    println!(
        "configuration: ok ({} school{})",
        settings.schools.len(),
        if settings.schools.len() == 1 { "" } else { "s" }
    );
    let db = &report.database;
    if db.ok {
        println!("database: ok (migrations current; the role has every privilege a run needs)");
    } else {
        println!("database: NOT READY");
        if let Some(error) = &db.error {
            println!("  {error}");
        }
        if !db.migrations_pending.is_empty() {
            println!(
                "  migrations not applied: {}; run `bromsync migrate` with the owner role",
                db.migrations_pending.join(", ")
            );
        }
        if !db.missing_privileges.is_empty() {
            println!(
                "  the role lacks: {}; grant them (see README, least privilege)",
                db.missing_privileges.join(", ")
            );
        }
        for problem in &db.role_problems {
            println!(
                "  {problem}; run the service as a role given only deploy/grants.sql (see \
                 docs/security.md, least privilege)"
            );
        }
    }
    for school in &report.schools {
        let id = school.school_id;
        if school.ok {
            println!(
                "school {id}: ok (all {} entities granted)",
                EntityKind::ALL.len()
            );
            continue;
        }
        println!("school {id}: NOT READY");
        if let Some(error) = &school.error {
            println!("  {error}");
        }
        if !school.not_granted.is_empty() {
            println!(
                "  the school has not granted {} to the partner application; in Bromcom the \
                 school ticks these in the application's data access (scope): {}",
                if school.not_granted.len() == 1 {
                    "this entity"
                } else {
                    "these entities"
                },
                school.not_granted.join(", ")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_before_grants_and_grants_are_sorted() {
        let answers = [
            (EntityKind::Students, ProbeAnswer::NotGranted),
            (EntityKind::Contacts, ProbeAnswer::NotGranted),
            (EntityKind::Staff, ProbeAnswer::Granted),
        ];
        let check = judge(7, &answers);
        assert!(!check.ok);
        assert_eq!(check.not_granted, ["Contacts", "Students"]);
        assert_eq!(check.error, None);
        let answers = [
            (EntityKind::Students, ProbeAnswer::CredentialsRejected),
            (EntityKind::Staff, ProbeAnswer::Trouble("HTTP 503".into())),
        ];
        let check = judge(7, &answers);
        assert!(check.error.unwrap().contains("HTTP 401"));
        let all_granted = EntityKind::ALL.map(|e| (e, ProbeAnswer::Granted));
        assert!(judge(7, &all_granted).ok);
    }
}
