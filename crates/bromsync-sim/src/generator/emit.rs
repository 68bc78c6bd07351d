//! Turns one school's plan into rows exactly as the Bromcom API sends them (column names of
//! `docs/bromcom-api.md`, dates as `yyyy-MM-ddT00:00:00`), adding the per-row mess of real
//! data: padded text, missing titles, withdrawn or pending consent, blank names, preferred
//! names, missing priorities, and the Emails/PersonTelephones rows of staff and students that
//! the sync must ignore.

use serde_json::{Map, Value};

use super::ctx::{Ctx, api_date, api_date_opt};
use super::names::{BOYS, GIRLS, SURNAMES, nickname};
use super::people::{ContactPlan, StaffKind, StaffPlan, StudentPlan};
use super::timetable::CollectionPlan;

/// Builds one JSON object row, keys in the order written (serde_json sorts them anyway).
struct Row(Map<String, Value>);

impl Row {
    fn new() -> Self {
        Row(Map::new())
    }

    fn put(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.insert(key.to_owned(), value.into());
        self
    }

    fn done(self) -> Value {
        Value::Object(self.0)
    }
}

/// A name that is occasionally blank (empty or spaces) and sometimes padded.
fn name_value(ctx: &mut Ctx, name: &str, blank: f64) -> Value {
    if ctx.chance(blank) {
        return Value::from(if ctx.chance(0.5) { "" } else { "  " });
    }
    Value::from(ctx.padded(name, 0.03))
}

fn title_value(ctx: &mut Ctx, female: bool, missing: f64) -> Value {
    if ctx.chance(missing) {
        return if ctx.chance(0.6) {
            Value::Null
        } else {
            Value::from("")
        };
    }
    let title = if female {
        ctx.weighted(&[
            ("Mrs", 0.52),
            ("Ms", 0.25),
            ("Miss", 0.15),
            ("Dr", 0.06),
            ("Mx", 0.02),
        ])
    } else {
        ctx.weighted(&[("Mr", 0.94), ("Dr", 0.05), ("Mx", 0.01)])
    };
    Value::from(ctx.padded(title, 0.02))
}

pub fn student_rows(
    ctx: &mut Ctx,
    students: &[StudentPlan],
    tutor_group_names: &[String],
) -> Vec<Value> {
    students
        .iter()
        .map(|s| {
            let preferred_first = if ctx.chance(0.08) {
                let other = ctx.pick(if s.female { GIRLS } else { BOYS });
                Value::from(nickname(s.first).unwrap_or(other))
            } else if ctx.chance(0.02) {
                Value::from("")
            } else {
                Value::Null
            };
            let preferred_last = if ctx.chance(0.01) {
                Value::from(ctx.pick(SURNAMES))
            } else {
                Value::Null
            };
            let tutor_group = match s.tutor_group.and_then(|g| tutor_group_names.get(g)) {
                Some(name) => ctx.padded(name, 0.05),
                None => "NoTutorGrp".to_owned(),
            };
            Row::new()
                .put("studentID", s.id)
                .put("firstName", name_value(ctx, s.first, 0.003))
                .put("lastName", name_value(ctx, s.surname, 0.002))
                .put("preferredFirstName", preferred_first)
                .put("preferredLastName", preferred_last)
                .put("dateOfBirth", api_date(s.dob))
                .put("tutorGroup", tutor_group)
                .put("yearGroup", s.year.to_string())
                .put("startDate", api_date(s.start))
                .put("endDate", api_date_opt(s.end))
                .put("dataProcessingConsent", ctx.consent(0.97))
                .done()
        })
        .collect()
}

