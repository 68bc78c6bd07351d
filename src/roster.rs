//! What eligibility decides and the store writes: the [`Roster`] (exactly the rows of the
//! roster tables of `docs/schema.md`, one vector a table, each sorted by its key) and the
//! [`Exclusions`] (every record left out, with every reason, and the links and memberships
//! dropped, counted by reason).
//!
//! These types are the contract between `eligibility` and `store`; neither knows the other.
//! The roster rows derive sqlx's `FromRow` so that the store reads them back by column name.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use strum::{Display, EnumString, IntoStaticStr, VariantArray};

use crate::snapshot::EntityKind;

/// Which of a person's names the school wants stored; applies to students and staff alike.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NameChoice {
    /// `preferredFirstName` / `preferredLastName`, falling back to the legal name when empty.
    #[default]
    Preferred,
    /// `firstName` / `lastName`.
    Legal,
}

/// The rows that come through for one school.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roster {
    pub students: Vec<RosterStudent>,
    pub teachers: Vec<RosterTeacher>,
    pub parents: Vec<RosterParent>,
    pub parent_students: Vec<ParentStudent>,
    pub classes: Vec<RosterClass>,
    pub class_students: Vec<ClassStudent>,
    pub class_teachers: Vec<ClassTeacher>,
    pub groups: Vec<RosterGroup>,
    pub group_students: Vec<GroupStudent>,
}

#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::FromRow,
)]
pub struct RosterStudent {
    pub student_id: i64,
    pub first_name: String,
    pub last_name: String,
    pub date_of_birth: Option<NaiveDate>,
    /// `None` for the placeholder `NoTutorGrp`.
    pub tutor_group: Option<String>,
    pub year_group: Option<String>,
}

#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::FromRow,
)]
pub struct RosterTeacher {
    pub staff_id: i64,
    pub title: String,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
}

#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::FromRow,
)]
pub struct RosterParent {
    pub person_id: i64,
    pub title: String,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::FromRow,
)]
pub struct ParentStudent {
    pub person_id: i64,
    pub student_id: i64,
    /// The relationship text as Bromcom gives it (trimmed); empty when Bromcom gave none.
    pub relationship: String,
    pub parental_responsibility: bool,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    Display,
    EnumString,
    IntoStaticStr,
    VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ClassKind {
    Class,
    TutorGroup,
}

#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::FromRow,
)]
pub struct RosterClass {
    pub class_id: i64,
    pub name: String,
    pub subject: Option<String>,
    #[sqlx(try_from = "String")]
    pub kind: ClassKind,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::FromRow,
)]
pub struct ClassStudent {
    pub class_id: i64,
    pub student_id: i64,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::FromRow,
)]
pub struct ClassTeacher {
    pub class_id: i64,
    pub staff_id: i64,
    pub is_main: bool,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    Display,
    EnumString,
    IntoStaticStr,
    VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum GroupKind {
    House,
    Year,
    Band,
    Custom,
}

#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::FromRow,
)]
pub struct RosterGroup {
    pub group_id: i64,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub kind: GroupKind,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::FromRow,
)]
pub struct GroupStudent {
    pub group_id: i64,
    pub student_id: i64,
}

/// The kinds of record that can be excluded, as named in the `exclusions.entity` column.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    Display,
    EnumString,
    IntoStaticStr,
    VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ExcludedEntity {
    Student,
    Teacher,
    Parent,
    Class,
    Group,
    /// A collection whose type is neither a class nor a group kind (or could not be read).
    Collection,
}

/// Why a record, link or membership was left out. The codes are docs/eligibility.md's.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    Display,
    EnumString,
    IntoStaticStr,
    VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Reason {
    NoConsent,
    NotOnRoll,
    NotOnStaff,
    NotCurrent,
    MissingTitle,
    MissingFirstName,
    MissingLastName,
    NoClasses,
    NoEligibleStudents,
    NoStudents,
    NoTeachers,
    NoEligibleChildren,
    StudentNotEligible,
    NoParentalResponsibility,
    InvalidRecord,
    /// A text field over its length limit (`docs/security.md`); the field is named.
    TextTooLong,
    DuplicateId,
    UnknownStudent,
    UnknownContact,
    UnknownStaff,
    UnknownCollection,
    UnknownCollectionType,
}

impl Reason {
    /// Every reason, in declared (and `Ord`) order: derived from the enum, so a new reason is
    /// never missing from it.
    pub const ALL: &'static [Reason] = Reason::VARIANTS;
}

/// A record by kind and Bromcom ID, as named in an explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RecordRef {
    pub entity: ExcludedEntity,
    pub id: i64,
}

/// Follows a field's name in [`Exclusion::invalid_fields`] when the field was too long rather
/// than unreadable.
pub const TOO_LONG_MARK: &str = " (too long)";

/// The field a too-long entry of [`Exclusion::invalid_fields`] names, `None` for an unreadable
/// field's.
pub fn too_long_field(entry: &str) -> Option<&str> {
    entry.strip_suffix(TOO_LONG_MARK)
}

/// One record left out, with every reason that applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exclusion {
    pub entity: ExcludedEntity,
    pub id: i64,
    /// Sorted, without repeats.
    pub reasons: Vec<Reason>,
    /// For `invalid_record`: the fields that could not be read (names only, never values);
    /// for `text_too_long`: the fields over their length limit, each written with
    /// [`TOO_LONG_MARK`] after its name.
    pub invalid_fields: Vec<String>,
    /// For a reason that comes from other records (`no_classes`, `no_students`, `no_teachers`,
    /// `no_eligible_students`, `no_eligible_children`): the records whose own exclusion caused
    /// it, so that an operator can follow a ripple back to where it started. Sorted.
    pub caused_by: Vec<RecordRef>,
}

/// Everything eligibility left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exclusions {
    /// Sorted by (entity, id).
    pub records: Vec<Exclusion>,
    /// Links and memberships (rows of StudentContacts, CollectionAssociates,
    /// CollectionExecutives, Emails, PersonTelephones) dropped, counted by entity and reason.
    pub dropped: BTreeMap<(EntityKind, Reason), u64>,
}

/// Eligibility's whole answer for one school.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub roster: Roster,
    pub exclusions: Exclusions,
}

/// The names these enums go by in the database's text columns and in reports, as strum derives
/// them (snake_case), and reading them back.
macro_rules! named_in_text {
    ($($kind:ty),*) => {$(
        impl $kind {
            pub fn as_str(self) -> &'static str {
                self.into()
            }

            pub fn parse(text: &str) -> Option<Self> {
                text.parse().ok()
            }
        }

        impl TryFrom<String> for $kind {
            type Error = strum::ParseError;

            fn try_from(text: String) -> Result<Self, Self::Error> {
                text.parse()
            }
        }
    )*};
}

named_in_text!(ClassKind, GroupKind, ExcludedEntity, Reason);
