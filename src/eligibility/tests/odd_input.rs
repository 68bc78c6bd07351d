//! "Bad and odd input" of docs/eligibility.md: unreadable rows, duplicate IDs, repeated pairs,
//! dangling references, control characters.

use super::support::*;
use crate::eligibility::explain;
use crate::roster::{ExcludedEntity::*, Reason::*};
use crate::snapshot::{BadRow, EntityKind};

fn bad(entity: EntityKind, id: Option<i64>, field: &str) -> BadRow {
    BadRow {
        entity,
        id,
        field: field.to_owned(),
        problem: "not a date".to_owned(),
    }
}

#[test]
fn identical_duplicates_after_trimming_count_once() {
    let mut school = example_one();
    let mut padded = student(A);
    padded.first_name = Some("  Amelia ".into());
    school.students.push(padded);
    school.staff.push(school.staff[0].clone());
    school.collections.push(school.collections[0].clone());
    let decision = run(&school);
    assert_eq!(student_ids(&decision), vec![A]);
    assert_eq!(teacher_ids(&decision), vec![T]);
    assert_eq!(class_ids(&decision), vec![MA1]);
    assert!(decision.exclusions.records.is_empty());
}

#[test]
fn conflicting_duplicates_exclude_the_id_entirely() {
    let mut school = example_one();
    let mut other = student(A);
    other.last_name = Some("Jones".into());
    school.students.push(other);
    let decision = run(&school);
    assert!(student_ids(&decision).is_empty(), "never pick one silently");
    assert_eq!(reasons(&decision, Student, A), vec![NoClasses, DuplicateId]);
    assert_eq!(reasons(&decision, Class, MA1), vec![NoStudents, NoTeachers]);
    assert_eq!(
        caused_by(&decision, Class, MA1),
        vec![record(Student, A), record(Teacher, T)]
    );
}

#[test]
fn conflicting_collection_rows_of_one_type_stay_a_class_and_of_two_types_a_collection() {
    let mut school = example_one();
    let mut renamed = class(MA1, "7X/Ma9");
    renamed.description = Some("Other".into());
    school.collections.push(renamed);
    let decision = run(&school);
    // Its members are current memberships of their own, so the ripple still applies to it.
    assert_eq!(
        reasons(&decision, Class, MA1),
        vec![NoStudents, NoTeachers, DuplicateId]
    );

    let mut school = example_one();
    school.collections.push(collection(MA1, "7X/Ma1", "HOUSE"));
    let decision = run(&school);
    assert_eq!(reasons(&decision, Collection, MA1), vec![DuplicateId]);
    // It might have been the class: the student's no_classes points at it.
    assert_eq!(
        caused_by(&decision, Student, A),
        vec![record(Collection, MA1)]
    );
}

#[test]
fn bad_row_with_the_id_of_a_readable_record_excludes_that_id() {
    let mut school = example_one();
    school.bad_rows = vec![
        bad(EntityKind::Students, Some(A), "dateOfBirth"),
        bad(EntityKind::Students, Some(A), "startDate"),
    ];
    let decision = run(&school);
    let record = excluded(&decision, Student, A).expect("A is excluded");
    assert_eq!(record.reasons, vec![NoClasses, InvalidRecord]);
    assert_eq!(record.invalid_fields, vec!["dateOfBirth", "startDate"]);
    assert!(decision.roster.students.is_empty());
    assert_eq!(
        explain(&decision.exclusions, Student, A).as_deref(),
        Some(
            "student 4101 fell out: no_classes, invalid_record [unreadable: dateOfBirth, \
             startDate] (class 301 fell out: no_students, no_teachers (teacher 88 fell out: \
             no_eligible_students))"
        )
    );
}

