//! One runner per school at a time, across processes and servers: a Postgres session-level
//! advisory lock held on a dedicated connection for the whole run (fetch included). The lock
//! lives and dies with that connection, so a runner that crashes releases it at once.

use sqlx::{Connection, PgConnection};

use super::{Store, StoreError};
use crate::snapshot::SchoolId;

/// Held while a school's run goes on; dropping it closes the connection and frees the lock.
#[derive(Debug)]
pub struct SchoolLock {
    conn: PgConnection,
    school_id: SchoolId,
}

const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

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
        let mut conn =
            tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&self.options))
                .await
                .map_err(|_| StoreError::Timeout("connecting for the school's lock"))??;
        let sql = format!("SELECT pg_try_advisory_lock({LOCK_KEY_SQL})");
        let locked: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(school_id)
            .fetch_one(&mut conn)
            .await?;
        if locked {
            Ok(Some(SchoolLock { conn, school_id }))
        } else {
            conn.close().await?;
            Ok(None)
        }
    }
}

impl SchoolLock {
    pub fn school_id(&self) -> SchoolId {
        self.school_id
    }

    /// Releases the lock now (dropping it does too, by closing the connection).
    pub async fn release(self) -> Result<(), StoreError> {
        self.conn.close().await?;
        Ok(())
    }
}
