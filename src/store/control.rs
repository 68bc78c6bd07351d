//! The rows behind fleet control (`crate::control`): requests to resync a school, decisions on
//! a refused run's removals, and what each refused run would have removed.
//!
//! Requests are claimed and served under the school's lock (see [`super::lock`]), which is what
//! makes each request served by one run across every daemon: only the lock holder claims, and a
//! claim is marked done in the run's own final transaction, so a claim whose run died is simply
//! claimed again by the next holder. A new request is announced with `NOTIFY` on
//! [`CONTROL_CHANNEL`] in the transaction that writes it (delivered at commit).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use sqlx::postgres::{PgListener, PgPoolOptions};

use super::lock::SchoolLock;
use super::runs::{RunRecord, insert_run};
use super::{Store, StoreError};
use crate::snapshot::SchoolId;

/// This process as a claimer of requests: `host:pid` (in Kubernetes the host is the pod).
pub fn this_runner() -> String {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let host = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| {
                std::fs::read_to_string(Path::new("/proc/sys/kernel/hostname"))
                    .ok()
                    .map(|h| h.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        format!("{host}:{}", std::process::id())
    })
    .clone()
}

/// The `LISTEN`/`NOTIFY` channel every daemon listens on; the payload is the school's ID.
pub const CONTROL_CHANNEL: &str = "bromsync_control";

/// A request not yet served, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WaitingRequest {
    pub request_id: i64,
    pub school_id: SchoolId,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    /// Claimed by a run that has not ended (or died: then it is claimed again).
    pub claimed_at: Option<DateTime<Utc>>,
    pub claimed_by: Option<String>,
}

/// A school's latest refused run, when no run has succeeded since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedRun {
    pub run_id: i64,
    pub finished_at: DateTime<Utc>,
    /// Per roster table, how many rows it would have removed; empty when the run was refused
    /// before its removals were recorded (by an older bromsync).
    pub removals: Vec<(String, u64)>,
}

/// An approval in force for the school's next run: the refused run's removals, by table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub approval_id: i64,
    pub refused_run: i64,
    pub decided_by: String,
    keys: HashMap<String, HashSet<String>>,
}

impl Approval {
    /// The tables in `removals` whose removed keys are not all among the approved ones, with
    /// how many are not; empty when the approval covers every removal.
    pub fn uncovered(&self, removals: &[(&'static str, Vec<String>)]) -> Vec<(&'static str, u64)> {
        removals
            .iter()
            .filter_map(|(table, keys)| {
                let approved = self.keys.get(*table);
                let extra = keys
                    .iter()
                    .filter(|key| !approved.is_some_and(|set| set.contains(*key)))
                    .count() as u64;
                (extra > 0).then_some((*table, extra))
            })
            .collect()
    }
}

/// What a run owes the control tables in its final write: the requests it claimed (marked
/// served by it), the approval it used, and (for a refused run) what it would have removed.
#[derive(Debug, Clone, Default)]
pub struct RunControl {
    pub requests: Vec<i64>,
    pub approval: Option<i64>,
    pub refused_removals: Vec<(&'static str, Vec<String>)>,
}

/// A decision on a refused run's removals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approved,
    Rejected,
}

impl Decision {
    fn as_str(self) -> &'static str {
        match self {
            Decision::Approved => "approved",
            Decision::Rejected => "rejected",
        }
    }
}

/// Whether the school's lock is held by any session: the advisory lock of [`super::lock`]
/// as `pg_locks` shows a bigint key (high half in `classid`, low half in `objid`).
const LOCK_HELD_SQL: &str = "EXISTS (SELECT 1 FROM pg_locks l \
     CROSS JOIN LATERAL (SELECT hashtextextended('bromsync:school:' || r.school_id::text, 0) AS k) key \
     WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
       AND l.classid = ((key.k >> 32) & 4294967295)::oid AND l.objid = (key.k & 4294967295)::oid)";