#[test]
fn bad_rows_alone_name_records_that_exist() {
    let mut school = example_one();
    school.bad_rows = vec![
        bad(EntityKind::Staff, Some(90), "startDate"),
        bad(EntityKind::Contacts, Some(900), "personID"),
        bad(EntityKind::Collections, Some(700), "endDate"),
    ];
    school.executives.push(attached(MA1, 90, "Teacher"));
    school.student_contacts.push(link(900, A, "Mother", true));
    school.associates.push(member(700, A));
    let decision = run(&school);
    assert_eq!(reasons(&decision, Teacher, 90), vec![InvalidRecord]);
    assert_eq!(reasons(&decision, Parent, 900), vec![InvalidRecord]);
    assert_eq!(reasons(&decision, Collection, 700), vec![InvalidRecord]);
    assert_eq!(
        excluded(&decision, Collection, 700).unwrap().invalid_fields,
        vec!["endDate"]
    );
    assert!(
        decision.exclusions.dropped.is_empty(),
        "their memberships are not dangling"
    );
    assert_eq!(student_ids(&decision), vec![A]);
}

#[test]
fn bad_rows_that_name_no_record_are_counted_as_dropped() {
    let mut school = example_one();
    school.bad_rows = vec![
        bad(EntityKind::Students, None, "studentID"),
        bad(EntityKind::StudentContacts, None, "studentID"),
        bad(
            EntityKind::StudentContacts,
            Some(A),
            "parentalResponsibility",
        ),
        bad(EntityKind::CollectionAssociates, None, "startDate"),
        bad(EntityKind::Emails, None, "priority"),
    ];
    let decision = run(&school);
    assert_eq!(dropped(&decision, EntityKind::Students, InvalidRecord), 1);
    assert_eq!(
        dropped(&decision, EntityKind::StudentContacts, InvalidRecord),
        2
    );
    assert_eq!(
        dropped(&decision, EntityKind::CollectionAssociates, InvalidRecord),
        1
    );
    assert_eq!(dropped(&decision, EntityKind::Emails, InvalidRecord), 1);
    assert!(decision.exclusions.records.is_empty());
    assert_eq!(student_ids(&decision), vec![A]);
}

#[test]
fn dangling_memberships_and_links_are_dropped_once_per_pair() {
    let mut school = example_one();
    school
        .associates
        .extend([member(MA1, 1), member(MA1, 1), member(999, A)]);
    school
        .executives
        .extend([attached(MA1, 2, "Teacher"), attached(998, T, "Teacher")]);
    school.contacts.push(contact(900));
    school.student_contacts.extend([
        link(900, 3, "Mother", true),
        link(900, 3, "Mother", true),
        link(901, A, "Mother", true),
        link(902, 4, "Father", true),
    ]);
    let decision = run(&school);
    use EntityKind::*;
    assert_eq!(dropped(&decision, CollectionAssociates, UnknownStudent), 1);
    assert_eq!(
        dropped(&decision, CollectionAssociates, UnknownCollection),
        1
    );
    assert_eq!(dropped(&decision, CollectionExecutives, UnknownStaff), 1);
    assert_eq!(
        dropped(&decision, CollectionExecutives, UnknownCollection),
        1
    );
    assert_eq!(dropped(&decision, StudentContacts, UnknownStudent), 2);
    assert_eq!(dropped(&decision, StudentContacts, UnknownContact), 2);
    assert_eq!(decision.exclusions.dropped.values().sum::<u64>(), 8);
    assert_eq!(student_ids(&decision), vec![A]);
    assert_eq!(reasons(&decision, Parent, 900), vec![NoEligibleChildren]);
}

#[test]
fn repeated_membership_rows_count_once() {
    let mut school = example_one();
    school.associates.push(member(MA1, A));
    school.executives.push(attached(MA1, T, "Teacher"));
    let decision = run(&school);
    assert_eq!(decision.roster.class_students.len(), 1);
    assert_eq!(decision.roster.class_teachers.len(), 1);
    assert!(
        decision.roster.class_teachers[0].is_main,
        "any current row's main role counts"
    );
}

#[test]
fn an_ended_main_role_row_does_not_make_a_main_teacher() {
    let mut school = example_one();
    school.executives[0].role = Some("Teacher".into());
    let mut old_main = attached(MA1, T, "Main Teacher");
    old_main.end_date = Some(yesterday());
    school.executives.push(old_main);
    let decision = run(&school);
    assert!(!decision.roster.class_teachers[0].is_main);
}

