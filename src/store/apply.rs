//! Writing one school's new roster as the difference against what it has, in one transaction.
//!
//! Three steps, so that the caller can look before it leaps and so that no network is awaited
//! while the transaction is open:
//! - [`prepare`] (no database) renders the decision as `COPY` text, one line a row;
//! - [`SchoolLock::stage`] opens the transaction on the lock's connection, reads the school's
//!   current rows with one `COPY ... TO STDOUT` a table and compares them with the new lines by
//!   key and bytes: what would be added, changed and removed, per table ([`TableDiff`], made in
//!   [`super::diff`]). A table
//!   whose fingerprint shows it holds exactly the new rows already is not read at all
//!   ([`super::fingerprint`]): an unchanged school costs two small statements;
//! - [`StagedRun::commit`] deletes what left, `COPY`s what is new straight into the table and
//!   updates what changed (through a temporary table holding only those rows), so unchanged
//!   rows are never touched; or [`StagedRun::abandon`] rolls everything back.
//!
//! Because the comparison is against the rows as they are, a row edited or deleted by hand is
//! found changed or missing and repaired by the next run (`teachers.room` is not compared:
//! it is the operator's).

use std::time::Duration;

use futures::TryStreamExt;
use sqlx::{AssertSqlSafe, Connection, PgConnection, Postgres, Transaction};

use super::StoreError;
use super::copy_text::Lines;
use super::diff::{StagedTable, TableChange, TableDiff};
use super::fingerprint;
use super::lock::SchoolLock;
use super::runs::{RunRecord, insert_run};
use super::tables::{self, EXCLUSIONS, TEACHERS, TableSpec};
use crate::roster::{Decision, Exclusions};
use crate::snapshot::SchoolId;

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

/// A decision rendered for the database, ready to be staged: built off the async workers.
pub struct PreparedRoster {
    tables: Vec<(&'static TableSpec, Lines)>,
}

/// Renders the decision's roster and exclusions as `COPY` rows (pure; no database).
pub fn prepare(decision: &Decision) -> PreparedRoster {
    let tables = tables::ROSTER_SPECS
        .into_iter()
        .chain([&EXCLUSIONS])
        .map(|spec| (spec, (spec.rows)(decision)))
        .collect();
    PreparedRoster { tables }
}

/// A school's new roster compared inside an open transaction, with what it would change.
pub struct StagedRun<'c> {
    tx: Transaction<'c, Postgres>,
    school_id: SchoolId,
    /// The nine roster tables in write order, then the exclusions.
    tables: Vec<StagedTable>,
    /// The control requests and approval the commit marks as served and used by this run.
    control: super::control::RunControl,
}

impl SchoolLock {
    /// Opens the run's transaction on the lock's connection, reads what the school has and
    /// compares it with `prepared`. Nothing is written until [`StagedRun::commit`]. A table
    /// last compared in full `full_compare_every` ago or longer is read whatever its
    /// fingerprint says.
    pub async fn stage(
        &mut self,
        prepared: PreparedRoster,
        full_compare_every: Duration,
    ) -> Result<StagedRun<'_>, StoreError> {
        let school_id = self.school_id();
        let mut tx = self.connection().begin().await?;
        fingerprint::mark_as_run(&mut tx).await?;
        let found = fingerprint::found(&mut tx, school_id, full_compare_every).await?;
        let mut staged = Vec::with_capacity(prepared.tables.len());
        for (spec, new) in prepared.tables {
            let digest = fingerprint::digest(&new);
            let found = found.get(spec.name);
            if let Some(rows) = found.and_then(|found| found.unchanged_rows(&digest)) {
                let existing = u64::try_from(rows).unwrap_or(0);
                staged.push(StagedTable::unchanged(spec, existing));
                continue;
            }
            let current = read_current(&mut tx, spec, school_id).await?;
            let to_record = found.map(|found| fingerprint::Recorded {
                digest,
                rows: new.len() as i64,
                edits: found.edits,
            });
            staged.push(StagedTable::compare(spec, new, to_record, current));
        }
        Ok(StagedRun {
            tx,
            school_id,
            tables: staged,
            control: super::control::RunControl::default(),
        })
    }
}

/// The school's rows of one table as `COPY` text, the columns in the spec's order.
async fn read_current(
    conn: &mut PgConnection,
    spec: &TableSpec,
    school_id: SchoolId,
) -> Result<Lines, StoreError> {
    let columns: Vec<&str> = spec.all_columns().collect();
    // COPY takes no parameters; the school ID is a number written by us.
    let sql = format!(
        "COPY (SELECT {} FROM {} WHERE school_id = {school_id}) TO STDOUT",
        columns.join(", "),
        spec.name
    );
    let chunks: Vec<bytes::Bytes> = conn.copy_out_raw(&sql).await?.try_collect().await?;
    Ok(Lines::from_copy_output(chunks.concat()))
}

