//! The [`Exclusions`] from a judged school: every record that does not come through, with every
//! reason that holds for it, and the records whose exclusion caused its derived reasons.
//!
//! Derived reasons (`no_classes`, `no_students`, `no_teachers`, `no_eligible_students`,
//! `no_eligible_children`) are judged against the final roster for every excluded record, also
//! for one that already fails its own rules: a student without consent whose only class fell
//! out is `no_consent` and `no_classes`. An unreadable record (bad row or conflicting
//! duplicates) has no own rules judged (there is no one row to judge), but its memberships are
//! rows of their own, so its derived reasons still are. A collection whose type is unknown or
//! unreadable is neither class nor group, so it has no derived reasons.

use super::collections::CollectionRole;
use super::intake::{Entry, Table};
use super::reasons::ReasonSet;
use super::school::School;
use crate::roster::{ExcludedEntity, Exclusion, Exclusions, Reason, RecordRef};

/// One record's derived reasons and the records that caused them.
#[derive(Default)]
struct Derived {
    reasons: ReasonSet,
    caused_by: Vec<RecordRef>,
}

impl Derived {
    /// `reason` holds when no neighbour is alive; then every neighbour fell out and caused it.
    fn need_one(
        &mut self,
        neighbours: &[u32],
        alive: &[bool],
        reason: Reason,
        refer: impl Fn(u32) -> RecordRef,
    ) {
        if neighbours.iter().any(|&n| alive[n as usize]) {
            return;
        }
        self.reasons.insert(reason);
        self.caused_by.extend(neighbours.iter().map(|&n| refer(n)));
    }
}

fn student_ref(school: &School, index: u32) -> RecordRef {
    record(ExcludedEntity::Student, &school.students, index)
}

fn teacher_ref(school: &School, index: u32) -> RecordRef {
    record(ExcludedEntity::Teacher, &school.staff, index)
}

fn collection_ref(school: &School, index: u32) -> RecordRef {
    let entity = school.roles[index as usize].entity();
    record(entity, &school.collections, index)
}

fn record<T>(entity: ExcludedEntity, table: &Table<T>, index: u32) -> RecordRef {
    RecordRef {
        entity,
        id: table.entry(index).id,
    }
}

fn exclusion<T>(
    entity: ExcludedEntity,
    entry: &Entry<T>,
    own: ReasonSet,
    derived: Derived,
) -> Exclusion {
    let mut caused_by = derived.caused_by;
    caused_by.sort_unstable();
    caused_by.dedup();
    Exclusion {
        entity,
        id: entry.id,
        reasons: own.union(derived.reasons).to_vec(),
        invalid_fields: entry.invalid_fields.clone(),
        caused_by,
    }
}

pub(super) fn exclusions(school: &School) -> Exclusions {
    let alive = &school.alive;
    let graph = &school.graph;
    let mut records = Vec::new();

    for (index, entry) in school.students.entries.iter().enumerate() {
        if alive.students[index] {
            continue;
        }
        let mut derived = Derived::default();
        let classes = graph.classes_of_student.of(index as u32);
        derived.need_one(classes, &alive.classes, Reason::NoClasses, |c| {
            collection_ref(school, c)
        });
        records.push(exclusion(
            ExcludedEntity::Student,
            entry,
            school.own_students[index],
            derived,
        ));
    }

    for (index, entry) in school.staff.entries.iter().enumerate() {
        if alive.staff[index] {
            continue;
        }
        let mut derived = Derived::default();
        let classes = graph.classes_of_teacher.of(index as u32);
        derived.need_one(classes, &alive.classes, Reason::NoEligibleStudents, |c| {
            collection_ref(school, c)
        });
        records.push(exclusion(
            ExcludedEntity::Teacher,
            entry,
            school.own_staff[index],
            derived,
        ));
    }

    for (index, entry) in school.collections.entries.iter().enumerate() {
        let role = school.roles[index];
        let comes_through = match role {
            CollectionRole::Class(_) => alive.classes[index],
            CollectionRole::Group(_) => school.groups_alive[index],
            CollectionRole::UnknownType | CollectionRole::Unreadable => false,
        };
        if comes_through {
            continue;
        }
        let mut derived = Derived::default();
        let id = index as u32;
        match role {
            CollectionRole::Class(_) => {
                let students = graph.students_of_class.of(id);
                derived.need_one(students, &alive.students, Reason::NoStudents, |s| {
                    student_ref(school, s)
                });
                let teachers = graph.teachers_of_class.of(id);
                derived.need_one(teachers, &alive.staff, Reason::NoTeachers, |t| {
                    teacher_ref(school, t)
                });
            }
            CollectionRole::Group(_) => {
                let members = group_members(school, id);
                derived.need_one(&members, &alive.students, Reason::NoStudents, |s| {
                    student_ref(school, s)
                });
            }
            CollectionRole::UnknownType | CollectionRole::Unreadable => {}
        }
        records.push(exclusion(
            role.entity(),
            entry,
            school.own_collections[index],
            derived,
        ));
    }

    let mut first_link = 0;
    for (index, entry) in school.contacts.entries.iter().enumerate() {
        // Links are sorted by contact, so each contact's links are the next run of them.
        let run = school.links[first_link..]
            .iter()
            .take_while(|link| link.contact as usize == index)
            .count();
        let links = first_link..first_link + run;
        first_link += run;
        if school.contacts_alive[index] {
            continue;
        }
        let mut derived = Derived::default();
        if !school.links_alive[links.clone()]
            .iter()
            .any(|link_in| *link_in)
        {
            derived.reasons.insert(Reason::NoEligibleChildren);
            let fallen = school.links[links]
                .iter()
                .filter(|link| !alive.students[link.student as usize])
                .map(|link| student_ref(school, link.student));
            derived.caused_by.extend(fallen);
        }
        records.push(exclusion(
            ExcludedEntity::Parent,
            entry,
            school.own_contacts[index],
            derived,
        ));
    }

    records.sort_unstable_by_key(|record| (record.entity, record.id));
    Exclusions {
        records,
        dropped: school.dropped.clone(),
    }
}

/// A group's current student members by dense index (group memberships are sorted by group).
fn group_members(school: &School, group: u32) -> Vec<u32> {
    let memberships = &school.memberships.group_students;
    let start = memberships.partition_point(|&(g, _)| g < group);
    memberships[start..]
        .iter()
        .take_while(|&&(g, _)| g == group)
        .map(|&(_, student)| student)
        .collect()
}
