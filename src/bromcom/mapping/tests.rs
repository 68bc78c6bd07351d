//! Reading rows as the client does, from JSON values: the contract's example row, every reading
//! rule, every column's length limit, and any row at all read or recorded as bad.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use proptest::prelude::*;
use serde::Deserialize;
use serde::de::DeserializeSeed;
use serde_json::{Value, json};

use super::columns::*;
use super::field::{Field, RAW_TEXT_MAX_BYTES, parse_date, read_flag, read_integer, read_text};
use super::row::{KeyMemo, RowSeed};
use crate::snapshot::{BadRow, EntityKind, Snapshot, Student, StudentContact};

/// Reads the rows as the client does, each one parsed from a JSON value by [`RowSeed`].
fn snapshot_from_rows(school_id: i64, rows: &BTreeMap<EntityKind, Vec<Value>>) -> Snapshot {
    let mut snapshot = Snapshot {
        school_id,
        ..Snapshot::default()
    };
    for (&entity, rows) in rows {
        // One memo for the entity's rows, as for the rows of one page.
        let mut keys = KeyMemo::default();
        for row in rows {
            let seed = RowSeed {
                entity,
                into: &mut snapshot,
                keys: &mut keys,
            };
            seed.deserialize(row)
                .expect("a JSON value is always readable");
        }
    }
    snapshot
}

fn one(entity: EntityKind, row: Value) -> Snapshot {
    snapshot_from_rows(7, &BTreeMap::from([(entity, vec![row])]))
}

fn field(value: Value) -> Field<'static> {
    Field::deserialize(value).expect("any JSON value is a field")
}

#[test]
fn every_text_field_has_its_length_limit() {
    let ids = |entity| match entity {
        EntityKind::Students => json!({"studentID": 1}),
        EntityKind::Staff => json!({"staffID": 1}),
        EntityKind::Contacts | EntityKind::Emails | EntityKind::PersonTelephones => {
            json!({"personID": 1})
        }
        EntityKind::StudentContacts => json!({"studentID": 1, "personID": 2}),
        EntityKind::Collections | EntityKind::CollectionAssociates => {
            json!({"collectionID": 1})
        }
        EntityKind::CollectionExecutives => json!({"collectionID": 1, "staffID": 2}),
    };
    let text_columns = |entity| -> &[&str] {
        match entity {
            EntityKind::Students => &[
                FIRST_NAME,
                LAST_NAME,
                PREFERRED_FIRST_NAME,
                PREFERRED_LAST_NAME,
                TUTOR_GROUP,
                YEAR_GROUP,
                DATA_PROCESSING_CONSENT,
            ],
            EntityKind::Staff => &[
                TITLE,
                FIRST_NAME,
                LAST_NAME,
                PREFERRED_FIRST_NAME,
                PREFERRED_LAST_NAME,
                WORK_EMAIL,
                DATA_PROCESSING_CONSENT,
            ],
            EntityKind::Contacts => &[TITLE, FIRST_NAME, LAST_NAME, DATA_PROCESSING_CONSENT],
            EntityKind::StudentContacts => &[RELATIONSHIP],
            EntityKind::Emails => &[EMAIL_ADDRESS],
            EntityKind::PersonTelephones => &[TELEPHONE_NUMBER],
            EntityKind::Collections => &[
                COLLECTION_NAME,
                COLLECTION_DESCRIPTION,
                SUBJECT_NAME,
                COLLECTION_TYPE_NAME,
            ],
            EntityKind::CollectionAssociates => &[],
            EntityKind::CollectionExecutives => &[COLLECTION_ROLE_TYPE_DESCRIPTION],
        }
    };
    for entity in EntityKind::ALL {
        for &column in text_columns(entity) {
            let limit = text_limit(column);
            assert!((64..=1000).contains(&limit), "{column}: {limit}");
            // Multi-byte characters count once; surrounding spaces are cleaned off first.
            for (chars, kept) in [(limit, true), (limit + 1, false)] {
                let mut row = ids(entity);
                row[column] = json!(format!("  {}  ", "é".repeat(chars)));
                let read = one(entity, row);
                if kept {
                    assert!(read.bad_rows.is_empty(), "{entity:?}.{column} at {chars}");
                } else {
                    assert_eq!(read.bad_rows.len(), 1, "{entity:?}.{column} at {chars}");
                    let bad = &read.bad_rows[0];
                    assert_eq!(
                        (bad.field.as_str(), bad.problem.as_str()),
                        (column, TEXT_TOO_LONG)
                    );
                }
            }
        }
    }
}

