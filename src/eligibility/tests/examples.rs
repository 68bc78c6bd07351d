//! docs/eligibility.md's worked examples, one test each. Where an example names only the reason
//! that started a ripple, the test asserts the full set: derived reasons are judged against the
//! final roster for every excluded record (see `exclusions.rs`), so e.g. in example 2 the class
//! that lost its only student has also lost its only teacher.

use super::support::*;
use crate::eligibility::{decide, explain};
use crate::roster::{
    ClassKind, ClassTeacher, ExcludedEntity::*, NameChoice, ParentStudent, Reason::*,
};
use crate::snapshot::EntityKind;

#[test]
fn example_01_student_class_teacher_all_come_through() {
    let decision = run(&example_one());
    assert_eq!(student_ids(&decision), vec![A]);
    assert_eq!(teacher_ids(&decision), vec![T]);
    assert_eq!(class_ids(&decision), vec![MA1]);
    assert_eq!(decision.roster.classes[0].name, "7X/Ma1");
    assert_eq!(decision.roster.classes[0].kind, ClassKind::Class);
    assert_eq!(
        decision.roster.class_teachers,
        vec![ClassTeacher {
            class_id: MA1,
            staff_id: T,
            is_main: true
        }]
    );
    assert!(decision.exclusions.records.is_empty());
    assert!(decision.exclusions.dropped.is_empty());

    let mut plain_teacher = example_one();
    plain_teacher.executives[0].role = Some("Teacher".into());
    let decision = run(&plain_teacher);
    assert_eq!(teacher_ids(&decision), vec![T]);
    assert!(
        !decision.roster.class_teachers[0].is_main,
        "only Main Teacher/Tutor is main"
    );
}

#[test]
fn example_02_withdrawn_consent_takes_everything_out() {
    let mut school = example_one();
    school.students[0].data_processing_consent = Some("Withdrawn".into());
    let decision = run(&school);
    assert_eq!(decision.roster, Default::default());
    assert_eq!(reasons(&decision, Student, A), vec![NoConsent, NoClasses]);
    assert_eq!(reasons(&decision, Class, MA1), vec![NoStudents, NoTeachers]);
    assert_eq!(reasons(&decision, Teacher, T), vec![NoEligibleStudents]);
    assert_eq!(decision.exclusions.records.len(), 3);
}

#[test]
fn example_03_tutor_group_comes_through_as_class_and_tutor_group() {
    let mut school = example_one();
    school.students[0].tutor_group = Some("7X".into());
    school.staff.push(staff(89));
    school.collections.push(collection(302, "7X", "TUTORGRP"));
    school.associates.push(member(302, A));
    school.executives.push(attached(302, 89, "Main Tutor"));
    let decision = run(&school);
    assert_eq!(class_ids(&decision), vec![MA1, 302]);
    assert_eq!(decision.roster.classes[1].kind, ClassKind::TutorGroup);
    assert_eq!(teacher_ids(&decision), vec![T, 89]);
    assert_eq!(
        decision.roster.students[0].tutor_group.as_deref(),
        Some("7X")
    );
    assert!(decision.exclusions.records.is_empty());
}

#[test]
fn example_04_house_group_alone_does_not_bring_a_student_through() {
    let school = crate::snapshot::Snapshot {
        students: vec![student(4103)],
        collections: vec![collection(401, "Darwin", "HOUSE")],
        associates: vec![member(401, 4103)],
        ..Default::default()
    };
    let decision = run(&school);
    assert_eq!(decision.roster, Default::default());
    assert_eq!(reasons(&decision, Student, 4103), vec![NoClasses]);
    assert_eq!(
        caused_by(&decision, Student, 4103),
        vec![],
        "a group is not a class"
    );
    assert_eq!(reasons(&decision, Group, 401), vec![NoStudents]);
    assert_eq!(
        caused_by(&decision, Group, 401),
        vec![record(Student, 4103)]
    );
}

fn with_contact(relationship: &str, pr: bool) -> crate::snapshot::Snapshot {
    let mut school = example_one();
    school.contacts.push(contact(900));
    school.student_contacts.push(link(900, A, relationship, pr));
    school
}

