//! Reading Bromcom rows (JSON objects) into the typed [`Snapshot`]: the ONE place that knows
//! Bromcom's column names and how its values are spelled. When a real partner account confirms
//! or corrects a name, this file alone changes. Names marked `(assumed)` are the contract's
//! guesses (see `shared/bromcom-api.md`); the rest are seen in public clients.
//!
//! Reading rules (the contract's "Rows" section): keys match case-insensitively; strings go
//! through [`crate::text::clean`]; IDs are JSON integers or numeric strings; dates are
//! `yyyy-MM-ddTHH:mm:ss` or `yyyy-MM-dd`; yes/no flags are booleans or Yes/No, True/False,
//! Y/N, 1/0 in any case. A row that cannot be read becomes a [`BadRow`] naming the field and
//! the problem, never the value (it may be personal data), and never fails the school.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::{Map, Value};

use crate::snapshot::{
    BadRow, Collection, CollectionAssociate, CollectionExecutive, Contact, ContactDetail,
    EntityKind, SchoolId, Snapshot, Staff, Student, StudentContact,
};
use crate::text::clean;

/// Column names, by entity. Each `*_ID` name that starts a row's list is the row's own ID
/// (the one a [`BadRow`] carries).
mod columns {
    // Shared by several entities.
    pub const FIRST_NAME: &str = "firstName";
    pub const LAST_NAME: &str = "lastName";
    pub const PREFERRED_FIRST_NAME: &str = "preferredFirstName";
    pub const PREFERRED_LAST_NAME: &str = "preferredLastName";
    pub const TITLE: &str = "title";
    pub const START_DATE: &str = "startDate";
    pub const END_DATE: &str = "endDate";
    /// (assumed) `Granted` when consent is granted.
    pub const DATA_PROCESSING_CONSENT: &str = "dataProcessingConsent";

    // Students
    pub const STUDENT_ID: &str = "studentID";
    pub const DATE_OF_BIRTH: &str = "dateOfBirth";
    pub const TUTOR_GROUP: &str = "tutorGroup";
    pub const YEAR_GROUP: &str = "yearGroup";

    // Staff
    pub const STAFF_ID: &str = "staffID";
    pub const WORK_EMAIL: &str = "workEmail";

    // Contacts (assumed entity), Emails, PersonTelephones, StudentContacts
    pub const PERSON_ID: &str = "personID";

    // StudentContacts
    /// (assumed) free text such as `Mother`, `Carer`.
    pub const RELATIONSHIP: &str = "relationship";
    /// (assumed) a yes/no flag.
    pub const PARENTAL_RESPONSIBILITY: &str = "parentalResponsibility";

    // Emails
    /// (assumed)
    pub const EMAIL_ADDRESS: &str = "emailAddress";
    /// (assumed) 1 is the highest; also used by PersonTelephones.
    pub const PRIORITY: &str = "priority";

    // PersonTelephones
    /// (assumed)
    pub const TELEPHONE_NUMBER: &str = "telephoneNumber";

    // Collections, CollectionAssociates, CollectionExecutives
    pub const COLLECTION_ID: &str = "collectionID";
    pub const COLLECTION_NAME: &str = "collectionName";
    pub const COLLECTION_DESCRIPTION: &str = "collectionDescription";
    /// (assumed)
    pub const SUBJECT_NAME: &str = "subjectName";
    pub const COLLECTION_TYPE_NAME: &str = "collectionTypeName";
    pub const COLLECTION_ROLE_TYPE_DESCRIPTION: &str = "collectionRoleTypeDescription";
}

use columns::*;

/// Builds a whole [`Snapshot`] from raw rows, entity by entity; the client uses the same
/// per-entity reader ([`read_entity_rows`]) page by page. Entities missing from `rows` are empty.
pub fn snapshot_from_rows(
    school_id: SchoolId,
    rows: &BTreeMap<EntityKind, Vec<Value>>,
) -> Snapshot {
    let mut snapshot = Snapshot {
        school_id,
        ..Snapshot::default()
    };
    for entity in EntityKind::ALL {
        if let Some(entity_rows) = rows.get(&entity) {
            read_entity_rows(entity, entity_rows, &mut snapshot);
        }
    }
    snapshot
}