#[test]
fn a_string_too_long_for_any_column_is_not_kept() {
    let huge = "x".repeat(RAW_TEXT_MAX_BYTES + 1);
    assert_eq!(field(json!(huge)), Field::TooLong);
    let text = format!("{{\"a\": \"{huge}\", \"b\": \"{huge}\\n\"}}");
    let mut de = serde_json::Deserializer::from_str(&text);
    let map: BTreeMap<String, Field> = BTreeMap::deserialize(&mut de).unwrap();
    assert_eq!(map["a"], Field::TooLong, "borrowed");
    assert_eq!(map["b"], Field::TooLong, "escaped");
    let limit = "x".repeat(RAW_TEXT_MAX_BYTES);
    assert_eq!(field(json!(limit)), Field::Text(limit.clone().into()));
}

#[test]
fn reads_the_contract_example_student() {
    let s = one(
        EntityKind::Students,
        json!({"studentID": 4101, "firstName": "Amelia   ", "lastName": "Khan",
            "preferredFirstName": "Millie", "preferredLastName": null,
            "dateOfBirth": "2011-03-14T00:00:00", "tutorGroup": "7KH ", "yearGroup": "7",
            "startDate": "2022-09-01T00:00:00", "endDate": null,
            "dataProcessingConsent": "Granted"}),
    );
    assert_eq!(s.school_id, 7);
    assert!(s.bad_rows.is_empty());
    assert_eq!(
        s.students,
        vec![Student {
            student_id: 4101,
            first_name: Some("Amelia".into()),
            last_name: Some("Khan".into()),
            preferred_first_name: Some("Millie".into()),
            preferred_last_name: None,
            date_of_birth: NaiveDate::from_ymd_opt(2011, 3, 14),
            tutor_group: Some("7KH".into()),
            year_group: Some("7".into()),
            start_date: NaiveDate::from_ymd_opt(2022, 9, 1),
            end_date: None,
            data_processing_consent: Some("Granted".into()),
        }]
    );
}

#[test]
fn keys_match_in_any_case() {
    for key in ["studentID", "StudentId", "studentid", "STUDENTID"] {
        let s = one(EntityKind::Students, json!({ key: 5, "FIRSTNAME": " A " }));
        assert_eq!(s.students.len(), 1, "{key}");
        assert_eq!(s.students[0].student_id, 5);
        assert_eq!(s.students[0].first_name.as_deref(), Some("A"));
    }
}

#[test]
fn the_exact_spelling_wins_over_another() {
    let s = one(
        EntityKind::Students,
        json!({"STUDENTID": 1, "studentID": 2, "StudentId": 3}),
    );
    assert_eq!(s.students[0].student_id, 2);
}

#[test]
fn columns_no_reader_needs_are_skipped_whatever_they_hold() {
    let s = one(
        EntityKind::Staff,
        json!({"staffID": 3, "photo": {"bytes": [1, 2, 3]}, "notes": [{"a": null}]}),
    );
    assert!(s.bad_rows.is_empty());
    assert_eq!(s.staff[0].staff_id, 3);
}

#[test]
fn ids_from_numbers_and_numeric_strings() {
    assert_eq!(read_integer(&field(json!(12))), Ok(Some(12)));
    assert_eq!(read_integer(&field(json!(" 12 "))), Ok(Some(12)));
    assert_eq!(read_integer(&field(json!("-3"))), Ok(Some(-3)));
    assert_eq!(read_integer(&field(json!(12.0))), Ok(Some(12)));
    assert_eq!(read_integer(&field(json!(""))), Ok(None));
    assert_eq!(
        read_integer(&field(json!(12.5))),
        Err("is not a whole number")
    );
    assert_eq!(
        read_integer(&field(json!("12.5"))),
        Err("is not an integer")
    );
    assert_eq!(read_integer(&field(json!("12a"))), Err("is not an integer"));
    assert_eq!(read_integer(&field(json!("-"))), Err("is not an integer"));
    assert_eq!(read_integer(&field(json!(true))), Err("is not an integer"));
    assert_eq!(
        read_integer(&field(json!(u64::MAX))),
        Err("is out of range for an ID")
    );
    assert_eq!(
        read_integer(&field(json!("99999999999999999999"))),
        Err("is out of range for an ID")
    );
    assert_eq!(
        read_integer(&field(json!(1e300))),
        Err("is out of range for an ID")
    );
}