impl Store {
    /// Records one request per school, announced to every daemon at commit; returns the
    /// requests' IDs in the schools' order.
    pub async fn add_requests(
        &self,
        schools: &[SchoolId],
        requested_by: &str,
    ) -> Result<Vec<i64>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut ids = Vec::with_capacity(schools.len());
        for &school in schools {
            ids.push(insert_request(&mut tx, school, requested_by).await?);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Requests not yet served, oldest first (every school, or one).
    pub async fn waiting_requests(
        &self,
        school: Option<SchoolId>,
    ) -> Result<Vec<WaitingRequest>, StoreError> {
        let waiting = sqlx::query_as(
            "SELECT request_id, school_id, requested_by, requested_at, claimed_at, claimed_by \
             FROM control_requests WHERE done_at IS NULL AND ($1::bigint IS NULL OR school_id = $1) \
             ORDER BY request_id",
        )
        .bind(school)
        .fetch_all(&self.pool)
        .await?;
        Ok(waiting)
    }

    /// Schools with a request not yet served and no runner holding them: nobody is serving
    /// those (a notification was lost, or the run that claimed them died).
    pub async fn schools_to_serve(&self) -> Result<Vec<SchoolId>, StoreError> {
        let sql = format!(
            "SELECT DISTINCT r.school_id FROM control_requests r \
             WHERE r.done_at IS NULL AND NOT {LOCK_HELD_SQL} ORDER BY 1"
        );
        let schools = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        Ok(schools)
    }

    /// A listener on [`CONTROL_CHANNEL`], on a connection of its own (reconnected by sqlx when
    /// it drops; what was announced meanwhile is lost, hence the daemon's periodic look). Not
    /// one of the pool's: held for good, it would leave the runs one connection short.
    pub async fn listen_control(&self) -> Result<PgListener, StoreError> {
        let own = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(std::time::Duration::from_secs(15))
            .connect_lazy_with(self.options.clone());
        let mut listener = PgListener::connect_with(&own).await?;
        listener.listen(CONTROL_CHANNEL).await?;
        Ok(listener)
    }

    /// The school's latest refused run, when none has succeeded since.
    pub async fn latest_refused(&self, school: SchoolId) -> Result<Option<RefusedRun>, StoreError> {
        let run: Option<(i64, DateTime<Utc>)> = sqlx::query_as(
            "SELECT r.run_id, r.finished_at FROM sync_runs r WHERE r.school_id = $1 \
               AND r.status = 'refused' AND r.run_id > coalesce((SELECT max(run_id) FROM sync_runs \
                 WHERE school_id = $1 AND status = 'succeeded'), 0) \
             ORDER BY r.run_id DESC LIMIT 1",
        )
        .bind(school)
        .fetch_optional(&self.pool)
        .await?;
        let Some((run_id, finished_at)) = run else {
            return Ok(None);
        };
        let removals: Vec<(String, i64)> = sqlx::query_as(
            "SELECT table_name, cardinality(keys)::bigint FROM refused_removals \
             WHERE run_id = $1 ORDER BY table_name",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(RefusedRun {
            run_id,
            finished_at,
            removals: removals
                .into_iter()
                .map(|(table, n)| (table, u64::try_from(n).unwrap_or(0)))
                .collect(),
        }))
    }

    /// Records a decision on a refused run; an approval also requests a run of the school (in
    /// the same transaction), so that some daemon starts it at once. Returns the decision's ID
    /// and the request's.
    pub async fn decide_removals(
        &self,
        school: SchoolId,
        run_id: i64,
        decision: Decision,
        decided_by: &str,
    ) -> Result<(i64, Option<i64>), StoreError> {
        let mut tx = self.pool.begin().await?;
        let approval_id = sqlx::query_scalar(
            "INSERT INTO removal_approvals (school_id, run_id, decision, decided_by) \
             VALUES ($1, $2, $3, $4) RETURNING approval_id",
        )
        .bind(school)
        .bind(run_id)
        .bind(decision.as_str())
        .bind(decided_by)
        .fetch_one(&mut *tx)
        .await?;
        let request = match decision {
            Decision::Approved => Some(insert_request(&mut tx, school, decided_by).await?),
            Decision::Rejected => None,
        };
        tx.commit().await?;
        Ok((approval_id, request))
    }

    /// Records a run that wrote nothing (failed or refused) with what it owes the control
    /// tables, in one transaction.
    pub async fn record_run_with(
        &self,
        record: &RunRecord,
        control: &RunControl,
    ) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let run_id = insert_run(&mut *tx, record).await?;
        write_run_control(&mut tx, run_id, control).await?;
        tx.commit().await?;
        Ok(run_id)
    }
}

async fn insert_request(
    conn: &mut PgConnection,
    school: SchoolId,
    requested_by: &str,
) -> Result<i64, StoreError> {
    let id = sqlx::query_scalar(
        "INSERT INTO control_requests (school_id, requested_by) VALUES ($1, $2) RETURNING request_id",
    )
    .bind(school)
    .bind(requested_by)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CONTROL_CHANNEL)
        .bind(school.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(id)
}

