//! How each roster table is laid out and how a [`Roster`] becomes column arrays for it: one
//! description per table, so that staging, comparing and writing are written once for all.

use chrono::NaiveDate;

use crate::roster::{Exclusions, Roster};

/// A column's values for every row of one table, in row order, bound as one Postgres array.
pub(super) enum Column {
    Int(Vec<i64>),
    Text(Vec<Option<String>>),
    Date(Vec<Option<NaiveDate>>),
    Bool(Vec<bool>),
}

impl Column {
    pub(super) fn array_type(&self) -> &'static str {
        match self {
            Column::Int(_) => "bigint[]",
            Column::Text(_) => "text[]",
            Column::Date(_) => "date[]",
            Column::Bool(_) => "boolean[]",
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Column::Int(v) => v.len(),
            Column::Text(v) => v.len(),
            Column::Date(v) => v.len(),
            Column::Bool(v) => v.len(),
        }
    }
}

/// One table the sync owns for a school: its key and value columns (besides `school_id` and the
/// run column), in the order [`TableSpec::columns`] produces them.
pub(super) struct TableSpec {
    pub name: &'static str,
    pub keys: &'static [&'static str],
    pub values: &'static [&'static str],
    /// The column that names the run which last inserted or changed a row.
    pub run_column: &'static str,
    /// SQL that turns a staged value column into the table's type, where they differ
    /// (arrays of arrays cannot be bound, so `reasons` arrives as comma-separated text).
    pub stage_casts: &'static [(&'static str, &'static str)],
}

impl TableSpec {
    pub(super) fn all_columns(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.keys.iter().chain(self.values.iter()).copied()
    }
}

macro_rules! spec {
    ($name:literal, [$($key:literal),+], [$($value:literal),*]) => {
        TableSpec {
            name: $name,
            keys: &[$($key),+],
            values: &[$($value),*],
            run_column: "changed_in_run",
            stage_casts: &[],
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
    stage_casts: &[
        ("reasons", "string_to_array(reasons, ',')"),
        ("detail", "detail::jsonb"),
    ],
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

fn ints<T>(rows: &[T], f: impl Fn(&T) -> i64) -> Column {
    Column::Int(rows.iter().map(f).collect())
}
fn texts<T>(rows: &[T], f: impl Fn(&T) -> Option<&str>) -> Column {
    Column::Text(rows.iter().map(|r| f(r).map(str::to_owned)).collect())
}
fn bools<T>(rows: &[T], f: impl Fn(&T) -> bool) -> Column {
    Column::Bool(rows.iter().map(f).collect())
}

/// Every roster table with its columns for `roster` (keys, then values, in the spec's order),
/// in write order.
pub(super) fn roster_tables(roster: &Roster) -> [(&'static TableSpec, Vec<Column>); 9] {
    let students = &roster.students;
    let teachers = &roster.teachers;
    let parents = &roster.parents;
    let links = &roster.parent_students;
    let classes = &roster.classes;
    let class_students = &roster.class_students;
    let class_teachers = &roster.class_teachers;
    let groups = &roster.groups;
    let group_students = &roster.group_students;
    [
        (
            &STUDENTS,
            vec![
                ints(students, |s| s.student_id),
                texts(students, |s| Some(&s.first_name)),
                texts(students, |s| Some(&s.last_name)),
                Column::Date(students.iter().map(|s| s.date_of_birth).collect()),
                texts(students, |s| s.tutor_group.as_deref()),
                texts(students, |s| s.year_group.as_deref()),
            ],
        ),
        (
            &TEACHERS,
            vec![
                ints(teachers, |t| t.staff_id),
                texts(teachers, |t| Some(&t.title)),
                texts(teachers, |t| Some(&t.first_name)),
                texts(teachers, |t| Some(&t.last_name)),
                texts(teachers, |t| t.email.as_deref()),
            ],
        ),
        (
            &PARENTS,
            vec![
                ints(parents, |p| p.person_id),
                texts(parents, |p| Some(&p.title)),
                texts(parents, |p| Some(&p.first_name)),
                texts(parents, |p| Some(&p.last_name)),
                texts(parents, |p| p.email.as_deref()),
                texts(parents, |p| p.phone.as_deref()),
            ],
        ),
        (
            &PARENT_STUDENTS,
            vec![
                ints(links, |l| l.person_id),
                ints(links, |l| l.student_id),
                texts(links, |l| Some(&l.relationship)),
                bools(links, |l| l.parental_responsibility),
            ],
        ),
        (
            &CLASSES,
            vec![
                ints(classes, |c| c.class_id),
                texts(classes, |c| Some(&c.name)),
                texts(classes, |c| c.subject.as_deref()),
                texts(classes, |c| Some(c.kind.as_str())),
            ],
        ),
        (
            &CLASS_STUDENTS,
            vec![
                ints(class_students, |m| m.class_id),
                ints(class_students, |m| m.student_id),
            ],
        ),
        (
            &CLASS_TEACHERS,
            vec![
                ints(class_teachers, |m| m.class_id),
                ints(class_teachers, |m| m.staff_id),
                bools(class_teachers, |m| m.is_main),
            ],
        ),
        (
            &GROUPS,
            vec![
                ints(groups, |g| g.group_id),
                texts(groups, |g| Some(&g.name)),
                texts(groups, |g| Some(g.kind.as_str())),
            ],
        ),
        (
            &GROUP_STUDENTS,
            vec![
                ints(group_students, |m| m.group_id),
                ints(group_students, |m| m.student_id),
            ],
        ),
    ]
}

/// The exclusions table's columns: entity, bromcom_id, reasons (comma-separated codes) and
/// detail (JSON text of the unreadable fields and the records that caused a ripple).
pub(super) fn exclusion_columns(exclusions: &Exclusions) -> Vec<Column> {
    let r = &exclusions.records;
    vec![
        texts(r, |e| Some(e.entity.as_str())),
        ints(r, |e| e.id),
        Column::Text(
            r.iter()
                .map(|e| {
                    Some(
                        e.reasons
                            .iter()
                            .map(|reason| reason.as_str())
                            .collect::<Vec<_>>()
                            .join(","),
                    )
                })
                .collect(),
        ),
        Column::Text(
            r.iter()
                .map(|e| {
                    let caused_by: Vec<_> = e
                        .caused_by
                        .iter()
                        .map(|c| serde_json::json!({"entity": c.entity.as_str(), "id": c.id}))
                        .collect();
                    Some(
                        serde_json::json!({
                            "invalid_fields": e.invalid_fields,
                            "caused_by": caused_by,
                        })
                        .to_string(),
                    )
                })
                .collect(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_table_names_are_the_specs_in_write_order() {
        let names: Vec<&str> = roster_tables_specs().iter().map(|spec| spec.name).collect();
        assert_eq!(names, ROSTER_TABLES);
        let staged: Vec<&str> = roster_tables(&Roster::default())
            .iter()
            .map(|(spec, columns)| {
                assert_eq!(spec.all_columns().count(), columns.len(), "{}", spec.name);
                spec.name
            })
            .collect();
        assert_eq!(staged, ROSTER_TABLES);
    }
}
