//! The cheap comparison that lets an unchanged table go unread. A run compares its new rows
//! with the rows a table holds; most nights nothing changed, and reading a school's whole roster
//! back just to find that out was the largest part of a run that writes nothing.
//!
//! So each committed run records, per table it checked in full, in its own transaction: a
//! digest of the rows it left ([`digest`]), their count, and the table's edit count as the run
//! found it before comparing. The edit count (migration `roster_edit_counts`) is raised, in the
//! writer's own transaction, by every statement that writes the table and is not a sync run's:
//! a hand edit, insert, delete or truncate (an UPDATE of `teachers.room` alone excepted: the
//! room is the operator's). A later run whose new rows have the same digest, and which finds
//! the same edit count, knows the table still holds exactly those rows and need not read it.
//!
//! The count is read before the comparison and recorded as read, so an edit committed while a
//! run goes on is never taken for one it has seen: the next run finds a higher count and
//! compares in full. A run marks its own transaction ([`mark_as_run`]) so that its writes, and
//! other schools' runs' writes, do not count.
//!
//! The count cannot be trusted alone: any role that may write roster rows may also mark its
//! transaction as a run's, and rows loaded with the triggers disabled are not counted. So a
//! table goes unread only while its last full comparison (recorded with the fingerprint, by the
//! database's clock) is younger than `sync.full_compare_every_hours`; past that, whatever the
//! count says, the run reads the table and repairs what it finds.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::PgConnection;

use super::StoreError;
use super::copy_text::Lines;
use crate::snapshot::SchoolId;

/// One table as a run finds it before comparing: its edit count now, what the last run that
/// checked it for the school recorded, and whether that full comparison is recent enough to
/// go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Found {
    pub edits: i64,
    pub recorded: Option<Recorded>,
    /// The last full comparison is younger than the configured interval.
    pub compared_recently: bool,
}

/// What the last run that checked a table recorded of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Recorded {
    pub digest: Vec<u8>,
    pub rows: i64,
    pub edits: i64,
}

impl Found {
    /// The table holds exactly the rows of `digest` (and how many), unread.
    pub(super) fn unchanged_rows(&self, digest: &[u8]) -> Option<i64> {
        if !self.compared_recently {
            return None;
        }
        self.recorded
            .as_ref()
            .filter(|last| last.digest == digest && last.edits == self.edits)
            .map(|last| last.rows)
    }
}

/// 128 bits (XXH3) over the rows as the run renders them, in order: a table whose rows changed
/// must not pass for unchanged by a collision. One pass at memory speed (the two SipHash passes
/// it replaces were 3% of a 25,000-student run). Should the function ever change, every digest
/// differs once: one full read, no harm.
pub(super) fn digest(lines: &Lines) -> Vec<u8> {
    xxhash_rust::xxh3::xxh3_128(lines.as_bytes())
        .to_le_bytes()
        .to_vec()
}

/// Marks the open transaction as a sync run's: its writes raise no edit count.
pub(super) async fn mark_as_run(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT set_config('bromsync.run', 'on', true)")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// One row of [`found`]'s query.
struct FoundRow {
    table_name: String,
    edits: i64,
    digest: Option<Vec<u8>>,
    row_count: Option<i64>,
    recorded_edits: Option<i64>,
    compared_recently: bool,
}

/// Every counted table's edit count, with what the school's last runs recorded of it and
/// whether its last full comparison is younger than `full_compare_every`; a table missing here
/// has no count and is always compared in full.
pub(super) async fn found(
    conn: &mut PgConnection,
    school_id: SchoolId,
    full_compare_every: Duration,
) -> Result<HashMap<String, Found>, StoreError> {
    // Zero seconds: no earlier comparison is younger than the transaction's now().
    let seconds = i64::try_from(full_compare_every.as_secs()).unwrap_or(i64::MAX);
    let rows = sqlx::query_as!(
        FoundRow,
        "SELECT e.table_name, e.edits, f.digest AS \"digest?\", f.row_count AS \"row_count?\", \
                f.edits AS \"recorded_edits?\", \
                coalesce(f.compared_at > now() - make_interval(secs => $2::bigint::double precision), \
                         false) AS \"compared_recently!\" \
           FROM roster_edits e \
           LEFT JOIN roster_fingerprints f \
             ON f.school_id = $1 AND f.table_name = e.table_name",
        school_id,
        seconds,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let recorded = match (row.digest, row.row_count, row.recorded_edits) {
                (Some(digest), Some(rows), Some(edits)) => Some(Recorded {
                    digest,
                    rows,
                    edits,
                }),
                _ => None,
            };
            let found = Found {
                edits: row.edits,
                recorded,
                compared_recently: row.compared_recently,
            };
            (row.table_name, found)
        })
        .collect())
}

