//! Reading back what a school has: its roster as the [`Roster`] type and its exclusions, so
//! that operators' commands and tests compare the database with what eligibility decided.

use serde::Deserialize;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, PgPool};

use super::history::entity_spec;
use super::tables::{
    CLASS_STUDENTS, CLASS_TEACHERS, CLASSES, GROUP_STUDENTS, GROUPS, PARENT_STUDENTS, PARENTS,
    STUDENTS, TEACHERS, TableSpec,
};
use super::{Store, StoreError};
use crate::roster::{ExcludedEntity, Exclusion, Reason, RecordRef, Roster};
use crate::snapshot::SchoolId;

/// One stored exclusion: a record left out by the latest successful run, and why; read back
/// typed, so that a code this version does not know is an error at the edge, not a puzzle later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredExclusion {
    pub entity: ExcludedEntity,
    pub id: i64,
    pub reasons: Vec<Reason>,
    pub invalid_fields: Vec<String>,
    pub caused_by: Vec<RecordRef>,
    pub run_id: i64,
}

impl StoredExclusion {
    /// The stored row as eligibility's type.
    pub fn to_exclusion(&self) -> Exclusion {
        Exclusion {
            entity: self.entity,
            id: self.id,
            reasons: self.reasons.clone(),
            invalid_fields: self.invalid_fields.clone(),
            caused_by: self.caused_by.clone(),
        }
    }
}

/// An `exclusions` row as the table holds it.
#[derive(sqlx::FromRow)]
struct ExclusionRow {
    #[sqlx(try_from = "String")]
    entity: ExcludedEntity,
    bromcom_id: i64,
    reasons: Vec<String>,
    detail: Json<ExclusionDetail>,
    run_id: i64,
}

/// The `exclusions.detail` column: IDs and field names only.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ExclusionDetail {
    invalid_fields: Vec<String>,
    caused_by: Vec<RecordRef>,
}

impl ExclusionRow {
    fn into_stored(self) -> Result<StoredExclusion, StoreError> {
        let reasons = self
            .reasons
            .iter()
            .map(|code| {
                Reason::parse(code).ok_or_else(|| {
                    StoreError::Unreadable(format!(
                        "exclusion of {} {} has reason `{code}`, which this version does not know",
                        self.entity, self.bromcom_id
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        let Json(detail) = self.detail;
        Ok(StoredExclusion {
            entity: self.entity,
            id: self.bromcom_id,
            reasons,
            invalid_fields: detail.invalid_fields,
            caused_by: detail.caused_by,
            run_id: self.run_id,
        })
    }
}

impl Store {
    /// Everything the roster tables hold for one school, each vector sorted by its key.
    pub async fn load_roster(&self, school_id: SchoolId) -> Result<Roster, StoreError> {
        let pool = &self.pool;
        Ok(Roster {
            students: load_rows(pool, &STUDENTS, school_id).await?,
            teachers: load_rows(pool, &TEACHERS, school_id).await?,
            parents: load_rows(pool, &PARENTS, school_id).await?,
            parent_students: load_rows(pool, &PARENT_STUDENTS, school_id).await?,
            classes: load_rows(pool, &CLASSES, school_id).await?,
            class_students: load_rows(pool, &CLASS_STUDENTS, school_id).await?,
            class_teachers: load_rows(pool, &CLASS_TEACHERS, school_id).await?,
            groups: load_rows(pool, &GROUPS, school_id).await?,
            group_students: load_rows(pool, &GROUP_STUDENTS, school_id).await?,
        })
    }

    /// The school's stored exclusions, sorted by entity and ID.
    pub async fn load_exclusions(
        &self,
        school_id: SchoolId,
    ) -> Result<Vec<StoredExclusion>, StoreError> {
        let rows: Vec<ExclusionRow> = sqlx::query_as(
            "SELECT entity, bromcom_id, reasons, detail, run_id FROM exclusions \
             WHERE school_id = $1 ORDER BY entity, bromcom_id",
        )
        .bind(school_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(ExclusionRow::into_stored).collect()
    }
}

/// One table's rows of one school, sorted by its key; read by column name, so the row type's
/// fields are the spec's columns.
async fn load_rows<T>(
    pool: &PgPool,
    spec: &TableSpec,
    school_id: SchoolId,
) -> Result<Vec<T>, StoreError>
where
    T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
{
    let columns: Vec<&str> = spec.all_columns().collect();
    let sql = format!(
        "SELECT {} FROM {} WHERE school_id = $1 ORDER BY {}",
        columns.join(", "),
        spec.name,
        spec.keys.join(", ")
    );
    Ok(sqlx::query_as(AssertSqlSafe(sql))
        .bind(school_id)
        .fetch_all(pool)
        .await?)
}

impl Store {
    /// Whether a record is in the school's roster now: the run that last wrote it, if so.
    pub async fn roster_run_of(
        &self,
        school_id: SchoolId,
        entity: ExcludedEntity,
        id: i64,
    ) -> Result<Option<i64>, StoreError> {
        // An entity with history is one with a roster table; a `collection` has none.
        let Some(spec) = entity_spec(entity) else {
            return Ok(None);
        };
        let table = spec.table;
        let sql = format!(
            "SELECT {} FROM {} WHERE school_id = $1 AND {} = $2",
            table.run_column, table.name, table.keys[0]
        );
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(school_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }
}
