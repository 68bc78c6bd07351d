//! Integration tests: eligibility. Properties of `decide` over random small schools (few dozen
//! records, random consent, titles, dates, types, memberships and links, with duplicates,
//! dangling references and bad rows):
//! - shuffling every input vector never changes the decision;
//! - every roster record satisfies every rule against the roster itself;
//! - every excluded record's every reason is true, and nothing goes missing;
//! - adding a complete student to a class that comes through never removes anything.
//!
//! The rules are re-stated here from docs/eligibility.md, independently of `src/eligibility`.

use std::collections::{BTreeMap, BTreeSet};

use bromsync::eligibility::decide;
use bromsync::roster::{Decision, ExcludedEntity, NameChoice, Reason, Roster};
use bromsync::snapshot::{
    BadRow, Collection, CollectionAssociate, CollectionExecutive, Contact, ContactDetail,
    EntityKind, Snapshot, Staff, Student, StudentContact,
};
use bromsync::text::clean;
use chrono::NaiveDate;
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;

use crate::support::fixed_today as today;

/// (start, end) around today: open, ended yesterday, starts tomorrow, ends today, long ago.
fn dates(choice: u8) -> (Option<NaiveDate>, Option<NaiveDate>) {
    let day = |offset: i64| Some(today() + chrono::Duration::days(offset));
    match choice {
        0 => (None, None),
        1 => (day(-300), day(-1)),
        2 => (day(1), None),
        3 => (day(-30), day(0)),
        _ => (day(-900), None),
    }
}

/// Granted about half the time; otherwise every kind of "not granted": withdrawn, absent,
/// `Pending`, empty, and text that only contains the word.
fn consent(choice: u8) -> Option<String> {
    match choice {
        0 => Some("Withdrawn".into()),
        1 => None,
        2 => Some(" granted ".into()),
        3 => Some("Pending".into()),
        4 => Some(" pending".into()),
        5 => Some(String::new()),
        6 => Some("Not granted".into()),
        _ => Some("Granted".into()),
    }
}

fn name(choice: u8, value: &str) -> Option<String> {
    match choice {
        0 => None,
        1 => Some("  ".into()),
        2 => Some(format!("{value}\0")),
        _ => Some(value.into()),
    }
}

const TYPES: [Option<&str>; 11] = [
    Some("CLASS"),
    Some("class"),
    Some("CLASS"),
    Some("CLASS "),
    Some("TUTORGRP"),
    Some("CLASS"),
    Some("HOUSE"),
    Some("year"),
    Some("BAND"),
    Some("CLUB"),
    None,
];
const ROLES: [Option<&str>; 5] = [
    Some("Main Teacher"),
    Some("Teacher"),
    Some("main tutor"),
    Some("Head of House"),
    None,
];
const RELATIONSHIPS: [Option<&str>; 6] = [
    Some("Mother"),
    Some("father "),
    Some("Step-Mother"),
    Some("Aunt"),
    Some("Carer"),
    None,
];
const BAD_ENTITIES: [EntityKind; 5] = [
    EntityKind::Students,
    EntityKind::Staff,
    EntityKind::Collections,
    EntityKind::Contacts,
    EntityKind::StudentContacts,
];

fn students() -> impl Strategy<Value = Vec<Student>> {
    prop::collection::vec(
        (
            1i64..14,
            0u8..14,
            0u8..12,
            0u8..12,
            0u8..3,
            0u8..12,
            any::<bool>(),
        ),
        0..12,
    )
    .prop_map(|rows| {
        rows.into_iter()
            .map(
                |(id, consent_choice, first, last, preferred, date_choice, no_tutor)| {
                    let (start_date, end_date) = dates(date_choice);
                    Student {
                        student_id: id,
                        first_name: name(first, "Amelia"),
                        last_name: name(last, "Khan"),
                        preferred_first_name: name(preferred, "Millie"),
                        preferred_last_name: None,
                        date_of_birth: NaiveDate::from_ymd_opt(2011, 3, 14),
                        tutor_group: Some(if no_tutor { "NoTutorGrp" } else { "7X" }.into()),
                        year_group: Some("7".into()),
                        start_date,
                        end_date,
                        data_processing_consent: consent(consent_choice),
                    }
                },
            )
            .collect()
    })
}