/// Marks the run's requests served and its approval used, and keeps a refused run's removals.
pub(super) async fn write_run_control(
    conn: &mut PgConnection,
    run_id: i64,
    control: &RunControl,
) -> Result<(), StoreError> {
    if !control.requests.is_empty() {
        sqlx::query(
            "UPDATE control_requests SET done_at = now(), served_by_run = $1 \
             WHERE request_id = ANY($2) AND done_at IS NULL",
        )
        .bind(run_id)
        .bind(&control.requests)
        .execute(&mut *conn)
        .await?;
    }
    if let Some(approval) = control.approval {
        sqlx::query("UPDATE removal_approvals SET used_by_run = $1 WHERE approval_id = $2")
            .bind(run_id)
            .bind(approval)
            .execute(&mut *conn)
            .await?;
    }
    for (table, keys) in &control.refused_removals {
        if keys.is_empty() {
            continue;
        }
        sqlx::query("INSERT INTO refused_removals (run_id, table_name, keys) VALUES ($1, $2, $3)")
            .bind(run_id)
            .bind(*table)
            .bind(keys)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

impl SchoolLock {
    /// Claims every request of the school not yet done, those claimed by a run that died
    /// included (a live run would hold this lock). Committed at once, so that `status` shows
    /// them claimed while the run goes on.
    pub async fn claim_requests(&mut self, claimer: &str) -> Result<Vec<i64>, StoreError> {
        let school = self.school_id();
        let ids = sqlx::query_scalar(
            "UPDATE control_requests SET claimed_at = now(), claimed_by = $2 \
             WHERE school_id = $1 AND done_at IS NULL RETURNING request_id",
        )
        .bind(school)
        .bind(claimer)
        .fetch_all(self.connection())
        .await?;
        Ok(ids)
    }

    /// The approval in force for this school: the school's latest decision, an approval not
    /// yet used, of its latest refused run, with no run succeeded since.
    pub async fn approval_in_force(&mut self) -> Result<Option<Approval>, StoreError> {
        let school = self.school_id();
        let found: Option<(i64, i64, String)> = sqlx::query_as(
            "SELECT a.approval_id, a.run_id, a.decided_by FROM removal_approvals a \
             WHERE a.school_id = $1 AND a.decision = 'approved' AND a.used_by_run IS NULL \
               AND a.approval_id = (SELECT max(approval_id) FROM removal_approvals WHERE school_id = $1) \
               AND a.run_id = (SELECT max(run_id) FROM sync_runs WHERE school_id = $1 AND status = 'refused') \
               AND NOT EXISTS (SELECT 1 FROM sync_runs s WHERE s.school_id = $1 \
                 AND s.status = 'succeeded' AND s.run_id > a.run_id)",
        )
        .bind(school)
        .fetch_optional(self.connection())
        .await?;
        let Some((approval_id, refused_run, decided_by)) = found else {
            return Ok(None);
        };
        let rows: Vec<(String, Vec<String>)> =
            sqlx::query_as("SELECT table_name, keys FROM refused_removals WHERE run_id = $1")
                .bind(refused_run)
                .fetch_all(self.connection())
                .await?;
        Ok(Some(Approval {
            approval_id,
            refused_run,
            decided_by,
            keys: rows
                .into_iter()
                .map(|(table, keys)| (table, keys.into_iter().collect()))
                .collect(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approval(keys: &[(&str, &[&str])]) -> Approval {
        Approval {
            approval_id: 1,
            refused_run: 7,
            decided_by: "tester".to_owned(),
            keys: keys
                .iter()
                .map(|(table, keys)| {
                    let keys = keys.iter().map(|k| (*k).to_owned()).collect();
                    ((*table).to_owned(), keys)
                })
                .collect(),
        }
    }

    fn removals(rows: &[(&'static str, &[&str])]) -> Vec<(&'static str, Vec<String>)> {
        rows.iter()
            .map(|(table, keys)| (*table, keys.iter().map(|k| (*k).to_owned()).collect()))
            .collect()
    }

    #[test]
    fn an_approval_covers_what_was_refused_and_no_more() {
        let approved = approval(&[
            ("students", &["1", "2", "3"]),
            ("class_students", &["9\t1"]),
        ]);
        // The same removals, or fewer, are covered.
        let same = removals(&[
            ("students", &["1", "2", "3"]),
            ("class_students", &["9\t1"]),
        ]);
        assert!(approved.uncovered(&same).is_empty());
        assert!(
            approved
                .uncovered(&removals(&[("students", &["2"])]))
                .is_empty()
        );
        // Another row of an approved table, or a table the refused run left alone, is not.
        assert_eq!(
            approved.uncovered(&removals(&[("students", &["1", "4", "5"])])),
            vec![("students", 2)]
        );
        assert_eq!(
            approved.uncovered(&removals(&[
                ("parents", &["1"]),
                ("class_students", &["9\t2"])
            ])),
            vec![("parents", 1), ("class_students", 1)]
        );
    }
}
