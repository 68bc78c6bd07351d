//! The Data Dashboard's SQL: its users, sessions, failed logins and audit records, and the few
//! reads its pages need beyond the operators' views (a school's recent runs with their counts,
//! a student's classes and groups, who lacks an email). It writes only the dashboard's own
//! tables, never the roster.

use chrono::{DateTime, Utc};

use super::{Store, StoreError};
use crate::snapshot::SchoolId;

/// What the failed-login count is kept under: the name's SHA-256, never the name itself, since
/// the name field sometimes receives a password.
fn name_digest(username: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(username.as_bytes()).to_vec()
}

/// What a dashboard user may see: every school, or the schools they are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DashboardRole {
    Operator,
    School,
}

impl DashboardRole {
    pub fn as_str(self) -> &'static str {
        match self {
            DashboardRole::Operator => "operator",
            DashboardRole::School => "school",
        }
    }

    pub fn parse(text: &str) -> Option<DashboardRole> {
        match text {
            "operator" => Some(DashboardRole::Operator),
            "school" => Some(DashboardRole::School),
            _ => None,
        }
    }
}

/// A dashboard user (never their password hash, which only [`Store::dashboard_password_hash`]
/// reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardUser {
    pub user_id: i64,
    pub username: String,
    pub role: DashboardRole,
    pub schools: Vec<SchoolId>,
    pub created_at: DateTime<Utc>,
}

impl DashboardUser {
    /// Whether this user may see `school`'s pages and downloads.
    pub fn may_see(&self, school: SchoolId) -> bool {
        self.role == DashboardRole::Operator || self.schools.contains(&school)
    }
}

#[derive(sqlx::FromRow)]
struct UserRow {
    user_id: i64,
    username: String,
    role: String,
    schools: Vec<i64>,
    created_at: DateTime<Utc>,
}

impl UserRow {
    fn into_user(self) -> Result<DashboardUser, StoreError> {
        let role = DashboardRole::parse(&self.role).ok_or_else(|| {
            StoreError::Unreadable(format!(
                "dashboard user {} has role `{}`",
                self.user_id, self.role
            ))
        })?;
        Ok(DashboardUser {
            user_id: self.user_id,
            username: self.username,
            role,
            schools: self.schools,
            created_at: self.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct UserWithHash {
    #[sqlx(flatten)]
    user: UserRow,
    password_hash: String,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    #[sqlx(flatten)]
    user: UserRow,
    csrf_token: String,
    expires_at: DateTime<Utc>,
}

const USER_COLUMNS: &str = "u.user_id, u.username, u.role, u.schools, u.created_at";

/// A session found by its token: the user and the session's CSRF token.
#[derive(Debug, Clone)]
pub struct DashboardSession {
    pub user: DashboardUser,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// Where a name stands after failed logins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoginFailures {
    /// Failures in a row (since the last success, within the window).
    pub failures: u32,
    pub locked_until: Option<DateTime<Utc>>,
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRecord {
    pub audit_id: i64,
    pub at: DateTime<Utc>,
    pub username: String,
    pub action: String,
    pub school_id: Option<SchoolId>,
    pub detail: String,
}

/// One run as the school page lists it: rows added, changed and removed summed over the
/// roster tables, and records left out.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RunRow {
    pub run_id: i64,
    pub trigger: String,
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub added: i64,
    pub changed: i64,
    pub removed: i64,
    pub excluded: i64,
    /// A failed run's error text, which starts with its category.
    pub error: Option<String>,
    pub accepted_removals: bool,
}

/// A student's classes and groups in the roster as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Memberships {
    /// (class ID, class name)
    pub classes: Vec<(i64, String)>,
    /// (group ID, group name)
    pub groups: Vec<(i64, String)>,
}

impl Store {
    /// Adds a user; `Ok(None)` when the name is taken.
    pub async fn dashboard_user_add(
        &self,
        username: &str,
        role: DashboardRole,
        schools: &[SchoolId],
        password_hash: &str,
    ) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO dashboard_users (username, role, schools, password_hash) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (username) DO NOTHING RETURNING user_id",
        )
        .bind(username)
        .bind(role.as_str())
        .bind(schools)
        .bind(password_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Removes a user and their sessions; false when there was no such user.
    pub async fn dashboard_user_remove(&self, username: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM dashboard_users WHERE username = $1")
            .bind(username)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn dashboard_users(&self) -> Result<Vec<DashboardUser>, StoreError> {
        let rows: Vec<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM dashboard_users u ORDER BY u.username"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(UserRow::into_user).collect()
    }

    /// Sets a new password, ends every session of the user and lifts a lock on the name;
    /// false when there is no such user.
    pub async fn dashboard_user_reset(
        &self,
        username: &str,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let user: Option<i64> = sqlx::query_scalar(
            "UPDATE dashboard_users SET password_hash = $2 WHERE username = $1 RETURNING user_id",
        )
        .bind(username)
        .bind(password_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(user) = user else {
            return Ok(false);
        };
        sqlx::query("DELETE FROM dashboard_sessions WHERE user_id = $1")
            .bind(user)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM dashboard_login_failures WHERE name_digest = $1")
            .bind(name_digest(username))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The user and their password hash, for checking a login.
    pub async fn dashboard_password_hash(
        &self,
        username: &str,
    ) -> Result<Option<(DashboardUser, String)>, StoreError> {
        let row: Option<UserWithHash> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS}, u.password_hash FROM dashboard_users u WHERE u.username = $1"
        )))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let hash = row.password_hash;
        let user = row.user.into_user()?;
        Ok(Some((user, hash)))
    }

    /// Opens a session (and drops the expired ones, so the table stays small).
    pub async fn dashboard_session_create(
        &self,
        token_hash: &[u8],
        user_id: i64,
        csrf_token: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM dashboard_sessions WHERE expires_at <= now()")
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO dashboard_sessions (token_hash, user_id, csrf_token, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(csrf_token)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The live session with this token's hash, if any (an expired one is none).
    pub async fn dashboard_session(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<DashboardSession>, StoreError> {
        let row: Option<SessionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS}, s.csrf_token, s.expires_at \
               FROM dashboard_sessions s JOIN dashboard_users u USING (user_id) \
              WHERE s.token_hash = $1 AND s.expires_at > now()"
        )))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let (csrf_token, expires_at) = (row.csrf_token, row.expires_at);
        let user = row.user.into_user()?;
        Ok(Some(DashboardSession {
            user,
            csrf_token,
            expires_at,
        }))
    }

    pub async fn dashboard_session_end(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM dashboard_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Failed logins of a name counted in the last `window`.
    pub async fn dashboard_login_failures(
        &self,
        username: &str,
        window: chrono::Duration,
    ) -> Result<LoginFailures, StoreError> {
        let row: Option<(i32, Option<DateTime<Utc>>)> = sqlx::query_as(
            "SELECT failures, locked_until FROM dashboard_login_failures \
             WHERE name_digest = $1 AND (last_failed_at > now() - $2 OR locked_until > now())",
        )
        .bind(name_digest(username))
        .bind(window)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|(failures, locked_until)| LoginFailures {
                failures: u32::try_from(failures).unwrap_or(0),
                locked_until,
            })
            .unwrap_or_default())
    }