/// Reads `rows` of one entity and appends them (and any bad rows) to `into`.
/// Returns how many rows were bad.
pub fn read_entity_rows<'a>(
    entity: EntityKind,
    rows: impl IntoIterator<Item = &'a Value>,
    into: &mut Snapshot,
) -> usize {
    let before = into.bad_rows.len();
    for value in rows {
        let Some(object) = value.as_object() else {
            into.bad_rows.push(BadRow {
                entity,
                id: None,
                field: "(row)".to_owned(),
                problem: "is not a JSON object".to_owned(),
            });
            continue;
        };
        let row = Row(object);
        let result = match entity {
            EntityKind::Students => read_student(row).map(|r| into.students.push(r)),
            EntityKind::Staff => read_staff(row).map(|r| into.staff.push(r)),
            EntityKind::Contacts => read_contact(row).map(|r| into.contacts.push(r)),
            EntityKind::StudentContacts => {
                read_student_contact(row).map(|r| into.student_contacts.push(r))
            }
            EntityKind::Emails => {
                read_contact_detail(row, EMAIL_ADDRESS).map(|r| into.emails.push(r))
            }
            EntityKind::PersonTelephones => {
                read_contact_detail(row, TELEPHONE_NUMBER).map(|r| into.telephones.push(r))
            }
            EntityKind::Collections => read_collection(row).map(|r| into.collections.push(r)),
            EntityKind::CollectionAssociates => {
                read_associate(row).map(|r| into.associates.push(r))
            }
            EntityKind::CollectionExecutives => {
                read_executive(row).map(|r| into.executives.push(r))
            }
        };
        if let Err(unreadable) = result {
            into.bad_rows.push(BadRow {
                entity,
                id: unreadable.id,
                field: unreadable.field.to_owned(),
                problem: unreadable.problem.to_owned(),
            });
        }
    }
    into.bad_rows.len() - before
}

/// Why a row could not be read; `id` is the row's own ID when that much was readable.
#[derive(Debug)]
struct Unreadable {
    id: Option<i64>,
    field: &'static str,
    problem: &'static str,
}

/// What is wrong with one field (the value itself is never kept).
type FieldResult<T> = Result<T, &'static str>;

/// One row, with case-insensitive key lookup.
#[derive(Clone, Copy)]
struct Row<'a>(&'a Map<String, Value>);

impl<'a> Row<'a> {
    /// The value under `name`, any case; `null` counts as absent. Exact spelling is tried first
    /// because production sends it, so the scan only runs for other spellings.
    fn get(self, name: &str) -> Option<&'a Value> {
        let found = match self.0.get(name) {
            Some(v) => Some(v),
            None => self
                .0
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, v)| v),
        };
        found.filter(|v| !v.is_null())
    }

    fn id(self, name: &'static str, own_id: Option<i64>) -> Result<Option<i64>, Unreadable> {
        self.get(name)
            .map(read_integer)
            .transpose()
            .map(Option::flatten)
            .map_err(|problem| Unreadable {
                id: own_id,
                field: name,
                problem,
            })
    }

    /// An ID the row cannot do without.
    fn required_id(self, name: &'static str, own_id: Option<i64>) -> Result<i64, Unreadable> {
        self.id(name, own_id)?.ok_or(Unreadable {
            id: own_id,
            field: name,
            problem: "is missing",
        })
    }

    fn text(self, name: &'static str, own_id: i64) -> Result<Option<String>, Unreadable> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => read_text(value).map_err(|problem| Unreadable {
                id: Some(own_id),
                field: name,
                problem,
            }),
        }
    }

    fn date(self, name: &'static str, own_id: i64) -> Result<Option<NaiveDate>, Unreadable> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => read_date(value).map_err(|problem| Unreadable {
                id: Some(own_id),
                field: name,
                problem,
            }),
        }
    }

    fn integer(self, name: &'static str, own_id: i64) -> Result<Option<i64>, Unreadable> {
        self.id(name, Some(own_id))
    }

    fn flag(self, name: &'static str) -> bool {
        self.get(name).is_some_and(read_flag)
    }
}

fn read_student(row: Row) -> Result<Student, Unreadable> {
    let id = row.required_id(STUDENT_ID, None)?;
    Ok(Student {
        student_id: id,
        first_name: row.text(FIRST_NAME, id)?,
        last_name: row.text(LAST_NAME, id)?,
        preferred_first_name: row.text(PREFERRED_FIRST_NAME, id)?,
        preferred_last_name: row.text(PREFERRED_LAST_NAME, id)?,
        date_of_birth: row.date(DATE_OF_BIRTH, id)?,
        tutor_group: row.text(TUTOR_GROUP, id)?,
        year_group: row.text(YEAR_GROUP, id)?,
        start_date: row.date(START_DATE, id)?,
        end_date: row.date(END_DATE, id)?,
        data_processing_consent: row.text(DATA_PROCESSING_CONSENT, id)?,
    })
}

