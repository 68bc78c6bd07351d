//! Reading back what a school has: its roster as the [`Roster`] type and its exclusions, so
//! that operators' commands and tests compare the database with what eligibility decided.

use chrono::NaiveDate;

use super::{Store, StoreError};
use crate::roster::{
    ClassKind, ClassStudent, ClassTeacher, GroupKind, GroupStudent, ParentStudent, RecordRef,
    Roster, RosterClass, RosterGroup, RosterParent, RosterStudent, RosterTeacher,
};
use crate::roster::{ExcludedEntity, Exclusion, Reason};
use crate::snapshot::SchoolId;

/// One stored exclusion: a record left out by the latest successful run, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredExclusion {
    pub entity: String,
    pub id: i64,
    pub reasons: Vec<String>,
    pub invalid_fields: Vec<String>,
    pub caused_by: Vec<(String, i64)>,
    pub run_id: i64,
}

impl StoredExclusion {
    /// The stored row as eligibility's type, where every code is known.
    pub fn to_exclusion(&self) -> Option<Exclusion> {
        let reasons = self
            .reasons
            .iter()
            .map(|r| Reason::parse(r))
            .collect::<Option<Vec<_>>>()?;
        let caused_by = self
            .caused_by
            .iter()
            .map(|(entity, id)| {
                ExcludedEntity::parse(entity).map(|entity| RecordRef { entity, id: *id })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Exclusion {
            entity: ExcludedEntity::parse(&self.entity)?,
            id: self.id,
            reasons,
            invalid_fields: self.invalid_fields.clone(),
            caused_by,
        })
    }
}

type StudentRow = (
    i64,
    String,
    String,
    Option<NaiveDate>,
    Option<String>,
    Option<String>,
);
type PersonRow = (i64, String, String, String, Option<String>, Option<String>);

impl Store {
    /// Everything the roster tables hold for one school, each vector sorted by its key.
    pub async fn load_roster(&self, school_id: SchoolId) -> Result<Roster, StoreError> {
        let pool = &self.pool;
        let students: Vec<StudentRow> = sqlx::query_as(
            "SELECT student_id, first_name, last_name, date_of_birth, tutor_group, year_group \
             FROM students WHERE school_id = $1 ORDER BY student_id",
        )
        .bind(school_id)
        .fetch_all(pool)
        .await?;
        let teachers: Vec<(i64, String, String, String, Option<String>)> = sqlx::query_as(
            "SELECT staff_id, title, first_name, last_name, email \
             FROM teachers WHERE school_id = $1 ORDER BY staff_id",
        )
        .bind(school_id)
        .fetch_all(pool)
        .await?;
        let parents: Vec<PersonRow> = sqlx::query_as(
            "SELECT person_id, title, first_name, last_name, email, phone \
             FROM parents WHERE school_id = $1 ORDER BY person_id",
        )
        .bind(school_id)
        .fetch_all(pool)
        .await?;
        let links: Vec<(i64, i64, String, bool)> = sqlx::query_as(
            "SELECT person_id, student_id, relationship, parental_responsibility \
             FROM parent_students WHERE school_id = $1 ORDER BY person_id, student_id",
        )
        .bind(school_id)
        .fetch_all(pool)
        .await?;
        let classes: Vec<(i64, String, Option<String>, String)> = sqlx::query_as(
            "SELECT class_id, name, subject, kind FROM classes WHERE school_id = $1 ORDER BY class_id",
        )
        .bind(school_id)
        .fetch_all(pool)
        .await?;
        let class_students: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT class_id, student_id FROM class_students WHERE school_id = $1 \
             ORDER BY class_id, student_id",
        )
        .bind(school_id)
        .fetch_all(pool)
        .await?;
        let class_teachers: Vec<(i64, i64, bool)> = sqlx::query_as(
            "SELECT class_id, staff_id, is_main FROM class_teachers WHERE school_id = $1 \
             ORDER BY class_id, staff_id",
        )
        .bind(school_id)
        .fetch_all(pool)
        .await?;
        let groups: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT group_id, name, kind FROM groups WHERE school_id = $1 ORDER BY group_id",
        )
        .bind(school_id)
        .fetch_all(pool)
        .await?;
        let group_students: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT group_id, student_id FROM group_students WHERE school_id = $1 \
             ORDER BY group_id, student_id",
        )
        .bind(school_id)
        .fetch_all(pool)
        .await?;

        Ok(Roster {
            students: students
                .into_iter()
                .map(
                    |(
                        student_id,
                        first_name,
                        last_name,
                        date_of_birth,
                        tutor_group,
                        year_group,
                    )| {
                        RosterStudent {
                            student_id,
                            first_name,
                            last_name,
                            date_of_birth,
                            tutor_group,
                            year_group,
                        }
                    },
                )
                .collect(),
            teachers: teachers
                .into_iter()
                .map(
                    |(staff_id, title, first_name, last_name, email)| RosterTeacher {
                        staff_id,
                        title,
                        first_name,
                        last_name,
                        email,
                    },
                )
                .collect(),
            parents: parents
                .into_iter()
                .map(
                    |(person_id, title, first_name, last_name, email, phone)| RosterParent {
                        person_id,
                        title,
                        first_name,
                        last_name,
                        email,
                        phone,
                    },
                )
                .collect(),
            parent_students: links
                .into_iter()
                .map(
                    |(person_id, student_id, relationship, parental_responsibility)| {
                        ParentStudent {
                            person_id,
                            student_id,
                            relationship,
                            parental_responsibility,
                        }
                    },
                )
                .collect(),
            classes: classes
                .into_iter()
                .map(|(class_id, name, subject, kind)| RosterClass {
                    class_id,
                    name,
                    subject,
                    // The table's CHECK admits only these two.
                    kind: if kind == ClassKind::TutorGroup.as_str() {
                        ClassKind::TutorGroup
                    } else {
                        ClassKind::Class
                    },
                })
                .collect(),
            class_students: class_students
                .into_iter()
                .map(|(class_id, student_id)| ClassStudent {
                    class_id,
                    student_id,
                })
                .collect(),
            class_teachers: class_teachers
                .into_iter()
                .map(|(class_id, staff_id, is_main)| ClassTeacher {
                    class_id,
                    staff_id,
                    is_main,
                })
                .collect(),
            groups: groups
                .into_iter()
                .filter_map(|(group_id, name, kind)| {
                    Some(RosterGroup {
                        group_id,
                        name,
                        kind: GroupKind::parse(&kind)?,
                    })
                })
                .collect(),
            group_students: group_students
                .into_iter()
                .map(|(group_id, student_id)| GroupStudent {
                    group_id,
                    student_id,
                })
                .collect(),
        })
    }

    /// The school's stored exclusions, sorted by entity and ID.
    pub async fn load_exclusions(
        &self,
        school_id: SchoolId,
    ) -> Result<Vec<StoredExclusion>, StoreError> {
        let rows: Vec<(String, i64, Vec<String>, serde_json::Value, i64)> = sqlx::query_as(
            "SELECT entity, bromcom_id, reasons, detail, run_id FROM exclusions \
             WHERE school_id = $1 ORDER BY entity, bromcom_id",
        )
        .bind(school_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(entity, id, reasons, detail, run_id)| {
                let invalid_fields = detail["invalid_fields"]
                    .as_array()
                    .map(|fields| {
                        fields
                            .iter()
                            .filter_map(|f| f.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                let caused_by = detail["caused_by"]
                    .as_array()
                    .map(|causes| {
                        causes
                            .iter()
                            .filter_map(|c| {
                                Some((c["entity"].as_str()?.to_owned(), c["id"].as_i64()?))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                StoredExclusion {
                    entity,
                    id,
                    reasons,
                    invalid_fields,
                    caused_by,
                    run_id,
                }
            })
            .collect())
    }
}

impl Store {
    /// Whether a record is in the school's roster now: the run that last wrote it, if so.
    pub async fn roster_run_of(
        &self,
        school_id: SchoolId,
        entity: ExcludedEntity,
        id: i64,
    ) -> Result<Option<i64>, StoreError> {
        let (table, key) = match entity {
            ExcludedEntity::Student => ("students", "student_id"),
            ExcludedEntity::Teacher => ("teachers", "staff_id"),
            ExcludedEntity::Parent => ("parents", "person_id"),
            ExcludedEntity::Class => ("classes", "class_id"),
            ExcludedEntity::Group => ("groups", "group_id"),
            ExcludedEntity::Collection => return Ok(None),
        };
        let sql = format!("SELECT changed_in_run FROM {table} WHERE school_id = $1 AND {key} = $2");
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(school_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }
}
