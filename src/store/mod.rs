//! The Postgres store: migrations (applied by `migrate` alone, checked by everyone else), the
//! single-runner lock, writing a school's new roster as the difference against what it has (one
//! transaction), run records, record history, and the read-only views operators' commands use.
//! Nothing else in the program writes SQL.
//!
//! The network is never awaited here: callers fetch and decide first, then hand the store a
//! finished [`Decision`](crate::roster::Decision).

mod apply;
mod control;
mod copy_text;
mod diff;
mod fingerprint;
mod history;
mod lock;
mod read;
mod runs;
mod schema;
mod tables;
mod views;
mod web;

use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

/// Kept here too, where callers have always found it.
pub use crate::trigger::Trigger;
pub use apply::{ApplyOptions, ApplyOutcome, PreparedRoster, StagedRun, prepare};
pub use control::{
    Approval, CONTROL_CHANNEL, Decision, RefusedRun, RunControl, WaitingRequest, this_runner,
};
pub use diff::{ChangedRow, TableChange, TableDiff};
pub use history::{HISTORY_ENTITIES, HistoryEvent};
pub use lock::SchoolLock;
pub use read::StoredExclusion;
pub use runs::{RunRecord, RunStatus};
pub use tables::ROSTER_TABLES;
pub use views::{
    DatabaseReadiness, ExportClass, ExportGroup, ExportParent, ExportStudent, ExportTeacher,
    LatestRun, MissingEmail, RowStream, RunHistory,
};
pub use web::{
    AuditRecord, DashboardRole, DashboardSession, DashboardUser, LoginFailures, Memberships, RunRow,
};

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
    #[error("stored data cannot be read: {0}")]
    Unreadable(String),
    #[error(
        "the database schema is not current: {0}; run `bromsync migrate` with the role that owns the schema"
    )]
    NotMigrated(String),
    #[error("the database schema is newer than this bromsync: {0}; upgrade bromsync")]
    SchemaAhead(String),
}

impl StoreError {
    /// The schema is not the one this binary was built for: nothing will work until an
    /// operator migrates (or upgrades), so callers say so rather than report a failed run.
    pub fn is_schema_mismatch(&self) -> bool {
        matches!(
            self,
            StoreError::NotMigrated(_) | StoreError::SchemaAhead(_)
        )
    }
}

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
    /// Connects with a role that may only read and write rows, and checks that the schema is
    /// current. It never changes the schema or creates the database: that is
    /// [`Store::connect_and_migrate`]'s.
    pub async fn connect(url: &SecretString, max_connections: u32) -> Result<Store, StoreError> {
        let store = Store::open(options(url)?, max_connections).await?;
        if let Err(e) = schema::check_current(&store.pool).await {
            store.close().await;
            return Err(e);
        }
        Ok(store)
    }

    /// Connects without checking the schema, for `check`, which reports what is not current
    /// rather than refusing ([`Store::readiness`]). Never changes the schema either.
    pub async fn connect_unchecked(
        url: &SecretString,
        max_connections: u32,
    ) -> Result<Store, StoreError> {
        Store::open(options(url)?, max_connections).await
    }

    /// `bromsync migrate` (and the demo's database of its own): creates the database when it
    /// does not exist yet and applies the embedded migrations (idempotent; safe with several
    /// processes at once). Needs the role that owns the schema.
    pub async fn connect_and_migrate(
        url: &SecretString,
        max_connections: u32,
    ) -> Result<Store, StoreError> {
        let options = options(url)?;
        schema::create_database_if_missing(&options).await?;
        let store = Store::open(options, max_connections).await?;
        if let Err(e) = schema::apply(&store.pool).await {
            store.close().await;
            return Err(e);
        }
        Ok(store)
    }

    async fn open(options: PgConnectOptions, max_connections: u32) -> Result<Store, StoreError> {
        // The pool's own first connection retries a refused one until the acquire timeout; a
        // plain connection first says at once that the database is down (or missing).
        sqlx::PgConnection::connect_with(&options)
            .await?
            .close()
            .await?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await?;
        Ok(Store { pool, options })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes every connection; used at shutdown and by tests that read statistics after.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn options(url: &SecretString) -> Result<PgConnectOptions, StoreError> {
    Ok(PgConnectOptions::from_str(url.expose_secret())
        // sqlx's error for a bad URL can echo the URL, password included: say less.
        .map_err(|_| StoreError::BadUrl("cannot parse it as postgres://...".to_owned()))?
        // Each statement touches one school's rows, and a sync of many schools keeps the cores
        // busy already: a parallel plan only adds worker processes, each a fork and a catalog
        // load (perf: a fifth of Postgres's time in an unchanged resync went to them).
        .options([("max_parallel_workers_per_gather", "0")])
        .log_statements(tracing::log::LevelFilter::Trace)
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(5)))
}