#[test]
fn repeated_link_rows_that_disagree_come_through_if_any_row_would() {
    let mut school = example_one();
    school.contacts.extend([contact(900), contact(901)]);
    school.student_contacts.extend([
        link(900, A, "Aunt", false),
        link(900, A, "Aunt", true),
        link(901, A, "Mother", false),
        link(901, A, "Carer", true),
        link(901, A, "Grandparent", false),
    ]);
    let decision = run(&school);
    assert_eq!(parent_ids(&decision), vec![900, 901]);
    let stored: Vec<(i64, &str, bool)> = decision
        .roster
        .parent_students
        .iter()
        .map(|l| {
            (
                l.person_id,
                l.relationship.as_str(),
                l.parental_responsibility,
            )
        })
        .collect();
    // Stored from a qualifying row: parental responsibility first, then alphabetical.
    assert_eq!(stored, vec![(900, "Aunt", true), (901, "Carer", true)]);
    assert!(decision.exclusions.dropped.is_empty());

    let mut reversed = school.clone();
    reversed.student_contacts.reverse();
    assert_eq!(run(&reversed), decision);
}

#[test]
fn repeated_link_rows_none_qualifying_are_dropped_once() {
    let mut school = example_one();
    school.contacts.push(contact(900));
    school
        .student_contacts
        .extend([link(900, A, "Aunt", false), link(900, A, "Carer", false)]);
    let decision = run(&school);
    assert_eq!(
        dropped(
            &decision,
            EntityKind::StudentContacts,
            NoParentalResponsibility
        ),
        1
    );
}

#[test]
fn a_link_failing_both_rules_is_counted_under_both() {
    let mut school = example_one();
    let mut withdrawn = student(5);
    withdrawn.data_processing_consent = None;
    school.students.push(withdrawn);
    school.associates.push(member(MA1, 5));
    school.contacts.push(contact(900));
    school.student_contacts.push(link(900, 5, "Aunt", false));
    let decision = run(&school);
    assert_eq!(
        dropped(
            &decision,
            EntityKind::StudentContacts,
            NoParentalResponsibility
        ),
        1
    );
    assert_eq!(
        dropped(&decision, EntityKind::StudentContacts, StudentNotEligible),
        1
    );
    assert_eq!(reasons(&decision, Parent, 900), vec![NoEligibleChildren]);
    assert_eq!(caused_by(&decision, Parent, 900), vec![record(Student, 5)]);
}

#[test]
fn memberships_of_excluded_records_are_not_dropped() {
    let mut school = example_one();
    let mut withdrawn = student(5);
    withdrawn.data_processing_consent = None;
    school.students.push(withdrawn);
    school.associates.push(member(MA1, 5));
    let decision = run(&school);
    assert!(decision.exclusions.dropped.is_empty());
    assert_eq!(reasons(&decision, Student, 5), vec![NoConsent]);
}

#[test]
fn control_characters_are_removed_before_any_rule() {
    let mut school = example_one();
    school.students[0].data_processing_consent = Some("Gran\0ted\n".into());
    school.students[0].first_name = Some("Am\u{7}elia".into());
    school.students[0].preferred_first_name = Some("\0".into());
    school.staff[0].title = Some("\u{1b}".into());
    let decision = run(&school);
    assert_eq!(
        reasons(&decision, Teacher, T),
        vec![MissingTitle, NoEligibleStudents]
    );
    assert_eq!(
        reasons(&decision, Student, A),
        vec![NoClasses],
        "consent read as Granted"
    );

    school.staff[0].title = Some("M\0s".into());
    let decision = run(&school);
    assert_eq!(decision.roster.students[0].first_name, "Amelia");
    assert_eq!(decision.roster.teachers[0].title, "Ms");
}

#[test]
fn explain_caps_depth_and_knows_only_excluded_records() {
    // A chain: teacher 10 (no title) -> class 1 -> student 1 (only in class 1 and 2)... built
    // as a ladder so that each record's cause is one step further from the start.
    let mut school = crate::snapshot::Snapshot::default();
    let mut untitled = staff(10);
    untitled.title = None;
    school.staff.push(untitled);
    school.collections.push(class(1, "c1"));
    school.executives.push(attached(1, 10, "Teacher"));
    school.students.push(student(100));
    school.associates.push(member(1, 100));
    school.contacts.push(contact(900));
    school.student_contacts.push(link(900, 100, "Mother", true));
    let decision = run(&school);
    let text = explain(&decision.exclusions, Parent, 900).unwrap();
    assert!(text.starts_with("parent 900 fell out: no_eligible_children (student 100"));
    assert!(text.contains("teacher 10 fell out: missing_title"));
    assert!(
        !text.contains("Maria") && !text.contains("Khan"),
        "no names in operator text"
    );
    assert_eq!(explain(&decision.exclusions, Parent, 12345), None);
    assert_eq!(
        explain(&decision.exclusions, Teacher, 100),
        None,
        "the entity is part of the key"
    );
}

