//! Changes between two runs, for tests of what the sync does when a school's data moves on:
//! renamed people, new email addresses and phone numbers, withdrawn consent, new students with
//! classes and contacts, leavers, ended and added class memberships. Deterministic for a given
//! seed, so a test can churn, sync, and know what it should see.
//!
//! Also small row editors ([`set_field`], [`withdraw_consent`], [`end_membership`],
//! [`remove_rows`]) for tests that state one exact change.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::dataset::{Dataset, SchoolData};
use super::generator::names::{BOYS, GIRLS, SURNAMES};
use super::generator::{api_date, school_seed};
use super::shape::{consent_granted, id, is_current, rows, text};
use bromcom_api::{EntityKind, SchoolId};

/// Mixed into the seed so churn never replays the generator's own random sequence.
const CHURN_SALT: u64 = 0xC0FF_EE00_C4A7_0001;

/// What [`churn`] changed, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChurnSummary {
    pub students_renamed: usize,
    pub contacts_renamed: usize,
    pub staff_renamed: usize,
    pub emails_changed: usize,
    pub phones_changed: usize,
    pub student_consent_withdrawn: usize,
    pub contact_consent_withdrawn: usize,
    pub leavers: usize,
    pub students_added: usize,
    pub contacts_added: usize,
    /// Class and tutor group memberships of the new students.
    pub new_student_memberships: usize,
    pub memberships_ended: usize,
    pub memberships_added: usize,
}

impl ChurnSummary {
    /// Every change counted once (a new student's links and details count with the student).
    pub fn total(&self) -> usize {
        self.students_renamed
            + self.contacts_renamed
            + self.staff_renamed
            + self.emails_changed
            + self.phones_changed
            + self.student_consent_withdrawn
            + self.contact_consent_withdrawn
            + self.leavers
            + self.students_added
            + self.contacts_added
            + self.new_student_memberships
            + self.memberships_ended
            + self.memberships_added
    }
}

/// Changes about `fraction` (0 to 1) of `school`'s records, the same way for the same
/// arguments and data:
/// - of the students on roll, `fraction` are touched: half renamed, a quarter withdraw consent
///   (among those who had granted it), a quarter leave (end date yesterday);
/// - of the contacts, `fraction`: three quarters renamed, a quarter withdraw consent;
/// - `fraction` of staff renamed, of contacts' email rows and of contacts' phone rows changed;
/// - new students of a quarter of `fraction` of the roll, each copying a classmate's current
///   classes and tutor group, with one or two new contacts;
/// - half of `fraction` of the current class memberships ended yesterday, and as many added.
///
/// A school not in the dataset is left alone (the summary is all zeros).
pub fn churn(
    dataset: &mut Dataset,
    school: SchoolId,
    fraction: f64,
    seed: u64,
    today: NaiveDate,
) -> ChurnSummary {
    let mut summary = ChurnSummary::default();
    let Some(data) = dataset.schools.get_mut(&school) else {
        return summary;
    };
    let fraction = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let mut rng = StdRng::seed_from_u64(school_seed(seed ^ CHURN_SALT, school));
    let yesterday = today.pred_opt().unwrap_or(today);
    let share = |count: usize, part: f64| (count as f64 * fraction * part).round() as usize;

    // Students: one disjoint random order serves renames, consent and leavers.
    let on_roll = current_rows(data, EntityKind::Students, today);
    let touched = share(on_roll.len(), 1.0).min(on_roll.len());
    let (renames, withdrawals) = (touched / 2, touched / 4);
    let leavers = touched - renames - withdrawals;
    let mut order = sample(&mut rng, on_roll.len(), on_roll.len())
        .into_iter()
        .map(|i| on_roll[i]);
    let students = entity(data, EntityKind::Students);
    for row in order.by_ref().take(renames) {
        rename(&mut students[row], &mut rng);
        summary.students_renamed += 1;
    }
    let mut left = Vec::new();
    for row in order.by_ref() {
        if summary.student_consent_withdrawn < withdrawals && consent_granted(&students[row]) {
            set(
                &mut students[row],
                "dataProcessingConsent",
                json!("Withdrawn"),
            );
            summary.student_consent_withdrawn += 1;
        } else if summary.leavers < leavers {
            set(&mut students[row], "endDate", json!(api_date(yesterday)));
            left.extend(id(&students[row], "studentID"));
            summary.leavers += 1;
        } else if summary.student_consent_withdrawn >= withdrawals {
            break;
        }
    }

    // Contacts and staff.
    let contacts = entity(data, EntityKind::Contacts);
    let touched = share(contacts.len(), 1.0).min(contacts.len());
    let mut order = sample(&mut rng, contacts.len(), contacts.len()).into_iter();
    for row in order.by_ref().take(touched * 3 / 4) {
        rename(&mut contacts[row], &mut rng);
        summary.contacts_renamed += 1;
    }
    let withdrawals = touched - touched * 3 / 4;
    for row in order {
        if summary.contact_consent_withdrawn >= withdrawals {
            break;
        }
        if consent_granted(&contacts[row]) {
            set(
                &mut contacts[row],
                "dataProcessingConsent",
                json!("Withdrawn"),
            );
            summary.contact_consent_withdrawn += 1;
        }
    }
    let contact_ids: HashSet<i64> = contacts.iter().filter_map(|r| id(r, "personID")).collect();
    let staff = entity(data, EntityKind::Staff);
    let count = share(staff.len(), 1.0).min(staff.len());
    for row in sample(&mut rng, staff.len(), count) {
        rename(&mut staff[row], &mut rng);
        summary.staff_renamed += 1;
    }

    // Contacts' emails and phones.
    let emails = entity(data, EntityKind::Emails);
    let theirs: Vec<usize> = (0..emails.len())
        .filter(|&i| id(&emails[i], "personID").is_some_and(|p| contact_ids.contains(&p)))
        .collect();
    for pick in sample(
        &mut rng,
        theirs.len(),
        share(theirs.len(), 1.0).min(theirs.len()),
    ) {
        let row = &mut emails[theirs[pick]];
        let address = format!(
            "changed.{}.{}@example.net",
            theirs[pick],
            rng.random_range(0..10_000)
        );
        set(row, "emailAddress", json!(address));
        summary.emails_changed += 1;
    }
    let phones = entity(data, EntityKind::PersonTelephones);
    let theirs: Vec<usize> = (0..phones.len())
        .filter(|&i| id(&phones[i], "personID").is_some_and(|p| contact_ids.contains(&p)))
        .collect();
    for pick in sample(
        &mut rng,
        theirs.len(),
        share(theirs.len(), 1.0).min(theirs.len()),
    ) {
        let row = &mut phones[theirs[pick]];
        let old = text(row, "telephoneNumber").unwrap_or("").to_owned();
        let mut number = format!("07700 900{:03}", rng.random_range(0..1000));
        if number == old {
            number = format!("01632 960{:03}", rng.random_range(0..1000));
        }
        set(row, "telephoneNumber", json!(number));
        summary.phones_changed += 1;
    }

    end_and_add_memberships(
        data,
        fraction,
        &left,
        today,
        yesterday,
        &mut rng,
        &mut summary,
    );
    add_students(
        data,
        share(on_roll.len(), 0.25),
        today,
        &mut rng,
        &mut summary,
    );
    summary
}

