//! The cheap comparison that lets an unchanged table go unread. A run compares its new rows
//! with the rows a table holds; most nights nothing changed, and reading a school's whole roster
//! back just to find that out was the largest part of a run that writes nothing.
//!
//! So each committed run records, per table it checked in full, two things in its own
//! transaction: a digest of the rows it left ([`digest`]), and a fingerprint of the row versions
//! Postgres then held for the school (their count and a hash of each one's `xmin`, the
//! transaction that wrote it). A later run whose new rows have the same digest, and which finds
//! the same fingerprint, knows the table already holds exactly those rows and need not read it.
//!
//! Any other writer shows: whoever inserts, updates or deletes a row by hand makes a row
//! version with another `xmin`, or changes the count, so the fingerprint differs and the table
//! is read and repaired as before. (An operator's `teachers.room` edit does too; the table is
//! then read once, nothing is written, and the new fingerprint is recorded.) Row versions keep
//! their `xmin` through freezing; a rewrite that keeps the rows only costs one full read.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hasher};

use sqlx::{AssertSqlSafe, PgConnection};

use super::StoreError;
use super::copy_text::Lines;
use crate::snapshot::SchoolId;

/// What the last run that checked a table left in it, and how Postgres held it then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Recorded {
    pub digest: Vec<u8>,
    pub rows: RowVersions,
}

/// A school's row versions in one table: how many, and the sum of a 64-bit hash of each
/// one's `xmin` (as text: Postgres sums into a numeric).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(super) struct RowVersions {
    pub count: i64,
    pub xmin_hash_sum: String,
}

/// 128 bits over the rows as the run renders them, in order. Two SipHash passes with different
/// prefixes: a table whose rows changed must not pass for unchanged by a collision. Should a
/// Rust release change `DefaultHasher`, every digest differs once: one full read, no harm.
pub(super) fn digest(lines: &Lines) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    for pass in [b'a', b'b'] {
        let mut hasher = DefaultHasher::new();
        hasher.write_u8(pass);
        hasher.write(lines.as_bytes());
        out.extend_from_slice(&hasher.finish().to_le_bytes());
    }
    out
}

/// The school's row versions in each of `tables`, in one statement.
pub(super) async fn row_versions(
    conn: &mut PgConnection,
    school_id: SchoolId,
    tables: &[&'static str],
) -> Result<HashMap<String, RowVersions>, StoreError> {
    if tables.is_empty() {
        return Ok(HashMap::new());
    }
    // Table names are ours; the school ID is a bound parameter.
    let sql = tables
        .iter()
        .map(|table| {
            format!(
                "SELECT '{table}' AS name, count(*) AS count, \
                 coalesce(sum(hashint8extended(xmin::text::bigint, 0)), 0)::text AS xmin_hash_sum \
                 FROM {table} WHERE school_id = $1"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let rows: Vec<(String, i64, String)> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(school_id)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(name, count, xmin_hash_sum)| {
            (
                name,
                RowVersions {
                    count,
                    xmin_hash_sum,
                },
            )
        })
        .collect())
}

/// What the last runs recorded for the school's tables.
pub(super) async fn recorded(
    conn: &mut PgConnection,
    school_id: SchoolId,
) -> Result<HashMap<String, Recorded>, StoreError> {
    let rows: Vec<(String, Vec<u8>, i64, String)> = sqlx::query_as(
        "SELECT table_name, digest, row_count, xmin_hash_sum FROM roster_fingerprints \
         WHERE school_id = $1",
    )
    .bind(school_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(table, digest, count, xmin_hash_sum)| {
            let rows = RowVersions {
                count,
                xmin_hash_sum,
            };
            (table, Recorded { digest, rows })
        })
        .collect())
}

/// Records, in the run's transaction once everything is written, what `tables` now hold: the
/// digest of the rows the run left in each, and their row versions.
pub(super) async fn record(
    conn: &mut PgConnection,
    school_id: SchoolId,
    tables: &[(&'static str, Vec<u8>)],
) -> Result<(), StoreError> {
    if tables.is_empty() {
        return Ok(());
    }
    let names: Vec<&'static str> = tables.iter().map(|(name, _)| *name).collect();
    let versions = row_versions(conn, school_id, &names).await?;
    let (mut table_names, mut digests, mut counts, mut sums) = (vec![], vec![], vec![], vec![]);
    for (name, digest) in tables {
        if let Some(rows) = versions.get(*name) {
            table_names.push(*name);
            digests.push(digest.as_slice());
            counts.push(rows.count);
            sums.push(rows.xmin_hash_sum.as_str());
        }
    }
    sqlx::query(
        "INSERT INTO roster_fingerprints \
           (school_id, table_name, digest, row_count, xmin_hash_sum) \
         SELECT $1, t.* FROM unnest($2::text[], $3::bytea[], $4::bigint[], $5::text[]) AS t \
         ON CONFLICT (school_id, table_name) DO UPDATE SET digest = EXCLUDED.digest, \
           row_count = EXCLUDED.row_count, xmin_hash_sum = EXCLUDED.xmin_hash_sum",
    )
    .bind(school_id)
    .bind(table_names)
    .bind(digests)
    .bind(counts)
    .bind(sums)
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