fn staff() -> impl Strategy<Value = Vec<Staff>> {
    prop::collection::vec((1i64..8, 0u8..14, 0u8..10, 0u8..12, 0u8..12), 0..6).prop_map(|rows| {
        rows.into_iter()
            .map(|(id, consent_choice, title, names, date_choice)| {
                let (start_date, end_date) = dates(date_choice);
                Staff {
                    staff_id: id,
                    title: name(title, "Ms"),
                    first_name: name(names, "Tess"),
                    last_name: Some("Teacher".into()),
                    preferred_first_name: None,
                    preferred_last_name: None,
                    work_email: Some("t@school".into()),
                    start_date,
                    end_date,
                    data_processing_consent: consent(consent_choice),
                }
            })
            .collect()
    })
}

fn contacts() -> impl Strategy<Value = Vec<Contact>> {
    prop::collection::vec((1i64..10, 0u8..14, 0u8..10, 0u8..10), 0..10).prop_map(|rows| {
        rows.into_iter()
            .map(|(id, consent_choice, title, names)| Contact {
                person_id: id,
                title: name(title, "Mrs"),
                first_name: name(names, "Maria"),
                last_name: Some("Khan".into()),
                data_processing_consent: consent(consent_choice),
            })
            .collect()
    })
}

fn collections() -> impl Strategy<Value = Vec<Collection>> {
    prop::collection::vec((1i64..10, 0..TYPES.len(), 0u8..12, any::<bool>()), 0..8).prop_map(
        |rows| {
            rows.into_iter()
                .map(|(id, type_choice, date_choice, named)| {
                    let (start_date, end_date) = dates(date_choice.min(4));
                    Collection {
                        collection_id: id,
                        name: named.then(|| format!("C{id}")),
                        description: Some("Maths".into()),
                        subject_name: None,
                        type_name: TYPES[type_choice].map(str::to_owned),
                        start_date,
                        end_date,
                    }
                })
                .collect()
        },
    )
}

fn associates() -> impl Strategy<Value = Vec<CollectionAssociate>> {
    prop::collection::vec((1i64..10, 1i64..14, 0u8..10), 0..40).prop_map(|rows| {
        rows.into_iter()
            .map(|(collection_id, student_id, date_choice)| {
                let (start_date, end_date) = dates(date_choice);
                CollectionAssociate {
                    collection_id,
                    student_id,
                    start_date,
                    end_date,
                }
            })
            .collect()
    })
}

fn executives() -> impl Strategy<Value = Vec<CollectionExecutive>> {
    prop::collection::vec((1i64..10, 1i64..8, 0..ROLES.len(), 0u8..10), 0..16).prop_map(|rows| {
        rows.into_iter()
            .map(|(collection_id, staff_id, role, date_choice)| {
                let (start_date, end_date) = dates(date_choice);
                CollectionExecutive {
                    collection_id,
                    staff_id,
                    role: ROLES[role].map(str::to_owned),
                    start_date,
                    end_date,
                }
            })
            .collect()
    })
}

fn links() -> impl Strategy<Value = Vec<StudentContact>> {
    prop::collection::vec(
        (1i64..11, 1i64..15, 0..RELATIONSHIPS.len(), any::<bool>()),
        0..20,
    )
    .prop_map(|rows| {
        rows.into_iter()
            .map(|(person_id, student_id, relationship, pr)| StudentContact {
                student_id,
                person_id,
                relationship: RELATIONSHIPS[relationship].map(str::to_owned),
                parental_responsibility: pr,
            })
            .collect()
    })
}

fn details() -> impl Strategy<Value = Vec<ContactDetail>> {
    prop::collection::vec((1i64..11, 0u8..4, prop::option::of(1i64..3)), 0..10).prop_map(|rows| {
        rows.into_iter()
            .map(|(person_id, value, priority)| ContactDetail {
                person_id,
                value: ["", "a@x", "b@x", "c@x"][value as usize].to_owned().into(),
                priority,
            })
            .collect()
    })
}

fn bad_rows() -> impl Strategy<Value = Vec<BadRow>> {
    prop::collection::vec((0..BAD_ENTITIES.len(), prop::option::of(1i64..14)), 0..3).prop_map(
        |rows| {
            rows.into_iter()
                .map(|(entity, id)| BadRow {
                    entity: BAD_ENTITIES[entity],
                    id,
                    field: "startDate".into(),
                    problem: "not a date".into(),
                })
                .collect()
        },
    )
}

