//! Every rule of docs/eligibility.md on small schools built from worked example 1.

use super::support::*;
use crate::eligibility::decide;
use crate::roster::{ExcludedEntity::*, GroupKind, NameChoice, Reason::*};
use crate::snapshot::{EntityKind, Snapshot};

#[test]
fn consent_is_compared_trimmed_and_ignoring_case() {
    let mut school = example_one();
    school.students[0].data_processing_consent = Some("  gRaNtEd ".into());
    school.staff[0].data_processing_consent = Some("GRANTED".into());
    assert_eq!(student_ids(&run(&school)), vec![A]);
    school.staff[0].data_processing_consent = Some("Pending".into());
    assert_eq!(
        reasons(&run(&school), Teacher, T),
        vec![NoConsent, NoEligibleStudents]
    );
}

#[test]
fn every_own_reason_of_a_student_is_listed() {
    let mut school = example_one();
    let lonely = 4200;
    school.students.push(crate::snapshot::Student {
        student_id: lonely,
        end_date: Some(yesterday()),
        ..Default::default()
    });
    let decision = run(&school);
    assert_eq!(
        reasons(&decision, Student, lonely),
        vec![
            NoConsent,
            NotOnRoll,
            MissingFirstName,
            MissingLastName,
            NoClasses
        ]
    );
    assert_eq!(
        student_ids(&decision),
        vec![A],
        "the rest of the school is untouched"
    );
}

#[test]
fn student_with_no_consent_and_no_classes_gets_both() {
    let mut school = example_one();
    let mut other = student(4300);
    other.data_processing_consent = Some("Withdrawn".into());
    school.students.push(other);
    assert_eq!(
        reasons(&run(&school), Student, 4300),
        vec![NoConsent, NoClasses]
    );
}

#[test]
fn roll_and_staff_dates_bound_inclusively() {
    let mut school = example_one();
    school.students[0].end_date = Some(today());
    school.staff[0].start_date = Some(today());
    assert_eq!(
        student_ids(&run(&school)),
        vec![A],
        "leaving today is still on roll today"
    );

    school.students[0].start_date = Some(tomorrow());
    assert_eq!(
        reasons(&run(&school), Student, A),
        vec![NotOnRoll, NoClasses]
    );

    let mut school = example_one();
    school.staff[0].end_date = Some(yesterday());
    assert_eq!(
        reasons(&run(&school), Teacher, T),
        vec![NotOnStaff, NoEligibleStudents]
    );
}

#[test]
fn staff_need_title_and_names() {
    let mut school = example_one();
    school.staff[0].first_name = None;
    school.staff[0].last_name = Some(" ".into());
    assert_eq!(
        reasons(&run(&school), Teacher, T),
        vec![MissingFirstName, MissingLastName, NoEligibleStudents]
    );
}

#[test]
fn staff_names_follow_the_school_choice_too() {
    let mut school = example_one();
    school.staff[0].preferred_first_name = Some("Tessa".into());
    school.staff[0].last_name = None;
    school.staff[0].preferred_last_name = Some("Teach".into());
    let preferred = decide(&school, today(), NameChoice::Preferred);
    assert_eq!(preferred.roster.teachers[0].first_name, "Tessa");
    assert_eq!(preferred.roster.teachers[0].last_name, "Teach");
    let legal = decide(&school, today(), NameChoice::Legal);
    assert_eq!(
        reasons(&legal, Teacher, T),
        vec![MissingLastName, NoEligibleStudents]
    );
}

#[test]
fn memberships_starting_tomorrow_or_ended_yesterday_do_not_count_but_ending_today_does() {
    let mut school = example_one();
    school.associates[0].end_date = Some(today());
    school.executives[0].start_date = Some(today());
    assert_eq!(class_ids(&run(&school)), vec![MA1]);

    school.associates[0].start_date = Some(tomorrow());
    let decision = run(&school);
    assert_eq!(reasons(&decision, Student, A), vec![NoClasses]);
    assert_eq!(
        dropped(&decision, EntityKind::CollectionAssociates, NotCurrent),
        1
    );

    let mut school = example_one();
    school.executives[0].end_date = Some(yesterday());
    let decision = run(&school);
    assert_eq!(reasons(&decision, Class, MA1), vec![NoStudents, NoTeachers]);
    assert_eq!(
        dropped(&decision, EntityKind::CollectionExecutives, NotCurrent),
        1
    );
}

