//! Contacts' links to children (StudentContacts) and their emails and phones.
//!
//! Link rows repeating a (contact, student) pair are one link. The link passes its own rule if
//! any of its rows does (Mother, Father, or parental responsibility); what is stored comes from
//! a qualifying row, chosen so the answer never depends on row order: a row with parental
//! responsibility first, then the alphabetically first relationship text.
//!
//! Emails and PersonTelephones also hold staff and students' rows; rows whose `personID` is not
//! a contact are ignored without counting, since they are not errors. Empty values are ignored.

use super::Dropped;
use super::cleaning;
use super::intake::Table;
use super::rules::link_row_qualifies;
use crate::roster::Reason;
use crate::snapshot::{Contact, ContactDetail, EntityKind, Student, StudentContact};

/// What a link that passes its own rule stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StoredLink {
    pub(super) relationship: String,
    pub(super) parental_responsibility: bool,
}

/// One (contact, student) link whose ends both exist, by dense index.
#[derive(Debug)]
pub(super) struct Link {
    pub(super) contact: u32,
    pub(super) student: u32,
    /// `None` when no row of the link qualifies (`no_parental_responsibility`).
    pub(super) stored: Option<StoredLink>,
}

/// Links sorted by (contact, student); those with a missing end are dropped and counted.
pub(super) fn read_links(
    rows: &[StudentContact],
    contacts: &Table<Contact>,
    students: &Table<Student>,
    dropped: &mut Dropped,
) -> Vec<Link> {
    let mut cleaned: Vec<StudentContact> = rows.iter().map(cleaning::student_contact).collect();
    cleaned.sort_unstable_by_key(|row| (row.person_id, row.student_id));

    let mut links = Vec::new();
    for pair in cleaned.chunk_by(|a, b| (a.person_id, a.student_id) == (b.person_id, b.student_id))
    {
        let Some(first) = pair.first() else { continue };
        let contact = contacts.index_of(first.person_id);
        let student = students.index_of(first.student_id);
        let entity = EntityKind::StudentContacts;
        if contact.is_none() {
            *dropped.entry((entity, Reason::UnknownContact)).or_default() += 1;
        }
        if student.is_none() {
            *dropped.entry((entity, Reason::UnknownStudent)).or_default() += 1;
        }
        let (Some(contact), Some(student)) = (contact, student) else {
            continue;
        };
        let stored = pair
            .iter()
            .filter(|row| link_row_qualifies(row))
            .map(|row| StoredLink {
                relationship: row.relationship.clone().unwrap_or_default(),
                parental_responsibility: row.parental_responsibility,
            })
            .min_by(|a, b| {
                (!a.parental_responsibility, &a.relationship)
                    .cmp(&(!b.parental_responsibility, &b.relationship))
            });
        links.push(Link {
            contact,
            student,
            stored,
        });
    }
    links
}

/// The best value per contact (by dense index): lowest priority number, rows without a
/// priority last, ties to the alphabetically first value.
pub(super) fn best_details(
    rows: &[ContactDetail],
    contacts: &Table<Contact>,
) -> Vec<Option<String>> {
    let mut best: Vec<Option<(bool, i64, String)>> = vec![None; contacts.len()];
    for row in rows {
        let Some(contact) = contacts.index_of(row.person_id) else {
            continue;
        };
        let Some(value) = cleaning::detail_value(row) else {
            continue;
        };
        let candidate = (row.priority.is_none(), row.priority.unwrap_or(0), value);
        let slot = &mut best[contact as usize];
        if slot.as_ref().is_none_or(|current| candidate < *current) {
            *slot = Some(candidate);
        }
    }
    best.into_iter()
        .map(|slot| slot.map(|(_, _, value)| value))
        .collect()
}
