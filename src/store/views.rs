//! What operators' commands read (export, status, check): the roster as flat rows with their
//! ID lists, a school's runs as status sees them, and whether this role may do what a run does.
//! Read-only: nothing here writes, so every view works for the run's least-privilege role.

use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::tables::{EXCLUSIONS, ROSTER_SPECS, TEACHERS};
use super::{Store, StoreError, schema};
use crate::roster::{RosterParent, RosterTeacher};
use crate::snapshot::SchoolId;

/// One class as the export has it: `staff_ids` holds every teacher, the main one included.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ExportClass {
    pub class_id: i64,
    pub name: String,
    pub subject: Option<String>,
    pub kind: String,
    /// The lowest staff ID among the class's main teachers (Bromcom may name more than one).
    pub main_teacher_staff_id: Option<i64>,
    pub staff_ids: Vec<i64>,
    pub student_ids: Vec<i64>,
}

/// A student as the export has it: exactly the roster row.
pub type ExportStudent = crate::roster::RosterStudent;

/// A teacher as the export has it: the roster row and the room an operator set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportTeacher {
    pub teacher: RosterTeacher,
    pub room: Option<String>,
}

/// A parent as the export has it: the roster row and the parent's children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportParent {
    pub parent: RosterParent,
    pub student_ids: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ExportGroup {
    pub group_id: i64,
    pub name: String,
    pub kind: String,
    pub student_ids: Vec<i64>,
}

/// A stream of rows in ID order; rows are written out as they arrive, so a large school's
/// export never sits whole in memory.
pub type RowStream<'a, T> = futures::stream::BoxStream<'a, Result<T, StoreError>>;

/// One export query's rows, streamed.
fn streamed<'a, T: 'a>(
    rows: impl futures::Stream<Item = Result<T, sqlx::Error>> + Send + 'a,
) -> RowStream<'a, T> {
    rows.map(|row| row.map_err(StoreError::from)).boxed()
}

impl Store {
    pub fn export_classes(&self, school_id: SchoolId) -> RowStream<'_, ExportClass> {
        streamed(
            sqlx::query_as!(
                ExportClass,
                "SELECT c.class_id, c.name, c.subject, c.kind, \
               (SELECT min(ct.staff_id) FROM class_teachers ct \
                 WHERE ct.school_id = c.school_id AND ct.class_id = c.class_id AND ct.is_main) \
                 AS main_teacher_staff_id, \
               ARRAY(SELECT ct.staff_id FROM class_teachers ct \
                 WHERE ct.school_id = c.school_id AND ct.class_id = c.class_id \
                 ORDER BY ct.staff_id) AS \"staff_ids!\", \
               ARRAY(SELECT cs.student_id FROM class_students cs \
                 WHERE cs.school_id = c.school_id AND cs.class_id = c.class_id \
                 ORDER BY cs.student_id) AS \"student_ids!\" \
             FROM classes c WHERE c.school_id = $1 ORDER BY c.class_id",
                school_id,
            )
            .fetch(&self.pool),
        )
    }

    pub fn export_students(&self, school_id: SchoolId) -> RowStream<'_, ExportStudent> {
        streamed(
            sqlx::query_as!(
                ExportStudent,
                "SELECT student_id, first_name, last_name, date_of_birth, tutor_group, year_group \
             FROM students WHERE school_id = $1 ORDER BY student_id",
                school_id,
            )
            .fetch(&self.pool),
        )
    }

    pub fn export_teachers(&self, school_id: SchoolId) -> RowStream<'_, ExportTeacher> {
        let rows = sqlx::query!(
            "SELECT staff_id, title, first_name, last_name, email, room \
             FROM teachers WHERE school_id = $1 ORDER BY staff_id",
            school_id,
        )
        .map(|row| ExportTeacher {
            teacher: RosterTeacher {
                staff_id: row.staff_id,
                title: row.title,
                first_name: row.first_name,
                last_name: row.last_name,
                email: row.email,
            },
            room: row.room,
        });
        streamed(rows.fetch(&self.pool))
    }

    pub fn export_parents(&self, school_id: SchoolId) -> RowStream<'_, ExportParent> {
        let rows = sqlx::query!(
            "SELECT p.person_id, p.title, p.first_name, p.last_name, p.email, p.phone, \
               ARRAY(SELECT ps.student_id FROM parent_students ps \
                 WHERE ps.school_id = p.school_id AND ps.person_id = p.person_id \
                 ORDER BY ps.student_id) AS \"student_ids!\" \
             FROM parents p WHERE p.school_id = $1 ORDER BY p.person_id",
            school_id,
        )
        .map(|row| ExportParent {
            parent: RosterParent {
                person_id: row.person_id,
                title: row.title,
                first_name: row.first_name,
                last_name: row.last_name,
                email: row.email,
                phone: row.phone,
            },
            student_ids: row.student_ids,
        });
        streamed(rows.fetch(&self.pool))
    }

    pub fn export_groups(&self, school_id: SchoolId) -> RowStream<'_, ExportGroup> {
        streamed(
            sqlx::query_as!(
                ExportGroup,
                "SELECT g.group_id, g.name, g.kind, \
               ARRAY(SELECT gs.student_id FROM group_students gs \
                 WHERE gs.school_id = g.school_id AND gs.group_id = g.group_id \
                 ORDER BY gs.student_id) AS \"student_ids!\" \
             FROM groups g WHERE g.school_id = $1 ORDER BY g.group_id",
                school_id,
            )
            .fetch(&self.pool),
        )
    }
}