#[test]
fn a_pair_with_one_current_row_among_old_ones_is_current() {
    let mut school = example_one();
    let mut old = member(MA1, A);
    old.end_date = Some(yesterday());
    school.associates.insert(0, old);
    let decision = run(&school);
    assert_eq!(student_ids(&decision), vec![A]);
    assert!(decision.exclusions.dropped.is_empty());
}

#[test]
fn class_not_current_is_excluded() {
    let mut school = example_one();
    school.collections[0].end_date = Some(yesterday());
    let decision = run(&school);
    assert_eq!(
        reasons(&decision, Class, MA1),
        vec![NotCurrent, NoStudents, NoTeachers]
    );
    assert_eq!(reasons(&decision, Student, A), vec![NoClasses]);
}

#[test]
fn unknown_or_absent_collection_type_is_a_collection_exclusion() {
    let mut school = example_one();
    school.collections.push(collection(500, "Chess", "CLUB"));
    let mut untyped = collection(501, "Thing", "x");
    untyped.type_name = None;
    school.collections.push(untyped);
    let mut old_club = collection(502, "Old", "club");
    old_club.end_date = Some(yesterday());
    school.collections.push(old_club);
    let lonely = 4400;
    school.students.push(student(lonely));
    school.associates.push(member(500, lonely));
    school.associates.push(member(500, A));
    let decision = run(&school);
    assert_eq!(
        reasons(&decision, Collection, 500),
        vec![UnknownCollectionType]
    );
    assert_eq!(
        reasons(&decision, Collection, 501),
        vec![UnknownCollectionType]
    );
    assert_eq!(
        reasons(&decision, Collection, 502),
        vec![NotCurrent, UnknownCollectionType]
    );
    assert_eq!(reasons(&decision, Student, lonely), vec![NoClasses]);
    assert_eq!(caused_by(&decision, Student, lonely), vec![]);
    assert_eq!(student_ids(&decision), vec![A]);
    assert!(
        decision.exclusions.dropped.is_empty(),
        "memberships of it are not dropped"
    );
}

#[test]
fn collection_types_are_read_trimmed_any_case() {
    let mut school = example_one();
    school.collections[0].type_name = Some(" class ".into());
    school.collections.push(collection(302, "7X", "tutorgrp"));
    school.associates.push(member(302, A));
    school.executives.push(attached(302, T, "main tutor"));
    let decision = run(&school);
    assert_eq!(class_ids(&decision), vec![MA1, 302]);
}

#[test]
fn groups_come_through_with_members_who_do_and_have_no_teachers() {
    let mut school = example_one();
    let outsider = 4500;
    let mut withdrawn = student(outsider);
    withdrawn.data_processing_consent = Some("Withdrawn".into());
    school.students.push(withdrawn);
    for (id, kind) in [
        (601, "HOUSE"),
        (602, "year"),
        (603, "Band"),
        (604, "CUSTOM"),
    ] {
        school.collections.push(collection(id, "G", kind));
        school.associates.push(member(id, A));
        school.associates.push(member(id, outsider));
    }
    school.executives.push(attached(601, T, "Head of House"));
    let mut ended = collection(605, "Old house", "HOUSE");
    ended.end_date = Some(yesterday());
    school.collections.push(ended);
    school.associates.push(member(605, A));
    let decision = run(&school);
    let kinds: Vec<GroupKind> = decision.roster.groups.iter().map(|g| g.kind).collect();
    assert_eq!(
        kinds,
        vec![
            GroupKind::House,
            GroupKind::Year,
            GroupKind::Band,
            GroupKind::Custom
        ]
    );
    assert!(
        decision
            .roster
            .group_students
            .iter()
            .all(|m| m.student_id == A)
    );
    assert_eq!(decision.roster.group_students.len(), 4);
    assert_eq!(reasons(&decision, Group, 605), vec![NotCurrent]);
    assert_eq!(
        reasons(&decision, Student, outsider),
        vec![NoConsent, NoClasses]
    );
    assert_eq!(
        decision.roster.class_teachers.len(),
        1,
        "the head of house is no class teacher"
    );
}

