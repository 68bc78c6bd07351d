//! The Postgres store: migrations, the single-runner lock, writing a school's new roster as
//! the difference against what it has (one transaction), and run records. Nothing else in the
//! program writes SQL.
//!
//! The network is never awaited here: callers fetch and decide first, then hand the store a
//! finished [`Decision`](crate::roster::Decision).

mod apply;
mod copy_text;
mod lock;
mod read;
mod runs;
mod tables;

use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

pub use apply::{
    ApplyOptions, ApplyOutcome, ChangedRow, PreparedRoster, RowKey, StagedRun, TableChange,
    TableDiff, prepare,
};
pub use lock::SchoolLock;
pub use read::StoredExclusion;
pub use runs::{RunRecord, RunStatus, Trigger};
pub use tables::ROSTER_TABLES;

/// Why the store could not do what was asked. Texts never contain the database password.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database URL is not valid: {0}")]
    BadUrl(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database did not answer in time while {0}")]
    Timeout(&'static str),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
    options: PgConnectOptions,
}

/// Written by hand: the connection options' own `Debug` prints the password, and a store is
/// printed wherever a `SyncContext` is.
impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("host", &self.options.get_host())
            .field("port", &self.options.get_port())
            .field("database", &self.options.get_database())
            .field("pool_size", &self.pool.size())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Connects, creating the database when it does not exist yet, and applies migrations.
    pub async fn connect(url: &SecretString, max_connections: u32) -> Result<Store, StoreError> {
        let options = PgConnectOptions::from_str(url.expose_secret())
            // sqlx's error for a bad URL can echo the URL, password included: say less.
            .map_err(|_| StoreError::BadUrl("cannot parse it as postgres://...".to_owned()))?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(5));
        create_database_if_missing(&options).await?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await?;
        let store = Store { pool, options };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the embedded migrations (idempotent; safe with several processes at once).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes every connection; used at shutdown and by tests that read statistics after.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Connects to the server's `postgres` database and creates ours when it is missing.
async fn create_database_if_missing(options: &PgConnectOptions) -> Result<(), StoreError> {
    let Some(name) = options.get_database().map(str::to_owned) else {
        return Ok(());
    };
    let maintenance = options.clone().database("postgres");
    let mut conn = sqlx::PgConnection::connect_with(&maintenance).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        let created = sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {quoted}")))
            .execute(&mut conn)
            .await;
        match created {
            Ok(_) => tracing::info!(database = %name, "created the database"),
            // Another process created it between our check and our CREATE: that is fine.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(e.into()),
        }
    }
    conn.close().await?;
    Ok(())
}