/// A school's latest run, as status shows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LatestRun {
    pub run_id: i64,
    pub status: String,
    pub trigger: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// A failed run's error text, which starts with its category.
    pub error: Option<String>,
}

/// What status needs from a school's runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunHistory {
    pub latest: Option<LatestRun>,
    pub last_success_at: Option<DateTime<Utc>>,
    /// A refused run waits for `--accept-removals`: one was refused after the last success.
    pub refused_pending: bool,
}

/// Parents and teachers of the roster without an email (for schools that use SSO).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct MissingEmail {
    pub parents: u64,
    pub teachers: u64,
}

impl Store {
    pub async fn run_history(&self, school_id: SchoolId) -> Result<RunHistory, StoreError> {
        let latest = sqlx::query_as!(
            LatestRun,
            "SELECT run_id, status, trigger, started_at, finished_at, error FROM sync_runs \
             WHERE school_id = $1 ORDER BY run_id DESC LIMIT 1",
            school_id,
        )
        .fetch_optional(&self.pool)
        .await?;
        let past = sqlx::query!(
            "SELECT (SELECT max(finished_at) FROM sync_runs \
                      WHERE school_id = $1 AND status = 'succeeded') AS last_success_at, \
                    EXISTS (SELECT 1 FROM sync_runs r WHERE r.school_id = $1 \
                      AND r.status = 'refused' AND r.run_id > coalesce((SELECT max(run_id) \
                        FROM sync_runs WHERE school_id = $1 AND status = 'succeeded'), 0)) \
                      AS \"refused_pending!\"",
            school_id,
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(RunHistory {
            latest,
            last_success_at: past.last_success_at,
            refused_pending: past.refused_pending,
        })
    }

    /// Counted in the roster as it stands (what the latest successful run wrote).
    pub async fn missing_email(&self, school_id: SchoolId) -> Result<MissingEmail, StoreError> {
        let counts = sqlx::query!(
            "SELECT (SELECT count(*) FROM parents WHERE school_id = $1 AND email IS NULL) \
                      AS \"parents!\", \
                    (SELECT count(*) FROM teachers WHERE school_id = $1 AND email IS NULL) \
                      AS \"teachers!\"",
            school_id,
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(MissingEmail {
            parents: u64::try_from(counts.parents).unwrap_or(0),
            teachers: u64::try_from(counts.teachers).unwrap_or(0),
        })
    }
}

/// Whether this database is ready for runs with the role connected.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct DatabaseReadiness {
    /// What keeps the schema from being the one this binary was built for (a migration
    /// pending, failed or unknown); empty when it is current.
    pub migrations_pending: Vec<String>,
    /// What the role lacks, as `PRIVILEGE on object` (e.g. `INSERT on students`).
    pub missing_privileges: Vec<String>,
    /// What the role may do that a run never needs and that `deploy/grants.sql` does not give:
    /// being a superuser, owning the schema, writing `_sqlx_migrations` (most fundamental
    /// only: a superuser owns everything, an owner writes every table).
    pub role_problems: Vec<String>,
}

/// One row of [`Store::readiness`]'s question about the role.
struct RoleFacts {
    role: String,
    schema: String,
    superuser: bool,
    owns_schema: bool,
    writes_migrations: bool,
}

impl RoleFacts {
    fn problems(&self) -> Vec<String> {
        let role = &self.role;
        let problem = if self.superuser {
            format!("the role {role} is a superuser")
        } else if self.owns_schema {
            format!(
                "the role {role} owns schema {} (it may change the schema and switch off its triggers)",
                self.schema
            )
        } else if self.writes_migrations {
            format!(
                "the role {role} may write _sqlx_migrations (a run only reads it; a row deleted \
                 stops every command and the next `bromsync migrate`)"
            )
        } else {
            return Vec::new();
        };
        vec![problem]
    }
}

/// Tables a run reads and writes, every one with SELECT, INSERT, UPDATE and DELETE (a run only
/// reads `roster_edits`; `deploy/grants.sql` gives all four on every table): the run records,
/// every table the sync writes (teachers' put-aside rooms beside them), history, fingerprints,
/// and the control tables (a daemon's run claims and serves control requests, uses approvals,
/// and a refused run records what it would have removed).
fn run_tables() -> Vec<&'static str> {
    let mut tables = vec!["sync_runs"];
    for spec in ROSTER_SPECS.into_iter().chain([&EXCLUSIONS]) {
        tables.push(spec.name);
        if spec.name == TEACHERS.name {
            tables.push("retained_rooms");
        }
    }
    tables.extend([
        "record_history",
        "roster_fingerprints",
        "roster_edits",
        "control_requests",
        "removal_approvals",
        "refused_removals",
    ]);
    tables
}