#[test]
fn main_tutor_counts_and_several_mains_go_to_the_lowest_staff_id() {
    let mut school = example_one();
    school.staff.extend([staff(70), staff(95)]);
    school.executives[0].role = Some("Main Tutor".into());
    school.executives.push(attached(MA1, 95, "MAIN TEACHER"));
    school
        .executives
        .push(attached(MA1, 70, "Additional Teacher"));
    let decision = run(&school);
    let mains: Vec<(i64, bool)> = decision
        .roster
        .class_teachers
        .iter()
        .map(|t| (t.staff_id, t.is_main))
        .collect();
    assert_eq!(mains, vec![(70, false), (T, true), (95, false)]);

    // The lowest main falls out: the next main among those who come through takes over.
    school.staff[0].title = None;
    let decision = run(&school);
    let mains: Vec<(i64, bool)> = decision
        .roster
        .class_teachers
        .iter()
        .map(|t| (t.staff_id, t.is_main))
        .collect();
    assert_eq!(mains, vec![(70, false), (95, true)]);
}

#[test]
fn no_main_role_means_no_main_teacher() {
    let mut school = example_one();
    school.executives[0].role = None;
    let decision = run(&school);
    assert_eq!(decision.roster.class_teachers.len(), 1);
    assert!(!decision.roster.class_teachers[0].is_main);
}

#[test]
fn no_tutor_group_placeholder_means_none() {
    for placeholder in ["NoTutorGrp", " notutorgrp ", "NOTUTORGRP"] {
        let mut school = example_one();
        school.students[0].tutor_group = Some(placeholder.into());
        assert_eq!(
            run(&school).roster.students[0].tutor_group,
            None,
            "{placeholder:?}"
        );
    }
    let mut school = example_one();
    school.students[0].tutor_group = Some(" 7KH ".into());
    assert_eq!(
        run(&school).roster.students[0].tutor_group.as_deref(),
        Some("7KH")
    );
}

#[test]
fn class_name_and_subject_fall_back() {
    let mut school = example_one();
    school.collections[0].subject_name = Some("Maths".into());
    let decision = run(&school);
    assert_eq!(decision.roster.classes[0].subject.as_deref(), Some("Maths"));

    school.collections[0].subject_name = None;
    school.collections[0].name = None;
    let decision = run(&school);
    assert_eq!(decision.roster.classes[0].name, "Description");
    assert_eq!(
        decision.roster.classes[0].subject.as_deref(),
        Some("Description")
    );

    school.collections[0].description = None;
    let decision = run(&school);
    assert_eq!(decision.roster.classes[0].name, MA1.to_string());
    assert_eq!(decision.roster.classes[0].subject, None);
}

#[test]
fn step_mother_is_not_mother() {
    let mut school = example_one();
    school.contacts.push(contact(900));
    school
        .student_contacts
        .push(link(900, A, "Step-Mother", false));
    school.contacts.push(contact(901));
    school
        .student_contacts
        .push(link(901, A, " father ", false));
    let decision = run(&school);
    assert_eq!(parent_ids(&decision), vec![901]);
    assert_eq!(decision.roster.parent_students[0].relationship, "father");
    assert_eq!(reasons(&decision, Parent, 900), vec![NoEligibleChildren]);
}

