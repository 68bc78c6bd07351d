//! What a run's outcome looks like to the person who typed the command: one school's result and
//! its counts per table and per reason on stdout (IDs and counts, never names), and the exit
//! code it stands for. `sync` and the demo print through it.

use crate::exit;
use crate::snapshot::SchoolId;
use crate::sync::{RunOutcome, RunSummary, SyncError};

/// Prints one school's outcome to stdout (counts only) and returns its exit code.
pub fn print_outcome(school_id: SchoolId, outcome: &Result<RunOutcome, SyncError>) -> u8 {
    match outcome {
        Ok(RunOutcome::Succeeded(summary)) => {
            println!(
                "school {school_id}: succeeded (run {})",
                summary.run_id.unwrap_or_default()
            );
            print_summary(summary);
            exit::OK
        }
        Ok(RunOutcome::DryRun(summary)) => {
            println!("school {school_id}: dry run, nothing written; a run would do:");
            print_summary(summary);
            exit::OK
        }
        Ok(RunOutcome::Refused(summary)) => {
            println!(
                "school {school_id}: REFUSED (run {}), nothing written",
                summary.run_id.unwrap_or_default()
            );
            for v in &summary.violations {
                println!(
                    "  {} would lose {} of {} rows{}",
                    v.table,
                    v.removed,
                    v.existing,
                    if v.empties { " (all of them)" } else { "" }
                );
            }
            println!(
                "  if these removals are expected: bromsync sync --school {school_id} --accept-removals"
            );
            print_summary(summary);
            exit::REFUSED
        }
        Ok(RunOutcome::Skipped(_)) => {
            println!("school {school_id}: skipped, another runner is syncing it");
            exit::SKIPPED
        }
        Err(e) => {
            println!("school {school_id}: FAILED, nothing written: {e}");
            exit::FAILED
        }
    }
}

/// Per table: added, changed, removed; then what was left out, by entity and reason.
pub fn print_summary(summary: &RunSummary) {
    println!(
        "  {:<16} {:>8} {:>8} {:>8} {:>8}",
        "table", "had", "added", "changed", "removed"
    );
    for c in &summary.roster_changes {
        println!(
            "  {:<16} {:>8} {:>8} {:>8} {:>8}",
            c.table, c.existing, c.added, c.changed, c.removed
        );
    }
    if summary.excluded_by_reason.is_empty() {
        println!("  left out: nothing");
    } else {
        println!("  left out:");
        for (entity, reasons) in &summary.excluded_by_reason {
            let total = summary.excluded.get(entity).copied().unwrap_or_default();
            let reasons: Vec<String> = reasons.iter().map(|(r, n)| format!("{r} {n}")).collect();
            println!("    {entity:<10} {total:>6}  ({})", reasons.join(", "));
        }
    }
    if let Some(missing) = summary.sso_missing_email {
        println!(
            "  without email (SSO sign-in fails): parents {}, teachers {}",
            missing.parents, missing.teachers
        );
    }
    if !summary.dropped.is_empty() {
        println!("  links and memberships dropped:");
        for (entity, reasons) in &summary.dropped {
            let reasons: Vec<String> = reasons.iter().map(|(r, n)| format!("{r} {n}")).collect();
            println!("    {entity:<20} {}", reasons.join(", "));
        }
    }
}