fn read_staff(row: Row) -> Result<Staff, Unreadable> {
    let id = row.required_id(STAFF_ID, None)?;
    Ok(Staff {
        staff_id: id,
        title: row.text(TITLE, id)?,
        first_name: row.text(FIRST_NAME, id)?,
        last_name: row.text(LAST_NAME, id)?,
        preferred_first_name: row.text(PREFERRED_FIRST_NAME, id)?,
        preferred_last_name: row.text(PREFERRED_LAST_NAME, id)?,
        work_email: row.text(WORK_EMAIL, id)?,
        start_date: row.date(START_DATE, id)?,
        end_date: row.date(END_DATE, id)?,
        data_processing_consent: row.text(DATA_PROCESSING_CONSENT, id)?,
    })
}

fn read_contact(row: Row) -> Result<Contact, Unreadable> {
    let id = row.required_id(PERSON_ID, None)?;
    Ok(Contact {
        person_id: id,
        title: row.text(TITLE, id)?,
        first_name: row.text(FIRST_NAME, id)?,
        last_name: row.text(LAST_NAME, id)?,
        data_processing_consent: row.text(DATA_PROCESSING_CONSENT, id)?,
    })
}

/// A link row's own ID (the one a bad row carries) is the student's.
fn read_student_contact(row: Row) -> Result<StudentContact, Unreadable> {
    let student_id = row.required_id(STUDENT_ID, None)?;
    Ok(StudentContact {
        student_id,
        person_id: row.required_id(PERSON_ID, Some(student_id))?,
        relationship: row.text(RELATIONSHIP, student_id)?,
        parental_responsibility: row.flag(PARENTAL_RESPONSIBILITY),
    })
}

/// Emails and PersonTelephones: the person's ID, the address or number, a priority.
fn read_contact_detail(row: Row, value_column: &'static str) -> Result<ContactDetail, Unreadable> {
    let id = row.required_id(PERSON_ID, None)?;
    Ok(ContactDetail {
        person_id: id,
        value: row.text(value_column, id)?,
        priority: row.integer(PRIORITY, id)?,
    })
}

fn read_collection(row: Row) -> Result<Collection, Unreadable> {
    let id = row.required_id(COLLECTION_ID, None)?;
    Ok(Collection {
        collection_id: id,
        name: row.text(COLLECTION_NAME, id)?,
        description: row.text(COLLECTION_DESCRIPTION, id)?,
        subject_name: row.text(SUBJECT_NAME, id)?,
        type_name: row.text(COLLECTION_TYPE_NAME, id)?,
        start_date: row.date(START_DATE, id)?,
        end_date: row.date(END_DATE, id)?,
    })
}

/// A membership's own ID (the one a bad row carries) is the collection's; `personID` is the
/// student's `studentID`.
fn read_associate(row: Row) -> Result<CollectionAssociate, Unreadable> {
    let id = row.required_id(COLLECTION_ID, None)?;
    Ok(CollectionAssociate {
        collection_id: id,
        student_id: row.required_id(PERSON_ID, Some(id))?,
        start_date: row.date(START_DATE, id)?,
        end_date: row.date(END_DATE, id)?,
    })
}

/// Own ID: the collection's, as for associates.
fn read_executive(row: Row) -> Result<CollectionExecutive, Unreadable> {
    let id = row.required_id(COLLECTION_ID, None)?;
    Ok(CollectionExecutive {
        collection_id: id,
        staff_id: row.required_id(STAFF_ID, Some(id))?,
        role: row.text(COLLECTION_ROLE_TYPE_DESCRIPTION, id)?,
        start_date: row.date(START_DATE, id)?,
        end_date: row.date(END_DATE, id)?,
    })
}

/// An integer from a JSON number or a numeric string. `Ok(None)` for a blank string.
/// A float is accepted only when it is whole and exactly representable (below 2^53).
fn read_integer(value: &Value) -> FieldResult<Option<i64>> {
    const EXACT_FLOAT_LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53
    match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(Some(i))
            } else if n.is_u64() {
                Err("is out of range for an ID")
            } else {
                match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < EXACT_FLOAT_LIMIT => {
                        Ok(Some(f as i64))
                    }
                    Some(f) if f.fract() == 0.0 => Err("is out of range for an ID"),
                    _ => Err("is not a whole number"),
                }
            }
        }
        Value::String(s) => {
            let trimmed = s.trim();
            if trimmed.is_empty() {
                return Ok(None);
            }
            let digits = trimmed.strip_prefix(['-', '+']).unwrap_or(trimmed);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err("is not an integer");
            }
            trimmed
                .parse::<i64>()
                .map(Some)
                .map_err(|_| "is out of range for an ID")
        }
        Value::Null => Ok(None),
        Value::Bool(_) | Value::Array(_) | Value::Object(_) => Err("is not an integer"),
    }
}

