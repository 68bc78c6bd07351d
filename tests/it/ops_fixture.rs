//! A small school for the operator views' tests (export, status, check, history, metrics),
//! with the values a CSV writer or a history query can get wrong: commas, quotes, non-ASCII,
//! an absent subject, a teacher and a parent without an email. Names are fictional.

use std::collections::BTreeMap;

use bromsync::snapshot::{EntityKind, SchoolId};
use bromsync_sim::dataset::Dataset;
use serde_json::{Value, json};

/// IDs within a school: `base(school) + offset`.
pub fn base(school: SchoolId) -> i64 {
    school * 1000
}

pub const STUDENTS: [i64; 3] = [1, 2, 3];
pub const TEACHER_WITH_EMAIL: i64 = 101;
pub const TEACHER_WITHOUT_EMAIL: i64 = 102;
pub const PARENT_WITH_EMAIL: i64 = 301;
pub const PARENT_WITHOUT_EMAIL: i64 = 302;
pub const CLASS: i64 = 201;
pub const TUTOR_GROUP: i64 = 202;
pub const HOUSE: i64 = 203;

fn student(school: SchoolId, n: i64, first: &str, last: &str) -> Value {
    json!({"studentID": base(school) + n, "firstName": first, "lastName": last,
           "dateOfBirth": format!("2012-04-0{n}T00:00:00"), "tutorGroup": "7QM", "yearGroup": "7",
           "startDate": "2023-09-01T00:00:00", "dataProcessingConsent": "Granted"})
}

/// The school's rows, entity by entity.
pub fn school_rows(school: SchoolId) -> BTreeMap<EntityKind, Vec<Value>> {
    let b = base(school);
    let students = vec![
        student(school, 1, "Zoë, \"Jo\"", "O'Brien-Smith"),
        student(school, 2, "Ørjan", "Łukasz; Ñúñez"),
        student(school, 3, "Plain", "Student"),
    ];
    let staff = vec![
        json!({"staffID": b + TEACHER_WITH_EMAIL, "title": "Ms", "firstName": "Ada", "lastName": "Quill, Jr",
               "workEmail": "ada.quill@school.example", "startDate": "2020-09-01T00:00:00",
               "dataProcessingConsent": "Granted"}),
        json!({"staffID": b + TEACHER_WITHOUT_EMAIL, "title": "Mr", "firstName": "Bo", "lastName": "Nomail",
               "startDate": "2020-09-01T00:00:00", "dataProcessingConsent": "Granted"}),
    ];
    let collections = vec![
        json!({"collectionID": b + CLASS, "collectionName": "7QM/Ma1, \"set 2\"", "subjectName": "Maths",
               "collectionTypeName": "CLASS"}),
        json!({"collectionID": b + TUTOR_GROUP, "collectionName": "7QM", "collectionTypeName": "TUTORGRP"}),
        json!({"collectionID": b + HOUSE, "collectionName": "Brontë", "collectionTypeName": "HOUSE"}),
    ];
    let associates: Vec<Value> = STUDENTS
        .iter()
        .flat_map(|n| {
            [CLASS, TUTOR_GROUP, HOUSE].map(|c| json!({"collectionID": b + c, "personID": b + n}))
        })
        .collect();
    let executives = vec![
        json!({"collectionID": b + CLASS, "staffID": b + TEACHER_WITH_EMAIL,
               "collectionRoleTypeDescription": "Main Teacher"}),
        json!({"collectionID": b + CLASS, "staffID": b + TEACHER_WITHOUT_EMAIL,
               "collectionRoleTypeDescription": "Teacher"}),
        json!({"collectionID": b + TUTOR_GROUP, "staffID": b + TEACHER_WITHOUT_EMAIL,
               "collectionRoleTypeDescription": "Main Tutor"}),
    ];
    let contacts = vec![
        json!({"personID": b + PARENT_WITH_EMAIL, "title": "Mrs", "firstName": "Cé", "lastName": "Parent, \"A\"",
               "dataProcessingConsent": "Granted"}),
        json!({"personID": b + PARENT_WITHOUT_EMAIL, "title": "Mr", "firstName": "Dee", "lastName": "Nomail",
               "dataProcessingConsent": "Granted"}),
    ];
    let links = vec![
        json!({"studentID": b + 2, "personID": b + PARENT_WITH_EMAIL, "relationship": "Mother",
               "parentalResponsibility": "Yes"}),
        json!({"studentID": b + 1, "personID": b + PARENT_WITH_EMAIL, "relationship": "Mother",
               "parentalResponsibility": "Yes"}),
        json!({"studentID": b + 3, "personID": b + PARENT_WITHOUT_EMAIL, "relationship": "Father",
               "parentalResponsibility": "Yes"}),
    ];
    let emails = vec![
        json!({"personID": b + PARENT_WITH_EMAIL, "emailAddress": "ce.parent@home.example", "priority": 1}),
    ];
    let phones = vec![
        json!({"personID": b + PARENT_WITH_EMAIL, "telephoneNumber": "+44 7700 900123", "priority": 1}),
    ];
    BTreeMap::from([
        (EntityKind::Students, students),
        (EntityKind::Staff, staff),
        (EntityKind::Contacts, contacts),
        (EntityKind::StudentContacts, links),
        (EntityKind::Emails, emails),
        (EntityKind::PersonTelephones, phones),
        (EntityKind::Collections, collections),
        (EntityKind::CollectionAssociates, associates),
        (EntityKind::CollectionExecutives, executives),
    ])
}

/// A dataset of these schools.
pub fn dataset(schools: &[SchoolId]) -> Dataset {
    let mut dataset = Dataset::default();
    for &school in schools {
        dataset.schools.insert(school, school_rows(school));
    }
    dataset
}