#[test]
fn example_05_mother_without_parental_responsibility_comes_through() {
    let decision = run(&with_contact("Mother", false));
    assert_eq!(parent_ids(&decision), vec![900]);
    assert_eq!(
        decision.roster.parent_students,
        vec![ParentStudent {
            person_id: 900,
            student_id: A,
            relationship: "Mother".into(),
            parental_responsibility: false,
        }]
    );
    assert!(decision.exclusions.records.is_empty());
}

#[test]
fn example_06_aunt_without_parental_responsibility_is_left_out() {
    let decision = run(&with_contact("Aunt", false));
    assert!(decision.roster.parents.is_empty());
    assert!(decision.roster.parent_students.is_empty());
    assert_eq!(
        dropped(
            &decision,
            EntityKind::StudentContacts,
            NoParentalResponsibility
        ),
        1
    );
    assert_eq!(reasons(&decision, Parent, 900), vec![NoEligibleChildren]);
    assert_eq!(
        caused_by(&decision, Parent, 900),
        vec![],
        "her child came through"
    );
    assert_eq!(student_ids(&decision), vec![A]);
}

#[test]
fn example_07_aunt_with_parental_responsibility_comes_through() {
    let decision = run(&with_contact("Aunt", true));
    assert_eq!(parent_ids(&decision), vec![900]);
    assert_eq!(decision.roster.parent_students[0].relationship, "Aunt");
    assert!(decision.roster.parent_students[0].parental_responsibility);
    assert!(decision.exclusions.records.is_empty());
    assert!(decision.exclusions.dropped.is_empty());
}

#[test]
fn example_08_mother_without_title_is_left_out() {
    let mut school = with_contact("Mother", false);
    school.contacts[0].title = None;
    let decision = run(&school);
    assert!(decision.roster.parents.is_empty());
    assert!(decision.roster.parent_students.is_empty());
    assert_eq!(reasons(&decision, Parent, 900), vec![MissingTitle]);
    assert!(
        decision.exclusions.dropped.is_empty(),
        "the link itself passes its rules"
    );
}

#[test]
fn example_09_contact_keeps_only_the_child_who_comes_through() {
    let mut school = example_one();
    let c = 4102;
    let mut child_c = student(c);
    child_c.data_processing_consent = None;
    school.students.push(child_c);
    school.associates.push(member(MA1, c));
    school.contacts.push(contact(902));
    school.student_contacts.push(link(902, A, "Father", false));
    school.student_contacts.push(link(902, c, "Father", false));
    let decision = run(&school);
    assert_eq!(parent_ids(&decision), vec![902]);
    let linked: Vec<i64> = decision
        .roster
        .parent_students
        .iter()
        .map(|l| l.student_id)
        .collect();
    assert_eq!(linked, vec![A]);
    assert_eq!(
        dropped(&decision, EntityKind::StudentContacts, StudentNotEligible),
        1
    );
    assert_eq!(reasons(&decision, Student, c), vec![NoConsent]);
    assert_eq!(decision.exclusions.records.len(), 1);
}

