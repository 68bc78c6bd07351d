//! Reading each record entity (Students, Staff, Contacts, Collections) into a table keyed by ID,
//! judging the two faults that docs/eligibility.md's "Bad and odd input" names for records: rows that
//! could not be read (`invalid_record`, or `text_too_long` for a field over its length limit)
//! and one ID with differing rows (`duplicate_id`).
//!
//! Identical rows (after cleaning) count once. Where an ID has a bad row, or rows that differ,
//! the record is unreadable: we never pick one row, so none of its own rules are judged.

use std::collections::BTreeMap;

use super::reasons::ReasonSet;
use crate::roster::Reason;

/// Every row seen for one ID of one entity.
#[derive(Debug)]
pub(super) struct Entry<T> {
    pub(super) id: i64,
    /// The cleaned readable rows with this ID, identical ones included.
    pub(super) rows: Vec<T>,
    /// Readable rows that differ from each other.
    pub(super) conflicting: bool,
    /// Fields named by bad rows with this ID, sorted, without repeats.
    pub(super) invalid_fields: Vec<String>,
}

impl<T> Entry<T> {
    /// The one row this ID stands for, when there is exactly one story to tell.
    pub(super) fn readable(&self) -> Option<&T> {
        if self.invalid_fields.is_empty() && !self.conflicting {
            self.rows.first()
        } else {
            None
        }
    }

    pub(super) fn intake_reasons(&self) -> ReasonSet {
        let mut reasons = ReasonSet::default();
        let too_long = |field: &String| crate::roster::too_long_field(field).is_some();
        reasons.add_if(
            self.invalid_fields.iter().any(|f| !too_long(f)),
            Reason::InvalidRecord,
        );
        reasons.add_if(
            self.invalid_fields.iter().any(too_long),
            Reason::TextTooLong,
        );
        reasons.add_if(self.conflicting, Reason::DuplicateId);
        reasons
    }
}

/// One entity's records, sorted by ID; a record's position is its dense index everywhere else.
#[derive(Debug)]
pub(super) struct Table<T> {
    pub(super) entries: Vec<Entry<T>>,
    index: IdIndex,
}

/// ID -> dense index, open addressing with a fixed multiplicative hash: membership rows look
/// IDs up about two million times in a large school, and a binary search there cost a fifth
/// of the whole decision. No random state, so nothing about it varies between runs.
#[derive(Debug)]
struct IdIndex {
    slots: Vec<Option<(i64, u32)>>,
    shift: u32,
}

impl IdIndex {
    fn build(ids: impl ExactSizeIterator<Item = i64>) -> IdIndex {
        let capacity = (ids.len() * 2).next_power_of_two().max(2);
        let mut index = IdIndex {
            slots: vec![None; capacity],
            shift: 64 - capacity.trailing_zeros(),
        };
        for (position, id) in ids.enumerate() {
            let mut slot = index.home(id);
            while index.slots[slot].is_some() {
                slot = (slot + 1) & (index.slots.len() - 1);
            }
            // Tables hold fewer than 2^32 records: they come from one school's rows.
            index.slots[slot] = Some((id, position as u32));
        }
        index
    }

