//! Record history, support's "since when?": in the run's transaction, one `record_history` row
//! per student, teacher, parent, class or group whose standing or roster data the run changes,
//! and reading them back for `bromsync history`.
//!
//! Events are computed in SQL from the run's staged tables (`stage_<table>`, the new roster)
//! against the roster tables as they still are, so [`record`] must be called after staging and
//! before the roster is written. IDs, column names and reason codes only, never a value.
//!
//! Links and memberships belong to the record that lists them: a change to who is in a class
//! is a `changed` event on the class with column `students` (its teachers, or who is main:
//! `teachers`), on a group `students`, on a parent `students` (the parent's children, their
//! relationship or parental responsibility). A student's own event lists only the student's own
//! columns, so one membership change is one event, not two.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, PgConnection};

use super::apply::TableChange;
use super::{Store, StoreError};
use crate::snapshot::SchoolId;

/// A link table that shows up as one column of its owner's events.
struct LinkSpec {
    /// The column name in events.
    label: &'static str,
    table: &'static str,
    /// Every column that makes a link different (the owner's key first).
    columns: &'static str,
}

/// One entity whose records have history.
struct EntitySpec {
    entity: &'static str,
    table: &'static str,
    key: &'static str,
    values: &'static [&'static str],
    links: &'static [LinkSpec],
    /// Exclusion entities whose reasons explain a removal.
    excluded_as: &'static str,
}

const ENTITIES: [EntitySpec; 5] = [
    EntitySpec {
        entity: "student",
        table: "students",
        key: "student_id",
        values: &[
            "first_name",
            "last_name",
            "date_of_birth",
            "tutor_group",
            "year_group",
        ],
        links: &[],
        excluded_as: "'student'",
    },
    EntitySpec {
        entity: "teacher",
        table: "teachers",
        key: "staff_id",
        values: &["title", "first_name", "last_name", "email"],
        links: &[],
        excluded_as: "'teacher'",
    },
    EntitySpec {
        entity: "parent",
        table: "parents",
        key: "person_id",
        values: &["title", "first_name", "last_name", "email", "phone"],
        links: &[LinkSpec {
            label: "students",
            table: "parent_students",
            columns: "person_id, student_id, relationship, parental_responsibility",
        }],
        excluded_as: "'parent'",
    },
    EntitySpec {
        entity: "class",
        table: "classes",
        key: "class_id",
        values: &["name", "subject", "kind"],
        links: &[
            LinkSpec {
                label: "students",
                table: "class_students",
                columns: "class_id, student_id",
            },
            LinkSpec {
                label: "teachers",
                table: "class_teachers",
                columns: "class_id, staff_id, is_main",
            },
        ],
        // A collection whose type can no longer be read is excluded as a `collection`.
        excluded_as: "'class', 'collection'",
    },
    EntitySpec {
        entity: "group",
        table: "groups",
        key: "group_id",
        values: &["name", "kind"],
        links: &[LinkSpec {
            label: "students",
            table: "group_students",
            columns: "group_id, student_id",
        }],
        excluded_as: "'group', 'collection'",
    },
];

