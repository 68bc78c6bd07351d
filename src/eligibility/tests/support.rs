//! Builders for small schools: every record built here passes its own rules unless a test
//! changes it, as in docs/eligibility.md's worked examples.

use chrono::NaiveDate;

use crate::eligibility::decide;
use crate::roster::{Decision, ExcludedEntity, Exclusion, NameChoice, Reason, RecordRef};
use crate::snapshot::{
    Collection, CollectionAssociate, CollectionExecutive, Contact, ContactDetail, Snapshot, Staff,
    Student, StudentContact,
};

pub(super) fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 3, 10).unwrap()
}

pub(super) fn yesterday() -> NaiveDate {
    today().pred_opt().unwrap()
}

pub(super) fn tomorrow() -> NaiveDate {
    today().succ_opt().unwrap()
}

fn long_ago() -> NaiveDate {
    NaiveDate::from_ymd_opt(2020, 9, 1).unwrap()
}

fn text(value: &str) -> Option<String> {
    Some(value.to_owned())
}

pub(super) fn student(id: i64) -> Student {
    Student {
        student_id: id,
        first_name: text("Amelia"),
        last_name: text("Khan"),
        date_of_birth: NaiveDate::from_ymd_opt(2011, 3, 14),
        year_group: text("7"),
        start_date: Some(long_ago()),
        data_processing_consent: text("Granted"),
        ..Student::default()
    }
}

pub(super) fn staff(id: i64) -> Staff {
    Staff {
        staff_id: id,
        title: text("Ms"),
        first_name: text("Tess"),
        last_name: text("Teacher"),
        work_email: text("t@school"),
        start_date: Some(long_ago()),
        data_processing_consent: text("Granted"),
        ..Staff::default()
    }
}

pub(super) fn contact(id: i64) -> Contact {
    Contact {
        person_id: id,
        title: text("Mrs"),
        first_name: text("Maria"),
        last_name: text("Khan"),
        data_processing_consent: text("Granted"),
    }
}

pub(super) fn collection(id: i64, name: &str, type_name: &str) -> Collection {
    Collection {
        collection_id: id,
        name: text(name),
        description: text("Description"),
        subject_name: None,
        type_name: text(type_name),
        start_date: Some(long_ago()),
        end_date: None,
    }
}

pub(super) fn class(id: i64, name: &str) -> Collection {
    collection(id, name, "CLASS")
}

pub(super) fn member(collection_id: i64, student_id: i64) -> CollectionAssociate {
    CollectionAssociate {
        collection_id,
        student_id,
        start_date: Some(long_ago()),
        end_date: None,
    }
}

pub(super) fn attached(collection_id: i64, staff_id: i64, role: &str) -> CollectionExecutive {
    CollectionExecutive {
        collection_id,
        staff_id,
        role: text(role),
        start_date: Some(long_ago()),
        end_date: None,
    }
}

pub(super) fn link(
    person_id: i64,
    student_id: i64,
    relationship: &str,
    pr: bool,
) -> StudentContact {
    StudentContact {
        student_id,
        person_id,
        relationship: text(relationship),
        parental_responsibility: pr,
    }
}

pub(super) fn detail(person_id: i64, value: &str, priority: Option<i64>) -> ContactDetail {
    ContactDetail {
        person_id,
        value: text(value),
        priority,
    }
}

pub(super) const A: i64 = 4101;
pub(super) const T: i64 = 88;
pub(super) const MA1: i64 = 301;

/// Worked example 1: student A in class 7X/Ma1 taught by teacher T, all consented.
pub(super) fn example_one() -> Snapshot {
    Snapshot {
        school_id: 20001,
        students: vec![student(A)],
        staff: vec![staff(T)],
        collections: vec![class(MA1, "7X/Ma1")],
        associates: vec![member(MA1, A)],
        executives: vec![attached(MA1, T, "Main Teacher")],
        ..Snapshot::default()
    }
}

pub(super) fn run(snapshot: &Snapshot) -> Decision {
    decide(snapshot, today(), NameChoice::Preferred)
}

pub(super) fn excluded(decision: &Decision, entity: ExcludedEntity, id: i64) -> Option<&Exclusion> {
    decision
        .exclusions
        .records
        .iter()
        .find(|record| record.entity == entity && record.id == id)
}

/// The reasons `entity` `id` was excluded with; empty when it was not excluded.
pub(super) fn reasons(decision: &Decision, entity: ExcludedEntity, id: i64) -> Vec<Reason> {
    excluded(decision, entity, id).map_or_else(Vec::new, |record| record.reasons.clone())
}

pub(super) fn caused_by(decision: &Decision, entity: ExcludedEntity, id: i64) -> Vec<RecordRef> {
    excluded(decision, entity, id).map_or_else(Vec::new, |record| record.caused_by.clone())
}

pub(super) fn dropped(
    decision: &Decision,
    entity: crate::snapshot::EntityKind,
    reason: Reason,
) -> u64 {
    decision
        .exclusions
        .dropped
        .get(&(entity, reason))
        .copied()
        .unwrap_or(0)
}

pub(super) fn student_ids(decision: &Decision) -> Vec<i64> {
    decision
        .roster
        .students
        .iter()
        .map(|s| s.student_id)
        .collect()
}

pub(super) fn teacher_ids(decision: &Decision) -> Vec<i64> {
    decision
        .roster
        .teachers
        .iter()
        .map(|t| t.staff_id)
        .collect()
}

pub(super) fn class_ids(decision: &Decision) -> Vec<i64> {
    decision.roster.classes.iter().map(|c| c.class_id).collect()
}

pub(super) fn parent_ids(decision: &Decision) -> Vec<i64> {
    decision
        .roster
        .parents
        .iter()
        .map(|p| p.person_id)
        .collect()
}

pub(super) fn record(entity: ExcludedEntity, id: i64) -> RecordRef {
    RecordRef { entity, id }
}