/// Gives the rows IDs 1, 2, 3...: IDs mostly resolve, and duplicates are added on purpose.
fn number<T>(rows: &mut [T], id: impl Fn(&mut T) -> &mut i64) {
    for (position, row) in rows.iter_mut().enumerate() {
        *id(row) = position as i64 + 1;
    }
}

/// Repeats some rows verbatim, so identical duplicates are common, not just conflicting ones.
fn repeat_some<T: Clone>(rows: &mut Vec<T>, picks: &[usize]) {
    if rows.is_empty() {
        return;
    }
    let repeated: Vec<T> = picks
        .iter()
        .map(|pick| rows[pick % rows.len()].clone())
        .collect();
    rows.extend(repeated);
}

prop_compose! {
    fn schools()(
        students in students(),
        staff in staff(),
        contacts in contacts(),
        collections in collections(),
        associates in associates(),
        executives in executives(),
        student_contacts in links(),
        emails in details(),
        telephones in details(),
        bad_rows in bad_rows(),
        picks in prop::collection::vec(any::<usize>(), 0..4),
        conflicts in prop::collection::vec(any::<usize>(), 0..2),
    ) -> Snapshot {
        let mut snapshot = Snapshot {
            school_id: 1,
            students,
            staff,
            contacts,
            student_contacts,
            emails,
            telephones,
            collections,
            associates,
            executives,
            bad_rows,
        };
        number(&mut snapshot.students, |row| &mut row.student_id);
        number(&mut snapshot.staff, |row| &mut row.staff_id);
        number(&mut snapshot.contacts, |row| &mut row.person_id);
        number(&mut snapshot.collections, |row| &mut row.collection_id);
        // References mostly land on records that exist; the one past the end dangles.
        let fold = |id: &mut i64, count: usize| *id = (*id - 1).rem_euclid(count as i64 + 1) + 1;
        let (students, staff, contacts, collections) = (
            snapshot.students.len(),
            snapshot.staff.len(),
            snapshot.contacts.len(),
            snapshot.collections.len(),
        );
        for row in &mut snapshot.associates {
            fold(&mut row.collection_id, collections);
            fold(&mut row.student_id, students);
        }
        for row in &mut snapshot.executives {
            fold(&mut row.collection_id, collections);
            fold(&mut row.staff_id, staff);
        }
        for row in &mut snapshot.student_contacts {
            fold(&mut row.person_id, contacts);
            fold(&mut row.student_id, students);
        }
        for row in snapshot.emails.iter_mut().chain(snapshot.telephones.iter_mut()) {
            fold(&mut row.person_id, contacts);
        }
        // Conflicting duplicates: the same ID with one field changed.
        for pick in &conflicts {
            if !snapshot.students.is_empty() {
                let mut other = snapshot.students[pick % snapshot.students.len()].clone();
                other.year_group = Some("8".into());
                snapshot.students.push(other);
            }
            if !snapshot.collections.is_empty() {
                let mut other = snapshot.collections[pick % snapshot.collections.len()].clone();
                other.name = Some("Other".into());
                snapshot.collections.push(other);
            }
        }
        repeat_some(&mut snapshot.students, &picks);
        repeat_some(&mut snapshot.staff, &picks);
        repeat_some(&mut snapshot.collections, &picks);
        repeat_some(&mut snapshot.associates, &picks);
        repeat_some(&mut snapshot.student_contacts, &picks);
        snapshot
    }
}

// ---- the rules, re-stated ---------------------------------------------------------------

fn text(value: &Option<String>) -> Option<String> {
    value.as_deref().and_then(clean)
}

fn is(value: &Option<String>, wanted: &str) -> bool {
    text(value).is_some_and(|v| v.eq_ignore_ascii_case(wanted))
}

fn current(start: Option<NaiveDate>, end: Option<NaiveDate>) -> bool {
    start.is_none_or(|s| s <= today()) && end.is_none_or(|e| e >= today())
}

fn class_type(row: &Collection) -> bool {
    is(&row.type_name, "CLASS") || is(&row.type_name, "TUTORGRP")
}

