//! The column contract: the ONE place that knows Bromcom's column names. When a real partner
//! account confirms or corrects a name, this file alone changes. Names marked `(assumed)` are
//! the contract's guesses (see `docs/bromcom-api.md`); the rest are seen in public clients.
//!
//! Besides the names: which columns each entity reads (every other column of a row is skipped
//! unread), and the longest text each column may hold. The engine that reads rows
//! ([`super::row`], [`super::field`]) spells no column name of its own: it uses these.
//!
//! Column names, by entity. Each `*_ID` name that starts a row's list is the row's own ID (the
//! one a [`BadRow`](crate::snapshot::BadRow) carries).

use crate::snapshot::EntityKind;

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

/// What a bad row says of a text field over its length limit (the snapshot owns the words, so
/// that eligibility reads them without knowing the client).
pub const TEXT_TOO_LONG: &str = crate::snapshot::BadRow::TEXT_TOO_LONG;

/// The longest text each column may hold, in characters once cleaned (`docs/security.md`
/// has the table). A row with a longer value is excluded as `text_too_long`: a name of
/// thousands of characters is a fault in the source, and storing it would carry it into every
/// export.
pub fn text_limit(column: &str) -> usize {
    match column {
        TITLE
        | TUTOR_GROUP
        | YEAR_GROUP
        | TELEPHONE_NUMBER
        | COLLECTION_TYPE_NAME
        | DATA_PROCESSING_CONSENT => 64,
        WORK_EMAIL | EMAIL_ADDRESS => 320,
        COLLECTION_DESCRIPTION => 1000,
        // Names of people, classes, groups and subjects, relationships, roles.
        _ => 255,
    }
}

/// The columns read of each entity; every other column of a row is skipped unread.
pub(super) fn columns_of(entity: EntityKind) -> &'static [&'static str] {
    match entity {
        EntityKind::Students => &[
            STUDENT_ID,
            FIRST_NAME,
            LAST_NAME,
            PREFERRED_FIRST_NAME,
            PREFERRED_LAST_NAME,
            DATE_OF_BIRTH,
            TUTOR_GROUP,
            YEAR_GROUP,
            START_DATE,
            END_DATE,
            DATA_PROCESSING_CONSENT,
        ],
        EntityKind::Staff => &[
            STAFF_ID,
            TITLE,
            FIRST_NAME,
            LAST_NAME,
            PREFERRED_FIRST_NAME,
            PREFERRED_LAST_NAME,
            WORK_EMAIL,
            START_DATE,
            END_DATE,
            DATA_PROCESSING_CONSENT,
        ],
        EntityKind::Contacts => &[
            PERSON_ID,
            TITLE,
            FIRST_NAME,
            LAST_NAME,
            DATA_PROCESSING_CONSENT,
        ],
        EntityKind::StudentContacts => {
            &[STUDENT_ID, PERSON_ID, RELATIONSHIP, PARENTAL_RESPONSIBILITY]
        }
        EntityKind::Emails => &[PERSON_ID, EMAIL_ADDRESS, PRIORITY],
        EntityKind::PersonTelephones => &[PERSON_ID, TELEPHONE_NUMBER, PRIORITY],
        EntityKind::Collections => &[
            COLLECTION_ID,
            COLLECTION_NAME,
            COLLECTION_DESCRIPTION,
            SUBJECT_NAME,
            COLLECTION_TYPE_NAME,
            START_DATE,
            END_DATE,
        ],
        EntityKind::CollectionAssociates => &[COLLECTION_ID, PERSON_ID, START_DATE, END_DATE],
        EntityKind::CollectionExecutives => &[
            COLLECTION_ID,
            STAFF_ID,
            COLLECTION_ROLE_TYPE_DESCRIPTION,
            START_DATE,
            END_DATE,
        ],
    }
}

/// The most columns any entity reads.
pub(super) const MAX_COLUMNS: usize = 11;