#[test]
fn both_date_forms_and_impossible_dates() {
    let d = NaiveDate::from_ymd_opt(2024, 2, 29);
    assert_eq!(parse_date("2024-02-29"), d);
    assert_eq!(parse_date("2024-02-29T00:00:00"), d);
    assert_eq!(parse_date("2024-02-29T13:45:10.123"), d);
    for bad in [
        "2024-02-30",
        "2023-02-29",
        "2024-13-01",
        "2024-2-1",
        "24-02-01",
        "2024-02-01T",
        "2024-02-01T25:00:00",
        "2024-02-01 junk",
        "01/02/2024",
        "２０２４-02-01",
    ] {
        assert_eq!(parse_date(bad), None, "{bad}");
    }
}

#[test]
fn impossible_date_is_a_bad_row_naming_the_field_not_the_value() {
    let s = one(
        EntityKind::Students,
        json!({"studentID": 9, "dateOfBirth": "2024-02-30T00:00:00"}),
    );
    assert!(s.students.is_empty());
    assert_eq!(
        s.bad_rows,
        vec![BadRow {
            entity: EntityKind::Students,
            id: Some(9),
            field: "dateOfBirth".into(),
            problem: "is not a date (expected yyyy-MM-dd or yyyy-MM-ddTHH:mm:ss)".into(),
        }]
    );
    assert!(!s.bad_rows[0].problem.contains("2024-02-30"));
}

#[test]
fn every_yes_no_spelling() {
    for yes in [
        json!(true),
        json!(1),
        json!("Yes"),
        json!("yes"),
        json!("YES"),
        json!("True"),
        json!("true"),
        json!("Y"),
        json!("y"),
        json!("1"),
        json!(" Y "),
    ] {
        assert!(read_flag(&field(yes.clone())), "{yes}");
    }
    for no in [
        json!(false),
        json!(0),
        json!(2),
        json!("No"),
        json!("no"),
        json!("False"),
        json!("N"),
        json!("0"),
        json!("maybe"),
        json!(""),
        json!(null),
        json!([true]),
    ] {
        assert!(!read_flag(&field(no.clone())), "{no}");
    }
}

#[test]
fn missing_own_id_and_non_objects_are_bad_rows() {
    let rows = BTreeMap::from([(
        EntityKind::Staff,
        vec![
            json!({"firstName": "X"}),
            json!([1, 2]),
            json!({"staffID": "abc"}),
            json!({"staffID": 3, "title": "Mr"}),
        ],
    )]);
    let s = snapshot_from_rows(1, &rows);
    assert_eq!(s.staff.len(), 1);
    assert_eq!(s.staff[0].title.as_deref(), Some("Mr"));
    let fields: Vec<(&str, &str, Option<i64>)> = s
        .bad_rows
        .iter()
        .map(|b| (b.field.as_str(), b.problem.as_str(), b.id))
        .collect();
    assert_eq!(
        fields,
        vec![
            ("staffID", "is missing", None),
            ("(row)", "is not a JSON object", None),
            ("staffID", "is not an integer", None),
        ]
    );
}

#[test]
fn link_rows_need_both_ids_and_read_flags() {
    let rows = BTreeMap::from([(
        EntityKind::StudentContacts,
        vec![
            json!({"studentID": 1, "personID": "2", "relationship": " Mother ",
                "parentalResponsibility": "Y"}),
            json!({"studentID": 1, "relationship": "Father"}),
        ],
    )]);
    let s = snapshot_from_rows(1, &rows);
    assert_eq!(
        s.student_contacts,
        vec![StudentContact {
            student_id: 1,
            person_id: 2,
            relationship: Some("Mother".into()),
            parental_responsibility: true,
        }]
    );
    assert_eq!(s.bad_rows.len(), 1);
    assert_eq!(s.bad_rows[0].field, "personID");
    assert_eq!(s.bad_rows[0].id, Some(1));
}