fn group_type(row: &Collection) -> bool {
    ["HOUSE", "YEAR", "BAND", "CUSTOM"]
        .iter()
        .any(|kind| is(&row.type_name, kind))
}

fn qualifies(link: &StudentContact) -> bool {
    link.parental_responsibility
        || is(&link.relationship, "Mother")
        || is(&link.relationship, "Father")
}

/// The one row an ID stands for, if its rows agree and no bad row names it.
fn only_row<'a, T: PartialEq + Clone + 'a>(
    rows: impl Iterator<Item = &'a T>,
    cleaned: impl Fn(&T) -> T,
    bad: bool,
) -> Option<T> {
    let rows: Vec<T> = rows.map(cleaned).collect();
    let first = rows.first()?.clone();
    (!bad && rows.iter().all(|row| *row == first)).then_some(first)
}

fn clean_student(row: &Student) -> Student {
    Student {
        first_name: text(&row.first_name),
        last_name: text(&row.last_name),
        preferred_first_name: text(&row.preferred_first_name),
        preferred_last_name: text(&row.preferred_last_name),
        tutor_group: text(&row.tutor_group),
        year_group: text(&row.year_group),
        data_processing_consent: text(&row.data_processing_consent),
        ..row.clone()
    }
}

fn clean_staff(row: &Staff) -> Staff {
    Staff {
        title: text(&row.title),
        first_name: text(&row.first_name),
        last_name: text(&row.last_name),
        preferred_first_name: text(&row.preferred_first_name),
        preferred_last_name: text(&row.preferred_last_name),
        work_email: text(&row.work_email),
        data_processing_consent: text(&row.data_processing_consent),
        ..row.clone()
    }
}

fn clean_contact(row: &Contact) -> Contact {
    Contact {
        title: text(&row.title),
        first_name: text(&row.first_name),
        last_name: text(&row.last_name),
        data_processing_consent: text(&row.data_processing_consent),
        ..row.clone()
    }
}

fn clean_collection(row: &Collection) -> Collection {
    Collection {
        name: text(&row.name),
        description: text(&row.description),
        subject_name: text(&row.subject_name),
        type_name: text(&row.type_name),
        ..row.clone()
    }
}

/// Everything the checks need to look up, keyed by Bromcom IDs.
struct View<'a> {
    snapshot: &'a Snapshot,
    roster: &'a Roster,
    students: BTreeSet<i64>,
    teachers: BTreeSet<i64>,
    parents: BTreeSet<i64>,
    classes: BTreeSet<i64>,
    groups: BTreeSet<i64>,
}

impl<'a> View<'a> {
    fn new(snapshot: &'a Snapshot, roster: &'a Roster) -> Self {
        View {
            snapshot,
            roster,
            students: roster.students.iter().map(|r| r.student_id).collect(),
            teachers: roster.teachers.iter().map(|r| r.staff_id).collect(),
            parents: roster.parents.iter().map(|r| r.person_id).collect(),
            classes: roster.classes.iter().map(|r| r.class_id).collect(),
            groups: roster.groups.iter().map(|r| r.group_id).collect(),
        }
    }

    fn bad(&self, entity: EntityKind, id: i64) -> bool {
        self.snapshot
            .bad_rows
            .iter()
            .any(|row| row.entity == entity && row.id == Some(id))
    }

    fn student(&self, id: i64) -> Option<Student> {
        let rows = self.snapshot.students.iter().filter(|r| r.student_id == id);
        only_row(rows, clean_student, self.bad(EntityKind::Students, id))
    }

    fn staff(&self, id: i64) -> Option<Staff> {
        let rows = self.snapshot.staff.iter().filter(|r| r.staff_id == id);
        only_row(rows, clean_staff, self.bad(EntityKind::Staff, id))
    }

    fn contact(&self, id: i64) -> Option<Contact> {
        let rows = self.snapshot.contacts.iter().filter(|r| r.person_id == id);
        only_row(rows, clean_contact, self.bad(EntityKind::Contacts, id))
    }

    fn collection(&self, id: i64) -> Option<Collection> {
        let rows = self
            .snapshot
            .collections
            .iter()
            .filter(|r| r.collection_id == id);
        only_row(
            rows,
            clean_collection,
            self.bad(EntityKind::Collections, id),
        )
    }