/// Records, in the run's transaction, what the run left in each of `tables`: the digest and
/// count of its rows, the edit count found before comparing, and that it compared them in full
/// now (the transaction's start, by the database's clock).
pub(super) async fn record(
    conn: &mut PgConnection,
    school_id: SchoolId,
    tables: &[(&'static str, Recorded)],
) -> Result<(), StoreError> {
    if tables.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = tables.iter().map(|(name, _)| *name).collect();
    let digests: Vec<&[u8]> = tables.iter().map(|(_, r)| r.digest.as_slice()).collect();
    let rows: Vec<i64> = tables.iter().map(|(_, r)| r.rows).collect();
    let edits: Vec<i64> = tables.iter().map(|(_, r)| r.edits).collect();
    sqlx::query!(
        "INSERT INTO roster_fingerprints \
           (school_id, table_name, digest, row_count, edits, compared_at) \
         SELECT $1, t.*, now() \
           FROM unnest($2::text[], $3::bytea[], $4::bigint[], $5::bigint[]) AS t \
         ON CONFLICT (school_id, table_name) DO UPDATE SET digest = EXCLUDED.digest, \
           row_count = EXCLUDED.row_count, edits = EXCLUDED.edits, \
           compared_at = EXCLUDED.compared_at",
        school_id,
        &names as &[&str],
        &digests as &[&[u8]],
        &rows,
        &edits,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(rows: &[&str]) -> Lines {
        let mut lines = Lines::default();
        for row in rows {
            lines.row().text(row);
        }
        lines
    }

    #[test]
    fn a_table_goes_unread_only_with_the_same_rows_and_no_edit_since() {
        let digest = vec![1; 16];
        let found = |edits, recorded: Option<(Vec<u8>, i64)>| Found {
            edits,
            recorded: recorded.map(|(digest, edits)| Recorded {
                digest,
                rows: 12,
                edits,
            }),
            compared_recently: true,
        };
        assert_eq!(
            found(3, Some((digest.clone(), 3))).unchanged_rows(&digest),
            Some(12)
        );
        assert_eq!(
            found(4, Some((digest.clone(), 3))).unchanged_rows(&digest),
            None
        );
        assert_eq!(
            found(3, Some((vec![2; 16], 3))).unchanged_rows(&digest),
            None
        );
        assert_eq!(found(3, None).unchanged_rows(&digest), None);
    }

    #[test]
    fn a_table_not_compared_in_full_lately_is_read_whatever_its_fingerprint() {
        let digest = vec![1; 16];
        let found = |compared_recently| Found {
            edits: 3,
            recorded: Some(Recorded {
                digest: digest.clone(),
                rows: 12,
                edits: 3,
            }),
            compared_recently,
        };
        assert_eq!(found(true).unchanged_rows(&digest), Some(12));
        assert_eq!(found(false).unchanged_rows(&digest), None);
    }

    #[test]
    fn the_digest_follows_every_byte_and_the_order_of_rows() {
        let base = digest(&lines(&["a", "b"]));
        assert_eq!(base.len(), 16);
        assert_eq!(base, digest(&lines(&["a", "b"])));
        assert_ne!(base, digest(&lines(&["b", "a"])));
        assert_ne!(base, digest(&lines(&["a", "c"])));
        assert_ne!(base, digest(&lines(&["ab"])));
        assert_ne!(base, digest(&lines(&["a", "b", ""])));
    }
}