#[test]
fn explain_cuts_long_chains_and_many_causes() {
    // Seven classes each with only one student who is also in the next class: when the
    // teacher of all of them lacks a title, all fall, and a class lists all seven students.
    let mut school = crate::snapshot::Snapshot::default();
    let mut untitled = staff(10);
    untitled.title = None;
    school.staff.push(untitled);
    school.collections.push(class(1, "c1"));
    school.executives.push(attached(1, 10, "Teacher"));
    for id in 100..107 {
        school.students.push(student(id));
        school.associates.push(member(1, id));
    }
    let decision = run(&school);
    let text = explain(&decision.exclusions, Class, 1).unwrap();
    assert!(text.contains("; and 3 more"), "{text}");
    assert_eq!(text.matches("fell out").count(), 1 + 5, "{text}");
}

#[test]
fn explain_stops_a_few_levels_down() {
    // Student 100 (no consent) is the only student of classes 2 and 3; teacher 10 teaches
    // class 2, teacher 20 both. Everything falls, and the causes refer to each other.
    let mut school = crate::snapshot::Snapshot::default();
    let mut withdrawn = student(100);
    withdrawn.data_processing_consent = Some("Withdrawn".into());
    school.students.push(withdrawn);
    school.staff.extend([staff(10), staff(20)]);
    school.collections.extend([class(2, "c2"), class(3, "c3")]);
    school.executives.extend([
        attached(2, 10, "Teacher"),
        attached(2, 20, "Teacher"),
        attached(3, 20, "Teacher"),
    ]);
    school.associates.extend([member(2, 100), member(3, 100)]);
    let decision = run(&school);
    assert_eq!(decision.roster, Default::default());
    assert_eq!(
        explain(&decision.exclusions, Teacher, 10).as_deref(),
        Some(
            "teacher 10 fell out: no_eligible_students (class 2 fell out: no_students, \
             no_teachers (student 100 fell out: no_consent, no_classes (class 3 fell out: \
             no_students, no_teachers (...)); teacher 20 fell out: no_eligible_students \
             (class 3 fell out: no_students, no_teachers (...))))"
        )
    );
}

#[test]
fn a_field_over_its_length_limit_is_text_too_long_naming_the_field() {
    let too_long = |entity, id, field: &str| BadRow {
        problem: crate::snapshot::BadRow::TEXT_TOO_LONG.to_owned(),
        ..bad(entity, id, field)
    };
    let mut school = example_one();
    school.bad_rows = vec![
        too_long(EntityKind::Students, Some(A), "firstName"),
        bad(EntityKind::Staff, Some(90), "startDate"),
        too_long(EntityKind::Staff, Some(90), "workEmail"),
        too_long(EntityKind::Emails, Some(900), "emailAddress"),
    ];
    let decision = run(&school);
    let student = excluded(&decision, Student, A).expect("A is excluded");
    assert!(student.reasons.contains(&TextTooLong));
    assert!(!student.reasons.contains(&InvalidRecord));
    let teacher_reasons = reasons(&decision, Teacher, 90);
    assert!(teacher_reasons.contains(&InvalidRecord) && teacher_reasons.contains(&TextTooLong));
    let teacher = explain(&decision.exclusions, Teacher, 90).unwrap();
    assert!(
        teacher.contains("[unreadable: startDate] [over the length limit: workEmail]"),
        "{teacher}"
    );
    let pupil = explain(&decision.exclusions, Student, A).unwrap();
    assert!(pupil.contains("[over the length limit: firstName]") && !pupil.contains("unreadable"));
    assert_eq!(dropped(&decision, EntityKind::Emails, TextTooLong), 1);
}