    fn conflicting<T: PartialEq>(rows: Vec<T>) -> bool {
        rows.iter().any(|row| *row != rows[0])
    }

    fn current_member(&self, collection: i64, student: i64) -> bool {
        self.snapshot.associates.iter().any(|row| {
            row.collection_id == collection
                && row.student_id == student
                && current(row.start_date, row.end_date)
        })
    }

    fn current_staff(&self, collection: i64, staff: i64) -> bool {
        self.snapshot.executives.iter().any(|row| {
            row.collection_id == collection
                && row.staff_id == staff
                && current(row.start_date, row.end_date)
        })
    }

    fn qualifying_link(&self, person: i64, student: i64) -> bool {
        self.snapshot
            .student_contacts
            .iter()
            .any(|row| row.person_id == person && row.student_id == student && qualifies(row))
    }
}

fn names_present(
    first: &Option<String>,
    preferred_first: &Option<String>,
    last: &Option<String>,
    preferred_last: &Option<String>,
) -> (bool, bool) {
    (
        preferred_first.is_some() || first.is_some(),
        preferred_last.is_some() || last.is_some(),
    )
}

fn sorted_unique<T, K: Ord>(rows: &[T], key: impl Fn(&T) -> K) -> bool {
    rows.windows(2).all(|pair| key(&pair[0]) < key(&pair[1]))
}

/// Every roster record satisfies every rule against the roster itself.
fn check_roster(view: &View) -> Result<(), TestCaseError> {
    let roster = view.roster;
    prop_assert!(sorted_unique(&roster.students, |r| r.student_id));
    prop_assert!(sorted_unique(&roster.teachers, |r| r.staff_id));
    prop_assert!(sorted_unique(&roster.parents, |r| r.person_id));
    prop_assert!(sorted_unique(&roster.classes, |r| r.class_id));
    prop_assert!(sorted_unique(&roster.groups, |r| r.group_id));
    prop_assert!(sorted_unique(&roster.class_students, |r| (
        r.class_id,
        r.student_id
    )));
    prop_assert!(sorted_unique(&roster.class_teachers, |r| (
        r.class_id, r.staff_id
    )));
    prop_assert!(sorted_unique(&roster.group_students, |r| (
        r.group_id,
        r.student_id
    )));
    prop_assert!(sorted_unique(&roster.parent_students, |r| (
        r.person_id,
        r.student_id
    )));

    for stored in &roster.students {
        let row = view.student(stored.student_id);
        prop_assert!(
            row.is_some(),
            "student {} has no one readable row",
            stored.student_id
        );
        let row = row.unwrap();
        prop_assert!(is(&row.data_processing_consent, "Granted"));
        prop_assert!(current(row.start_date, row.end_date));
        let (first, last) = names_present(
            &row.first_name,
            &row.preferred_first_name,
            &row.last_name,
            &row.preferred_last_name,
        );
        prop_assert!(first && last);
        prop_assert!(!stored.first_name.is_empty() && !stored.first_name.contains('\0'));
        prop_assert_ne!(stored.tutor_group.as_deref(), Some("NoTutorGrp"));
        prop_assert!(
            roster
                .class_students
                .iter()
                .any(|m| m.student_id == stored.student_id && view.classes.contains(&m.class_id)),
            "student {} has no class",
            stored.student_id
        );
    }
    for stored in &roster.teachers {
        let row = view.staff(stored.staff_id);
        prop_assert!(row.is_some());
        let row = row.unwrap();
        prop_assert!(is(&row.data_processing_consent, "Granted"));
        prop_assert!(current(row.start_date, row.end_date));
        prop_assert!(row.title.is_some() && row.first_name.is_some() && row.last_name.is_some());
        prop_assert!(
            roster
                .class_teachers
                .iter()
                .any(|m| m.staff_id == stored.staff_id && view.classes.contains(&m.class_id))
        );
    }
    for stored in &roster.classes {
        let row = view.collection(stored.class_id);
        prop_assert!(row.is_some());
        let row = row.unwrap();
        prop_assert!(class_type(&row) && current(row.start_date, row.end_date));
        prop_assert!(
            roster
                .class_students
                .iter()
                .any(|m| m.class_id == stored.class_id)
        );
        prop_assert!(
            roster
                .class_teachers
                .iter()
                .any(|m| m.class_id == stored.class_id)
        );
        let mains = roster
            .class_teachers
            .iter()
            .filter(|m| m.class_id == stored.class_id && m.is_main)
            .count();
        prop_assert!(mains <= 1);
    }
    for member in &roster.class_students {
        prop_assert!(view.classes.contains(&member.class_id));
        prop_assert!(view.students.contains(&member.student_id));
        prop_assert!(view.current_member(member.class_id, member.student_id));
    }
    for member in &roster.class_teachers {
        prop_assert!(view.classes.contains(&member.class_id));
        prop_assert!(view.teachers.contains(&member.staff_id));
        prop_assert!(view.current_staff(member.class_id, member.staff_id));
    }
    for stored in &roster.groups {
        let row = view.collection(stored.group_id);
        prop_assert!(row.is_some());
        let row = row.unwrap();
        prop_assert!(group_type(&row) && current(row.start_date, row.end_date));
        prop_assert!(
            roster
                .group_students
                .iter()
                .any(|m| m.group_id == stored.group_id)
        );
    }
    for member in &roster.group_students {
        prop_assert!(view.groups.contains(&member.group_id));
        prop_assert!(view.students.contains(&member.student_id));
        prop_assert!(view.current_member(member.group_id, member.student_id));
    }
    for stored in &roster.parents {
        let row = view.contact(stored.person_id);
        prop_assert!(row.is_some());
        let row = row.unwrap();
        prop_assert!(is(&row.data_processing_consent, "Granted"));
        prop_assert!(row.title.is_some() && row.first_name.is_some() && row.last_name.is_some());
        prop_assert!(
            roster
                .parent_students
                .iter()
                .any(|l| l.person_id == stored.person_id)
        );
    }
    for link in &roster.parent_students {
        prop_assert!(view.parents.contains(&link.person_id));
        prop_assert!(view.students.contains(&link.student_id));
        prop_assert!(view.qualifying_link(link.person_id, link.student_id));
    }
    Ok(())
}

