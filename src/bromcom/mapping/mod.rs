//! Reading Bromcom rows into the typed [`Snapshot`](crate::snapshot::Snapshot), in two halves
//! on either side of one seam:
//!
//! - the column contract (`columns.rs`): every Bromcom column name bromsync reads, which of them
//!   each entity reads, and the longest text each may hold. When a real partner account confirms
//!   or corrects a name, that file alone changes;
//! - the decoding engine, which spells no column name of its own: one JSON value as the readers
//!   see it and what it reads as (`field.rs`: IDs, text, dates, flags, the cap on a string's
//!   size), and one row read as it is parsed into its typed row or a bad row (`row.rs`: key
//!   matching, the page's memo of keys, each entity's reader).
//!
//! Rows are read straight from the page's JSON text as it is parsed ([`RowSeed`]): each key is
//! matched against the entity's columns, unknown columns are skipped unread, and strings without
//! escapes are borrowed from the page, so no tree of JSON values is ever built.
//!
//! Reading rules (the contract's "Rows" section): keys match case-insensitively (the exact
//! spelling wins when a row has two); strings go through [`crate::text::clean`]; IDs are JSON
//! integers or numeric strings; dates are `yyyy-MM-ddTHH:mm:ss` or `yyyy-MM-dd`; yes/no flags
//! are booleans or Yes/No, True/False, Y/N, 1/0 in any case. A row that cannot be read becomes a
//! [`BadRow`](crate::snapshot::BadRow) naming the field and the problem, never the value (it may
//! be personal data), and never fails the school.

mod columns;
mod field;
mod row;
#[cfg(test)]
mod tests;

pub use columns::{TEXT_TOO_LONG, text_limit};
pub(super) use field::{Field, Skip};
pub(super) use row::{KeyMemo, RowSeed};