/// Indexes of the rows of `kind` that are current today.
fn current_rows(data: &SchoolData, kind: EntityKind, today: NaiveDate) -> Vec<usize> {
    rows(data, kind)
        .iter()
        .enumerate()
        .filter(|(_, row)| is_current(row, today))
        .map(|(i, _)| i)
        .collect()
}

fn entity(data: &mut SchoolData, kind: EntityKind) -> &mut Vec<Value> {
    data.entry(kind).or_default()
}

/// Sets `field`, replacing a key of any case that already names it.
fn set(row: &mut Value, field: &str, value: Value) {
    let Some(object) = row.as_object_mut() else {
        return;
    };
    let key = object
        .keys()
        .find(|key| key.eq_ignore_ascii_case(field))
        .cloned()
        .unwrap_or_else(|| field.to_owned());
    object.insert(key, value);
}

/// A new last name, different from the old one.
fn rename(row: &mut Value, rng: &mut StdRng) {
    let old = text(row, "lastName").unwrap_or("").to_owned();
    let mut name = SURNAMES.choose(rng).copied().unwrap_or("Renamed");
    if name == old {
        name = if old == "Renamed" {
            "Changed"
        } else {
            "Renamed"
        };
    }
    set(row, "lastName", json!(name));
}

/// Ends memberships of current classes (not those of today's leavers, whose end is their own
/// change) and adds others: students join a class of their own year they were not in.
fn end_and_add_memberships(
    data: &mut SchoolData,
    fraction: f64,
    leavers: &[i64],
    today: NaiveDate,
    yesterday: NaiveDate,
    rng: &mut StdRng,
    summary: &mut ChurnSummary,
) {
    let classes: Vec<(i64, String)> = rows(data, EntityKind::Collections)
        .iter()
        .filter(|row| {
            is_current(row, today)
                && text(row, "collectionTypeName").is_some_and(|k| k.eq_ignore_ascii_case("CLASS"))
        })
        .filter_map(|row| {
            Some((
                id(row, "collectionID")?,
                text(row, "collectionName").unwrap_or("").to_owned(),
            ))
        })
        .collect();
    let class_ids: HashSet<i64> = classes.iter().map(|(c, _)| *c).collect();
    let on_roll: HashSet<i64> = rows(data, EntityKind::Students)
        .iter()
        .filter(|row| is_current(row, today))
        .filter_map(|row| id(row, "studentID"))
        .collect();
    let leavers: HashSet<i64> = leavers.iter().copied().collect();
    let associates = entity(data, EntityKind::CollectionAssociates);
    let mut pairs: HashSet<(i64, i64)> = HashSet::with_capacity(associates.len());
    let mut endable = Vec::new();
    for (index, row) in associates.iter().enumerate() {
        let (Some(collection), Some(student)) = (id(row, "collectionID"), id(row, "personID"))
        else {
            continue;
        };
        pairs.insert((collection, student));
        let started_before_today = super::shape::date(row, "startDate").is_none_or(|s| s < today);
        if class_ids.contains(&collection)
            && on_roll.contains(&student)
            && !leavers.contains(&student)
            && started_before_today
            && is_current(row, today)
        {
            endable.push((index, student));
        }
    }
    let count = ((endable.len() as f64 * fraction * 0.5).round() as usize).min(endable.len());
    for pick in sample(rng, endable.len(), count) {
        set(
            &mut associates[endable[pick].0],
            "endDate",
            json!(api_date(yesterday)),
        );
        summary.memberships_ended += 1;
    }
    // Join: a student of a random current membership joins another current class of their
    // own year (class names start with the year: `7X/Ma1`, `12/Ps1`).
    let year_of = |name: &str| {
        name.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
    };
    let mut classes_of_year: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (collection, name) in &classes {
        classes_of_year
            .entry(year_of(name))
            .or_default()
            .push(*collection);
    }
    let years: HashMap<i64, String> = rows(data, EntityKind::Students)
        .iter()
        .filter_map(|row| Some((id(row, "studentID")?, text(row, "yearGroup")?.to_owned())))
        .collect();
    let mut attempts = 0;
    while summary.memberships_added < count && attempts < count * 20 && !endable.is_empty() {
        attempts += 1;
        let (_, student) = endable[rng.random_range(0..endable.len())];
        let Some(choices) = years
            .get(&student)
            .and_then(|year| classes_of_year.get(year))
        else {
            continue;
        };
        let Some(&collection) = choices.choose(rng) else {
            continue;
        };
        if pairs.insert((collection, student)) {
            entity(data, EntityKind::CollectionAssociates)
                .push(membership(collection, student, today));
            summary.memberships_added += 1;
        }
    }
}