    fn home(&self, id: i64) -> usize {
        ((id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    fn get(&self, id: i64) -> Option<u32> {
        let mut slot = self.home(id);
        loop {
            match self.slots[slot] {
                Some((found, position)) if found == id => return Some(position),
                Some(_) => slot = (slot + 1) & (self.slots.len() - 1),
                None => return None,
            }
        }
    }
}

impl<T> Table<T> {
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The dense index of an ID that exists in this entity (readable or not).
    pub(super) fn index_of(&self, id: i64) -> Option<u32> {
        self.index.get(id)
    }

    pub(super) fn entry(&self, index: u32) -> &Entry<T> {
        &self.entries[index as usize]
    }
}

/// Builds a table from cleaned rows and the fields of this entity's bad rows by ID.
pub(super) fn build_table<T: PartialEq>(
    rows: Vec<T>,
    id_of: impl Fn(&T) -> i64,
    mut bad_fields: BTreeMap<i64, Vec<String>>,
) -> Table<T> {
    let mut keyed: Vec<(i64, T)> = rows.into_iter().map(|row| (id_of(&row), row)).collect();
    // Stable order within an ID is not needed: a conflict is judged over all rows alike.
    keyed.sort_unstable_by_key(|(id, _)| *id);

    let mut entries: Vec<Entry<T>> = Vec::with_capacity(keyed.len());
    for (id, row) in keyed {
        match entries.last_mut() {
            Some(last) if last.id == id => {
                if last.rows.first().is_some_and(|first| *first != row) {
                    last.conflicting = true;
                }
                last.rows.push(row);
            }
            _ => entries.push(Entry {
                id,
                rows: vec![row],
                conflicting: false,
                invalid_fields: bad_fields.remove(&id).unwrap_or_default(),
            }),
        }
    }
    // Bad rows whose ID has no readable row still name a record that exists.
    if !bad_fields.is_empty() {
        entries.extend(bad_fields.into_iter().map(|(id, invalid_fields)| Entry {
            id,
            rows: Vec::new(),
            conflicting: false,
            invalid_fields,
        }));
        entries.sort_unstable_by_key(|entry| entry.id);
    }
    for entry in &mut entries {
        entry.invalid_fields.sort_unstable();
        entry.invalid_fields.dedup();
    }
    let index = IdIndex::build(entries.iter().map(|entry| entry.id));
    Table { entries, index }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_rows_count_once_and_differing_rows_conflict() {
        let rows = vec![(2, "b"), (1, "a"), (2, "b"), (3, "c"), (3, "C")];
        let table = build_table(rows, |row| row.0, BTreeMap::new());
        let ids: Vec<i64> = table.entries.iter().map(|entry| entry.id).collect();
        assert_eq!(ids, vec![1, 2, 3]);
        assert_eq!(table.entry(1).readable(), Some(&(2, "b")));
        assert_eq!(table.entry(2).readable(), None);
        assert_eq!(
            table.entry(2).intake_reasons().to_vec(),
            vec![Reason::DuplicateId]
        );
    }

    #[test]
    fn bad_rows_make_their_id_unreadable_and_can_stand_alone() {
        let mut bad = BTreeMap::new();
        bad.insert(
            1,
            vec![
                "startDate".to_owned(),
                "dateOfBirth".to_owned(),
                "startDate".to_owned(),
            ],
        );
        bad.insert(9, vec!["studentID".to_owned()]);
        let table = build_table(vec![(1, "a"), (5, "e")], |row| row.0, bad);
        assert_eq!(table.len(), 3);
        let one = table.entry(0);
        assert_eq!(
            one.readable(),
            None,
            "never guess which row of ID 1 is right"
        );
        assert_eq!(one.invalid_fields, vec!["dateOfBirth", "startDate"]);
        assert_eq!(table.index_of(9), Some(2));
        assert_eq!(
            table.entry(2).intake_reasons().to_vec(),
            vec![Reason::InvalidRecord]
        );
        assert_eq!(table.index_of(4), None);
    }

    #[test]
    fn the_id_index_finds_every_id_and_nothing_else() {
        let ids: Vec<i64> = (0..1000)
            .map(|n| n * 7919 - 3000)
            .chain([i64::MIN, i64::MAX])
            .collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        let table = build_table(sorted.clone(), |id| *id, BTreeMap::new());
        for (position, id) in sorted.iter().enumerate() {
            assert_eq!(table.index_of(*id), Some(position as u32));
        }
        assert_eq!(table.index_of(1), None);
        assert_eq!(table.index_of(-2999), None);
        let empty = build_table(Vec::<i64>::new(), |id| *id, BTreeMap::new());
        assert_eq!(empty.index_of(0), None);
    }

    /// Bromcom's IDs come mostly in runs; the hash spreads a run so that nearly every ID is
    /// found at its first probe. Every lookup would still succeed with all IDs hashed to one
    /// slot, only each would walk the table: this is the test that sees it.
    #[test]
    fn the_id_index_finds_runs_of_ids_at_their_first_probe() {
        let ids: Vec<i64> = (0..5000).map(|n| 1_000_000 + n).collect();
        let index = IdIndex::build(ids.clone().into_iter());
        let at_home = ids
            .iter()
            .filter(|&&id| index.slots[index.home(id)].is_some_and(|(found, _)| found == id))
            .count();
        assert!(at_home * 10 >= ids.len() * 9, "{at_home} of {}", ids.len());
    }

    /// Linear probing stays short only while the table is at most half full; a fuller one
    /// still finds every ID, so only this test sees the difference.
    #[test]
    fn the_id_index_keeps_at_least_half_its_slots_empty() {
        for len in 0..=300_usize {
            let ids: Vec<i64> = (0..len as i64).map(|n| n * 13).collect();
            let index = IdIndex::build(ids.into_iter());
            let slots = index.slots.len();
            assert!(slots.is_power_of_two(), "{len} ids: {slots} slots");
            assert!(slots >= 2 * len, "{len} ids: {slots} slots");
            assert_eq!(
                index.slots.iter().filter(|slot| slot.is_some()).count(),
                len
            );
        }
    }
}