#[test]
fn details_collections_and_memberships() {
    let rows = BTreeMap::from([
        (
            EntityKind::Emails,
            vec![json!({"personID": 5, "emailAddress": " a@b.c ", "priority": "1"})],
        ),
        (
            EntityKind::PersonTelephones,
            vec![
                json!({"personid": 5, "TelephoneNumber": "0123", "priority": null}),
                json!({"personID": 6, "telephoneNumber": "0456", "priority": "high"}),
            ],
        ),
        (
            EntityKind::Collections,
            vec![json!({"collectionID": 10, "collectionName": "7A/Ma",
                "collectionTypeName": "CLASS", "subjectName": "Maths",
                "collectionDescription": "Maths 7A", "startDate": "2024-09-01"})],
        ),
        (
            EntityKind::CollectionAssociates,
            vec![json!({"collectionID": 10, "personID": 4101, "endDate": "2025-07-20T00:00:00"})],
        ),
        (
            EntityKind::CollectionExecutives,
            vec![json!({"collectionID": "10", "staffID": 3,
                "collectionRoleTypeDescription": "Main Teacher"})],
        ),
    ]);
    let s = snapshot_from_rows(1, &rows);
    assert_eq!(s.emails[0].value.as_deref(), Some("a@b.c"));
    assert_eq!(s.emails[0].priority, Some(1));
    assert_eq!(s.telephones.len(), 1);
    assert_eq!(s.telephones[0].priority, None);
    assert_eq!(s.bad_rows.len(), 1);
    assert_eq!(s.bad_rows[0].entity, EntityKind::PersonTelephones);
    assert_eq!(s.bad_rows[0].field, "priority");
    assert_eq!(s.bad_rows[0].id, Some(6));
    assert_eq!(s.collections[0].type_name.as_deref(), Some("CLASS"));
    assert_eq!(
        s.collections[0].start_date,
        NaiveDate::from_ymd_opt(2024, 9, 1)
    );
    assert_eq!(s.associates[0].student_id, 4101);
    assert_eq!(
        s.associates[0].end_date,
        NaiveDate::from_ymd_opt(2025, 7, 20)
    );
    assert_eq!(s.executives[0].collection_id, 10);
    assert_eq!(s.executives[0].role.as_deref(), Some("Main Teacher"));
}

#[test]
fn texts_clean_and_reject_structures() {
    assert_eq!(read_text(&field(json!("  \u{0}  "))), Ok(None));
    assert_eq!(read_text(&field(json!(7))), Ok(Some("7".into())));
    assert_eq!(read_text(&field(json!({"a": 1}))), Err("is not text"));
    let s = one(
        EntityKind::Contacts,
        json!({"personID": 1, "lastName": ["x"]}),
    );
    assert_eq!(s.bad_rows[0].field, "lastName");
    assert_eq!(s.bad_rows[0].problem, "is not text");
}

/// Rows of one entity, as many as came in: each is read or recorded as bad.
fn rows_read(s: &Snapshot) -> usize {
    s.students.len()
        + s.staff.len()
        + s.contacts.len()
        + s.student_contacts.len()
        + s.emails.len()
        + s.telephones.len()
        + s.collections.len()
        + s.associates.len()
        + s.executives.len()
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        any::<f64>().prop_map(|f| json!(f)),
        "[ -~]{0,12}".prop_map(Value::String),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2})?".prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop::collection::vec(inner, 0..3).prop_map(Value::Array)
    })
}

proptest! {
    /// Whatever arrives, every row is either read or recorded as bad; nothing panics.
    #[test]
    fn every_row_is_read_or_recorded(
        entity_index in 0usize..9,
        rows in prop::collection::vec(
            prop::collection::btree_map(
                prop_oneof![
                    Just("studentID".to_owned()),
                    Just("PersonId".to_owned()),
                    Just("collectionid".to_owned()),
                    Just("staffID".to_owned()),
                    Just("startDate".to_owned()),
                    Just("priority".to_owned()),
                    Just("firstName".to_owned()),
                    Just("parentalResponsibility".to_owned()),
                    "[a-zA-Z]{1,8}",
                ],
                any_json(),
                0..6,
            ).prop_map(|m| Value::Object(m.into_iter().collect())),
            0..20,
        ),
    ) {
        let entity = EntityKind::ALL[entity_index];
        let snapshot = snapshot_from_rows(3, &BTreeMap::from([(entity, rows.clone())]));
        prop_assert_eq!(rows_read(&snapshot) + snapshot.bad_rows.len(), rows.len());
        for bad in &snapshot.bad_rows {
            prop_assert_eq!(bad.entity, entity);
        }
    }
}