/// Text from a string (cleaned), or a number or boolean written as JSON writes it (a year
/// group may arrive as `7`). Lists and objects are not text.
fn read_text(value: &Value) -> FieldResult<Option<String>> {
    match value {
        Value::String(s) => Ok(clean(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        Value::Null => Ok(None),
        Value::Array(_) | Value::Object(_) => Err("is not text"),
    }
}

fn read_date(value: &Value) -> FieldResult<Option<NaiveDate>> {
    const NOT_A_DATE: &str = "is not a date (expected yyyy-MM-dd or yyyy-MM-ddTHH:mm:ss)";
    match value {
        Value::String(s) => {
            let trimmed = s.trim();
            if trimmed.is_empty() {
                Ok(None)
            } else {
                parse_date(trimmed).map(Some).ok_or(NOT_A_DATE)
            }
        }
        Value::Null => Ok(None),
        _ => Err(NOT_A_DATE),
    }
}

/// `yyyy-MM-dd`, optionally followed by `THH:mm:ss` and fractional seconds. Hand-written
/// because it runs for every membership row and a format-string parser is much slower.
/// The time part is checked for shape and range but otherwise dropped.
pub(crate) fn parse_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    if b.len() == 10 {
        return Some(date);
    }
    let time = &b[10..];
    if time.len() < 9 || !matches!(time[0], b'T' | b't') || time[3] != b':' || time[6] != b':' {
        return None;
    }
    let (hours, minutes, seconds) = (
        digits(&time[1..3])?,
        digits(&time[4..6])?,
        digits(&time[7..9])?,
    );
    if hours > 23 || minutes > 59 || seconds > 60 {
        return None;
    }
    match &time[9..] {
        [] => Some(date),
        [b'.', fraction @ ..]
            if !fraction.is_empty() && fraction.iter().all(u8::is_ascii_digit) =>
        {
            Some(date)
        }
        _ => None,
    }
}

fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |acc, b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}

/// Yes for `true`, `1`, or a string Yes/True/Y/1 in any case; everything else is no.
fn read_flag(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_i64() == Some(1),
        Value::String(s) => {
            let s = s.trim();
            ["yes", "true", "y", "1"]
                .iter()
                .any(|yes| s.eq_ignore_ascii_case(yes))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(entity: EntityKind, row: Value) -> Snapshot {
        snapshot_from_rows(7, &BTreeMap::from([(entity, vec![row])]))
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
    fn ids_from_numbers_and_numeric_strings() {
        assert_eq!(read_integer(&json!(12)), Ok(Some(12)));
        assert_eq!(read_integer(&json!(" 12 ")), Ok(Some(12)));
        assert_eq!(read_integer(&json!("-3")), Ok(Some(-3)));
        assert_eq!(read_integer(&json!(12.0)), Ok(Some(12)));
        assert_eq!(read_integer(&json!("")), Ok(None));
        assert_eq!(read_integer(&json!(12.5)), Err("is not a whole number"));
        assert_eq!(read_integer(&json!("12.5")), Err("is not an integer"));
        assert_eq!(read_integer(&json!("12a")), Err("is not an integer"));
        assert_eq!(read_integer(&json!("-")), Err("is not an integer"));
        assert_eq!(read_integer(&json!(true)), Err("is not an integer"));
        assert_eq!(
            read_integer(&json!(u64::MAX)),
            Err("is out of range for an ID")
        );
        assert_eq!(
            read_integer(&json!("99999999999999999999")),
            Err("is out of range for an ID")
        );
        assert_eq!(
            read_integer(&json!(1e300)),
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
            assert!(read_flag(&yes), "{yes}");
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
            assert!(!read_flag(&no), "{no}");
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
                vec![
                    json!({"collectionID": 10, "personID": 4101, "endDate": "2025-07-20T00:00:00"}),
                ],
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
        assert_eq!(read_text(&json!("  \u{0}  ")), Ok(None));
        assert_eq!(read_text(&json!(7)), Ok(Some("7".into())));
        assert_eq!(read_text(&json!({"a": 1})), Err("is not text"));
        let s = one(
            EntityKind::Contacts,
            json!({"personID": 1, "lastName": ["x"]}),
        );
        assert_eq!(s.bad_rows[0].field, "lastName");
        assert_eq!(s.bad_rows[0].problem, "is not text");
    }
}