fn ascii_lower(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

pub fn work_email(ctx: &Ctx, staff: &StaffPlan) -> String {
    let initial: String = ascii_lower(staff.first).chars().take(1).collect();
    format!(
        "{initial}.{}@school{}.example.org",
        ascii_lower(staff.surname),
        ctx.school
    )
}

pub fn staff_rows(ctx: &mut Ctx, staff: &[StaffPlan]) -> Vec<Value> {
    staff
        .iter()
        .map(|s| {
            let email = if ctx.chance(0.04) {
                Value::Null
            } else {
                Value::from(work_email(ctx, s))
            };
            let preferred_first = match nickname(s.first) {
                Some(short) if ctx.chance(0.3) => Value::from(short),
                _ => Value::Null,
            };
            Row::new()
                .put("staffID", s.id)
                .put("title", title_value(ctx, s.female, 0.03))
                .put("firstName", name_value(ctx, s.first, 0.002))
                .put("lastName", name_value(ctx, s.surname, 0.002))
                .put("preferredFirstName", preferred_first)
                .put("preferredLastName", Value::Null)
                .put("workEmail", email)
                .put("startDate", api_date(s.start))
                .put("endDate", api_date_opt(s.end))
                .put("dataProcessingConsent", ctx.consent(0.98))
                .done()
        })
        .collect()
}

pub fn contact_rows(ctx: &mut Ctx, contacts: &[ContactPlan]) -> Vec<Value> {
    contacts
        .iter()
        .map(|c| {
            Row::new()
                .put("personID", c.id)
                .put("title", title_value(ctx, c.female, 0.03))
                .put("firstName", name_value(ctx, c.first, 0.005))
                .put("lastName", name_value(ctx, c.surname, 0.003))
                .put("dataProcessingConsent", ctx.consent(0.965))
                .done()
        })
        .collect()
}

pub fn link_rows(ctx: &mut Ctx, contacts: &[ContactPlan], students: &[StudentPlan]) -> Vec<Value> {
    let mut rows = Vec::with_capacity(contacts.len() * 3 / 2);
    for contact in contacts {
        for &child in &contact.children {
            let Some(student) = students.get(child) else {
                continue;
            };
            let flag = ctx.yes_no(contact.parental_responsibility);
            rows.push(
                Row::new()
                    .put("studentID", student.id)
                    .put("personID", contact.id)
                    .put("relationship", ctx.padded(contact.relationship, 0.02))
                    .put("parentalResponsibility", flag)
                    .done(),
            );
        }
    }
    rows
}

/// Emails and telephones of one person, priority 1 first, a few rows without a priority.
struct Details<'a> {
    emails: &'a mut Vec<Value>,
    phones: &'a mut Vec<Value>,
}

impl Details<'_> {
    fn email(&mut self, ctx: &mut Ctx, person: i64, address: String, priority: usize) {
        let priority = if ctx.chance(0.06) {
            Value::Null
        } else {
            Value::from(priority)
        };
        let address = if ctx.chance(0.02) {
            String::new()
        } else {
            ctx.padded(&address, 0.02)
        };
        self.emails.push(
            Row::new()
                .put("personID", person)
                .put("emailAddress", address)
                .put("priority", priority)
                .done(),
        );
    }

    fn phone(&mut self, ctx: &mut Ctx, person: i64, priority: usize) {
        // Ofcom's ranges reserved for drama: never a real line.
        let number = match ctx.below(10) {
            0..6 => format!("07700 900{:03}", ctx.below(1000)),
            6..8 => format!("+44 7700 900{:03}", ctx.below(1000)),
            _ => format!("01632 960{:03}", ctx.below(1000)),
        };
        let priority = if ctx.chance(0.06) {
            Value::Null
        } else {
            Value::from(priority)
        };
        self.phones.push(
            Row::new()
                .put("personID", person)
                .put("telephoneNumber", ctx.padded(&number, 0.02))
                .put("priority", priority)
                .done(),
        );
    }
}