#[test]
fn example_10_teacher_without_title_ripples_to_class_student_and_contacts() {
    let mut school = example_one();
    school.staff[0].title = None;
    // M: A is her only child. Q: also parent of D, who is in another class that stands.
    let d = 4104;
    school.students.push(student(d));
    school.staff.push(staff(90));
    school.collections.push(class(303, "8Y/En2"));
    school.associates.push(member(303, d));
    school.executives.push(attached(303, 90, "Main Teacher"));
    school.contacts.extend([contact(900), contact(903)]);
    school.student_contacts.extend([
        link(900, A, "Mother", true),
        link(903, A, "Father", true),
        link(903, d, "Father", true),
    ]);
    let decision = run(&school);

    assert_eq!(
        reasons(&decision, Teacher, T),
        vec![MissingTitle, NoEligibleStudents]
    );
    assert_eq!(caused_by(&decision, Teacher, T), vec![record(Class, MA1)]);
    assert_eq!(reasons(&decision, Class, MA1), vec![NoStudents, NoTeachers]);
    assert_eq!(
        caused_by(&decision, Class, MA1),
        vec![record(Student, A), record(Teacher, T)]
    );
    assert_eq!(reasons(&decision, Student, A), vec![NoClasses]);
    assert_eq!(caused_by(&decision, Student, A), vec![record(Class, MA1)]);
    assert_eq!(reasons(&decision, Parent, 900), vec![NoEligibleChildren]);
    assert_eq!(caused_by(&decision, Parent, 900), vec![record(Student, A)]);
    assert_eq!(reasons(&decision, Parent, 903), vec![], "Q still has D");
    assert_eq!(parent_ids(&decision), vec![903]);
    assert_eq!(student_ids(&decision), vec![d]);
    assert_eq!(decision.exclusions.records.len(), 4);

    assert_eq!(
        explain(&decision.exclusions, Parent, 900).as_deref(),
        Some(
            "parent 900 fell out: no_eligible_children (student 4101 fell out: no_classes \
             (class 301 fell out: no_students, no_teachers (teacher 88 fell out: \
             missing_title, no_eligible_students)))"
        )
    );
    assert_eq!(
        explain(&decision.exclusions, Class, MA1).as_deref(),
        Some(
            "class 301 fell out: no_students, no_teachers (student 4101 fell out: no_classes; \
             teacher 88 fell out: missing_title, no_eligible_students)"
        )
    );
    assert_eq!(
        explain(&decision.exclusions, Student, d),
        None,
        "D came through"
    );
}

#[test]
fn example_11_membership_ended_yesterday() {
    let mut school = example_one();
    school.associates[0].end_date = Some(yesterday());
    let decision = run(&school);
    assert_eq!(decision.roster, Default::default());
    assert_eq!(reasons(&decision, Student, A), vec![NoClasses]);
    assert_eq!(
        caused_by(&decision, Student, A),
        vec![],
        "no current membership to blame"
    );
    assert_eq!(reasons(&decision, Class, MA1), vec![NoStudents, NoTeachers]);
    assert_eq!(caused_by(&decision, Class, MA1), vec![record(Teacher, T)]);
    assert_eq!(reasons(&decision, Teacher, T), vec![NoEligibleStudents]);
    assert_eq!(
        dropped(&decision, EntityKind::CollectionAssociates, NotCurrent),
        1
    );
}

#[test]
fn example_12_lowest_priority_number_wins_the_email() {
    let mut school = with_contact("Mother", false);
    school.emails = vec![detail(900, "b@x", Some(2)), detail(900, "a@x", Some(1))];
    let decision = run(&school);
    assert_eq!(decision.roster.parents[0].email.as_deref(), Some("a@x"));
    assert_eq!(decision.roster.parents[0].phone, None);
}

#[test]
fn example_13_name_choice_with_fallback_to_legal() {
    let mut school = example_one();
    school.students[0].first_name = Some("Amelia".into());
    school.students[0].preferred_first_name = Some("Millie".into());
    let preferred = decide(&school, today(), NameChoice::Preferred);
    assert_eq!(preferred.roster.students[0].first_name, "Millie");
    let legal = decide(&school, today(), NameChoice::Legal);
    assert_eq!(legal.roster.students[0].first_name, "Amelia");

    school.students[0].preferred_first_name = Some("   ".into());
    let fallback = decide(&school, today(), NameChoice::Preferred);
    assert_eq!(fallback.roster.students[0].first_name, "Amelia");
}

#[test]
fn explain_counts_only_the_causes_beyond_those_it_spells_out() {
    // Five causes are spelled out; "and N more" appears only when there are more than five.
    let mut seen_exactly_five = false;
    for extra in 0..7 {
        let mut school = example_one();
        school.students[0].data_processing_consent = None;
        for id in 0..extra {
            let mut fallen = student(5000 + id);
            fallen.data_processing_consent = None;
            school.students.push(fallen);
            school.associates.push(member(MA1, 5000 + id));
        }
        let decision = run(&school);
        let causes = caused_by(&decision, Class, MA1).len();
        let text = explain(&decision.exclusions, Class, MA1).expect("the class fell out");
        if causes > 5 {
            assert!(
                text.ends_with(&format!("; and {} more)", causes - 5)),
                "{text}"
            );
        } else {
            assert!(!text.contains("more"), "{causes} causes: {text}");
        }
        seen_exactly_five |= causes == 5;
    }
    assert!(seen_exactly_five);
}