    /// Counts one more failure (starting again after `window` without one); from the
    /// `lock_after`th in a row the name is locked for `lock_for`.
    pub async fn dashboard_login_failed(
        &self,
        username: &str,
        window: chrono::Duration,
        lock_after: u32,
        lock_for: chrono::Duration,
    ) -> Result<LoginFailures, StoreError> {
        // A name whose last failure is older than the window and that is not locked counts as
        // none: its row goes, so that guessing many names leaves one window's worth of rows.
        sqlx::query(
            "DELETE FROM dashboard_login_failures \
             WHERE last_failed_at <= now() - $1 AND (locked_until IS NULL OR locked_until <= now())",
        )
        .bind(window)
        .execute(&self.pool)
        .await?;
        let (failures, locked_until): (i32, Option<DateTime<Utc>>) = sqlx::query_as(
            "INSERT INTO dashboard_login_failures AS f (name_digest, failures, last_failed_at) \
             VALUES ($1, 1, now()) \
             ON CONFLICT (name_digest) DO UPDATE SET \
               failures = CASE WHEN f.last_failed_at > now() - $2 THEN f.failures + 1 ELSE 1 END, \
               last_failed_at = now() \
             RETURNING failures, locked_until",
        )
        .bind(name_digest(username))
        .bind(window)
        .fetch_one(&self.pool)
        .await?;
        let failures = u32::try_from(failures).unwrap_or(0);
        if failures >= lock_after {
            let until: DateTime<Utc> = sqlx::query_scalar(
                "UPDATE dashboard_login_failures SET locked_until = now() + $2 \
                 WHERE name_digest = $1 RETURNING locked_until",
            )
            .bind(name_digest(username))
            .bind(lock_for)
            .fetch_one(&self.pool)
            .await?;
            return Ok(LoginFailures {
                failures,
                locked_until: Some(until),
            });
        }
        Ok(LoginFailures {
            failures,
            locked_until,
        })
    }