/// Every excluded record's every reason is true, and every record is either in or out.
fn check_exclusions(view: &View, decision: &Decision) -> Result<(), TestCaseError> {
    let roster = view.roster;
    let records = &decision.exclusions.records;
    prop_assert!(sorted_unique(records, |r| (r.entity, r.id)));
    let out: BTreeMap<(ExcludedEntity, i64), &Vec<Reason>> = records
        .iter()
        .map(|r| ((r.entity, r.id), &r.reasons))
        .collect();

    for record in records {
        prop_assert!(!record.reasons.is_empty());
        prop_assert!(sorted_unique(&record.reasons, |r| *r));
        let id = record.id;
        let (entity_kind, in_roster) = match record.entity {
            ExcludedEntity::Student => (EntityKind::Students, view.students.contains(&id)),
            ExcludedEntity::Teacher => (EntityKind::Staff, view.teachers.contains(&id)),
            ExcludedEntity::Parent => (EntityKind::Contacts, view.parents.contains(&id)),
            ExcludedEntity::Class | ExcludedEntity::Group | ExcludedEntity::Collection => (
                EntityKind::Collections,
                view.classes.contains(&id) || view.groups.contains(&id),
            ),
        };
        prop_assert!(!in_roster, "{:?} {} is both in and out", record.entity, id);
        for reason in &record.reasons {
            let holds = match reason {
                Reason::InvalidRecord => view.bad(entity_kind, id),
                Reason::DuplicateId => match entity_kind {
                    EntityKind::Students => View::conflicting(
                        view.snapshot
                            .students
                            .iter()
                            .filter(|r| r.student_id == id)
                            .map(clean_student)
                            .collect(),
                    ),
                    EntityKind::Staff => View::conflicting(
                        view.snapshot
                            .staff
                            .iter()
                            .filter(|r| r.staff_id == id)
                            .map(clean_staff)
                            .collect(),
                    ),
                    EntityKind::Contacts => View::conflicting(
                        view.snapshot
                            .contacts
                            .iter()
                            .filter(|r| r.person_id == id)
                            .map(clean_contact)
                            .collect(),
                    ),
                    _ => View::conflicting(
                        view.snapshot
                            .collections
                            .iter()
                            .filter(|r| r.collection_id == id)
                            .map(clean_collection)
                            .collect(),
                    ),
                },
                Reason::NoConsent => match record.entity {
                    ExcludedEntity::Student => view
                        .student(id)
                        .is_some_and(|r| !is(&r.data_processing_consent, "Granted")),
                    ExcludedEntity::Teacher => view
                        .staff(id)
                        .is_some_and(|r| !is(&r.data_processing_consent, "Granted")),
                    _ => view
                        .contact(id)
                        .is_some_and(|r| !is(&r.data_processing_consent, "Granted")),
                },
                Reason::NotOnRoll => view
                    .student(id)
                    .is_some_and(|r| !current(r.start_date, r.end_date)),
                Reason::NotOnStaff => view
                    .staff(id)
                    .is_some_and(|r| !current(r.start_date, r.end_date)),
                Reason::NotCurrent => view
                    .collection(id)
                    .is_some_and(|r| !current(r.start_date, r.end_date)),
                Reason::MissingTitle => match record.entity {
                    ExcludedEntity::Teacher => view.staff(id).is_some_and(|r| r.title.is_none()),
                    _ => view.contact(id).is_some_and(|r| r.title.is_none()),
                },
                Reason::MissingFirstName => match record.entity {
                    ExcludedEntity::Student => view.student(id).is_some_and(|r| {
                        r.first_name.is_none() && r.preferred_first_name.is_none()
                    }),
                    ExcludedEntity::Teacher => view.staff(id).is_some_and(|r| {
                        r.first_name.is_none() && r.preferred_first_name.is_none()
                    }),
                    _ => view.contact(id).is_some_and(|r| r.first_name.is_none()),
                },
                Reason::MissingLastName => match record.entity {
                    ExcludedEntity::Student => view
                        .student(id)
                        .is_some_and(|r| r.last_name.is_none() && r.preferred_last_name.is_none()),
                    ExcludedEntity::Teacher => view
                        .staff(id)
                        .is_some_and(|r| r.last_name.is_none() && r.preferred_last_name.is_none()),
                    _ => view.contact(id).is_some_and(|r| r.last_name.is_none()),
                },
                Reason::NoClasses => !roster
                    .classes
                    .iter()
                    .any(|c| view.current_member(c.class_id, id)),
                Reason::NoEligibleStudents => !roster
                    .classes
                    .iter()
                    .any(|c| view.current_staff(c.class_id, id)),
                Reason::NoStudents => !roster
                    .students
                    .iter()
                    .any(|s| view.current_member(id, s.student_id)),
                Reason::NoTeachers => !roster
                    .teachers
                    .iter()
                    .any(|t| view.current_staff(id, t.staff_id)),
                Reason::NoEligibleChildren => !roster
                    .students
                    .iter()
                    .any(|s| view.qualifying_link(id, s.student_id)),
                Reason::UnknownCollectionType => view
                    .collection(id)
                    .is_some_and(|r| !class_type(&r) && !group_type(&r)),
                _ => false,
            };
            prop_assert!(
                holds,
                "{:?} {} has reason {} that does not hold",
                record.entity,
                id,
                reason
            );
        }
    }

    // Nothing goes missing: every ID the snapshot names is in the roster or excluded.
    let snapshot = view.snapshot;
    let bad_ids = |entity: EntityKind| -> Vec<i64> {
        snapshot
            .bad_rows
            .iter()
            .filter(|r| r.entity == entity)
            .filter_map(|r| r.id)
            .collect()
    };
    let student_ids = snapshot
        .students
        .iter()
        .map(|r| r.student_id)
        .chain(bad_ids(EntityKind::Students));
    for id in student_ids {
        prop_assert!(
            view.students.contains(&id) || out.contains_key(&(ExcludedEntity::Student, id))
        );
    }
    let staff_ids = snapshot
        .staff
        .iter()
        .map(|r| r.staff_id)
        .chain(bad_ids(EntityKind::Staff));
    for id in staff_ids {
        prop_assert!(
            view.teachers.contains(&id) || out.contains_key(&(ExcludedEntity::Teacher, id))
        );
    }
    let contact_ids = snapshot
        .contacts
        .iter()
        .map(|r| r.person_id)
        .chain(bad_ids(EntityKind::Contacts));
    for id in contact_ids {
        prop_assert!(view.parents.contains(&id) || out.contains_key(&(ExcludedEntity::Parent, id)));
    }
    let collection_ids = snapshot
        .collections
        .iter()
        .map(|r| r.collection_id)
        .chain(bad_ids(EntityKind::Collections));
    for id in collection_ids {
        let accounted = view.classes.contains(&id)
            || view.groups.contains(&id)
            || [
                ExcludedEntity::Class,
                ExcludedEntity::Group,
                ExcludedEntity::Collection,
            ]
            .iter()
            .any(|entity| out.contains_key(&(*entity, id)));
        prop_assert!(accounted, "collection {} went missing", id);
    }
    Ok(())
}

