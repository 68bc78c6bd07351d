//! Integration tests: the simulator's generator, its shape, and churn between runs.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::OnceLock;

use bromsync::snapshot::{EntityKind, SchoolId};
use bromsync_sim::churn::{
    ChurnSummary, churn, end_membership, remove_rows, set_field, withdraw_consent,
};
use bromsync_sim::dataset::{Dataset, SchoolData};
use bromsync_sim::generator::{FIRST_SCHOOL_ID, GenerateOptions, generate};
use bromsync_sim::shape::{ShapeArgs, run_shape, shape};
use chrono::NaiveDate;
use serde_json::{Value, json};

use crate::support::fixed_today as today;

fn options(seed: u64, schools: usize, students: usize) -> GenerateOptions {
    GenerateOptions::new(seed, schools, students, today())
}

/// Two schools of 1,000 students: 2,000 in all, generated once for the read-only tests.
fn trust() -> &'static Dataset {
    static TRUST: OnceLock<Dataset> = OnceLock::new();
    TRUST.get_or_init(|| generate(&options(42, 2, 1000)))
}

fn rows(school: &SchoolData, kind: EntityKind) -> &[Value] {
    school.get(&kind).map_or(&[], Vec::as_slice)
}

fn id(row: &Value, field: &str) -> Option<i64> {
    match row.get(field)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn ids(school: &SchoolData, kind: EntityKind, field: &str) -> Vec<i64> {
    rows(school, kind)
        .iter()
        .filter_map(|r| id(r, field))
        .collect()
}

fn bytes(dataset: &Dataset) -> Vec<u8> {
    serde_json::to_vec(dataset).unwrap_or_default()
}

#[test]
fn same_options_give_identical_bytes_and_other_seeds_or_dates_do_not() {
    let first = bytes(&generate(&options(7, 2, 400)));
    let again = bytes(&generate(&options(7, 2, 400)));
    assert!(
        first.len() > 100_000,
        "suspiciously small: {} bytes",
        first.len()
    );
    assert_eq!(first, again);
    assert_ne!(first, bytes(&generate(&options(8, 2, 400))));
    let later = GenerateOptions {
        today: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap_or_default(),
        ..options(7, 2, 400)
    };
    assert_ne!(first, bytes(&generate(&later)));
}

#[test]
fn the_shape_of_two_thousand_students_is_a_real_secondary_school() {
    let report = shape(trust(), today());
    let f = &report.overall;
    let within = |name: &str, value: f64, low: f64, high: f64| {
        assert!(
            (low..=high).contains(&value),
            "{name} = {value:.2}, expected {low}..{high}\n{report}"
        );
    };
    assert_eq!(f.students, 2000);
    within(
        "students per tutor group",
        f.students_per_tutor_group(),
        20.0,
        30.0,
    );
    within("classes per student", f.classes_per_student(), 10.0, 14.0);
    within("students per class", f.students_per_class(), 15.0, 30.0);
    within("contacts per student", f.contacts_per_student(), 1.6, 2.0);
    within(
        "distinct contacts per student",
        f.distinct_contacts_per_student(),
        1.0,
        1.6,
    );
    within(
        "staff % of students",
        f.staff_percent_of_students(),
        6.0,
        10.0,
    );
    within("student consent %", f.student_consent_percent(), 94.0, 99.5);
    within("contact consent %", f.contact_consent_percent(), 93.0, 99.5);
    within("staff consent %", f.staff_consent_percent(), 94.0, 99.9);
    within(
        "parents' responsibility %",
        f.parent_responsibility_percent(),
        92.0,
        99.9,
    );
    within(
        "all links' responsibility %",
        f.responsibility_percent(),
        60.0,
        92.0,
    );
    within("emails per contact", f.emails_per_contact(), 1.0, 2.5);
    within("phones per contact", f.phones_per_contact(), 1.2, 2.5);
    within(
        "leavers %",
        100.0 * f.leavers as f64 / f.students as f64,
        0.5,
        5.0,
    );
    within(
        "teaching staff %",
        100.0 * f.staff_teaching as f64 / f.staff_current as f64,
        60.0,
        90.0,
    );
    within(
        "contacts missing a title %",
        100.0 * f.contacts_missing_title as f64 / f.contacts as f64,
        1.0,
        6.0,
    );
    assert!(f.staff_missing_title > 0, "{report}");
    assert!(
        f.students_without_tutor_group > 0 && f.students_without_tutor_group < 60,
        "{report}"
    );
    assert!(f.students_with_preferred_name > 40, "{report}");
    assert!(
        f.ended_collections > 0 && f.ended_memberships > 0,
        "{report}"
    );
    assert!(f.other_emails > 0 && f.other_phones > 0, "{report}");
    for kind in ["CLASS", "TUTORGRP", "HOUSE", "YEAR", "BAND", "CUSTOM"] {
        assert!(
            f.collections_by_kind.get(kind).is_some_and(|n| *n > 0),
            "no {kind}\n{report}"
        );
    }
    let relationships: BTreeSet<&str> = f.relationships.keys().map(String::as_str).collect();
    for expected in [
        "Mother",
        "Father",
        "Step-Mother",
        "Step-Father",
        "Carer",
        "Grandparent",
        "Aunt",
        "Uncle",
    ] {
        assert!(
            relationships.contains(expected),
            "no {expected}: {relationships:?}"
        );
    }
    assert!(f.relationships["Mother"] > f.relationships["Grandparent"]);
    assert_eq!(report.schools.len(), 2);
}

#[test]
fn every_year_group_is_there_and_the_sixth_form_is_smaller() {
    let school = &trust().schools[&FIRST_SCHOOL_ID];
    let mut per_year: BTreeMap<String, usize> = BTreeMap::new();
    for row in rows(school, EntityKind::Students) {
        *per_year
            .entry(row["yearGroup"].as_str().unwrap_or("").to_owned())
            .or_default() += 1;
    }
    let years: Vec<&str> = per_year.keys().map(String::as_str).collect();
    assert_eq!(years, ["10", "11", "12", "13", "7", "8", "9"]);
    assert!(
        per_year["12"] < per_year["11"] && per_year["13"] < per_year["7"],
        "{per_year:?}"
    );
}

#[test]
fn ids_are_unique_per_entity_and_people_share_no_ids() {
    for (school_id, school) in &trust().schools {
        let mut people = HashSet::new();
        for (kind, field) in [
            (EntityKind::Students, "studentID"),
            (EntityKind::Staff, "staffID"),
            (EntityKind::Contacts, "personID"),
            (EntityKind::Collections, "collectionID"),
        ] {
            let all = ids(school, kind, field);
            assert_eq!(
                all.len(),
                rows(school, kind).len(),
                "{school_id} {kind}: unreadable ID"
            );
            let unique: HashSet<i64> = all.iter().copied().collect();
            assert_eq!(unique.len(), all.len(), "{school_id} {kind}: duplicate ID");
            if kind != EntityKind::Collections {
                assert!(
                    all.iter().all(|i| people.insert(*i)),
                    "{school_id}: {kind} reuses a person ID"
                );
            }
        }
    }
    let [first, second] = [FIRST_SCHOOL_ID, FIRST_SCHOOL_ID + 1].map(|s| {
        ids(&trust().schools[&s], EntityKind::Students, "studentID")
            .into_iter()
            .collect::<HashSet<_>>()
    });
    assert!(
        first.is_disjoint(&second),
        "schools should use distinct ID ranges"
    );
}

/// Every membership, link and detail points at a record that exists.
fn assert_references_hold(school_id: SchoolId, school: &SchoolData) {
    let set = |kind, field| {
        ids(school, kind, field)
            .into_iter()
            .collect::<HashSet<i64>>()
    };
    let students = set(EntityKind::Students, "studentID");
    let staff = set(EntityKind::Staff, "staffID");
    let contacts = set(EntityKind::Contacts, "personID");
    let collections = set(EntityKind::Collections, "collectionID");
    let check = |kind: EntityKind, field: &str, targets: &[&HashSet<i64>]| {
        for row in rows(school, kind) {
            let value = id(row, field);
            assert!(
                value.is_some_and(|v| targets.iter().any(|t| t.contains(&v))),
                "{school_id} {kind}.{field} dangles: {row}"
            );
        }
    };
    check(
        EntityKind::CollectionAssociates,
        "collectionID",
        &[&collections],
    );
    check(EntityKind::CollectionAssociates, "personID", &[&students]);
    check(
        EntityKind::CollectionExecutives,
        "collectionID",
        &[&collections],
    );
    check(EntityKind::CollectionExecutives, "staffID", &[&staff]);
    check(EntityKind::StudentContacts, "studentID", &[&students]);
    check(EntityKind::StudentContacts, "personID", &[&contacts]);
    check(
        EntityKind::Emails,
        "personID",
        &[&contacts, &staff, &students],
    );
    check(
        EntityKind::PersonTelephones,
        "personID",
        &[&contacts, &staff, &students],
    );
}

#[test]
fn every_membership_link_and_detail_references_an_existing_record() {
    for (school_id, school) in &trust().schools {
        assert_references_hold(*school_id, school);
        assert!(rows(school, EntityKind::CollectionAssociates).len() > 10_000);
    }
}

fn is_api_date(text: &str) -> bool {
    text.len() == 19
        && text.ends_with("T00:00:00")
        && NaiveDate::parse_from_str(&text[..10], "%Y-%m-%d").is_ok()
}

#[test]
fn every_date_is_in_the_contract_form() {
    let mut seen = 0;
    for school in trust().schools.values() {
        for kind in EntityKind::ALL {
            for row in rows(school, kind) {
                let Some(object) = row.as_object() else {
                    panic!("{kind} row is not an object: {row}");
                };
                for (key, value) in object
                    .iter()
                    .filter(|(k, _)| k.ends_with("Date") || *k == "dateOfBirth")
                {
                    match value {
                        Value::Null => {}
                        Value::String(text) if is_api_date(text) => seen += 1,
                        other => panic!("{kind}.{key} is not a contract date: {other}"),
                    }
                }
            }
        }
    }
    assert!(seen > 30_000, "only {seen} dates seen");
}

#[test]
fn rows_carry_exactly_the_contract_columns() {
    let expected: [(EntityKind, &[&str]); 9] = [
        (
            EntityKind::Students,
            &[
                "studentID",
                "firstName",
                "lastName",
                "preferredFirstName",
                "preferredLastName",
                "dateOfBirth",
                "tutorGroup",
                "yearGroup",
                "startDate",
                "endDate",
                "dataProcessingConsent",
            ],
        ),
        (
            EntityKind::Staff,
            &[
                "staffID",
                "title",
                "firstName",
                "lastName",
                "preferredFirstName",
                "preferredLastName",
                "workEmail",
                "startDate",
                "endDate",
                "dataProcessingConsent",
            ],
        ),
        (
            EntityKind::Contacts,
            &[
                "personID",
                "title",
                "firstName",
                "lastName",
                "dataProcessingConsent",
            ],
        ),
        (
            EntityKind::StudentContacts,
            &[
                "studentID",
                "personID",
                "relationship",
                "parentalResponsibility",
            ],
        ),
        (
            EntityKind::Emails,
            &["personID", "emailAddress", "priority"],
        ),
        (
            EntityKind::PersonTelephones,
            &["personID", "telephoneNumber", "priority"],
        ),
        (
            EntityKind::Collections,
            &[
                "collectionID",
                "collectionName",
                "collectionDescription",
                "subjectName",
                "collectionTypeName",
                "startDate",
                "endDate",
            ],
        ),
        (
            EntityKind::CollectionAssociates,
            &["collectionID", "personID", "startDate", "endDate"],
        ),
        (
            EntityKind::CollectionExecutives,
            &[
                "collectionID",
                "staffID",
                "collectionRoleTypeDescription",
                "startDate",
                "endDate",
            ],
        ),
    ];
    let school = &trust().schools[&FIRST_SCHOOL_ID];
    for (kind, columns) in expected {
        let want: BTreeSet<&str> = columns.iter().copied().collect();
        for row in rows(school, kind) {
            let got: BTreeSet<&str> = row
                .as_object()
                .map(|o| o.keys().map(String::as_str).collect())
                .unwrap_or_default();
            assert_eq!(got, want, "{kind}");
        }
    }
}

#[test]
fn the_data_carries_the_mess_the_sync_must_handle() {
    let school = &trust().schools[&FIRST_SCHOOL_ID];
    let count =
        |kind, test: &dyn Fn(&Value) -> bool| rows(school, kind).iter().filter(|r| test(r)).count();
    let padded = |v: &Value| v.as_str().is_some_and(|s| s.trim() != s);
    assert!(
        count(EntityKind::Students, &|r| padded(&r["firstName"])
            || padded(&r["lastName"]))
            > 10
    );
    assert!(count(EntityKind::Students, &|r| r["tutorGroup"] == "NoTutorGrp") > 0);
    assert!(
        count(EntityKind::Students, &|r| r["dataProcessingConsent"]
            == "Withdrawn")
            > 0
    );
    assert!(
        count(EntityKind::Students, &|r| r["dataProcessingConsent"]
            == "Pending")
            > 0
    );
    assert!(count(EntityKind::Emails, &|r| r["priority"].is_null()) > 0);
    assert!(
        count(EntityKind::StudentContacts, &|r| {
            r["parentalResponsibility"].is_boolean()
        }) > 0
    );
    assert!(
        count(
            EntityKind::StudentContacts,
            &|r| r["parentalResponsibility"] == "Yes"
        ) > 0
    );
    assert!(
        count(
            EntityKind::StudentContacts,
            &|r| r["parentalResponsibility"] == "No"
        ) > 0
    );
    assert!(
        count(EntityKind::CollectionAssociates, &|r| r["personID"]
            .is_string())
            > 0
    );
    let roles: BTreeSet<&str> = rows(school, EntityKind::CollectionExecutives)
        .iter()
        .filter_map(|r| r["collectionRoleTypeDescription"].as_str().map(str::trim))
        .collect();
    for role in [
        "Main Teacher",
        "Teacher",
        "Additional Teacher",
        "Main Tutor",
        "Additional Tutor",
    ] {
        assert!(roles.contains(role), "no {role}: {roles:?}");
    }
    let classes: Vec<&str> = rows(school, EntityKind::Collections)
        .iter()
        .filter(|r| r["collectionTypeName"] == "CLASS")
        .filter_map(|r| r["collectionName"].as_str())
        .collect();
    assert!(
        classes.iter().any(|n| n.trim() == "7X/Ma1"),
        "no 7X/Ma1 among {}",
        classes.len()
    );
}

/// Rows of `kind` by their ID, for comparing a school before and after churn.
fn by_id(school: &SchoolData, kind: EntityKind, field: &str) -> HashMap<i64, Value> {
    rows(school, kind)
        .iter()
        .filter_map(|r| Some((id(r, field)?, r.clone())))
        .collect()
}

fn changed_and_added(
    before: &SchoolData,
    after: &SchoolData,
    kind: EntityKind,
    field: &str,
) -> (usize, usize) {
    let old = by_id(before, kind, field);
    let new = by_id(after, kind, field);
    let changed = new
        .iter()
        .filter(|(k, v)| old.get(k).is_some_and(|o| o != *v))
        .count();
    let added = new.keys().filter(|k| !old.contains_key(k)).count();
    (changed, added)
}

#[test]
fn churn_changes_about_the_fraction_asked_and_nothing_else() {
    let mut data = generate(&options(3, 2, 1000));
    let before = data.clone();
    let summary = churn(&mut data, FIRST_SCHOOL_ID, 0.1, 11, today());
    let (old, new) = (
        &before.schools[&FIRST_SCHOOL_ID],
        &data.schools[&FIRST_SCHOOL_ID],
    );
    let on_roll = shape(&before, today()).schools[&FIRST_SCHOOL_ID].students_on_roll as f64;

    let (students_changed, students_added) =
        changed_and_added(old, new, EntityKind::Students, "studentID");
    let near = |name: &str, value: usize, target: f64| {
        assert!(
            (value as f64 - target).abs() <= target * 0.1 + 2.0,
            "{name}: {value}, expected about {target:.0}; {summary:?}"
        );
    };
    near("students changed", students_changed, 0.1 * on_roll);
    near("students added", students_added, 0.025 * on_roll);
    assert_eq!(
        students_changed,
        summary.students_renamed + summary.student_consent_withdrawn + summary.leavers
    );
    assert_eq!(students_added, summary.students_added);
    let contacts = rows(old, EntityKind::Contacts).len() as f64;
    let (contacts_changed, contacts_added) =
        changed_and_added(old, new, EntityKind::Contacts, "personID");
    near("contacts changed", contacts_changed, 0.1 * contacts);
    assert_eq!(contacts_added, summary.contacts_added);
    let (staff_changed, _) = changed_and_added(old, new, EntityKind::Staff, "staffID");
    near(
        "staff changed",
        staff_changed,
        0.1 * rows(old, EntityKind::Staff).len() as f64,
    );
    assert!(
        summary.emails_changed > 0 && summary.phones_changed > 0 && summary.memberships_ended > 0
    );
    assert_eq!(summary.memberships_added, summary.memberships_ended);
    assert_eq!(
        rows(new, EntityKind::CollectionAssociates).len(),
        rows(old, EntityKind::CollectionAssociates).len()
            + summary.memberships_added
            + summary.new_student_memberships
    );
    assert!(summary.new_student_memberships >= summary.students_added * 10);

    // The other school is untouched, and the churned one still holds together.
    assert_eq!(
        before.schools[&(FIRST_SCHOOL_ID + 1)],
        data.schools[&(FIRST_SCHOOL_ID + 1)]
    );
    assert_references_hold(FIRST_SCHOOL_ID, new);
    let students = ids(new, EntityKind::Students, "studentID");
    assert_eq!(
        students.iter().collect::<HashSet<_>>().len(),
        students.len()
    );
    let after = shape(&data, today());
    assert_eq!(
        after.schools[&FIRST_SCHOOL_ID].students_on_roll as f64,
        on_roll - summary.leavers as f64 + summary.students_added as f64
    );
}

#[test]
fn churn_is_deterministic_and_depends_on_its_seed() {
    let base = generate(&options(3, 1, 600));
    let run = |seed: u64| {
        let mut data = base.clone();
        let summary = churn(&mut data, FIRST_SCHOOL_ID, 0.05, seed, today());
        (bytes(&data), summary)
    };
    let (first, summary) = run(1);
    assert_eq!((first.clone(), summary.clone()), run(1));
    assert_ne!(first, run(2).0);
    assert!(summary.total() > 0);

    let mut untouched = base.clone();
    assert_eq!(
        churn(&mut untouched, FIRST_SCHOOL_ID, 0.0, 1, today()).total(),
        0
    );
    assert_eq!(
        churn(&mut untouched, 99_999, 0.5, 1, today()),
        ChurnSummary::default()
    );
    assert_eq!(untouched, base);
}

#[test]
fn row_editors_change_exactly_the_rows_named() {
    let mut data = generate(&options(5, 1, 200));
    let school = &data.schools[&FIRST_SCHOOL_ID];
    let student = ids(school, EntityKind::Students, "studentID")[0];
    let membership = rows(school, EntityKind::CollectionAssociates)
        .iter()
        .find(|r| id(r, "personID") == Some(student))
        .and_then(|r| id(r, "collectionID"));
    let Some(collection) = membership else {
        panic!("the first student should have a membership");
    };
    let links = rows(school, EntityKind::StudentContacts)
        .iter()
        .filter(|r| id(r, "studentID") == Some(student))
        .count();

    assert!(withdraw_consent(&mut data, FIRST_SCHOOL_ID, student));
    assert!(!withdraw_consent(&mut data, FIRST_SCHOOL_ID, -1));
    let yesterday = today().pred_opt().unwrap_or_default();
    assert!(end_membership(&mut data, FIRST_SCHOOL_ID, collection, student, yesterday) >= 1);
    assert_eq!(
        set_field(
            &mut data,
            FIRST_SCHOOL_ID,
            EntityKind::Students,
            "StudentId",
            student,
            "FirstName",
            json!("Zed")
        ),
        1
    );
    assert_eq!(
        remove_rows(
            &mut data,
            FIRST_SCHOOL_ID,
            EntityKind::StudentContacts,
            "studentID",
            student
        ),
        links
    );

    let school = &data.schools[&FIRST_SCHOOL_ID];
    let row = by_id(school, EntityKind::Students, "studentID")
        .remove(&student)
        .unwrap_or_default();
    assert_eq!(row["dataProcessingConsent"], "Withdrawn");
    assert_eq!(row["firstName"], "Zed");
    assert!(
        row.get("FirstName").is_none(),
        "the existing key should be reused"
    );
    assert!(
        rows(school, EntityKind::CollectionAssociates)
            .iter()
            .any(|r| id(r, "personID") == Some(student)
                && id(r, "collectionID") == Some(collection)
                && r["endDate"] == json!(format!("{yesterday}T00:00:00")))
    );
    let report = shape(&data, today());
    assert_eq!(
        report.overall.students_consented + 1,
        shape(&generate(&options(5, 1, 200)), today())
            .overall
            .students_consented
    );
}

#[test]
fn sim_shape_prints_a_table_for_every_school() {
    let printed = run_shape(&ShapeArgs {
        seed: 4,
        schools: 2,
        students: 150,
        today: Some(today()),
    });
    for expected in [
        "20001",
        "20002",
        "all",
        "classes per student",
        "students per tutor group",
        "relationship Mother",
    ] {
        assert!(printed.contains(expected), "missing {expected}:\n{printed}");
    }
}