    pub async fn dashboard_login_succeeded(&self, username: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM dashboard_login_failures WHERE name_digest = $1")
            .bind(name_digest(username))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records who did what (IDs, table names and codes only in `detail`).
    pub async fn dashboard_audit(
        &self,
        username: &str,
        action: &str,
        school_id: Option<SchoolId>,
        detail: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO dashboard_audit (username, action, school_id, detail) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(username)
        .bind(action)
        .bind(school_id)
        .bind(detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest audit records first.
    pub async fn dashboard_audit_list(&self, limit: i64) -> Result<Vec<AuditRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT audit_id, at, username, action, school_id, detail FROM dashboard_audit \
             ORDER BY audit_id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// A school's newest runs, newest first, with their counts summed over tables.
    pub async fn recent_runs(
        &self,
        school_id: SchoolId,
        limit: i64,
    ) -> Result<Vec<RunRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT run_id, trigger, status, started_at, finished_at, \
               (SELECT coalesce(sum(value::bigint), 0) FROM jsonb_each_text(added))::bigint AS added, \
               (SELECT coalesce(sum(value::bigint), 0) FROM jsonb_each_text(changed))::bigint AS changed, \
               (SELECT coalesce(sum(value::bigint), 0) FROM jsonb_each_text(removed))::bigint AS removed, \
               (SELECT coalesce(sum(value::bigint), 0) FROM jsonb_each_text(excluded))::bigint AS excluded, \
               error, accepted_removals \
             FROM sync_runs WHERE school_id = $1 ORDER BY run_id DESC LIMIT $2",
        )
        .bind(school_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The rows of each roster table as they stand (for "what came through").
    pub async fn roster_counts(&self, school_id: SchoolId) -> Result<[i64; 5], StoreError> {
        let (students, teachers, parents, classes, groups): (i64, i64, i64, i64, i64) =
            sqlx::query_as(
                "SELECT (SELECT count(*) FROM students WHERE school_id = $1), \
                        (SELECT count(*) FROM teachers WHERE school_id = $1), \
                        (SELECT count(*) FROM parents WHERE school_id = $1), \
                        (SELECT count(*) FROM classes WHERE school_id = $1), \
                        (SELECT count(*) FROM groups WHERE school_id = $1)",
            )
            .bind(school_id)
            .fetch_one(&self.pool)
            .await?;
        Ok([students, teachers, parents, classes, groups])
    }

    /// A student's classes and groups in the roster.
    pub async fn student_memberships(
        &self,
        school_id: SchoolId,
        student_id: i64,
    ) -> Result<Memberships, StoreError> {
        let classes = sqlx::query_as(
            "SELECT c.class_id, c.name FROM class_students cs \
               JOIN classes c ON c.school_id = cs.school_id AND c.class_id = cs.class_id \
              WHERE cs.school_id = $1 AND cs.student_id = $2 ORDER BY c.class_id",
        )
        .bind(school_id)
        .bind(student_id)
        .fetch_all(&self.pool)
        .await?;
        let groups = sqlx::query_as(
            "SELECT g.group_id, g.name FROM group_students gs \
               JOIN groups g ON g.school_id = gs.school_id AND g.group_id = gs.group_id \
              WHERE gs.school_id = $1 AND gs.student_id = $2 ORDER BY g.group_id",
        )
        .bind(school_id)
        .bind(student_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(Memberships { classes, groups })
    }

    /// The IDs of the roster's parents and teachers without an email (SSO's gaps).
    pub async fn missing_email_ids(
        &self,
        school_id: SchoolId,
        limit: i64,
    ) -> Result<(Vec<i64>, Vec<i64>), StoreError> {
        let parents = sqlx::query_scalar(
            "SELECT person_id FROM parents WHERE school_id = $1 AND email IS NULL \
             ORDER BY person_id LIMIT $2",
        )
        .bind(school_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let teachers = sqlx::query_scalar(
            "SELECT staff_id FROM teachers WHERE school_id = $1 AND email IS NULL \
             ORDER BY staff_id LIMIT $2",
        )
        .bind(school_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok((parents, teachers))
    }
}

impl Store {
    /// Whether a runner (this process or another) holds the school's lock now: a run is under
    /// way. Read from `pg_locks`, where a bigint advisory key is split into two 32-bit halves.
    pub async fn school_running(&self, school_id: SchoolId) -> Result<bool, StoreError> {
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted \
               AND objsubid = 1 AND database = (SELECT oid FROM pg_database \
                                                WHERE datname = current_database()) \
               AND ((classid::bigint << 32) | objid::bigint) = {})",
            super::lock::LOCK_KEY_SQL
        );
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(school_id)
            .fetch_one(&self.pool)
            .await?)
    }
}

impl Store {
    /// What a refused run would have removed, per roster table: the rows' keys (their ID
    /// columns, tab-separated), for the review before an approval.
    pub async fn refused_removal_keys(
        &self,
        run_id: i64,
    ) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT table_name, keys FROM refused_removals WHERE run_id = $1 ORDER BY table_name",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?)
    }
}

impl Store {
    /// How many records the latest successful run left out.
    pub async fn exclusion_count(&self, school_id: SchoolId) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM exclusions WHERE school_id = $1")
                .bind(school_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
