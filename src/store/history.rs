//! Record history, support's "since when?": in the run's transaction, one `record_history` row
//! per student, teacher, parent, class or group whose standing or roster data the run changes,
//! and reading them back for `bromsync history`.
//!
//! Events come from the run's row-by-row comparison of the new roster with the rows as they
//! are ([`TableDiff`]), made before anything is written, and the reasons eligibility gave for
//! whoever left; [`events`] is pure, [`record`] writes them in the run's transaction. IDs, column
//! names and reason codes only, never a value.
//!
//! Links and memberships belong to the record that lists them: a change to who is in a class
//! is a `changed` event on the class with column `students` (its teachers, or who is main:
//! `teachers`), on a group `students`, on a parent `students` (the parent's children, their
//! relationship or parental responsibility). A student's own event lists only the student's own
//! columns, so one membership change is one event, not two.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::copy_text::Lines;
use super::diff::TableDiff;
use super::tables::{
    CLASS_STUDENTS, CLASS_TEACHERS, CLASSES, GROUP_STUDENTS, GROUPS, PARENT_STUDENTS, PARENTS,
    STUDENTS, TEACHERS, TableSpec,
};
use super::{Store, StoreError};
use crate::roster::{ExcludedEntity, Exclusions};
use crate::snapshot::SchoolId;

/// A link table that shows up as one column of its owner's events.
struct LinkSpec {
    /// The column name in events.
    label: &'static str,
    table: &'static TableSpec,
}

/// One entity whose records have history: its table (whose value columns are the event's
/// columns) and the link tables it owns.
pub(super) struct EntitySpec {
    pub(super) entity: ExcludedEntity,
    pub(super) table: &'static TableSpec,
    links: &'static [LinkSpec],
    /// Exclusion entities whose reasons explain a removal, the first preferred.
    excluded_as: &'static [ExcludedEntity],
}

const ENTITIES: [EntitySpec; 5] = [
    EntitySpec {
        entity: ExcludedEntity::Student,
        table: &STUDENTS,
        links: &[],
        excluded_as: &[ExcludedEntity::Student],
    },
    EntitySpec {
        entity: ExcludedEntity::Teacher,
        table: &TEACHERS,
        links: &[],
        excluded_as: &[ExcludedEntity::Teacher],
    },
    EntitySpec {
        entity: ExcludedEntity::Parent,
        table: &PARENTS,
        links: &[LinkSpec {
            label: "students",
            table: &PARENT_STUDENTS,
        }],
        excluded_as: &[ExcludedEntity::Parent],
    },
    EntitySpec {
        entity: ExcludedEntity::Class,
        table: &CLASSES,
        links: &[
            LinkSpec {
                label: "students",
                table: &CLASS_STUDENTS,
            },
            LinkSpec {
                label: "teachers",
                table: &CLASS_TEACHERS,
            },
        ],
        // A collection whose type can no longer be read is excluded as a `collection`.
        excluded_as: &[ExcludedEntity::Class, ExcludedEntity::Collection],
    },
    EntitySpec {
        entity: ExcludedEntity::Group,
        table: &GROUPS,
        links: &[LinkSpec {
            label: "students",
            table: &GROUP_STUDENTS,
        }],
        excluded_as: &[ExcludedEntity::Group, ExcludedEntity::Collection],
    },
];

/// The entities with history, as `bromsync history` names them.
pub const HISTORY_ENTITIES: [ExcludedEntity; ENTITIES.len()] = {
    let mut entities = [ExcludedEntity::Student; ENTITIES.len()];
    let mut i = 0;
    while i < entities.len() {
        entities[i] = ENTITIES[i].entity;
        i += 1;
    }
    entities
};

/// The entity's spec, if its records have history (a `collection` has none: it is not in the
/// roster).
pub(super) fn entity_spec(entity: ExcludedEntity) -> Option<&'static EntitySpec> {
    ENTITIES.iter().find(|spec| spec.entity == entity)
}

/// One event to record: IDs, column names and reason codes only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NewEvent {
    entity: &'static str,
    id: i64,
    event: &'static str,
    columns: Vec<&'static str>,
    reasons: Vec<&'static str>,
}