/// Records this run's events and prunes events older than `retention`. Relies on: the staged
/// tables `stage_<table>` (same columns as the roster tables, without `school_id`) and
/// `stage_exclusions` (with `reasons` as text[]) existing in this transaction, and the roster
/// tables not yet written. `changes` (per roster table) lets an unchanged entity cost nothing:
/// a run that changes nothing records nothing and reads nothing.
pub(super) async fn record(
    conn: &mut PgConnection,
    school_id: SchoolId,
    run_id: i64,
    changes: &[TableChange],
    retention: Duration,
) -> Result<(), StoreError> {
    let changed = |table: &str| {
        changes
            .iter()
            .any(|change| change.table == table && !change.is_empty())
    };
    let started = std::time::Instant::now();
    let mut events = 0;
    for spec in &ENTITIES {
        if changed(spec.table) || spec.links.iter().any(|link| changed(link.table)) {
            events += sqlx::query(AssertSqlSafe(events_sql(spec)))
                .bind(school_id)
                .bind(run_id)
                .execute(&mut *conn)
                .await?
                .rows_affected();
        }
    }
    tracing::debug!(
        events,
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "history recorded"
    );
    let retention_secs = i64::try_from(retention.as_secs()).unwrap_or(i64::MAX / 2);
    sqlx::query(
        "DELETE FROM record_history WHERE school_id = $1 AND at < now() - $2 * interval '1 second'",
    )
    .bind(school_id)
    .bind(retention_secs)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One statement for one entity: added, removed (with the reasons staged for it), changed
/// (with the value columns and link labels that differ). `$1` school, `$2` run.
fn events_sql(spec: &EntitySpec) -> String {
    let EntitySpec {
        entity,
        table,
        key,
        excluded_as,
        ..
    } = spec;
    let link_diffs: Vec<String> = spec
        .links
        .iter()
        .map(|link| {
            let (label, links, columns) = (link.label, link.table, link.columns);
            let owner = columns.split(',').next().unwrap_or(key).trim();
            format!(
                "SELECT d.{owner} AS owner, '{label}' AS label FROM ( \
                   (SELECT {columns} FROM stage_{links} \
                    EXCEPT SELECT {columns} FROM {links} WHERE school_id = $1) \
                   UNION ALL \
                   (SELECT {columns} FROM {links} WHERE school_id = $1 \
                    EXCEPT SELECT {columns} FROM stage_{links})) d"
            )
        })
        .collect();
    // Per owner, the labels of its links that differ, sorted: joined, never probed row by row
    // (a correlated probe would recompute the differences for every record).
    let links_changed = if link_diffs.is_empty() {
        "SELECT NULL::bigint AS owner, '{}'::text[] AS labels WHERE false".to_owned()
    } else {
        format!(
            "SELECT owner, array_agg(DISTINCT label ORDER BY label) AS labels FROM ({}) l \
             GROUP BY owner",
            link_diffs.join(" UNION ALL ")
        )
    };
    let value_checks: Vec<String> = spec
        .values
        .iter()
        .map(|v| format!("CASE WHEN t.{v} IS DISTINCT FROM s.{v} THEN '{v}' END"))
        .collect();
    format!(
        "WITH links_changed AS MATERIALIZED ({links_changed}), \
         events AS ( \
           SELECT s.{key} AS id, 'added' AS event, '{{}}'::text[] AS columns, \
                  '{{}}'::text[] AS reasons \
             FROM stage_{table} s \
             WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.school_id = $1 AND t.{key} = s.{key}) \
           UNION ALL \
           SELECT t.{key}, 'removed', '{{}}'::text[], coalesce(x.reasons, '{{}}'::text[]) \
             FROM {table} t \
             LEFT JOIN (SELECT DISTINCT ON (bromcom_id) bromcom_id, reasons FROM stage_exclusions \
                         WHERE entity IN ({excluded_as}) \
                         ORDER BY bromcom_id, entity = 'collection') x \
               ON x.bromcom_id = t.{key} \
             WHERE t.school_id = $1 \
               AND NOT EXISTS (SELECT 1 FROM stage_{table} s WHERE s.{key} = t.{key}) \
           UNION ALL \
           SELECT id, 'changed', columns, '{{}}'::text[] FROM ( \
             SELECT s.{key} AS id, \
                    array_remove(ARRAY[{checks}]::text[], NULL) || coalesce(l.labels, '{{}}') \
                      AS columns \
               FROM stage_{table} s JOIN {table} t ON t.school_id = $1 AND t.{key} = s.{key} \
               LEFT JOIN links_changed l ON l.owner = s.{key} \
           ) c WHERE cardinality(columns) > 0 \
         ) \
         INSERT INTO record_history (school_id, entity, bromcom_id, run_id, event, columns, reasons, at) \
         SELECT $1, '{entity}', id, $2, event, columns, reasons, now() FROM events",
        checks = value_checks.join(", "),
    )
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

/// The entities with history, as `bromsync history` names them.
pub const HISTORY_ENTITIES: [&str; 5] = ["student", "teacher", "parent", "class", "group"];

impl Store {
    /// One record's events, newest first.
    pub async fn record_history(
        &self,
        school_id: SchoolId,
        entity: &str,
        bromcom_id: i64,
    ) -> Result<Vec<HistoryEvent>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT run_id, at, event, columns, reasons FROM record_history \
             WHERE school_id = $1 AND entity = $2 AND bromcom_id = $3 \
             ORDER BY at DESC, run_id DESC",
        )
        .bind(school_id)
        .bind(entity)
        .bind(bromcom_id)
        .fetch_all(&self.pool)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entity_with_history_has_a_spec_and_its_tables_are_roster_tables() {
        let names: Vec<&str> = ENTITIES.iter().map(|spec| spec.entity).collect();
        assert_eq!(names, HISTORY_ENTITIES);
        for spec in &ENTITIES {
            assert!(
                super::super::ROSTER_TABLES.contains(&spec.table),
                "{}",
                spec.table
            );
            for link in spec.links {
                assert!(super::super::ROSTER_TABLES.contains(&link.table));
                assert!(link.columns.starts_with(spec.key), "{}", link.table);
            }
        }
    }
}