impl StagedRun<'_> {
    /// Per roster table, in write order.
    pub fn roster_changes(&self) -> Vec<TableChange> {
        self.tables
            .iter()
            .filter(|t| t.spec.name != EXCLUSIONS.name)
            .map(StagedTable::change)
            .collect()
    }

    pub fn exclusion_change(&self) -> TableChange {
        self.tables
            .iter()
            .find(|t| t.spec.name == EXCLUSIONS.name)
            .map(StagedTable::change)
            .unwrap_or_default()
    }

    /// Row by row, per table (the nine roster tables in write order, then `exclusions`).
    pub fn diffs(&self) -> impl Iterator<Item = TableDiff<'_>> {
        self.tables.iter().map(TableDiff::of)
    }

    /// The tables whose rows were read back and compared one by one, in write order; the
    /// others were shown unchanged by their fingerprint.
    pub fn tables_read(&self) -> Vec<&'static str> {
        self.tables
            .iter()
            .filter(|t| t.read)
            .map(|t| t.spec.name)
            .collect()
    }

    /// Per roster table with removals, the removed rows' keys (key columns as `COPY` text,
    /// joined by a tab): what an approval of a refused run is held to.
    pub fn removed_keys(&self) -> Vec<(&'static str, Vec<String>)> {
        self.tables
            .iter()
            .filter(|t| t.spec.name != EXCLUSIONS.name && !t.removed.is_empty())
            .map(|t| {
                let count = t.spec.keys.len();
                let keys = t
                    .removed
                    .iter()
                    .map(|&i| {
                        String::from_utf8_lossy(super::copy_text::key_prefix(
                            t.current.line(i),
                            count,
                        ))
                        .into_owned()
                    })
                    .collect();
                (t.spec.name, keys)
            })
            .collect()
    }

    /// The control requests and approval [`StagedRun::commit`] marks as served and used by
    /// this run, in its transaction.
    pub fn serve(&mut self, control: super::control::RunControl) {
        self.control = control;
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
        exclusions: &Exclusions,
        options: ApplyOptions,
    ) -> Result<ApplyOutcome, StoreError> {
        let school_id = self.school_id;
        let run_id = insert_run(&mut *self.tx, record).await?;
        super::control::write_run_control(&mut self.tx, run_id, &self.control).await?;
        // Before any write, from the comparison with the rows as they are.
        let events = super::history::events(self.diffs(), exclusions);
        super::history::record(
            &mut self.tx,
            school_id,
            run_id,
            &events,
            options.history_retention,
        )
        .await?;
        if let Some(teachers) = self.tables.iter().find(|t| t.spec.name == TEACHERS.name) {
            keep_rooms_of_leaving_teachers(&mut self.tx, teachers, school_id).await?;
        }
        // Links before records when removing, records before links when adding, so that a
        // reader outside the transaction's view never sees a link without its records.
        for staged in self.tables.iter().rev() {
            delete_removed(&mut self.tx, staged, school_id).await?;
        }
        for staged in &self.tables {
            insert_added(&mut self.tx, staged, school_id, run_id).await?;
            update_changed(&mut self.tx, staged, school_id, run_id).await?;
            if staged.spec.name == TEACHERS.name {
                restore_rooms(&mut self.tx, school_id, run_id, options.room_retention).await?;
            }
        }
        let checked: Vec<(&'static str, fingerprint::Recorded)> = self
            .tables
            .iter_mut()
            .filter_map(|t| t.to_record.take().map(|recorded| (t.spec.name, recorded)))
            .collect();
        fingerprint::record(&mut self.tx, school_id, &checked).await?;
        self.tx.commit().await?;
        Ok(ApplyOutcome { run_id })
    }
}

