//! One runner per school at a time, across processes and servers: a Postgres session-level
//! advisory lock held on one pooled connection for the whole run (fetch included). The run's
//! transaction later uses that same connection, so a run needs one connection, not two, and
//! no new connection is opened per school. A lock dropped without [`SchoolLock::release`] (a
//! cancelled or failed run) closes its connection instead of returning it to the pool, so the
//! lock can never outlive the run; a runner that crashes releases it with the connection.

use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, Postgres};

use super::{Store, StoreError};
use crate::snapshot::SchoolId;

/// Held while a school's run goes on.
#[derive(Debug)]
pub struct SchoolLock {
    /// Always `Some` until released or dropped.
    conn: Option<PoolConnection<Postgres>>,
    school_id: SchoolId,
}

const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The lock key: a fixed namespace text with the school ID, hashed by Postgres into one bigint.
const LOCK_KEY_SQL: &str = "hashtextextended('bromsync:school:' || $1::text, 0)";

impl Store {
    /// Takes the school's lock without waiting; `None` when another runner holds it.
    pub async fn try_lock_school(
        &self,
        school_id: SchoolId,
    ) -> Result<Option<SchoolLock>, StoreError> {
        // A host that silently drops packets would otherwise hold the run for as long as the
        // operating system keeps trying to connect.
        let mut conn = tokio::time::timeout(ACQUIRE_TIMEOUT, self.pool.acquire())
            .await
            .map_err(|_| StoreError::Timeout("connecting for the school's lock"))??;
        let sql = format!("SELECT pg_try_advisory_lock({LOCK_KEY_SQL})");
        let locked: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(school_id)
            .fetch_one(&mut *conn)
            .await?;
        Ok(locked.then_some(SchoolLock {
            conn: Some(conn),
            school_id,
        }))
    }
}

impl SchoolLock {
    pub fn school_id(&self) -> SchoolId {
        self.school_id
    }

    pub(super) fn connection(&mut self) -> &mut PgConnection {
        self.conn
            .as_deref_mut()
            .expect("a school lock has its connection until released")
    }

    /// Releases the lock now and gives the connection back to the pool.
    pub async fn release(mut self) -> Result<(), StoreError> {
        let Some(mut conn) = self.conn.take() else {
            return Ok(());
        };
        let sql = format!("SELECT pg_advisory_unlock({LOCK_KEY_SQL})");
        let unlocked = sqlx::query_scalar::<_, bool>(sqlx::AssertSqlSafe(sql))
            .bind(self.school_id)
            .fetch_one(&mut *conn)
            .await;
        match unlocked {
            Ok(true) => Ok(()),
            Ok(false) => {
                conn.close_on_drop();
                Ok(())
            }
            Err(e) => {
                conn.close_on_drop();
                Err(e.into())
            }
        }
    }
}

impl Drop for SchoolLock {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            conn.close_on_drop();
        }
    }
}