fn shuffled(snapshot: &Snapshot, seed: u64) -> Snapshot {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut copy = snapshot.clone();
    copy.students.shuffle(&mut rng);
    copy.staff.shuffle(&mut rng);
    copy.contacts.shuffle(&mut rng);
    copy.student_contacts.shuffle(&mut rng);
    copy.emails.shuffle(&mut rng);
    copy.telephones.shuffle(&mut rng);
    copy.collections.shuffle(&mut rng);
    copy.associates.shuffle(&mut rng);
    copy.executives.shuffle(&mut rng);
    copy.bad_rows.shuffle(&mut rng);
    copy
}

fn roster_keys(roster: &Roster) -> Vec<String> {
    let mut keys = Vec::new();
    keys.extend(roster.students.iter().map(|r| format!("{r:?}")));
    keys.extend(roster.teachers.iter().map(|r| format!("{r:?}")));
    keys.extend(roster.parents.iter().map(|r| format!("{r:?}")));
    keys.extend(roster.parent_students.iter().map(|r| format!("{r:?}")));
    keys.extend(roster.classes.iter().map(|r| format!("{r:?}")));
    keys.extend(roster.class_students.iter().map(|r| format!("{r:?}")));
    keys.extend(roster.class_teachers.iter().map(|r| format!("{r:?}")));
    keys.extend(roster.groups.iter().map(|r| format!("{r:?}")));
    keys.extend(roster.group_students.iter().map(|r| format!("{r:?}")));
    keys
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn shuffling_the_input_never_changes_the_decision(school in schools(), seed in any::<u64>()) {
        let names = if seed % 2 == 0 { NameChoice::Preferred } else { NameChoice::Legal };
        let decision = decide(&school, today(), names);
        prop_assert_eq!(decide(&shuffled(&school, seed), today(), names), decision);
    }

    #[test]
    fn the_roster_satisfies_every_rule_and_every_exclusion_reason_holds(school in schools()) {
        let decision = decide(&school, today(), NameChoice::Preferred);
        let view = View::new(&school, &decision.roster);
        check_roster(&view)?;
        check_exclusions(&view, &decision)?;
    }

}

