//! The staged difference: one table's new rows beside the school's current rows, compared by
//! key and bytes ([`StagedTable`]), and what that comparison shows: counts ([`TableChange`])
//! and, row by row, what would be added, changed and removed ([`TableDiff`]). `apply` stages
//! and writes it; `history` turns it into events. Both import it, neither the other.

use std::collections::HashMap;

use super::copy_text::{self, Lines};
use super::fingerprint;
use super::tables::TableSpec;

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

/// One table's new rows, its current rows and how they differ.
pub(super) struct StagedTable {
    pub(super) spec: &'static TableSpec,
    pub(super) new: Lines,
    pub(super) current: Lines,
    /// Rows the school has in the table before the run.
    pub(super) existing: u64,
    /// Whether the table was read back and compared row by row; not when its fingerprint
    /// showed it holds exactly the new rows already (and nothing changes).
    pub(super) read: bool,
    /// The fingerprint to record once the run has written the table; `None` when it was not
    /// read, or has no edit count.
    pub(super) to_record: Option<fingerprint::Recorded>,
    /// Indexes into `new`.
    pub(super) added: Vec<usize>,
    /// (index into `new`, index into `current`) of rows whose values differ.
    pub(super) changed: Vec<(usize, usize)>,
    /// Indexes into `current`.
    pub(super) removed: Vec<usize>,
}

impl StagedTable {
    /// A table the fingerprint shows to hold exactly the new rows already: nothing to do.
    pub(super) fn unchanged(spec: &'static TableSpec, existing: u64) -> StagedTable {
        StagedTable {
            spec,
            new: Lines::default(),
            current: Lines::default(),
            existing,
            read: false,
            to_record: None,
            added: Vec::new(),
            changed: Vec::new(),
            removed: Vec::new(),
        }
    }

    pub(super) fn compare(
        spec: &'static TableSpec,
        new: Lines,
        to_record: Option<fingerprint::Recorded>,
        current: Lines,
    ) -> StagedTable {
        let key_count = spec.keys.len();
        let mut by_key: HashMap<&[u8], usize> = HashMap::with_capacity(current.len());
        for (index, line) in current.iter().enumerate() {
            by_key.insert(copy_text::key_prefix(line, key_count), index);
        }
        let mut added = Vec::new();
        let mut changed = Vec::new();
        for (index, line) in new.iter().enumerate() {
            match by_key.remove(copy_text::key_prefix(line, key_count)) {
                None => added.push(index),
                Some(old) if current.line(old) != line => changed.push((index, old)),
                Some(_) => {}
            }
        }
        let mut removed: Vec<usize> = by_key.into_values().collect();
        removed.sort_unstable();
        StagedTable {
            spec,
            new,
            existing: current.len() as u64,
            current,
            read: true,
            to_record,
            added,
            changed,
            removed,
        }
    }

    pub(super) fn change(&self) -> TableChange {
        TableChange {
            table: self.spec.name,
            existing: self.existing,
            added: self.added.len() as u64,
            changed: self.changed.len() as u64,
            removed: self.removed.len() as u64,
        }
    }

    /// Key columns of the removed rows, one text array per key column.
    pub(super) fn removed_keys(&self) -> Vec<Vec<String>> {
        let mut columns = vec![Vec::with_capacity(self.removed.len()); self.spec.keys.len()];
        for &index in &self.removed {
            let fields = copy_text::fields(self.current.line(index));
            for (column, field) in columns.iter_mut().zip(fields) {
                column.push(copy_text::unescape(field).unwrap_or_default());
            }
        }
        columns
    }
}

/// A row whose values differ: its first key column (the record's ID, in a link table its
/// owner's) and the names of the columns that differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedRow {
    pub id: i64,
    pub columns: Vec<&'static str>,
}

/// What a staged run would add, change and remove in one table, row by row (for history).
pub struct TableDiff<'a> {
    staged: &'a StagedTable,
}

impl<'a> TableDiff<'a> {
    pub(super) fn of(staged: &'a StagedTable) -> TableDiff<'a> {
        TableDiff { staged }
    }
}

impl TableDiff<'_> {
    pub fn table(&self) -> &'static str {
        self.staged.spec.name
    }

    /// The first key column of each added row: the record's ID (in a link table, its owner's).
    /// Read straight from the line: a first sync adds every membership, and building each
    /// one's whole key as strings only to read this was most of the history's cost.
    pub fn added_ids(&self) -> impl Iterator<Item = i64> + '_ {
        let s = self.staged;
        s.added.iter().filter_map(|&i| first_id(s.new.line(i)))
    }

    /// As [`TableDiff::added_ids`], for the removed rows.
    pub fn removed_ids(&self) -> impl Iterator<Item = i64> + '_ {
        let s = self.staged;
        s.removed
            .iter()
            .filter_map(|&i| first_id(s.current.line(i)))
    }

    pub fn changed(&self) -> impl Iterator<Item = ChangedRow> + '_ {
        let s = self.staged;
        s.changed.iter().filter_map(|&(new, old)| {
            let (new, old) = (s.new.line(new), s.current.line(old));
            let columns = s
                .spec
                .all_columns()
                .zip(copy_text::fields(new).zip(copy_text::fields(old)))
                .filter(|(_, (a, b))| a != b)
                .map(|(name, _)| name)
                .collect();
            Some(ChangedRow {
                id: first_id(new)?,
                columns,
            })
        })
    }
}

/// A line's first field as an ID; key columns are bigints, written without escapes.
fn first_id(line: &[u8]) -> Option<i64> {
    let field = copy_text::fields(line).next()?;
    std::str::from_utf8(field).ok()?.parse().ok()
}
