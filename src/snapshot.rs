//! The typed picture of one school as Bromcom holds it: every entity the sync uses, rows read
//! and cleaned by the client (strings trimmed, control characters removed, empty = `None`), plus
//! the rows that could not be read. Eligibility decides from this alone.
//!
//! Rows keep Bromcom's meaning, not ours: consent is the raw text, flags are already booleans,
//! duplicates and dangling references are left for eligibility to judge.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub use bromcom_api::{EntityKind, SchoolId};

/// A whole school, fetched completely (the client never hands back part of an entity).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub school_id: SchoolId,
    pub students: Vec<Student>,
    pub staff: Vec<Staff>,
    pub contacts: Vec<Contact>,
    pub student_contacts: Vec<StudentContact>,
    pub emails: Vec<ContactDetail>,
    pub telephones: Vec<ContactDetail>,
    pub collections: Vec<Collection>,
    pub associates: Vec<CollectionAssociate>,
    pub executives: Vec<CollectionExecutive>,
    /// Rows that could not be read; each becomes an `invalid_record` exclusion.
    pub bad_rows: Vec<BadRow>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Student {
    pub student_id: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub preferred_first_name: Option<String>,
    pub preferred_last_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub tutor_group: Option<String>,
    pub year_group: Option<String>,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    /// Raw consent text: `Granted` (any case) means granted.
    pub data_processing_consent: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Staff {
    pub staff_id: i64,
    pub title: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub preferred_first_name: Option<String>,
    pub preferred_last_name: Option<String>,
    pub work_email: Option<String>,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    pub data_processing_consent: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Contact {
    pub person_id: i64,
    pub title: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub data_processing_consent: Option<String>,
}

/// One contact-to-student link.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StudentContact {
    pub student_id: i64,
    pub person_id: i64,
    pub relationship: Option<String>,
    /// True only for a "yes" spelling; absent or anything else is false.
    pub parental_responsibility: bool,
}

/// One email address or telephone number of a person (Emails / PersonTelephones).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContactDetail {
    pub person_id: i64,
    pub value: Option<String>,
    /// 1 is the highest; `None` ranks last.
    pub priority: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Collection {
    pub collection_id: i64,
    pub name: Option<String>,
    pub description: Option<String>,
    pub subject_name: Option<String>,
    /// Raw `collectionTypeName`: CLASS, TUTORGRP, HOUSE, YEAR, BAND, CUSTOM (any case).
    pub type_name: Option<String>,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
}

/// A student's membership of a collection (`personID` is the `studentID`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CollectionAssociate {
    pub collection_id: i64,
    pub student_id: i64,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
}

/// A staff member attached to a collection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CollectionExecutive {
    pub collection_id: i64,
    pub staff_id: i64,
    pub role: Option<String>,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
}

/// A row the client could not read: which entity, its ID where one could be read, which field
/// and why. Never carries the field's value (it may be personal data).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BadRow {
    pub entity: EntityKind,
    pub id: Option<i64>,
    pub field: String,
    pub problem: String,
}

impl BadRow {
    /// The problem of a text field over its length limit: eligibility turns such a row into a
    /// `text_too_long` exclusion naming the field, not an `invalid_record`.
    pub const TEXT_TOO_LONG: &'static str = "is longer than its length limit";

    pub fn is_too_long(&self) -> bool {
        self.problem == Self::TEXT_TOO_LONG
    }
}