/// The events of one run, from its comparison (`diffs`: every roster table's) and the reasons
/// eligibility gave for what it left out. A run that changes nothing has none.
pub(super) fn events<'a>(
    diffs: impl Iterator<Item = TableDiff<'a>>,
    exclusions: &Exclusions,
) -> Vec<NewEvent> {
    let diffs: BTreeMap<&str, TableDiff<'a>> = diffs.map(|diff| (diff.table(), diff)).collect();
    let mut events = Vec::new();
    for spec in &ENTITIES {
        let mut added: Vec<i64> = Vec::new();
        let mut removed: Vec<i64> = Vec::new();
        // Per record in the roster before and after: the columns and link labels that differ.
        let mut changed: BTreeMap<i64, Vec<&'static str>> = BTreeMap::new();
        if let Some(diff) = diffs.get(spec.table.name) {
            added.extend(diff.added_ids());
            removed.extend(diff.removed_ids());
            for row in diff.changed() {
                let columns: Vec<&'static str> = spec
                    .table
                    .values
                    .iter()
                    .copied()
                    .filter(|value| row.columns.contains(value))
                    .collect();
                if !columns.is_empty() {
                    changed.insert(row.id, columns);
                }
            }
        }
        // A record added or removed has that event alone, whatever happened to its links.
        let settled: HashSet<i64> = added.iter().chain(&removed).copied().collect();
        for link in spec.links {
            let Some(diff) = diffs.get(link.table.name) else {
                continue;
            };
            let mut owners: Vec<i64> = diff
                .added_ids()
                .chain(diff.removed_ids())
                .chain(diff.changed().map(|row| row.id))
                .collect();
            // Rows come in key order, so an owner's links are together: once each is enough
            // (a first sync adds some twenty links a record).
            owners.dedup();
            for owner in owners {
                if settled.contains(&owner) {
                    continue;
                }
                let columns = changed.entry(owner).or_default();
                if !columns.contains(&link.label) {
                    columns.push(link.label);
                }
            }
        }
        events.extend(added.into_iter().map(|id| NewEvent {
            entity: spec.entity.as_str(),
            id,
            event: "added",
            columns: Vec::new(),
            reasons: Vec::new(),
        }));
        events.extend(removed.into_iter().map(|id| NewEvent {
            entity: spec.entity.as_str(),
            id,
            event: "removed",
            columns: Vec::new(),
            reasons: reasons_left_out(exclusions, spec.excluded_as, id),
        }));
        events.extend(changed.into_iter().map(|(id, columns)| NewEvent {
            entity: spec.entity.as_str(),
            id,
            event: "changed",
            columns,
            reasons: Vec::new(),
        }));
    }
    events
}

/// Why a record that left the roster is excluded now; empty when it vanished from Bromcom.
fn reasons_left_out(
    exclusions: &Exclusions,
    excluded_as: &[ExcludedEntity],
    id: i64,
) -> Vec<&'static str> {
    excluded_as
        .iter()
        .find_map(|entity| {
            exclusions
                .records
                .binary_search_by(|record| (record.entity, record.id).cmp(&(*entity, id)))
                .ok()
                .map(|index| &exclusions.records[index])
        })
        .map(|record| {
            record
                .reasons
                .iter()
                .map(|reason| reason.as_str())
                .collect()
        })
        .unwrap_or_default()
}

/// Writes this run's events and prunes events older than `retention`, in the run's
/// transaction.
pub(super) async fn record(
    conn: &mut PgConnection,
    school_id: SchoolId,
    run_id: i64,
    events: &[NewEvent],
    retention: Duration,
) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    if !events.is_empty() {
        // The time of the run's transaction, as `now()` would give each row.
        let at = sqlx::query_scalar!("SELECT now() AS \"now!\"")
            .fetch_one(&mut *conn)
            .await?;
        let at = at.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string();
        // Column names and reason codes are plain words: an array literal needs no quoting.
        // Most events (every `added` one) have empty lists, written without building a string.
        let array = |list: &[&str]| -> Cow<'static, str> {
            if list.is_empty() {
                Cow::Borrowed("{}")
            } else {
                Cow::Owned(format!("{{{}}}", list.join(",")))
            }
        };
        let mut lines = Lines::default();
        for event in events {
            lines
                .row()
                .int(school_id)
                .text(event.entity)
                .int(event.id)
                .int(run_id)
                .text(event.event)
                .text(&array(&event.columns))
                .text(&array(&event.reasons))
                .text(&at);
        }
        let mut copy = conn
            .copy_in_raw(
                "COPY record_history \
                   (school_id, entity, bromcom_id, run_id, event, columns, reasons, at) FROM STDIN",
            )
            .await?;
        copy.send(lines.as_bytes()).await?;
        copy.finish().await?;
    }
    tracing::debug!(
        events = events.len(),
        elapsed_ms = crate::telemetry::millis(started.elapsed()),
        "history recorded"
    );
    let retention_secs = i64::try_from(retention.as_secs()).unwrap_or(i64::MAX / 2);
    sqlx::query!(
        "DELETE FROM record_history \
         WHERE school_id = $1 AND at < now() - $2::bigint * interval '1 second'",
        school_id,
        retention_secs,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One event of one record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct HistoryEvent {
    pub run_id: i64,
    pub at: DateTime<Utc>,
    pub event: String,
    pub columns: Vec<String>,
    pub reasons: Vec<String>,
}

impl Store {
    /// One record's events, newest first.
    pub async fn record_history(
        &self,
        school_id: SchoolId,
        entity: ExcludedEntity,
        bromcom_id: i64,
    ) -> Result<Vec<HistoryEvent>, StoreError> {
        Ok(sqlx::query_as!(
            HistoryEvent,
            "SELECT run_id, at, event, columns, reasons FROM record_history \
             WHERE school_id = $1 AND entity = $2 AND bromcom_id = $3 \
             ORDER BY at DESC, run_id DESC",
            school_id,
            entity.as_str(),
            bromcom_id,
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
