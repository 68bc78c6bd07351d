//! How each roster table is laid out and how a [`Roster`] becomes `COPY` rows for it: one
//! description per table, so that staging, comparing and writing are written once for all.

use super::copy_text::{Lines, Row};
use crate::roster::{Exclusions, Roster};

/// One table the sync owns for a school: its key and value columns (besides `school_id` and the
/// run column), in the order [`TableSpec::columns`] produces them.
pub(super) struct TableSpec {
    pub name: &'static str,
    pub keys: &'static [&'static str],
    pub values: &'static [&'static str],
    /// The column that names the run which last inserted or changed a row.
    pub run_column: &'static str,
    /// The SQL type of each key column.
    pub key_types: &'static [&'static str],
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
    ($name:literal, [$($key:literal),+], [$($value:literal),*]) => {
        TableSpec {
            name: $name,
            keys: &[$($key),+],
            values: &[$($value),*],
            run_column: "changed_in_run",
            key_types: &[$(spec!(@bigint $key)),+],
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
    ]
);
pub(super) const TEACHERS: TableSpec = spec!(
    "teachers",
    ["staff_id"],
    ["title", "first_name", "last_name", "email"]
);
pub(super) const PARENTS: TableSpec = spec!(
    "parents",
    ["person_id"],
    ["title", "first_name", "last_name", "email", "phone"]
);
pub(super) const PARENT_STUDENTS: TableSpec = spec!(
    "parent_students",
    ["person_id", "student_id"],
    ["relationship", "parental_responsibility"]
);
pub(super) const CLASSES: TableSpec = spec!("classes", ["class_id"], ["name", "subject", "kind"]);
pub(super) const CLASS_STUDENTS: TableSpec =
    spec!("class_students", ["class_id", "student_id"], []);
pub(super) const CLASS_TEACHERS: TableSpec =
    spec!("class_teachers", ["class_id", "staff_id"], ["is_main"]);
pub(super) const GROUPS: TableSpec = spec!("groups", ["group_id"], ["name", "kind"]);
pub(super) const GROUP_STUDENTS: TableSpec =
    spec!("group_students", ["group_id", "student_id"], []);

pub(super) const EXCLUSIONS: TableSpec = TableSpec {
    name: "exclusions",
    keys: &["entity", "bromcom_id"],
    values: &["reasons", "detail"],
    run_column: "run_id",
    key_types: &["text", "bigint"],
};

/// Every roster table's name, in write order: what a run's counts are keyed by.
pub const ROSTER_TABLES: [&str; 9] = [
    "students",
    "teachers",
    "parents",
    "parent_students",
    "classes",
    "class_students",
    "class_teachers",
    "groups",
    "group_students",
];

/// The roster tables' specs, in write order.
#[cfg(test)]
pub(super) fn roster_tables_specs() -> [&'static TableSpec; 9] {
    [
        &STUDENTS,
        &TEACHERS,
        &PARENTS,
        &PARENT_STUDENTS,
        &CLASSES,
        &CLASS_STUDENTS,
        &CLASS_TEACHERS,
        &GROUPS,
        &GROUP_STUDENTS,
    ]
}

/// Every roster table with its rows for `roster` in `COPY` text (keys, then values, in the
/// spec's order), in write order.
pub(super) fn roster_lines(roster: &Roster) -> [(&'static TableSpec, Lines); 9] {
    fn lines<T>(rows: &[T], mut write: impl FnMut(&mut Row<'_>, &T)) -> Lines {
        let mut lines = Lines::default();
        for r in rows {
            write(&mut lines.row(), r);
        }
        lines
    }
    [
        (
            &STUDENTS,
            lines(&roster.students, |w, s| {
                w.int(s.student_id)
                    .text(&s.first_name)
                    .text(&s.last_name)
                    .date(s.date_of_birth)
                    .opt_text(s.tutor_group.as_deref())
                    .opt_text(s.year_group.as_deref());
            }),
        ),
        (
            &TEACHERS,
            lines(&roster.teachers, |w, t| {
                w.int(t.staff_id)
                    .text(&t.title)
                    .text(&t.first_name)
                    .text(&t.last_name)
                    .opt_text(t.email.as_deref());
            }),
        ),
        (
            &PARENTS,
            lines(&roster.parents, |w, p| {
                w.int(p.person_id)
                    .text(&p.title)
                    .text(&p.first_name)
                    .text(&p.last_name)
                    .opt_text(p.email.as_deref())
                    .opt_text(p.phone.as_deref());
            }),
        ),
        (
            &PARENT_STUDENTS,
            lines(&roster.parent_students, |w, l| {
                w.int(l.person_id)
                    .int(l.student_id)
                    .text(&l.relationship)
                    .bool(l.parental_responsibility);
            }),
        ),
        (
            &CLASSES,
            lines(&roster.classes, |w, c| {
                w.int(c.class_id)
                    .text(&c.name)
                    .opt_text(c.subject.as_deref())
                    .text(c.kind.as_str());
            }),
        ),
        (
            &CLASS_STUDENTS,
            lines(&roster.class_students, |w, m| {
                w.int(m.class_id).int(m.student_id);
            }),
        ),
        (
            &CLASS_TEACHERS,
            lines(&roster.class_teachers, |w, m| {
                w.int(m.class_id).int(m.staff_id).bool(m.is_main);
            }),
        ),
        (
            &GROUPS,
            lines(&roster.groups, |w, g| {
                w.int(g.group_id).text(&g.name).text(g.kind.as_str());
            }),
        ),
        (
            &GROUP_STUDENTS,
            lines(&roster.group_students, |w, m| {
                w.int(m.group_id).int(m.student_id);
            }),
        ),
    ]
}

/// The exclusions table's rows: entity, bromcom_id, reasons (a text array of codes) and detail
/// (the unreadable fields and the records that caused a ripple), both written as Postgres
/// prints them (`jsonb` sorts keys shorter first and puts a space after `:` and `,`).
pub(super) fn exclusion_lines(exclusions: &Exclusions) -> Lines {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_table_names_are_the_specs_in_write_order() {
        let names: Vec<&str> = roster_tables_specs().iter().map(|spec| spec.name).collect();
        assert_eq!(names, ROSTER_TABLES);
        let staged: Vec<&str> = roster_lines(&Roster::default())
            .iter()
            .map(|(spec, _)| {
                assert_eq!(spec.keys.len(), spec.key_types.len(), "{}", spec.name);
                spec.name
            })
            .collect();
        assert_eq!(staged, ROSTER_TABLES);
    }
}
