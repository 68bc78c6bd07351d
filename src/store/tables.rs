//! How each table the sync writes is laid out and how a [`Decision`] becomes `COPY` rows for it:
//! one description per table, so that staging, comparing, writing, reading back, history and
//! the role's privileges are written once for all.

use super::copy_text::{Lines, Row};
use crate::roster::{Decision, Exclusions};

/// One table the sync owns for a school: its key and value columns (besides `school_id` and the
/// run column), in the order [`TableSpec::all_columns`] produces them.
pub(super) struct TableSpec {
    pub name: &'static str,
    pub keys: &'static [&'static str],
    pub values: &'static [&'static str],
    /// The column that names the run which last inserted or changed a row.
    pub run_column: &'static str,
    /// The SQL type of each key column.
    pub key_types: &'static [&'static str],
    /// The table's rows for a decision in `COPY` text: keys, then values, in this spec's order.
    pub rows: fn(&Decision) -> Lines,
}

impl TableSpec {
    pub(super) fn all_columns(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.keys.iter().chain(self.values.iter()).copied()
    }
}

macro_rules! spec {
    (@bigint $key:literal) => {
        "bigint"
    };
    ($name:literal, [$($key:literal),+], [$($value:literal),*], $rows:expr) => {
        TableSpec {
            name: $name,
            keys: &[$($key),+],
            values: &[$($value),*],
            run_column: "changed_in_run",
            key_types: &[$(spec!(@bigint $key)),+],
            rows: $rows,
        }
    };
}

/// The nine roster tables, in the order they are written (records before their links, so that
/// a reader never sees a link whose records are missing even outside a transaction's view).
pub(super) const STUDENTS: TableSpec = spec!(
    "students",
    ["student_id"],
    [
        "first_name",
        "last_name",
        "date_of_birth",
        "tutor_group",
        "year_group"
    ],
    |d| lines(&d.roster.students, |w, s| {
        w.int(s.student_id)
            .text(&s.first_name)
            .text(&s.last_name)
            .date(s.date_of_birth)
            .opt_text(s.tutor_group.as_deref())
            .opt_text(s.year_group.as_deref());
    })
);
pub(super) const TEACHERS: TableSpec = spec!(
    "teachers",
    ["staff_id"],
    ["title", "first_name", "last_name", "email"],
    |d| lines(&d.roster.teachers, |w, t| {
        w.int(t.staff_id)
            .text(&t.title)
            .text(&t.first_name)
            .text(&t.last_name)
            .opt_text(t.email.as_deref());
    })
);
pub(super) const PARENTS: TableSpec = spec!(
    "parents",
    ["person_id"],
    ["title", "first_name", "last_name", "email", "phone"],
    |d| lines(&d.roster.parents, |w, p| {
        w.int(p.person_id)
            .text(&p.title)
            .text(&p.first_name)
            .text(&p.last_name)
            .opt_text(p.email.as_deref())
            .opt_text(p.phone.as_deref());
    })
);
pub(super) const PARENT_STUDENTS: TableSpec = spec!(
    "parent_students",
    ["person_id", "student_id"],
    ["relationship", "parental_responsibility"],
    |d| lines(&d.roster.parent_students, |w, l| {
        w.int(l.person_id)
            .int(l.student_id)
            .text(&l.relationship)
            .bool(l.parental_responsibility);
    })
);
pub(super) const CLASSES: TableSpec =
    spec!("classes", ["class_id"], ["name", "subject", "kind"], |d| {
        lines(&d.roster.classes, |w, c| {
            w.int(c.class_id)
                .text(&c.name)
                .opt_text(c.subject.as_deref())
                .text(c.kind.as_str());
        })
    });
pub(super) const CLASS_STUDENTS: TableSpec =
    spec!("class_students", ["class_id", "student_id"], [], |d| lines(
        &d.roster.class_students,
        |w, m| {
            w.int(m.class_id).int(m.student_id);
        }
    ));
pub(super) const CLASS_TEACHERS: TableSpec = spec!(
    "class_teachers",
    ["class_id", "staff_id"],
    ["is_main"],
    |d| lines(&d.roster.class_teachers, |w, m| {
        w.int(m.class_id).int(m.staff_id).bool(m.is_main);
    })
);
pub(super) const GROUPS: TableSpec = spec!("groups", ["group_id"], ["name", "kind"], |d| lines(
    &d.roster.groups,
    |w, g| {
        w.int(g.group_id).text(&g.name).text(g.kind.as_str());
    }
));
pub(super) const GROUP_STUDENTS: TableSpec =
    spec!("group_students", ["group_id", "student_id"], [], |d| lines(
        &d.roster.group_students,
        |w, m| {
            w.int(m.group_id).int(m.student_id);
        }
    ));

pub(super) const EXCLUSIONS: TableSpec = TableSpec {
    name: "exclusions",
    keys: &["entity", "bromcom_id"],
    values: &["reasons", "detail"],
    run_column: "run_id",
    key_types: &["text", "bigint"],
    rows: |d| exclusion_lines(&d.exclusions),
};

/// The roster tables' specs, in write order.
pub(super) const ROSTER_SPECS: [&TableSpec; 9] = [
    &STUDENTS,
    &TEACHERS,
    &PARENTS,
    &PARENT_STUDENTS,
    &CLASSES,
    &CLASS_STUDENTS,
    &CLASS_TEACHERS,
    &GROUPS,
    &GROUP_STUDENTS,
];

/// Every roster table's name, in write order: what a run's counts are keyed by.
pub const ROSTER_TABLES: [&str; 9] = {
    let mut names = [""; 9];
    let mut i = 0;
    while i < names.len() {
        names[i] = ROSTER_SPECS[i].name;
        i += 1;
    }
    names
};

/// One table's rows, one line each, in the order given.
fn lines<T>(rows: &[T], mut write: impl FnMut(&mut Row<'_>, &T)) -> Lines {
    let mut lines = Lines::default();
    for r in rows {
        write(&mut lines.row(), r);
    }
    lines
}

/// The exclusions table's rows: entity, bromcom_id, reasons (a text array of codes) and detail
/// (the unreadable fields and the records that caused a ripple), both written as Postgres
/// prints them (`jsonb` sorts keys shorter first and puts a space after `:` and `,`).
fn exclusion_lines(exclusions: &Exclusions) -> Lines {
    let mut lines = Lines::default();
    for e in &exclusions.records {
        let reasons: Vec<&str> = e.reasons.iter().map(|r| r.as_str()).collect();
        let caused_by: Vec<String> = e
            .caused_by
            .iter()
            .map(|c| {
                format!(
                    "{{\"id\": {}, \"entity\": {}}}",
                    c.id,
                    json_string(c.entity.as_str())
                )
            })
            .collect();
        let invalid: Vec<String> = e.invalid_fields.iter().map(|f| json_string(f)).collect();
        let detail = format!(
            "{{\"caused_by\": [{}], \"invalid_fields\": [{}]}}",
            caused_by.join(", "),
            invalid.join(", ")
        );
        lines
            .row()
            .text(e.entity.as_str())
            .int(e.id)
            .text(&format!("{{{}}}", reasons.join(",")))
            .text(&detail);
    }
    lines
}

fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}