async fn delete_removed(
    conn: &mut PgConnection,
    staged: &StagedTable,
    school_id: SchoolId,
) -> Result<(), StoreError> {
    if staged.removed.is_empty() {
        return Ok(());
    }
    let spec = staged.spec;
    let keys = spec.keys.join(", ");
    let arrays: Vec<String> = spec
        .key_types
        .iter()
        .enumerate()
        .map(|(i, ty)| format!("${}::text[]::{ty}[]", i + 2))
        .collect();
    let sql = format!(
        "DELETE FROM {table} WHERE school_id = $1 AND ({keys}) IN \
           (SELECT * FROM unnest({arrays}))",
        table = spec.name,
        arrays = arrays.join(", "),
    );
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(school_id);
    for column in staged.removed_keys() {
        query = query.bind(column);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

/// How many bytes of rows are gathered before they are sent on a `COPY`.
const COPY_CHUNK_BYTES: usize = 1 << 20;

/// `COPY`s the chosen new rows into `table`, with the school and the run around each line.
async fn copy_rows(
    conn: &mut PgConnection,
    table: &str,
    staged: &StagedTable,
    rows: impl Iterator<Item = usize>,
    school_id: SchoolId,
    run_id: i64,
) -> Result<(), StoreError> {
    let spec = staged.spec;
    let columns: Vec<&str> = spec.all_columns().collect();
    let sql = format!(
        "COPY {table} (school_id, {}, {}) FROM STDIN",
        columns.join(", "),
        spec.run_column
    );
    let (prefix, suffix) = (format!("{school_id}\t"), format!("\t{run_id}\n"));
    let mut copy = conn.copy_in_raw(&sql).await?;
    let mut chunk = Vec::with_capacity(COPY_CHUNK_BYTES + 4096);
    for index in rows {
        chunk.extend_from_slice(prefix.as_bytes());
        chunk.extend_from_slice(staged.new.line(index));
        chunk.extend_from_slice(suffix.as_bytes());
        if chunk.len() >= COPY_CHUNK_BYTES {
            copy.send(chunk.as_slice()).await?;
            chunk.clear();
        }
    }
    if !chunk.is_empty() {
        copy.send(chunk.as_slice()).await?;
    }
    copy.finish().await?;
    Ok(())
}

async fn insert_added(
    conn: &mut PgConnection,
    staged: &StagedTable,
    school_id: SchoolId,
    run_id: i64,
) -> Result<(), StoreError> {
    if staged.added.is_empty() {
        return Ok(());
    }
    let rows = staged.added.iter().copied();
    copy_rows(conn, staged.spec.name, staged, rows, school_id, run_id).await
}

/// Changed rows go through a temporary table holding only them, then one `UPDATE` a table.
async fn update_changed(
    conn: &mut PgConnection,
    staged: &StagedTable,
    school_id: SchoolId,
    run_id: i64,
) -> Result<(), StoreError> {
    let spec = staged.spec;
    if staged.changed.is_empty() || spec.values.is_empty() {
        return Ok(());
    }
    let stage = format!("bromsync_changed_{}", spec.name);
    let sql = format!(
        "CREATE TEMP TABLE {stage} (LIKE {}) ON COMMIT DROP",
        spec.name
    );
    sqlx::query(AssertSqlSafe(sql)).execute(&mut *conn).await?;
    let rows = staged.changed.iter().map(|&(new, _)| new);
    copy_rows(conn, &stage, staged, rows, school_id, run_id).await?;
    let set: Vec<String> = spec
        .values
        .iter()
        .chain([&spec.run_column])
        .map(|v| format!("{v} = s.{v}"))
        .collect();
    let keys: Vec<String> = spec.keys.iter().map(|k| format!("t.{k} = s.{k}")).collect();
    let sql = format!(
        "UPDATE {table} t SET {set} FROM {stage} s WHERE t.school_id = $1 AND {keys}",
        table = spec.name,
        set = set.join(", "),
        keys = keys.join(" AND "),
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(school_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Before teachers leave the roster, their hand-set rooms are put aside.
async fn keep_rooms_of_leaving_teachers(
    conn: &mut PgConnection,
    teachers: &StagedTable,
    school_id: SchoolId,
) -> Result<(), StoreError> {
    if teachers.removed.is_empty() {
        return Ok(());
    }
    let staff_ids = teachers.removed_keys().swap_remove(0);
    sqlx::query!(
        "INSERT INTO retained_rooms (school_id, staff_id, room, left_at) \
         SELECT t.school_id, t.staff_id, t.room, now() FROM teachers t \
         WHERE t.school_id = $1 AND t.room IS NOT NULL AND t.staff_id = ANY($2::text[]::bigint[]) \
         ON CONFLICT (school_id, staff_id) DO UPDATE SET room = EXCLUDED.room, left_at = EXCLUDED.left_at",
        school_id,
        &staff_ids,
    )
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
    sqlx::query!(
        "UPDATE teachers t SET room = r.room FROM retained_rooms r \
         WHERE t.school_id = $1 AND r.school_id = $1 AND r.staff_id = t.staff_id \
           AND t.changed_in_run = $2 AND t.room IS NULL \
           AND r.left_at >= now() - $3::bigint * interval '1 second'",
        school_id,
        run_id,
        retention_secs,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "DELETE FROM retained_rooms r WHERE r.school_id = $1 \
           AND (r.left_at < now() - $2::bigint * interval '1 second' \
                OR EXISTS (SELECT 1 FROM teachers t WHERE t.school_id = $1 AND t.staff_id = r.staff_id))",
        school_id,
        retention_secs,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