#[test]
fn contact_needs_consent_title_and_names_and_every_reason_is_listed() {
    let mut school = example_one();
    school.contacts.push(crate::snapshot::Contact {
        person_id: 900,
        ..Default::default()
    });
    school.student_contacts.push(link(900, A, "Carer", false));
    let decision = run(&school);
    assert_eq!(
        reasons(&decision, Parent, 900),
        vec![
            NoConsent,
            MissingTitle,
            MissingFirstName,
            MissingLastName,
            NoEligibleChildren
        ]
    );
}

#[test]
fn contact_with_no_links_has_no_eligible_children() {
    let mut school = example_one();
    school.contacts.push(contact(900));
    let decision = run(&school);
    assert_eq!(reasons(&decision, Parent, 900), vec![NoEligibleChildren]);
}

#[test]
fn emails_and_phones_pick_by_priority_then_alphabet_with_no_priority_last() {
    let mut school = example_one();
    school.contacts.push(contact(900));
    school.student_contacts.push(link(900, A, "Mother", false));
    school.emails = vec![
        detail(900, "zed@x", None),
        detail(900, "b@x", Some(3)),
        detail(900, "a@x", Some(3)),
        detail(900, "  ", Some(1)),
        detail(T, "staff@x", Some(0)),
    ];
    school.telephones = vec![detail(900, "0700", None), detail(900, "0100", None)];
    let decision = run(&school);
    assert_eq!(decision.roster.parents[0].email.as_deref(), Some("a@x"));
    assert_eq!(decision.roster.parents[0].phone.as_deref(), Some("0100"));
    assert!(
        decision.exclusions.dropped.is_empty(),
        "staff rows are ignored, not dropped"
    );

    school.emails = vec![detail(900, "zed@x", None), detail(900, "y@x", Some(9))];
    assert_eq!(run(&school).roster.parents[0].email.as_deref(), Some("y@x"));
}

#[test]
fn teacher_email_is_the_work_email_or_none() {
    let mut school = example_one();
    school.staff[0].work_email = Some("  ".into());
    assert_eq!(run(&school).roster.teachers[0].email, None);
}

#[test]
fn a_class_needs_both_a_student_and_a_teacher() {
    let mut school = example_one();
    school.collections.push(class(302, "No teacher"));
    school.associates.push(member(302, A));
    school.collections.push(class(303, "No student"));
    school.executives.push(attached(303, T, "Teacher"));
    let decision = run(&school);
    assert_eq!(class_ids(&decision), vec![MA1]);
    assert_eq!(reasons(&decision, Class, 302), vec![NoTeachers]);
    assert_eq!(caused_by(&decision, Class, 302), vec![]);
    assert_eq!(reasons(&decision, Class, 303), vec![NoStudents]);
    let memberships: Vec<(i64, i64)> = decision
        .roster
        .class_students
        .iter()
        .map(|m| (m.class_id, m.student_id))
        .collect();
    assert_eq!(memberships, vec![(MA1, A)]);
}

#[test]
fn removing_a_record_ripples_only_as_far_as_it_must() {
    // Two classes share student A; class 302's only teacher lacks a title. A stays through
    // 301, so only 302 and its teacher fall.
    let mut school = example_one();
    let mut untitled = staff(77);
    untitled.title = None;
    school.staff.push(untitled);
    school.collections.push(class(302, "7X/Fr1"));
    school.associates.push(member(302, A));
    school.executives.push(attached(302, 77, "Main Teacher"));
    let decision = run(&school);
    assert_eq!(student_ids(&decision), vec![A]);
    assert_eq!(reasons(&decision, Class, 302), vec![NoTeachers]);
    assert_eq!(caused_by(&decision, Class, 302), vec![record(Teacher, 77)]);
    assert_eq!(
        reasons(&decision, Teacher, 77),
        vec![MissingTitle, NoEligibleStudents]
    );
}

