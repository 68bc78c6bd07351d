//! Writing one school's new roster as the difference against what it has, in one transaction.
//!
//! Two phases, so that the caller can look before it leaps: [`Store::stage`] opens the
//! transaction, loads the new roster into temporary tables with one `UNNEST` statement per
//! table and counts what would be added, changed and removed; the caller then either
//! [`StagedRun::commit`]s (delete what left, `MERGE` what is new or different, with an
//! `IS DISTINCT FROM` guard so unchanged rows are never touched) or [`StagedRun::abandon`]s,
//! which rolls everything back. No network is awaited while the transaction is open.

use std::time::Duration;

use sqlx::{AssertSqlSafe, PgConnection, Postgres, Transaction};

use super::runs::{RunRecord, insert_run};
use super::tables::{self, Column, EXCLUSIONS, TableSpec};
use super::{Store, StoreError};
use crate::roster::Decision;
use crate::snapshot::SchoolId;

/// What a run would do to one table of one school.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableChange {
    pub table: &'static str,
    /// Rows the school has in this table before the run.
    pub existing: u64,
    pub added: u64,
    pub changed: u64,
    pub removed: u64,
}

impl TableChange {
    pub fn is_empty(&self) -> bool {
        self.added == 0 && self.changed == 0 && self.removed == 0
    }
}

/// How a commit treats rooms of teachers who leave and come back.
#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions {
    pub room_retention: Duration,
    /// How long record history is kept; older events are pruned by this commit.
    pub history_retention: Duration,
}

/// What a committed run did.
#[derive(Debug, Clone)]
pub struct ApplyOutcome {
    pub run_id: i64,
}

/// A school's new roster staged inside an open transaction, with what it would change.
pub struct StagedRun {
    tx: Transaction<'static, Postgres>,
    school_id: SchoolId,
    roster_changes: Vec<TableChange>,
    exclusion_change: TableChange,
}

impl Store {
    /// Opens the run's transaction, stages `decision` and counts the difference. Nothing is
    /// written to the roster until [`StagedRun::commit`].
    pub async fn stage(
        &self,
        school_id: SchoolId,
        decision: &Decision,
    ) -> Result<StagedRun, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut roster_changes = Vec::with_capacity(9);
        for (spec, columns) in tables::roster_tables(&decision.roster) {
            stage_table(&mut tx, spec, columns).await?;
            roster_changes.push(count_changes(&mut tx, spec, school_id).await?);
        }
        stage_table(
            &mut tx,
            &EXCLUSIONS,
            tables::exclusion_columns(&decision.exclusions),
        )
        .await?;
        let exclusion_change = count_changes(&mut tx, &EXCLUSIONS, school_id).await?;
        Ok(StagedRun {
            tx,
            school_id,
            roster_changes,
            exclusion_change,
        })
    }
}

impl StagedRun {
    /// Per roster table, in write order.
    pub fn roster_changes(&self) -> &[TableChange] {
        &self.roster_changes
    }

    pub fn exclusion_change(&self) -> TableChange {
        self.exclusion_change
    }

    /// Rolls the transaction back: the tables stay exactly as they were.
    pub async fn abandon(self) -> Result<(), StoreError> {
        self.tx.rollback().await?;
        Ok(())
    }

    /// Records the run and writes the difference, all in the one transaction.
    pub async fn commit(
        mut self,
        record: &RunRecord,
        options: ApplyOptions,
    ) -> Result<ApplyOutcome, StoreError> {
        let school_id = self.school_id;
        let run_id = insert_run(&mut *self.tx, record).await?;
        // Before any write: events compare the staged roster with the rows as they are.
        super::history::record(
            &mut self.tx,
            school_id,
            run_id,
            &self.roster_changes,
            options.history_retention,
        )
        .await?;
        keep_rooms_of_leaving_teachers(&mut self.tx, school_id).await?;
        let specs = tables::roster_tables_specs();
        for spec in specs.iter().rev() {
            delete_removed(&mut self.tx, spec, school_id).await?;
        }
        for spec in specs {
            merge(&mut self.tx, spec, school_id, run_id).await?;
        }
        restore_rooms(&mut self.tx, school_id, run_id, options.room_retention).await?;
        delete_removed(&mut self.tx, &EXCLUSIONS, school_id).await?;
        merge(&mut self.tx, &EXCLUSIONS, school_id, run_id).await?;
        self.tx.commit().await?;
        Ok(ApplyOutcome { run_id })
    }
}

