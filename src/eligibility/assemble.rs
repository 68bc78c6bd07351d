//! The [`Roster`] from a judged school: only what comes through, each vector in key order.
//! Tables are indexed in ID order and membership lists are sorted by index, so building in
//! index order is building in key order; no sort is needed.
//!
//! Where the contract is silent: a class or group without `collectionName` is named by its
//! `collectionDescription`, and failing that by its ID, so that a row that passes every rule
//! is never left out over a label.

use super::collections::CollectionRole;
use super::intake::Table;
use super::rules::{self, staff_names, student_names};
use super::school::School;
use crate::roster::{
    ClassStudent, ClassTeacher, GroupStudent, ParentStudent, Roster, RosterClass, RosterGroup,
    RosterParent, RosterStudent, RosterTeacher,
};
use crate::snapshot::Collection;

/// Readable rows of the records marked alive, with their dense index.
fn alive_rows<'a, T>(
    table: &'a Table<T>,
    alive: &'a [bool],
) -> impl Iterator<Item = (usize, &'a T)> + 'a {
    table
        .entries
        .iter()
        .enumerate()
        .filter(|(index, _)| alive[*index])
        .filter_map(|(index, entry)| entry.readable().map(|row| (index, row)))
}

fn collection_name(row: &Collection) -> String {
    row.name
        .clone()
        .or_else(|| row.description.clone())
        .unwrap_or_else(|| row.collection_id.to_string())
}

pub(super) fn roster(school: &School) -> Roster {
    let alive = &school.alive;
    let students = alive_rows(&school.students, &alive.students)
        .filter_map(|(_, row)| {
            let names = student_names(row, school.names);
            Some(RosterStudent {
                student_id: row.student_id,
                first_name: names.first?.to_owned(),
                last_name: names.last?.to_owned(),
                date_of_birth: row.date_of_birth,
                tutor_group: rules::tutor_group(row),
                year_group: row.year_group.clone(),
            })
        })
        .collect();
    let teachers = alive_rows(&school.staff, &alive.staff)
        .filter_map(|(_, row)| {
            let names = staff_names(row, school.names);
            Some(RosterTeacher {
                staff_id: row.staff_id,
                title: row.title.clone()?,
                first_name: names.first?.to_owned(),
                last_name: names.last?.to_owned(),
                email: row.work_email.clone(),
            })
        })
        .collect();
    let parents = alive_rows(&school.contacts, &school.contacts_alive)
        .filter_map(|(index, row)| {
            Some(RosterParent {
                person_id: row.person_id,
                title: row.title.clone()?,
                first_name: row.first_name.clone()?,
                last_name: row.last_name.clone()?,
                email: school.emails[index].clone(),
                phone: school.phones[index].clone(),
            })
        })
        .collect();
    let parent_students = school
        .links
        .iter()
        .zip(&school.links_alive)
        .filter(|(link, link_in)| **link_in && school.contacts_alive[link.contact as usize])
        .filter_map(|(link, _)| {
            let stored = link.stored.as_ref()?;
            Some(ParentStudent {
                person_id: school.contacts.entry(link.contact).id,
                student_id: school.students.entry(link.student).id,
                relationship: stored.relationship.clone(),
                parental_responsibility: stored.parental_responsibility,
            })
        })
        .collect();

    let classes = alive_rows(&school.collections, &alive.classes)
        .filter_map(|(index, row)| match school.roles[index] {
            CollectionRole::Class(kind) => Some(RosterClass {
                class_id: row.collection_id,
                name: collection_name(row),
                subject: row.subject_name.clone().or_else(|| row.description.clone()),
                kind,
            }),
            _ => None,
        })
        .collect();
    let class_students = school
        .memberships
        .class_students
        .iter()
        .filter(|(class, student)| {
            alive.classes[*class as usize] && alive.students[*student as usize]
        })
        .map(|&(class, student)| ClassStudent {
            class_id: school.collections.entry(class).id,
            student_id: school.students.entry(student).id,
        })
        .collect();
    let class_teachers = class_teachers(school);

    let groups = alive_rows(&school.collections, &school.groups_alive)
        .filter_map(|(index, row)| match school.roles[index] {
            CollectionRole::Group(kind) => Some(RosterGroup {
                group_id: row.collection_id,
                name: collection_name(row),
                kind,
            }),
            _ => None,
        })
        .collect();
    let group_students = school
        .memberships
        .group_students
        .iter()
        .filter(|(group, student)| {
            school.groups_alive[*group as usize] && alive.students[*student as usize]
        })
        .map(|&(group, student)| GroupStudent {
            group_id: school.collections.entry(group).id,
            student_id: school.students.entry(student).id,
        })
        .collect();

    Roster {
        students,
        teachers,
        parents,
        parent_students,
        classes,
        class_students,
        class_teachers,
        groups,
        group_students,
    }
}

/// The teachers who come through per class; the main teacher is the one with the lowest
/// `staffID` among those who come through and hold a main role (memberships are in staff ID
/// order within a class, so it is the first such).
fn class_teachers(school: &School) -> Vec<ClassTeacher> {
    let alive = &school.alive;
    let mut rows: Vec<ClassTeacher> = Vec::new();
    let mut main_seen_for: Option<u32> = None;
    for &(class, teacher, main_role) in &school.memberships.class_teachers {
        if !(alive.classes[class as usize] && alive.staff[teacher as usize]) {
            continue;
        }
        let is_main = main_role && main_seen_for != Some(class);
        if is_main {
            main_seen_for = Some(class);
        }
        rows.push(ClassTeacher {
            class_id: school.collections.entry(class).id,
            staff_id: school.staff.entry(teacher).id,
            is_main,
        });
    }
    rows
}
