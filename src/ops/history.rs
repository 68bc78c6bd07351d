//! `bromsync history`: support's "since when?" for one record: every run that added it to the
//! roster, changed its roster data (which columns, never the values) or removed it (with the
//! reasons it was excluded then), newest first, for as long as `sync.history_retention_days`.

use super::{OpsError, Verdict, configured_school, connect, rfc3339, store_failed};
use clap::builder::{PossibleValuesParser, TypedValueParser};

use crate::config::Settings;
use crate::roster::ExcludedEntity;
use crate::snapshot::SchoolId;
use crate::store::{HISTORY_ENTITIES, HistoryEvent};

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// The school (must be in the configuration).
    #[arg(long)]
    pub school: SchoolId,
    /// What the record is.
    #[arg(value_parser = entity_parser())]
    pub entity: ExcludedEntity,
    /// Its Bromcom ID (studentID, staffID, personID or collectionID).
    pub bromcom_id: i64,
    /// Print a JSON array of {run_id, at, event, columns, reasons} instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The entities with history, by the names the store gives them.
fn entity_parser() -> impl clap::builder::TypedValueParser<Value = ExcludedEntity> {
    PossibleValuesParser::new(HISTORY_ENTITIES.map(ExcludedEntity::as_str))
        .try_map(|name| ExcludedEntity::parse(&name).ok_or("not an entity with history"))
}

/// One event as `--json` prints it.
#[derive(Debug, serde::Serialize)]
struct JsonEvent<'a> {
    run_id: i64,
    at: String,
    event: &'a str,
    columns: &'a [String],
    reasons: &'a [String],
}

pub async fn run(settings: &Settings, args: &HistoryArgs) -> Result<Verdict, OpsError> {
    configured_school(settings, args.school)?;
    let store = connect(settings).await?;
    let events = store
        .record_history(args.school, args.entity, args.bromcom_id)
        .await;
    store.close().await;
    let events = events.map_err(store_failed)?;
    if args.json {
        let json: Vec<JsonEvent> = events
            .iter()
            .map(|e| JsonEvent {
                run_id: e.run_id,
                at: rfc3339(e.at),
                event: &e.event,
                columns: &e.columns,
                reasons: &e.reasons,
            })
            .collect();
        let text = serde_json::to_string_pretty(&json)
            .map_err(|e| OpsError::Failed(format!("writing JSON: {e}")))?;
        println!("{text}");
    } else {
        print_text(args, &events, settings.sync.history_retention_days);
    }
    Ok(Verdict::AllWell)
}

fn print_text(args: &HistoryArgs, events: &[HistoryEvent], retention_days: u32) {
    let (school, entity, id) = (args.school, args.entity.as_str(), args.bromcom_id);
    if events.is_empty() {
        println!(
            "school {school}: {entity} {id} has no recorded history (none in the last {retention_days} days)"
        );
        return;
    }
    println!("school {school}: {entity} {id}, newest first:");
    for event in events {
        let detail = match event.event.as_str() {
            "changed" => event.columns.join(", "),
            "removed" if event.reasons.is_empty() => "no longer in Bromcom".to_owned(),
            "removed" => format!("excluded: {}", event.reasons.join(", ")),
            _ => String::new(),
        };
        let line = format!(
            "  {}  run {:<6} {:<8} {detail}",
            rfc3339(event.at),
            event.run_id,
            event.event
        );
        println!("{}", line.trim_end());
    }
}
