//! Reading Bromcom rows into the typed [`Snapshot`]: the ONE place that knows Bromcom's column
//! names and how its values are spelled. When a real partner account confirms or corrects a
//! name, this file alone changes. Names marked `(assumed)` are the contract's guesses (see
//! `docs/bromcom-api.md`); the rest are seen in public clients.
//!
//! Rows are read straight from the page's JSON text as it is parsed ([`RowSeed`]): each key is
//! matched against the entity's columns, unknown columns are skipped unread, and strings without
//! escapes are borrowed from the page, so no tree of JSON values is ever built.
//!
//! Reading rules (the contract's "Rows" section): keys match case-insensitively (the exact
//! spelling wins when a row has two); strings go through [`crate::text::clean`]; IDs are JSON
//! integers or numeric strings; dates are `yyyy-MM-ddTHH:mm:ss` or `yyyy-MM-dd`; yes/no flags
//! are booleans or Yes/No, True/False, Y/N, 1/0 in any case. A row that cannot be read becomes a
//! [`BadRow`] naming the field and the problem, never the value (it may be personal data), and
//! never fails the school.

use std::borrow::Cow;
use std::fmt;

use chrono::NaiveDate;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::snapshot::{
    BadRow, Collection, CollectionAssociate, CollectionExecutive, Contact, ContactDetail,
    EntityKind, Snapshot, Staff, Student, StudentContact,
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

/// What a [`BadRow`] says of a text field over its length limit; eligibility turns such a row
/// into a `text_too_long` exclusion naming the field.
pub const TEXT_TOO_LONG: &str = "is longer than its length limit";

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

/// A string longer than this many bytes as received is too long for any column (the longest
/// limit, 1000 characters, is at most 4000 bytes of UTF-8, plus room for what cleaning takes
/// out). It is kept only as [`Field::TooLong`], never copied out of the page.
const RAW_TEXT_MAX_BYTES: usize = 16 * 1024;

/// The columns read of each entity; every other column of a row is skipped unread.
fn columns_of(entity: EntityKind) -> &'static [&'static str] {
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
const MAX_COLUMNS: usize = 11;

/// One column's value as the readers see it: scalars as they came (text borrowed from the page
/// when it can be), lists and objects only noted, since no column may hold one.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Field<'de> {
    Null,
    Bool(bool),
    Integer(i64),
    /// A whole number above `i64::MAX`.
    Huge(u64),
    Float(f64),
    Text(Cow<'de, str>),
    /// A string over [`RAW_TEXT_MAX_BYTES`]: too long for any column, and not kept.
    TooLong,
    Structure,
}

impl<'de> de::Deserialize<'de> for Field<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Field<'de>, E> {
        Ok(Field::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Field<'de>, E> {
        Ok(Field::Integer(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Field<'de>, E> {
        Ok(i64::try_from(v).map_or(Field::Huge(v), Field::Integer))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Field<'de>, E> {
        Ok(Field::Float(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Field<'de>, E> {
        if v.len() > RAW_TEXT_MAX_BYTES {
            return Ok(Field::TooLong);
        }
        Ok(Field::Text(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Field<'de>, E> {
        if v.len() > RAW_TEXT_MAX_BYTES {
            return Ok(Field::TooLong);
        }
        Ok(Field::Text(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Field<'de>, E> {
        if v.len() > RAW_TEXT_MAX_BYTES {
            return Ok(Field::TooLong);
        }
        Ok(Field::Text(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<Field<'de>, E> {
        Ok(Field::Null)
    }
    fn visit_none<E>(self) -> Result<Field<'de>, E> {
        Ok(Field::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Field<'de>, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field<'de>, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Field::Structure)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field<'de>, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(Field::Structure)
    }
}

/// A value passed over unread. Unlike serde's `IgnoredAny`, lists and objects are walked
/// through the parser's own nesting limit, so a page nested absurdly deep fails as JSON the
/// parser will not read, as it would were the value kept.
pub(super) struct Skip;

impl<'de> de::Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_unit<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_none<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Skip, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(Skip)
    }
}

/// Reads one row of `entity` as it is parsed and appends it to `into`: the typed row, or a
/// [`BadRow`] when it cannot be read. Only broken JSON is an error; a row of the wrong shape
/// is a bad row.
pub(super) struct RowSeed<'a> {
    pub entity: EntityKind,
    pub into: &'a mut Snapshot,
    /// Shared by the rows of one page.
    pub keys: &'a mut KeyMemo,
}

/// How many places in a row [`KeyMemo`] remembers: more than any entity's real rows have.
const REMEMBERED_PLACES: usize = 64;

/// What the keys of a page's rows meant, by their place in the row. The rows of one page
/// spell the same keys in the same order, so a key costs one comparison with the key last seen
/// at its place instead of a search through the entity's columns (perf: that search, with its
/// case-insensitive fallback, was a tenth of reading a page). A key that differs is searched
/// for as before.
#[derive(Default)]
pub(super) struct KeyMemo {
    places: Vec<(String, Option<(usize, bool)>)>,
}

impl KeyMemo {
    fn resolve(&mut self, columns: &[&str], place: usize, key: &str) -> Option<(usize, bool)> {
        if let Some((seen, meaning)) = self.places.get(place)
            && seen == key
        {
            return *meaning;
        }
        let meaning = column_of(columns, key);
        if let Some(slot) = self.places.get_mut(place) {
            *slot = (key.to_owned(), meaning);
        } else if place == self.places.len() && place < REMEMBERED_PLACES {
            self.places.push((key.to_owned(), meaning));
        }
        meaning
    }
}

/// The index of the column `key` names (any case) and whether it is spelled exactly; `None`
/// for a column no reader needs.
fn column_of(columns: &[&str], key: &str) -> Option<(usize, bool)> {
    if let Some(index) = columns.iter().position(|column| *column == key) {
        return Some((index, true));
    }
    columns
        .iter()
        .position(|column| column.eq_ignore_ascii_case(key))
        .map(|index| (index, false))
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl RowSeed<'_> {
    fn not_an_object(self) {
        self.into.bad_rows.push(BadRow {
            entity: self.entity,
            id: None,
            field: "(row)".to_owned(),
            problem: "is not a JSON object".to_owned(),
        });
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a row")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let columns = columns_of(self.entity);
        let mut fields: [Option<Field<'de>>; MAX_COLUMNS] = Default::default();
        let mut exact = [false; MAX_COLUMNS];
        let mut place = 0;
        while let Some(column) = map.next_key_seed(ColumnSeed {
            columns,
            place,
            memo: &mut *self.keys,
        })? {
            place += 1;
            let Some((index, spelled_exactly)) = column else {
                map.next_value::<Skip>()?;
                continue;
            };
            let value: Field<'de> = map.next_value()?;
            // The exact spelling wins over any other; otherwise the later key, as in a map.
            if spelled_exactly || !exact[index] {
                fields[index] = Some(value);
                exact[index] = spelled_exactly;
            }
        }
        let row = Row {
            columns,
            fields: &fields,
        };
        read_row(self.entity, row, self.into);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        self.not_an_object();
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        self.not_an_object();
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        self.not_an_object();
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        self.not_an_object();
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        self.not_an_object();
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        self.not_an_object();
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.not_an_object();
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        self.not_an_object();
        Ok(())
    }
}

/// A row's key at `place`, read as [`column_of`] says.
struct ColumnSeed<'m> {
    columns: &'static [&'static str],
    place: usize,
    memo: &'m mut KeyMemo,
}

impl<'de> DeserializeSeed<'de> for ColumnSeed<'_> {
    type Value = Option<(usize, bool)>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for ColumnSeed<'_> {
    type Value = Option<(usize, bool)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a column name")
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.memo.resolve(self.columns, self.place, key))
    }
}

/// Appends the typed row, or the reason it cannot be read, to `into`.
fn read_row(entity: EntityKind, row: Row, into: &mut Snapshot) {
    let result = match entity {
        EntityKind::Students => read_student(row).map(|r| into.students.push(r)),
        EntityKind::Staff => read_staff(row).map(|r| into.staff.push(r)),
        EntityKind::Contacts => read_contact(row).map(|r| into.contacts.push(r)),
        EntityKind::StudentContacts => {
            read_student_contact(row).map(|r| into.student_contacts.push(r))
        }
        EntityKind::Emails => read_contact_detail(row, EMAIL_ADDRESS).map(|r| into.emails.push(r)),
        EntityKind::PersonTelephones => {
            read_contact_detail(row, TELEPHONE_NUMBER).map(|r| into.telephones.push(r))
        }
        EntityKind::Collections => read_collection(row).map(|r| into.collections.push(r)),
        EntityKind::CollectionAssociates => read_associate(row).map(|r| into.associates.push(r)),
        EntityKind::CollectionExecutives => read_executive(row).map(|r| into.executives.push(r)),
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

/// Why a row could not be read; `id` is the row's own ID when that much was readable.
#[derive(Debug)]
struct Unreadable {
    id: Option<i64>,
    field: &'static str,
    problem: &'static str,
}

/// What is wrong with one field (the value itself is never kept).
type FieldResult<T> = Result<T, &'static str>;

/// One row's columns, as [`columns_of`] lists them.
#[derive(Clone, Copy)]
struct Row<'r, 'de> {
    columns: &'static [&'static str],
    fields: &'r [Option<Field<'de>>],
}

impl<'r, 'de> Row<'r, 'de> {
    /// The value of column `name`; `null` counts as absent.
    fn get(self, name: &str) -> Option<&'r Field<'de>> {
        // The readers pass the very constants the column lists hold: their addresses match
        // first, the text is compared only should the compiler have made two copies.
        let index = self
            .columns
            .iter()
            .position(|column| std::ptr::eq(*column, name))
            .or_else(|| self.columns.iter().position(|column| *column == name));
        debug_assert!(index.is_some(), "{name} is not in the entity's column list");
        self.fields[index?]
            .as_ref()
            .filter(|field| **field != Field::Null)
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
            Some(value) => read_text(value)
                .and_then(|text| match text {
                    Some(text) if text.chars().count() > text_limit(name) => Err(TEXT_TOO_LONG),
                    text => Ok(text),
                })
                .map_err(|problem| Unreadable {
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
fn read_integer(value: &Field) -> FieldResult<Option<i64>> {
    const EXACT_FLOAT_LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53
    match value {
        Field::Integer(i) => Ok(Some(*i)),
        Field::Huge(_) => Err("is out of range for an ID"),
        Field::Float(f) if f.fract() == 0.0 && f.abs() < EXACT_FLOAT_LIMIT => Ok(Some(*f as i64)),
        Field::Float(f) if f.fract() == 0.0 => Err("is out of range for an ID"),
        Field::Float(_) => Err("is not a whole number"),
        Field::Text(s) => {
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
        Field::Null => Ok(None),
        Field::Bool(_) | Field::Structure | Field::TooLong => Err("is not an integer"),
    }
}

/// Text from a string (cleaned), or a number or boolean written as JSON writes it (a year
/// group may arrive as `7`). Lists and objects are not text.
fn read_text(value: &Field) -> FieldResult<Option<String>> {
    match value {
        Field::Text(s) => Ok(clean(s)),
        Field::Integer(i) => Ok(Some(i.to_string())),
        Field::Huge(u) => Ok(Some(u.to_string())),
        Field::Float(f) => Ok(serde_json::Number::from_f64(*f).map(|n| n.to_string())),
        Field::Bool(b) => Ok(Some(b.to_string())),
        Field::Null => Ok(None),
        Field::TooLong => Err(TEXT_TOO_LONG),
        Field::Structure => Err("is not text"),
    }
}

fn read_date(value: &Field) -> FieldResult<Option<NaiveDate>> {
    const NOT_A_DATE: &str = "is not a date (expected yyyy-MM-dd or yyyy-MM-ddTHH:mm:ss)";
    match value {
        Field::Text(s) => {
            let trimmed = s.trim();
            if trimmed.is_empty() {
                Ok(None)
            } else {
                parse_date(trimmed).map(Some).ok_or(NOT_A_DATE)
            }
        }
        Field::Null => Ok(None),
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
fn read_flag(value: &Field) -> bool {
    match value {
        Field::Bool(b) => *b,
        Field::Integer(i) => *i == 1,
        Field::Text(s) => {
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
    use proptest::prelude::*;
    use serde::Deserialize;
    use serde_json::{Value, json};
    use std::collections::BTreeMap;

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
}
