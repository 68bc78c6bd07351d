//! Student memberships (CollectionAssociates) and staff attachments (CollectionExecutives):
//! repeated pairs count once, pairs pointing at a missing ID are dropped with `unknown_*`, and
//! only pairs current today take part. A pair with several rows is current if any row is, and
//! its staff member holds a main role if any current row says so.
//!
//! What is counted in `Exclusions.dropped` (each distinct pair once per reason that applies):
//! - `unknown_collection`, `unknown_student` / `unknown_staff`: an end missing from its entity.
//!   Such a pair is not judged further.
//! - `not_current`: both ends exist but no row of the pair is current today.
//!
//! A current pair whose ends exist but are excluded is not "dropped": it simply does not count,
//! and the exclusions of its ends say why. Staff attached to a group, or members of a
//! collection of an unknown type, are ignored the same way (groups have no teachers; the
//! collection's own exclusion covers the rest).

use chrono::NaiveDate;

use super::Dropped;
use super::collections::CollectionRole;
use super::intake::Table;
use super::rules::{is_current, is_main_role};
use crate::roster::Reason;
use crate::snapshot::{
    Collection, CollectionAssociate, CollectionExecutive, EntityKind, Staff, Student,
};

/// Current memberships by dense index, each vector sorted and without repeats.
#[derive(Debug, Default)]
pub(super) struct Memberships {
    /// (collection, student) for collections in the class ripple.
    pub(super) class_students: Vec<(u32, u32)>,
    /// (collection, staff, holds a main role) for collections in the class ripple.
    pub(super) class_teachers: Vec<(u32, u32, bool)>,
    /// (collection, student) for groups.
    pub(super) group_students: Vec<(u32, u32)>,
}

/// The ends of a pair, resolved; `None` when it was dropped as unknown or not current.
fn resolve<M>(
    (collection_id, member_id, current): (i64, i64, bool),
    entity: EntityKind,
    collections: &Table<Collection>,
    members: &Table<M>,
    unknown_member: Reason,
    dropped: &mut Dropped,
) -> Option<(u32, u32)> {
    let collection = collections.index_of(collection_id);
    let member = members.index_of(member_id);
    if collection.is_none() {
        *dropped
            .entry((entity, Reason::UnknownCollection))
            .or_default() += 1;
    }
    if member.is_none() {
        *dropped.entry((entity, unknown_member)).or_default() += 1;
    }
    let (collection, member) = (collection?, member?);
    if !current {
        *dropped.entry((entity, Reason::NotCurrent)).or_default() += 1;
        return None;
    }
    Some((collection, member))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn read(
    associates: &[CollectionAssociate],
    executives: &[CollectionExecutive],
    today: NaiveDate,
    collections: &Table<Collection>,
    roles: &[CollectionRole],
    students: &Table<Student>,
    staff: &Table<Staff>,
    dropped: &mut Dropped,
) -> Memberships {
    let mut memberships = Memberships::default();

    let mut student_pairs: Vec<(i64, i64, bool)> = associates
        .iter()
        .map(|row| {
            let current = is_current(row.start_date, row.end_date, today);
            (row.collection_id, row.student_id, current)
        })
        .collect();
    student_pairs.sort_unstable();
    // Sorted with `false < true`, the last row of a pair tells whether any row is current.
    student_pairs.dedup_by(|later, earlier| {
        let same_pair = (later.0, later.1) == (earlier.0, earlier.1);
        if same_pair {
            earlier.2 |= later.2;
        }
        same_pair
    });
    for pair in student_pairs {
        let Some((collection, student)) = resolve(
            pair,
            EntityKind::CollectionAssociates,
            collections,
            students,
            Reason::UnknownStudent,
            dropped,
        ) else {
            continue;
        };
        match roles[collection as usize] {
            role if role.in_class_ripple() => {
                memberships.class_students.push((collection, student));
            }
            CollectionRole::Group(_) => memberships.group_students.push((collection, student)),
            _ => {}
        }
    }

    let mut staff_pairs: Vec<(i64, i64, bool, bool)> = executives
        .iter()
        .map(|row| {
            let current = is_current(row.start_date, row.end_date, today);
            let main = current && is_main_role(super::cleaning::executive_role(row).as_deref());
            (row.collection_id, row.staff_id, current, main)
        })
        .collect();
    staff_pairs.sort_unstable();
    staff_pairs.dedup_by(|later, earlier| {
        let same_pair = (later.0, later.1) == (earlier.0, earlier.1);
        if same_pair {
            earlier.2 |= later.2;
            earlier.3 |= later.3;
        }
        same_pair
    });
    for (collection_id, staff_id, current, main) in staff_pairs {
        let Some((collection, member)) = resolve(
            (collection_id, staff_id, current),
            EntityKind::CollectionExecutives,
            collections,
            staff,
            Reason::UnknownStaff,
            dropped,
        ) else {
            continue;
        };
        if roles[collection as usize].in_class_ripple() {
            memberships.class_teachers.push((collection, member, main));
        }
    }
    memberships
}