proptest! {
    // Only about one random school in seven has a class that comes through; the others are
    // rejected rather than passing vacuously, so this needs more rejects than the default.
    #![proptest_config(ProptestConfig {
        cases: 128,
        max_global_rejects: 8192,
        ..ProptestConfig::default()
    })]

    #[test]
    fn adding_a_complete_student_to_a_class_that_comes_through_removes_nothing(
        school in schools(),
        pick in any::<usize>(),
    ) {
        let before = decide(&school, today(), NameChoice::Preferred);
        prop_assume!(!before.roster.classes.is_empty());
        let class_id = before.roster.classes[pick % before.roster.classes.len()].class_id;
        let newcomer = 1_000;
        let mut grown = school.clone();
        grown.students.push(Student {
            student_id: newcomer,
            first_name: Some("New".into()),
            last_name: Some("Pupil".into()),
            start_date: NaiveDate::from_ymd_opt(2024, 9, 1),
            data_processing_consent: Some("Granted".into()),
            ..Student::default()
        });
        grown.associates.push(CollectionAssociate {
            collection_id: class_id,
            student_id: newcomer,
            start_date: None,
            end_date: None,
        });
        let after = decide(&grown, today(), NameChoice::Preferred);
        let kept: BTreeSet<String> = roster_keys(&after.roster).into_iter().collect();
        for key in roster_keys(&before.roster) {
            prop_assert!(kept.contains(&key), "{} was removed", key);
        }
        prop_assert!(after.roster.students.iter().any(|s| s.student_id == newcomer));
    }
}
