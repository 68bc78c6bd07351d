//! Measures a dataset's shape per school and overall: how many students, staff and contacts,
//! how many classes a student sits in, how full tutor groups are, how often consent or a title
//! is missing. It reads rows the way the contract describes them (keys in any case, padded
//! strings, IDs as numbers or numeric strings, dates with or without a time), so it can measure
//! any dataset file, not only generated ones. `bromsync sim shape` prints it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;

use super::dataset::{Dataset, SchoolData};
use super::generator::{GenerateOptions, generate};
use bromcom_api::same_text;
use bromcom_api::{EntityKind, SchoolId};

// ----- reading rows per the contract (shared with `churn`) -----

/// A row's value for `name`, matching the key exactly first and then ignoring case.
pub(crate) fn field<'a>(row: &'a Value, name: &str) -> Option<&'a Value> {
    let object = row.as_object()?;
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

/// Trimmed text; empty, null or missing is `None`.
pub(crate) fn text<'a>(row: &'a Value, name: &str) -> Option<&'a str> {
    field(row, name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// An integer ID given as a JSON number or a numeric string.
pub(crate) fn id(row: &Value, name: &str) -> Option<i64> {
    match field(row, name)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A date as `yyyy-MM-dd` or `yyyy-MM-ddTHH:mm:ss`.
pub(crate) fn parse_api_date(raw: &str) -> Option<NaiveDate> {
    let raw = raw.trim();
    let (date, rest) = raw.split_at_checked(10)?;
    if !(rest.is_empty() || (rest.starts_with('T') && rest.len() == 9)) {
        return None;
    }
    NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()
}

pub(crate) fn date(row: &Value, name: &str) -> Option<NaiveDate> {
    text(row, name).and_then(parse_api_date)
}

/// A yes/no flag in any spelling the contract allows.
pub(crate) fn flag(row: &Value, name: &str) -> bool {
    match field(row, name) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => ["yes", "true", "y", "1"]
            .iter()
            .any(|yes| same_text(s, yes)),
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        _ => false,
    }
}

/// Current per "Dates that bound a row": started on or before today, not ended before it.
pub(crate) fn is_current(row: &Value, today: NaiveDate) -> bool {
    date(row, "startDate").is_none_or(|start| start <= today)
        && date(row, "endDate").is_none_or(|end| end >= today)
}

pub(crate) fn consent_granted(row: &Value) -> bool {
    text(row, "dataProcessingConsent").is_some_and(|c| same_text(c, "Granted"))
}

pub(crate) fn rows(school: &SchoolData, kind: EntityKind) -> &[Value] {
    school.get(&kind).map_or(&[], Vec::as_slice)
}

// ----- the figures -----

/// Counts for one school (or all of them added up); the ratios are methods.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ShapeFigures {
    pub schools: usize,
    /// Student rows, and of those: on roll today, left before today, not started yet.
    pub students: usize,
    pub students_on_roll: usize,
    pub leavers: usize,
    pub not_started: usize,
    /// Of the students on roll.
    pub students_consented: usize,
    pub students_without_tutor_group: usize,
    pub students_with_preferred_name: usize,
    /// Staff rows, and of those: on the staff today, and of those the following.
    pub staff: usize,
    pub staff_current: usize,
    pub staff_consented: usize,
    pub staff_missing_title: usize,
    /// Current staff currently attached to a current class or tutor group.
    pub staff_teaching: usize,
    pub contacts: usize,
    pub contacts_consented: usize,
    pub contacts_missing_title: usize,
    /// StudentContacts rows of students on roll.
    pub contact_links: usize,
    pub links_with_responsibility: usize,
    pub parent_links: usize,
    pub parent_links_with_responsibility: usize,
    pub relationships: BTreeMap<String, usize>,
    pub contact_emails: usize,
    pub contact_phones: usize,
    /// Emails/PersonTelephones rows of anyone but contacts (ignored by the sync).
    pub other_emails: usize,
    pub other_phones: usize,
    /// Current CLASS collections, and current memberships of them by students on roll.
    pub classes: usize,
    pub class_memberships: usize,
    pub tutor_groups: usize,
    pub tutor_group_memberships: usize,
    /// Current collections by `collectionTypeName` (upper case).
    pub collections_by_kind: BTreeMap<String, usize>,
    pub ended_collections: usize,
    pub ended_memberships: usize,
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

impl ShapeFigures {
    pub fn staff_percent_of_students(&self) -> f64 {
        100.0 * ratio(self.staff_current, self.students_on_roll)
    }
    /// How many contacts a student on roll has (links per student).
    pub fn contacts_per_student(&self) -> f64 {
        ratio(self.contact_links, self.students_on_roll)
    }
    /// Distinct contacts per student on roll (siblings share contacts).
    pub fn distinct_contacts_per_student(&self) -> f64 {
        ratio(self.contacts, self.students_on_roll)
    }
    pub fn classes_per_student(&self) -> f64 {
        ratio(self.class_memberships, self.students_on_roll)
    }
    pub fn students_per_class(&self) -> f64 {
        ratio(self.class_memberships, self.classes)
    }
    pub fn students_per_tutor_group(&self) -> f64 {
        ratio(self.tutor_group_memberships, self.tutor_groups)
    }
    pub fn emails_per_contact(&self) -> f64 {
        ratio(self.contact_emails, self.contacts)
    }
    pub fn phones_per_contact(&self) -> f64 {
        ratio(self.contact_phones, self.contacts)
    }
    pub fn student_consent_percent(&self) -> f64 {
        100.0 * ratio(self.students_consented, self.students_on_roll)
    }
    pub fn contact_consent_percent(&self) -> f64 {
        100.0 * ratio(self.contacts_consented, self.contacts)
    }
    pub fn staff_consent_percent(&self) -> f64 {
        100.0 * ratio(self.staff_consented, self.staff_current)
    }
    pub fn responsibility_percent(&self) -> f64 {
        100.0 * ratio(self.links_with_responsibility, self.contact_links)
    }
    pub fn parent_responsibility_percent(&self) -> f64 {
        100.0 * ratio(self.parent_links_with_responsibility, self.parent_links)
    }

    fn add(&mut self, other: &ShapeFigures) {
        let ShapeFigures {
            schools,
            students,
            students_on_roll,
            leavers,
            not_started,
            students_consented,
            students_without_tutor_group,
            students_with_preferred_name,
            staff,
            staff_current,
            staff_consented,
            staff_missing_title,
            staff_teaching,
            contacts,
            contacts_consented,
            contacts_missing_title,
            contact_links,
            links_with_responsibility,
            parent_links,
            parent_links_with_responsibility,
            relationships,
            contact_emails,
            contact_phones,
            other_emails,
            other_phones,
            classes,
            class_memberships,
            tutor_groups,
            tutor_group_memberships,
            collections_by_kind,
            ended_collections,
            ended_memberships,
        } = other;
        self.schools += schools;
        self.students += students;
        self.students_on_roll += students_on_roll;
        self.leavers += leavers;
        self.not_started += not_started;
        self.students_consented += students_consented;
        self.students_without_tutor_group += students_without_tutor_group;
        self.students_with_preferred_name += students_with_preferred_name;
        self.staff += staff;
        self.staff_current += staff_current;
        self.staff_consented += staff_consented;
        self.staff_missing_title += staff_missing_title;
        self.staff_teaching += staff_teaching;
        self.contacts += contacts;
        self.contacts_consented += contacts_consented;
        self.contacts_missing_title += contacts_missing_title;
        self.contact_links += contact_links;
        self.links_with_responsibility += links_with_responsibility;
        self.parent_links += parent_links;
        self.parent_links_with_responsibility += parent_links_with_responsibility;
        for (name, count) in relationships {
            *self.relationships.entry(name.clone()).or_default() += count;
        }
        self.contact_emails += contact_emails;
        self.contact_phones += contact_phones;
        self.other_emails += other_emails;
        self.other_phones += other_phones;
        self.classes += classes;
        self.class_memberships += class_memberships;
        self.tutor_groups += tutor_groups;
        self.tutor_group_memberships += tutor_group_memberships;
        for (kind, count) in collections_by_kind {
            *self.collections_by_kind.entry(kind.clone()).or_default() += count;
        }
        self.ended_collections += ended_collections;
        self.ended_memberships += ended_memberships;
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ShapeReport {
    pub today: NaiveDate,
    pub schools: BTreeMap<SchoolId, ShapeFigures>,
    pub overall: ShapeFigures,
}

/// Measures every school of `dataset` as of `today`.
pub fn shape(dataset: &Dataset, today: NaiveDate) -> ShapeReport {
    let mut report = ShapeReport {
        today,
        ..ShapeReport::default()
    };
    for (&school, data) in &dataset.schools {
        let figures = measure_school(data, today);
        report.overall.add(&figures);
        report.schools.insert(school, figures);
    }
    report
}

fn measure_school(data: &SchoolData, today: NaiveDate) -> ShapeFigures {
    let mut f = ShapeFigures {
        schools: 1,
        ..ShapeFigures::default()
    };

    let mut on_roll = HashSet::new();
    for row in rows(data, EntityKind::Students) {
        f.students += 1;
        if date(row, "endDate").is_some_and(|end| end < today) {
            f.leavers += 1;
        } else if date(row, "startDate").is_some_and(|start| start > today) {
            f.not_started += 1;
        }
        if !is_current(row, today) {
            continue;
        }
        on_roll.extend(id(row, "studentID"));
        f.students_on_roll += 1;
        f.students_consented += usize::from(consent_granted(row));
        let tutor_group = text(row, "tutorGroup");
        f.students_without_tutor_group +=
            usize::from(tutor_group.is_none_or(|t| same_text(t, "NoTutorGrp")));
        f.students_with_preferred_name += usize::from(text(row, "preferredFirstName").is_some());
    }

    let mut current_staff = HashSet::new();
    for row in rows(data, EntityKind::Staff) {
        f.staff += 1;
        if !is_current(row, today) {
            continue;
        }
        current_staff.extend(id(row, "staffID"));
        f.staff_current += 1;
        f.staff_consented += usize::from(consent_granted(row));
        f.staff_missing_title += usize::from(text(row, "title").is_none());
    }

    let mut contacts = HashSet::new();
    for row in rows(data, EntityKind::Contacts) {
        f.contacts += 1;
        contacts.extend(id(row, "personID"));
        f.contacts_consented += usize::from(consent_granted(row));
        f.contacts_missing_title += usize::from(text(row, "title").is_none());
    }
    for row in rows(data, EntityKind::StudentContacts) {
        if !id(row, "studentID").is_some_and(|s| on_roll.contains(&s)) {
            continue;
        }
        f.contact_links += 1;
        let responsibility = flag(row, "parentalResponsibility");
        f.links_with_responsibility += usize::from(responsibility);
        let relationship = text(row, "relationship").unwrap_or("(none)");
        if same_text(relationship, "Mother") || same_text(relationship, "Father") {
            f.parent_links += 1;
            f.parent_links_with_responsibility += usize::from(responsibility);
        }
        *f.relationships.entry(relationship.to_owned()).or_default() += 1;
    }
    let is_contact = |row: &Value| id(row, "personID").is_some_and(|p| contacts.contains(&p));
    for row in rows(data, EntityKind::Emails) {
        if is_contact(row) {
            f.contact_emails += 1;
        } else {
            f.other_emails += 1;
        }
    }
    for row in rows(data, EntityKind::PersonTelephones) {
        if is_contact(row) {
            f.contact_phones += 1;
        } else {
            f.other_phones += 1;
        }
    }

    // Current collections by ID, with their kind in upper case.
    let mut kinds: HashMap<i64, String> = HashMap::new();
    for row in rows(data, EntityKind::Collections) {
        if !is_current(row, today) {
            f.ended_collections += 1;
            continue;
        }
        let kind = text(row, "collectionTypeName")
            .unwrap_or("(none)")
            .to_uppercase();
        *f.collections_by_kind.entry(kind.clone()).or_default() += 1;
        match kind.as_str() {
            "CLASS" => f.classes += 1,
            "TUTORGRP" => f.tutor_groups += 1,
            _ => {}
        }
        kinds.extend(id(row, "collectionID").map(|c| (c, kind)));
    }
    for row in rows(data, EntityKind::CollectionAssociates) {
        if !is_current(row, today) {
            f.ended_memberships += 1;
            continue;
        }
        if !id(row, "personID").is_some_and(|s| on_roll.contains(&s)) {
            continue;
        }
        match id(row, "collectionID")
            .and_then(|c| kinds.get(&c))
            .map(String::as_str)
        {
            Some("CLASS") => f.class_memberships += 1,
            Some("TUTORGRP") => f.tutor_group_memberships += 1,
            _ => {}
        }
    }
    let mut teaching = HashSet::new();
    for row in rows(data, EntityKind::CollectionExecutives) {
        let teaches = id(row, "collectionID")
            .and_then(|c| kinds.get(&c))
            .is_some_and(|k| k == "CLASS" || k == "TUTORGRP");
        if teaches && is_current(row, today) {
            teaching.extend(id(row, "staffID").filter(|s| current_staff.contains(s)));
        }
    }
    f.staff_teaching = teaching.len();
    f
}

// ----- printing -----

impl fmt::Display for ShapeReport {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut columns: Vec<(String, &ShapeFigures)> = self
            .schools
            .iter()
            .map(|(id, figures)| (id.to_string(), figures))
            .collect();
        if self.schools.len() != 1 {
            columns.push(("all".to_owned(), &self.overall));
        }
        writeln!(out, "shape as of {}", self.today)?;
        let line =
            |out: &mut fmt::Formatter<'_>, label: &str, cell: &dyn Fn(&ShapeFigures) -> String| {
                write!(out, "{label:<34}")?;
                for (_, figures) in &columns {
                    write!(out, " {:>12}", cell(figures))?;
                }
                writeln!(out)
            };
        write!(out, "{:<34}", "school")?;
        for (name, _) in &columns {
            write!(out, " {name:>12}")?;
        }
        writeln!(out)?;
        let count = |get: fn(&ShapeFigures) -> usize| move |f: &ShapeFigures| get(f).to_string();
        let real = |get: fn(&ShapeFigures) -> f64| move |f: &ShapeFigures| format!("{:.2}", get(f));
        let percent =
            |get: fn(&ShapeFigures) -> f64| move |f: &ShapeFigures| format!("{:.1}%", get(f));
        line(out, "students (rows)", &count(|f| f.students))?;
        line(out, "  on roll", &count(|f| f.students_on_roll))?;
        line(out, "  leavers", &count(|f| f.leavers))?;
        line(out, "  not started yet", &count(|f| f.not_started))?;
        line(
            out,
            "  consent granted",
            &percent(ShapeFigures::student_consent_percent),
        )?;
        line(
            out,
            "  without tutor group",
            &count(|f| f.students_without_tutor_group),
        )?;
        line(
            out,
            "  with preferred first name",
            &count(|f| f.students_with_preferred_name),
        )?;
        line(out, "staff (rows)", &count(|f| f.staff))?;
        line(out, "  current", &count(|f| f.staff_current))?;
        line(
            out,
            "  as % of students on roll",
            &percent(ShapeFigures::staff_percent_of_students),
        )?;
        line(
            out,
            "  teaching a class or tutor group",
            &count(|f| f.staff_teaching),
        )?;
        line(
            out,
            "  consent granted",
            &percent(ShapeFigures::staff_consent_percent),
        )?;
        line(out, "  missing title", &count(|f| f.staff_missing_title))?;
        line(out, "contacts", &count(|f| f.contacts))?;
        line(
            out,
            "  per student (links)",
            &real(ShapeFigures::contacts_per_student),
        )?;
        line(
            out,
            "  distinct per student",
            &real(ShapeFigures::distinct_contacts_per_student),
        )?;
        line(
            out,
            "  consent granted",
            &percent(ShapeFigures::contact_consent_percent),
        )?;
        line(out, "  missing title", &count(|f| f.contacts_missing_title))?;
        line(
            out,
            "  emails per contact",
            &real(ShapeFigures::emails_per_contact),
        )?;
        line(
            out,
            "  phones per contact",
            &real(ShapeFigures::phones_per_contact),
        )?;
        line(
            out,
            "  parental responsibility (links)",
            &percent(ShapeFigures::responsibility_percent),
        )?;
        line(
            out,
            "  ... of Mother/Father links",
            &percent(ShapeFigures::parent_responsibility_percent),
        )?;
        let mut relationships: Vec<&String> = self.overall.relationships.keys().collect();
        relationships.sort_by_key(|name| std::cmp::Reverse(self.overall.relationships[*name]));
        for name in relationships {
            let label = format!("  relationship {name}");
            line(out, &label, &|f: &ShapeFigures| {
                f.relationships.get(name).copied().unwrap_or(0).to_string()
            })?;
        }
        line(
            out,
            "emails/phones of others (ignored)",
            &|f: &ShapeFigures| format!("{}/{}", f.other_emails, f.other_phones),
        )?;
        line(out, "classes (current)", &count(|f| f.classes))?;
        line(
            out,
            "  classes per student",
            &real(ShapeFigures::classes_per_student),
        )?;
        line(
            out,
            "  students per class",
            &real(ShapeFigures::students_per_class),
        )?;
        line(out, "tutor groups (current)", &count(|f| f.tutor_groups))?;
        line(
            out,
            "  students per tutor group",
            &real(ShapeFigures::students_per_tutor_group),
        )?;
        for kind in self.overall.collections_by_kind.keys() {
            let label = format!("collections {kind}");
            line(out, &label, &|f: &ShapeFigures| {
                f.collections_by_kind
                    .get(kind)
                    .copied()
                    .unwrap_or(0)
                    .to_string()
            })?;
        }
        line(out, "ended collections", &count(|f| f.ended_collections))?;
        line(out, "ended memberships", &count(|f| f.ended_memberships))?;
        Ok(())
    }
}

// ----- `bromsync sim shape` -----

/// `bromsync sim shape --seed S --schools N --students N [--today yyyy-mm-dd]`
#[derive(Debug, Clone, clap::Args)]
pub struct ShapeArgs {
    /// Seed of the synthetic trust.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of schools (IDs from 20001 up).
    #[arg(long, default_value_t = 1)]
    pub schools: usize,
    /// Student rows per school.
    #[arg(long, default_value_t = 1000)]
    pub students: usize,
    /// The date to generate and measure around (default: today's date).
    #[arg(long)]
    pub today: Option<NaiveDate>,
}

/// Generates the trust `args` describe and returns its shape as a printable table.
pub fn run_shape(args: &ShapeArgs) -> String {
    let today = args
        .today
        .unwrap_or_else(|| chrono::Local::now().date_naive());
    let options = GenerateOptions::new(args.seed, args.schools, args.students, today);
    let dataset = generate(&options);
    format!(
        "seed {}, {} school(s) of {} students\n{}",
        args.seed,
        args.schools,
        args.students,
        shape(&dataset, today)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    #[test]
    fn reads_rows_the_way_the_contract_says() {
        let row = json!({"StudentId": "42 ", "FIRSTNAME": "  ", "startDate": "2025-09-01",
            "endDate": "2026-03-09T00:00:00", "parentalResponsibility": "y", "flag2": true,
            "dataProcessingConsent": "granted "});
        assert_eq!(id(&row, "studentID"), Some(42));
        assert_eq!(text(&row, "firstName"), None);
        assert_eq!(date(&row, "startDate"), Some(day(2025, 9, 1)));
        assert!(flag(&row, "parentalResponsibility") && flag(&row, "flag2"));
        assert!(consent_granted(&row));
        assert!(is_current(&row, day(2026, 3, 9)));
        assert!(!is_current(&row, day(2026, 3, 10)));
        assert_eq!(parse_api_date("2026-03-09T00:00"), None);
        assert_eq!(parse_api_date("09/03/2026"), None);
    }

    #[test]
    fn counts_a_small_school_by_hand() {
        let today = day(2026, 3, 10);
        let data: Dataset = serde_json::from_value(json!({"1": {
            "Students": [
                {"studentID": 1, "dataProcessingConsent": "Granted", "tutorGroup": "7A"},
                {"studentID": 2, "dataProcessingConsent": "Withdrawn", "tutorGroup": "NoTutorGrp"},
                {"studentID": 3, "endDate": "2026-01-01T00:00:00"}
            ],
            "Staff": [{"staffID": 9, "title": "Mr", "dataProcessingConsent": "Granted"}],
            "Contacts": [{"personID": 5, "dataProcessingConsent": "Granted"}],
            "StudentContacts": [
                {"studentID": 1, "personID": 5, "relationship": "Mother ", "parentalResponsibility": "No"},
                {"studentID": 2, "personID": 5, "relationship": "Aunt", "parentalResponsibility": "Yes"}
            ],
            "Emails": [{"personID": 5, "emailAddress": "a@example.com"}, {"personID": 9}],
            "Collections": [
                {"collectionID": 100, "collectionTypeName": "CLASS"},
                {"collectionID": 101, "collectionTypeName": "tutorgrp"},
                {"collectionID": 102, "collectionTypeName": "CLASS", "endDate": "2025-07-22T00:00:00"}
            ],
            "CollectionAssociates": [
                {"collectionID": 100, "personID": 1}, {"collectionID": 100, "personID": "2"},
                {"collectionID": 101, "personID": 1}, {"collectionID": 102, "personID": 1,
                 "endDate": "2025-07-22T00:00:00"}
            ],
            "CollectionExecutives": [{"collectionID": 100, "staffID": 9}]
        }}))
        .unwrap_or_default();
        let report = shape(&data, today);
        let f = &report.overall;
        assert_eq!((f.students, f.students_on_roll, f.leavers), (3, 2, 1));
        assert_eq!(f.student_consent_percent(), 50.0);
        assert_eq!(f.students_without_tutor_group, 1);
        assert_eq!(
            (f.classes, f.class_memberships, f.classes_per_student()),
            (1, 2, 1.0)
        );
        assert_eq!((f.tutor_groups, f.tutor_group_memberships), (1, 1));
        assert_eq!((f.ended_collections, f.ended_memberships), (1, 1));
        assert_eq!(
            (
                f.contact_links,
                f.parent_links,
                f.parent_links_with_responsibility
            ),
            (2, 1, 0)
        );
        assert_eq!(f.links_with_responsibility, 1);
        assert_eq!((f.contact_emails, f.other_emails), (1, 1));
        assert_eq!(
            (f.staff_current, f.staff_teaching, f.staff_missing_title),
            (1, 1, 0)
        );
        assert_eq!(f.relationships.get("Mother"), Some(&1));
        let printed = report.to_string();
        assert!(printed.contains("classes per student"), "{printed}");
    }
}