fn personal_email(ctx: &mut Ctx, first: &str, surname: &str) -> String {
    let domain = ctx.pick(&["example.com", "example.org", "example.net"]);
    let number = if ctx.chance(0.5) {
        (ctx.below(99) + 1).to_string()
    } else {
        String::new()
    };
    format!(
        "{}.{}{number}@{domain}",
        ascii_lower(first),
        ascii_lower(surname)
    )
}

/// Emails and PersonTelephones for contacts, staff and students (in that order).
pub fn detail_rows(
    ctx: &mut Ctx,
    contacts: &[ContactPlan],
    staff: &[StaffPlan],
    students: &[StudentPlan],
) -> (Vec<Value>, Vec<Value>) {
    let (mut emails, mut phones) = (Vec::new(), Vec::new());
    let mut details = Details {
        emails: &mut emails,
        phones: &mut phones,
    };
    for c in contacts {
        let count = ctx.weighted(&[(0usize, 0.05), (1, 0.55), (2, 0.30), (3, 0.10)]);
        for priority in 1..=count {
            let address = personal_email(ctx, c.first, c.surname);
            details.email(ctx, c.id, address, priority);
        }
        let count = ctx.weighted(&[(0usize, 0.03), (1, 0.30), (2, 0.45), (3, 0.22)]);
        for priority in 1..=count {
            details.phone(ctx, c.id, priority);
        }
    }
    for s in staff.iter().filter(|s| s.kind != StaffKind::Leaver) {
        details.email(ctx, s.id, work_email(ctx, s), 1);
        if ctx.chance(0.3) {
            let address = personal_email(ctx, s.first, s.surname);
            details.email(ctx, s.id, address, 2);
        }
        if ctx.chance(0.5) {
            details.phone(ctx, s.id, 1);
        }
    }
    for s in students {
        if ctx.chance(0.3) {
            let address = format!(
                "{}{}@pupils.school{}.example.org",
                ascii_lower(s.first),
                s.id,
                ctx.school
            );
            details.email(ctx, s.id, address, 1);
        }
        if ctx.chance(0.1) {
            details.phone(ctx, s.id, 1);
        }
    }
    (emails, phones)
}

pub struct CollectionRows {
    pub collections: Vec<Value>,
    pub associates: Vec<Value>,
    pub executives: Vec<Value>,
}

pub fn collection_rows(
    ctx: &mut Ctx,
    collections: &[CollectionPlan],
    students: &[StudentPlan],
) -> CollectionRows {
    let members: usize = collections.iter().map(|c| c.members.len()).sum();
    let mut rows = CollectionRows {
        collections: Vec::with_capacity(collections.len()),
        associates: Vec::with_capacity(members),
        executives: Vec::new(),
    };
    for c in collections {
        rows.collections.push(
            Row::new()
                .put("collectionID", c.id)
                .put("collectionName", ctx.padded(&c.name, 0.02))
                .put("collectionDescription", c.description.as_str())
                .put("subjectName", c.subject)
                .put("collectionTypeName", c.kind)
                .put("startDate", api_date(c.start))
                .put("endDate", api_date_opt(c.end))
                .done(),
        );
        for m in &c.members {
            let Some(student) = students.get(m.student) else {
                continue;
            };
            // IDs may arrive as numeric strings; a few rows say so.
            let person = if ctx.chance(0.005) {
                Value::from(student.id.to_string())
            } else {
                Value::from(student.id)
            };
            rows.associates.push(
                Row::new()
                    .put("collectionID", c.id)
                    .put("personID", person)
                    .put("startDate", api_date(m.start))
                    .put("endDate", api_date_opt(m.end))
                    .done(),
            );
        }
        for e in &c.executives {
            rows.executives.push(
                Row::new()
                    .put("collectionID", c.id)
                    .put("staffID", e.staff_id)
                    .put("collectionRoleTypeDescription", ctx.padded(e.role, 0.01))
                    .put("startDate", api_date(e.start))
                    .put("endDate", api_date_opt(e.end))
                    .done(),
            );
        }
    }
    rows
}