fn membership(collection: i64, student: i64, start: NaiveDate) -> Value {
    json!({"collectionID": collection, "personID": student, "startDate": api_date(start), "endDate": null})
}

/// The next unused ID in the school, across people and collections.
fn next_free_id(data: &SchoolData) -> i64 {
    let fields = [
        (EntityKind::Students, "studentID"),
        (EntityKind::Staff, "staffID"),
        (EntityKind::Contacts, "personID"),
        (EntityKind::Collections, "collectionID"),
    ];
    fields
        .iter()
        .flat_map(|(kind, field)| {
            rows(data, *kind)
                .iter()
                .filter_map(move |row| id(row, field))
        })
        .max()
        .unwrap_or(0)
        + 1
}

/// New students joining today, each copying a current classmate's year, tutor group and
/// current memberships, with a new mother (and sometimes a father) who have details.
fn add_students(
    data: &mut SchoolData,
    count: usize,
    today: NaiveDate,
    rng: &mut StdRng,
    summary: &mut ChurnSummary,
) {
    let templates = current_rows(data, EntityKind::Students, today);
    if templates.is_empty() || count == 0 {
        return;
    }
    let chosen: Vec<Value> = (0..count)
        .map(|_| {
            rows(data, EntityKind::Students)[templates[rng.random_range(0..templates.len())]]
                .clone()
        })
        .collect();
    let wanted: HashSet<i64> = chosen
        .iter()
        .filter_map(|row| id(row, "studentID"))
        .collect();
    let mut memberships_of: HashMap<i64, Vec<i64>> = HashMap::new();
    for row in rows(data, EntityKind::CollectionAssociates) {
        if let (Some(student), Some(collection)) = (id(row, "personID"), id(row, "collectionID"))
            && wanted.contains(&student)
            && is_current(row, today)
        {
            memberships_of.entry(student).or_default().push(collection);
        }
    }
    let mut next_id = next_free_id(data);
    for template in chosen {
        let Some(template_id) = id(&template, "studentID") else {
            continue;
        };
        let student_id = next_id;
        next_id += 1;
        let female = rng.random_bool(0.5);
        let surname = SURNAMES.choose(rng).copied().unwrap_or("Newton");
        let mut student = Map::new();
        student.insert("studentID".into(), json!(student_id));
        student.insert(
            "firstName".into(),
            json!(
                (if female { GIRLS } else { BOYS })
                    .choose(rng)
                    .copied()
                    .unwrap_or("Alex")
            ),
        );
        student.insert("lastName".into(), json!(surname));
        student.insert("preferredFirstName".into(), Value::Null);
        student.insert("preferredLastName".into(), Value::Null);
        for copied in ["dateOfBirth", "tutorGroup", "yearGroup"] {
            student.insert(
                copied.into(),
                super::shape::field(&template, copied)
                    .cloned()
                    .unwrap_or(Value::Null),
            );
        }
        student.insert("startDate".into(), json!(api_date(today)));
        student.insert("endDate".into(), Value::Null);
        student.insert("dataProcessingConsent".into(), json!("Granted"));
        entity(data, EntityKind::Students).push(Value::Object(student));
        summary.students_added += 1;

        let copied = memberships_of
            .get(&template_id)
            .cloned()
            .unwrap_or_default();
        let associates = entity(data, EntityKind::CollectionAssociates);
        for collection in copied {
            associates.push(membership(collection, student_id, today));
            summary.new_student_memberships += 1;
        }

        let parents: &[(&str, &str, bool)] = if rng.random_bool(0.6) {
            &[("Mother", "Mrs", true), ("Father", "Mr", false)]
        } else {
            &[("Mother", "Ms", true)]
        };
        for (relationship, title, female) in parents {
            let person = next_id;
            next_id += 1;
            let first = (if *female { GIRLS } else { BOYS })
                .choose(rng)
                .copied()
                .unwrap_or("Sam");
            entity(data, EntityKind::Contacts).push(json!({"personID": person, "title": title,
                "firstName": first, "lastName": surname, "dataProcessingConsent": "Granted"}));
            entity(data, EntityKind::StudentContacts).push(json!({"studentID": student_id,
                "personID": person, "relationship": relationship, "parentalResponsibility": "Yes"}));
            let address = format!(
                "{}.{}{}@example.com",
                first.to_lowercase(),
                surname.to_lowercase(),
                person % 100
            );
            entity(data, EntityKind::Emails)
                .push(json!({"personID": person, "emailAddress": address, "priority": 1}));
            let phone = format!("07700 900{:03}", rng.random_range(0..1000));
            entity(data, EntityKind::PersonTelephones)
                .push(json!({"personID": person, "telephoneNumber": phone, "priority": 1}));
            summary.contacts_added += 1;
        }
    }
}