impl Store {
    /// Compares the applied migrations with this binary's and asks Postgres, privilege by
    /// privilege (`has_table_privilege` with a list answers "any of"), what the role may do.
    pub async fn readiness(&self) -> Result<DatabaseReadiness, StoreError> {
        // The same comparison `Store::connect` refuses on, said here instead of refused.
        let migrations_pending = match schema::check_current(&self.pool).await {
            Ok(()) => Vec::new(),
            Err(e @ (StoreError::NotMigrated(_) | StoreError::SchemaAhead(_))) => {
                vec![e.to_string()]
            }
            Err(e) => return Err(e),
        };
        let missing_privileges: Vec<String> = sqlx::query_scalar!(
            "SELECT missing AS \"missing!\" FROM ( \
               SELECT p.privilege || ' on ' || t.name AS missing, t.n AS table_order, \
                      p.n AS privilege_order \
                 FROM unnest($1::text[]) WITH ORDINALITY AS t(name, n) \
                 CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) \
                   WITH ORDINALITY AS p(privilege, n) \
                WHERE coalesce(NOT has_table_privilege(to_regclass(t.name), p.privilege), true) \
               UNION ALL \
               SELECT 'USAGE on sequence sync_runs_run_id_seq', 1000, 0 \
                WHERE coalesce(NOT has_sequence_privilege( \
                        to_regclass('sync_runs_run_id_seq'), 'USAGE'), true) \
               UNION ALL \
               SELECT 'TEMPORARY on database ' || current_database(), 1001, 0 \
                WHERE NOT has_database_privilege(current_database(), 'TEMPORARY') \
             ) m ORDER BY table_order, privilege_order",
            &run_tables() as &[&str],
        )
        .fetch_all(&self.pool)
        .await?;
        // Owning the schema includes being a member of its owner (e.g. `pg_database_owner`, which
        // owns `public` and has the database's owner as member).
        let role = sqlx::query_as!(
            RoleFacts,
            "SELECT current_user::text AS \"role!\", n.nspname::text AS \"schema!\", \
                    r.rolsuper AS \"superuser!\", \
                    pg_has_role(current_user, n.nspowner, 'USAGE') AS \"owns_schema!\", \
                    coalesce(has_table_privilege(to_regclass($1), \
                      'INSERT, UPDATE, DELETE, TRUNCATE'), false) AS \"writes_migrations!\" \
               FROM pg_roles r, pg_namespace n \
              WHERE r.rolname = current_user AND n.nspname = current_schema()",
            schema::MIGRATOR.table_name.as_ref(),
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(DatabaseReadiness {
            migrations_pending,
            missing_privileges,
            role_problems: role.map(|role| role.problems()).unwrap_or_default(),
        })
    }

    /// Whether the database answers at all (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
