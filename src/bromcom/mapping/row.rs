//! One row read as it is parsed: its keys matched against the entity's columns (the exact
//! spelling first, then any case, remembered by place across a page's rows in [`KeyMemo`]), its
//! values kept as [`Field`]s, then read into the entity's typed row (which column fills which
//! field, and as what), or a [`BadRow`] naming the field and the problem. Part of the decoding
//! engine: the columns' names, which of them an entity reads, and their length limits are
//! [`super::columns`]'s.

use std::fmt;

use chrono::NaiveDate;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::columns::*;
use super::field::{Field, Skip, read_date, read_flag, read_integer, read_text};
use crate::snapshot::{
    BadRow, Collection, CollectionAssociate, CollectionExecutive, Contact, ContactDetail,
    EntityKind, Snapshot, Staff, Student, StudentContact,
};

/// Reads one row of `entity` as it is parsed and appends it to `into`: the typed row, or a
/// [`BadRow`] when it cannot be read. Only broken JSON is an error; a row of the wrong shape
/// is a bad row.
pub(in crate::bromcom) struct RowSeed<'a> {
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
pub(in crate::bromcom) struct KeyMemo {
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