#[test]
fn the_answer_does_not_depend_on_input_order() {
    let mut school = example_one();
    school.students.extend([student(2), student(3)]);
    school.staff.push(staff(5));
    school.collections.push(class(7, "B"));
    school
        .associates
        .extend([member(7, 2), member(7, 3), member(MA1, 3)]);
    school.executives.push(attached(7, 5, "Main Teacher"));
    school.contacts.extend([contact(11), contact(12)]);
    school
        .student_contacts
        .extend([link(11, 2, "Mother", true), link(12, 3, "Aunt", false)]);
    school
        .emails
        .extend([detail(11, "a@x", Some(2)), detail(11, "b@x", Some(2))]);
    let forward = run(&school);
    let mut reversed: Snapshot = school.clone();
    reversed.students.reverse();
    reversed.staff.reverse();
    reversed.collections.reverse();
    reversed.associates.reverse();
    reversed.executives.reverse();
    reversed.contacts.reverse();
    reversed.student_contacts.reverse();
    reversed.emails.reverse();
    assert_eq!(run(&reversed), forward);
}

#[test]
fn pending_or_any_other_consent_than_granted_is_not_consent_for_students_and_contacts() {
    for consent in [
        "Pending",
        " pending ",
        "",
        "Not granted",
        "Granted?",
        "Refused",
    ] {
        let mut school = example_one();
        let waiting = 4300;
        let mut pending = student(waiting);
        pending.data_processing_consent = Some(consent.into());
        school.students.push(pending);
        school.associates.push(member(MA1, waiting));
        let mut parent = contact(950);
        parent.data_processing_consent = Some(consent.into());
        school.contacts.push(parent);
        school.student_contacts.push(link(950, A, "Mother", true));
        let decision = run(&school);
        assert_eq!(student_ids(&decision), vec![A], "consent {consent:?}");
        assert_eq!(
            reasons(&decision, Student, waiting),
            vec![NoConsent],
            "{consent:?}"
        );
        assert!(parent_ids(&decision).is_empty(), "consent {consent:?}");
        assert_eq!(
            reasons(&decision, Parent, 950),
            vec![NoConsent],
            "{consent:?}"
        );
    }
}

#[test]
fn a_repeated_link_stores_the_row_with_parental_responsibility_first() {
    // A link repeated over several qualifying rows stores one with parental responsibility
    // before one without, whatever the relationship's alphabet says and whatever the rows'
    // order (the rule of `eligibility::contacts`, so the answer never depends on row order).
    let rows = [
        link(900, A, "Father", false),
        link(900, A, "Step-Father", true),
    ];
    for order in [[0, 1], [1, 0]] {
        let mut school = example_one();
        school.contacts.push(contact(900));
        school
            .student_contacts
            .extend(order.map(|i| rows[i].clone()));
        let decision = run(&school);
        assert_eq!(parent_ids(&decision), vec![900]);
        let stored = &decision.roster.parent_students[0];
        assert_eq!(stored.relationship, "Step-Father", "order {order:?}");
        assert!(stored.parental_responsibility, "order {order:?}");
    }
}

#[test]
fn a_fallen_group_or_parent_names_its_own_fallen_students_not_another_records() {
    // Student 5000 has no consent and falls. It is not the first student (A is): the group and
    // the contact that lose it must name it, not whichever record comes first.
    let mut school = example_one();
    let mut fallen = student(5000);
    fallen.data_processing_consent = None;
    school.students.push(fallen);
    school.collections.push(collection(50, "Red", "HOUSE"));
    school.associates.push(member(50, 5000));
    school.contacts.extend([contact(11), contact(12)]);
    school
        .student_contacts
        .extend([link(11, A, "Mother", true), link(12, 5000, "Father", false)]);
    let decision = run(&school);
    assert_eq!(reasons(&decision, Group, 50), vec![NoStudents]);
    assert_eq!(caused_by(&decision, Group, 50), vec![record(Student, 5000)]);
    assert_eq!(parent_ids(&decision), vec![11]);
    assert_eq!(reasons(&decision, Parent, 12), vec![NoEligibleChildren]);
    assert_eq!(
        caused_by(&decision, Parent, 12),
        vec![record(Student, 5000)]
    );
}