fn stage_name(spec: &TableSpec) -> String {
    format!("stage_{}", spec.name)
}

/// `t.a = s.a AND t.b = s.b` over the key columns.
fn key_match(spec: &TableSpec) -> String {
    spec.keys
        .iter()
        .map(|k| format!("t.{k} = s.{k}"))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// `ROW(t.x, t.y) IS DISTINCT FROM ROW(s.x, s.y)` over the value columns; `None` without any.
fn values_differ(spec: &TableSpec, other: &str) -> Option<String> {
    if spec.values.is_empty() {
        return None;
    }
    let side = |alias: &str| {
        spec.values
            .iter()
            .map(|v| format!("{alias}.{v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Some(format!(
        "ROW({}) IS DISTINCT FROM ROW({})",
        side("t"),
        side(other)
    ))
}

/// Loads the columns into a temporary table dropped at the end of the transaction.
async fn stage_table(
    conn: &mut PgConnection,
    spec: &TableSpec,
    columns: Vec<Column>,
) -> Result<(), StoreError> {
    let names: Vec<&str> = spec.all_columns().collect();
    debug_assert_eq!(names.len(), columns.len());
    let rows = columns.first().map_or(0, Column::len);
    debug_assert!(columns.iter().all(|c| c.len() == rows));
    let select: Vec<String> = names
        .iter()
        .map(
            |name| match spec.stage_casts.iter().find(|(column, _)| column == name) {
                Some((_, cast)) => format!("{cast} AS {name}"),
                None => (*name).to_owned(),
            },
        )
        .collect();
    let params: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("${}::{}", i + 1, c.array_type()))
        .collect();
    let sql = format!(
        "CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT {select} FROM UNNEST({params}) AS u({names})",
        stage = stage_name(spec),
        select = select.join(", "),
        params = params.join(", "),
        names = names.join(", "),
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for column in columns {
        query = match column {
            Column::Int(v) => query.bind(v),
            Column::Text(v) => query.bind(v),
            Column::Date(v) => query.bind(v),
            Column::Bool(v) => query.bind(v),
        };
    }
    query.execute(&mut *conn).await?;
    let sql = format!("ANALYZE {}", stage_name(spec));
    sqlx::query(AssertSqlSafe(sql)).execute(&mut *conn).await?;
    Ok(())
}

/// Counts, in one statement, what merging the staged rows would add, change and remove.
async fn count_changes(
    conn: &mut PgConnection,
    spec: &TableSpec,
    school_id: SchoolId,
) -> Result<TableChange, StoreError> {
    let table = spec.name;
    let stage = stage_name(spec);
    let keys = key_match(spec);
    let changed = match values_differ(spec, "s") {
        Some(differ) => format!(
            "(SELECT count(*) FROM {stage} s JOIN {table} t ON t.school_id = $1 AND {keys} WHERE {differ})"
        ),
        None => "0::bigint".to_owned(),
    };
    let sql = format!(
        "SELECT \
           (SELECT count(*) FROM {table} t WHERE t.school_id = $1), \
           (SELECT count(*) FROM {stage} s WHERE NOT EXISTS \
              (SELECT 1 FROM {table} t WHERE t.school_id = $1 AND {keys})), \
           {changed}, \
           (SELECT count(*) FROM {table} t WHERE t.school_id = $1 AND NOT EXISTS \
              (SELECT 1 FROM {stage} s WHERE {keys}))"
    );
    let (existing, added, changed, removed): (i64, i64, i64, i64) =
        sqlx::query_as(AssertSqlSafe(sql))
            .bind(school_id)
            .fetch_one(&mut *conn)
            .await?;
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(TableChange {
        table,
        existing: count(existing),
        added: count(added),
        changed: count(changed),
        removed: count(removed),
    })
}

async fn delete_removed(
    conn: &mut PgConnection,
    spec: &TableSpec,
    school_id: SchoolId,
) -> Result<(), StoreError> {
    let sql = format!(
        "DELETE FROM {table} t WHERE t.school_id = $1 AND NOT EXISTS \
           (SELECT 1 FROM {stage} s WHERE {keys})",
        table = spec.name,
        stage = stage_name(spec),
        keys = key_match(spec),
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(school_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Inserts new rows and updates changed ones; rows that are the same are not touched.
async fn merge(
    conn: &mut PgConnection,
    spec: &TableSpec,
    school_id: SchoolId,
    run_id: i64,
) -> Result<(), StoreError> {
    let run_column = spec.run_column;
    let columns: Vec<&str> = spec.all_columns().collect();
    let update = match values_differ(spec, "s") {
        Some(differ) => {
            let set: Vec<String> = spec.values.iter().map(|v| format!("{v} = s.{v}")).collect();
            format!(
                "WHEN MATCHED AND {differ} THEN UPDATE SET {set}, {run_column} = $2 ",
                set = set.join(", ")
            )
        }
        None => String::new(),
    };
    let sql = format!(
        "MERGE INTO {table} t USING {stage} s ON t.school_id = $1 AND {keys} \
         {update}\
         WHEN NOT MATCHED THEN INSERT (school_id, {columns}, {run_column}) \
           VALUES ($1, {values}, $2)",
        table = spec.name,
        stage = stage_name(spec),
        keys = key_match(spec),
        columns = columns.join(", "),
        values = columns
            .iter()
            .map(|c| format!("s.{c}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(school_id)
        .bind(run_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Before teachers leave the roster, their hand-set rooms are put aside.
async fn keep_rooms_of_leaving_teachers(
    conn: &mut PgConnection,
    school_id: SchoolId,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO retained_rooms (school_id, staff_id, room, left_at) \
         SELECT t.school_id, t.staff_id, t.room, now() FROM teachers t \
         WHERE t.school_id = $1 AND t.room IS NOT NULL \
           AND NOT EXISTS (SELECT 1 FROM stage_teachers s WHERE s.staff_id = t.staff_id) \
         ON CONFLICT (school_id, staff_id) DO UPDATE SET room = EXCLUDED.room, left_at = EXCLUDED.left_at",
    )
    .bind(school_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Teachers who came back within the retention get their room back; rooms past the retention,
/// and rooms now back in use, are let go.
async fn restore_rooms(
    conn: &mut PgConnection,
    school_id: SchoolId,
    run_id: i64,
    retention: Duration,
) -> Result<(), StoreError> {
    let retention_secs = i64::try_from(retention.as_secs()).unwrap_or(i64::MAX / 2);
    sqlx::query(
        "UPDATE teachers t SET room = r.room FROM retained_rooms r \
         WHERE t.school_id = $1 AND r.school_id = $1 AND r.staff_id = t.staff_id \
           AND t.changed_in_run = $2 AND t.room IS NULL \
           AND r.left_at >= now() - $3 * interval '1 second'",
    )
    .bind(school_id)
    .bind(run_id)
    .bind(retention_secs)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "DELETE FROM retained_rooms r WHERE r.school_id = $1 \
           AND (r.left_at < now() - $2 * interval '1 second' \
                OR EXISTS (SELECT 1 FROM teachers t WHERE t.school_id = $1 AND t.staff_id = r.staff_id))",
    )
    .bind(school_id)
    .bind(retention_secs)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
