//! One runner per school at a time, across processes and servers: a Postgres session-level
//! advisory lock held on one connection for the whole run (fetch included). The run's
//! transaction later uses that same connection, so a run needs one connection, not two. A
//! pooled connection is used when the pool gives one within [`POOL_WAIT`] (no cold connection
//! opened per school); otherwise a connection of its own, opened directly, so that a database
//! that is down fails the run within seconds instead of after the pool's acquire timeout. A lock dropped without
//! [`SchoolLock::release`] (a cancelled or failed run) closes its connection instead of
//! returning it to the pool, so the lock can never outlive the run; a runner that crashes
//! releases it with the connection.

use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, Postgres};

use super::{Store, StoreError};
use crate::snapshot::SchoolId;

/// Held while a school's run goes on.
#[derive(Debug)]
pub struct SchoolLock {
    /// Always `Some` until released or dropped.
    conn: Option<LockConnection>,
    school_id: SchoolId,
}

#[derive(Debug)]
enum LockConnection {
    Pooled(PoolConnection<Postgres>),
    Own(PgConnection),
}

impl LockConnection {
    fn get(&mut self) -> &mut PgConnection {
        match self {
            LockConnection::Pooled(conn) => conn,
            LockConnection::Own(conn) => conn,
        }
    }

    /// Closes the connection (a pooled one when it is dropped) instead of keeping it.
    async fn discard(self) {
        match self {
            LockConnection::Pooled(mut conn) => conn.close_on_drop(),
            LockConnection::Own(conn) => {
                let _ = conn.close().await;
            }
        }
    }
}

const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How long a run waits for the pool before opening a connection of its own.
const POOL_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The lock key: a fixed namespace text with the school ID, hashed by Postgres into one bigint.
pub(super) const LOCK_KEY_SQL: &str = "hashtextextended('bromsync:school:' || $1::text, 0)";

impl Store {
    /// Takes the school's lock without waiting; `None` when another runner holds it.
    pub async fn try_lock_school(
        &self,
        school_id: SchoolId,
    ) -> Result<Option<SchoolLock>, StoreError> {
        let mut conn = match self.pool.try_acquire() {
            Some(idle) => LockConnection::Pooled(idle),
            None => self.new_lock_connection().await?,
        };
        let sql = format!("SELECT pg_try_advisory_lock({LOCK_KEY_SQL})");
        let locked = sqlx::query_scalar::<_, bool>(sqlx::AssertSqlSafe(sql))
            .bind(school_id)
            .fetch_one(conn.get())
            .await;
        match locked {
            Ok(true) => Ok(Some(SchoolLock {
                conn: Some(conn),
                school_id,
            })),
            Ok(false) => {
                if let LockConnection::Own(own) = conn {
                    own.close().await?;
                }
                Ok(None)
            }
            Err(e) => {
                conn.discard().await;
                Err(e.into())
            }
        }
    }
}

impl Store {
    /// A connection from the pool (warm, and kept afterwards) when the pool can give one soon;
    /// otherwise one opened directly, which fails at once when the database is down, where
    /// the pool would keep trying for its whole acquire timeout.
    async fn new_lock_connection(&self) -> Result<LockConnection, StoreError> {
        if let Ok(Ok(pooled)) = tokio::time::timeout(POOL_WAIT, self.pool.acquire()).await {
            return Ok(LockConnection::Pooled(pooled));
        }
        // A host that silently drops packets would otherwise hold the run for as long as the
        // operating system keeps trying to connect.
        let own = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&self.options))
            .await
            .map_err(|_| StoreError::Timeout("connecting for the school's lock"))??;
        Ok(LockConnection::Own(own))
    }
}

impl SchoolLock {
    pub fn school_id(&self) -> SchoolId {
        self.school_id
    }

    pub(super) fn connection(&mut self) -> &mut PgConnection {
        self.conn
            .as_mut()
            .expect("a school lock has its connection until released")
            .get()
    }

    /// Releases the lock now: a pooled connection goes back to the pool, an own one closes.
    /// Should the unlock fail or this be cancelled midway, the lock is dropped as it is (its
    /// connection closed), so it can never stay held on a connection kept in the pool.
    pub async fn release(mut self) -> Result<(), StoreError> {
        if let Some(LockConnection::Own(_)) = self.conn
            && let Some(LockConnection::Own(own)) = self.conn.take()
        {
            own.close().await?;
            return Ok(());
        }
        let sql = format!("SELECT pg_advisory_unlock({LOCK_KEY_SQL})");
        let unlocked = sqlx::query_scalar::<_, bool>(sqlx::AssertSqlSafe(sql))
            .bind(self.school_id)
            .fetch_one(self.connection())
            .await?;
        if unlocked {
            // Back to the pool, free of the lock.
            self.conn.take();
        }
        Ok(())
    }
}

impl Drop for SchoolLock {
    fn drop(&mut self) {
        // An own connection closes as it is dropped.
        if let Some(LockConnection::Pooled(conn)) = self.conn.as_mut() {
            conn.close_on_drop();
        }
    }
}