// ----- exact edits for tests -----

/// Sets `field` to `value` on every row of `entity` in `school` whose `id_field` is `id`
/// (keys matched ignoring case, IDs as numbers or numeric strings). Returns how many rows.
pub fn set_field(
    dataset: &mut Dataset,
    school: SchoolId,
    entity: EntityKind,
    id_field: &str,
    id_value: i64,
    field: &str,
    value: Value,
) -> usize {
    let Some(rows) = dataset
        .schools
        .get_mut(&school)
        .and_then(|d| d.get_mut(&entity))
    else {
        return 0;
    };
    let mut changed = 0;
    for row in rows
        .iter_mut()
        .filter(|row| id(row, id_field) == Some(id_value))
    {
        set(row, field, value.clone());
        changed += 1;
    }
    changed
}

/// Withdraws a student's consent; false when the student is not there.
pub fn withdraw_consent(dataset: &mut Dataset, school: SchoolId, student_id: i64) -> bool {
    set_field(
        dataset,
        school,
        EntityKind::Students,
        "studentID",
        student_id,
        "dataProcessingConsent",
        json!("Withdrawn"),
    ) > 0
}

/// Ends a student's membership(s) of a collection on `end`. Returns how many rows.
pub fn end_membership(
    dataset: &mut Dataset,
    school: SchoolId,
    collection_id: i64,
    student_id: i64,
    end: NaiveDate,
) -> usize {
    let Some(rows) = dataset
        .schools
        .get_mut(&school)
        .and_then(|d| d.get_mut(&EntityKind::CollectionAssociates))
    else {
        return 0;
    };
    let mut changed = 0;
    for row in rows.iter_mut().filter(|row| {
        id(row, "collectionID") == Some(collection_id) && id(row, "personID") == Some(student_id)
    }) {
        set(row, "endDate", json!(api_date(end)));
        changed += 1;
    }
    changed
}

/// Removes every row of `entity` in `school` whose `id_field` is `id`. Returns how many.
pub fn remove_rows(
    dataset: &mut Dataset,
    school: SchoolId,
    entity: EntityKind,
    id_field: &str,
    id_value: i64,
) -> usize {
    let Some(rows) = dataset
        .schools
        .get_mut(&school)
        .and_then(|d| d.get_mut(&entity))
    else {
        return 0;
    };
    let before = rows.len();
    rows.retain(|row| id(row, id_field) != Some(id_value));
    before - rows.len()
}
