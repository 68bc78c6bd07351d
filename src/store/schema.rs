//! The database's schema against the migrations built into this binary. Only `bromsync
//! migrate` (with the role that owns the schema) creates the database and applies them; every
//! other command runs with a role that may only read and write rows, and checks here, reading
//! the migrations table alone, that the schema is the one its SQL was written for.

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgPool};

use super::StoreError;

pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Undefined table, and insufficient privilege: either way this role sees no migrations.
const NOT_READABLE: [&str; 2] = ["42P01", "42501"];

/// Applies the embedded migrations (idempotent; safe with several processes at once).
pub(super) async fn apply(pool: &PgPool) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Succeeds when every embedded migration is applied, whole, as written, and the database
/// holds none this binary does not know.
pub(super) async fn check_current(pool: &PgPool) -> Result<(), StoreError> {
    let sql = format!(
        "SELECT version, success, checksum FROM {} ORDER BY version",
        MIGRATOR.table_name
    );
    let applied: Vec<(i64, bool, Vec<u8>)> = match sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await
    {
        Ok(rows) => rows,
        Err(sqlx::Error::Database(e))
            if e.code().is_some_and(|code| NOT_READABLE.contains(&&*code)) =>
        {
            return Err(StoreError::NotMigrated(format!(
                "no migration is visible (table {} is missing or this role may not read it)",
                MIGRATOR.table_name
            )));
        }
        Err(e) => return Err(e.into()),
    };
    compare(&applied)
}

fn compare(applied: &[(i64, bool, Vec<u8>)]) -> Result<(), StoreError> {
    let embedded: Vec<_> = MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .collect();
    for migration in &embedded {
        let name = format!("{} ({})", migration.version, migration.description);
        match applied
            .iter()
            .find(|(version, ..)| *version == migration.version)
        {
            None => {
                return Err(StoreError::NotMigrated(format!(
                    "migration {name} is pending"
                )));
            }
            Some((_, false, _)) => {
                return Err(StoreError::NotMigrated(format!(
                    "migration {name} failed part-way"
                )));
            }
            Some((_, true, checksum)) if checksum[..] != migration.checksum[..] => {
                return Err(StoreError::NotMigrated(format!(
                    "migration {name} was applied from a different text than this bromsync's"
                )));
            }
            Some(_) => {}
        }
    }
    if let Some((version, ..)) = applied
        .iter()
        .find(|(version, ..)| !embedded.iter().any(|m| m.version == *version))
    {
        return Err(StoreError::SchemaAhead(format!(
            "the database has migration {version}, which this bromsync does not know"
        )));
    }
    Ok(())
}

/// Connects to the server's `postgres` database and creates ours when it is missing.
pub(super) async fn create_database_if_missing(
    options: &PgConnectOptions,
) -> Result<(), StoreError> {
    let Some(name) = options.get_database().map(str::to_owned) else {
        return Ok(());
    };
    let maintenance = options.clone().database("postgres");
    let mut conn = match sqlx::PgConnection::connect_with(&maintenance).await {
        Ok(conn) => conn,
        // A role kept out of `postgres` cannot create databases either: connecting to ours
        // says whether it exists.
        Err(e) => {
            tracing::debug!("not checking whether the database exists: {e}");
            return Ok(());
        }
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn all_applied() -> Vec<(i64, bool, Vec<u8>)> {
        MIGRATOR
            .iter()
            .map(|m| (m.version, true, m.checksum.to_vec()))
            .collect()
    }

    fn problem(applied: &[(i64, bool, Vec<u8>)]) -> String {
        match compare(applied) {
            Ok(()) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn every_migration_applied_as_written_is_current() {
        assert!(MIGRATOR.iter().count() > 0);
        assert!(compare(&all_applied()).is_ok());
    }

    #[test]
    fn a_pending_failed_or_altered_migration_names_bromsync_migrate() {
        let mut applied = all_applied();
        let last = applied
            .pop()
            .map(|(version, ..)| version)
            .unwrap_or_default();
        let pending = problem(&applied);
        assert!(pending.contains(&format!("migration {last}")), "{pending}");
        assert!(pending.contains("pending") && pending.contains("bromsync migrate"));

        let mut applied = all_applied();
        applied[0].1 = false;
        let failed = problem(&applied);
        assert!(failed.contains("failed part-way") && failed.contains("bromsync migrate"));

        let mut applied = all_applied();
        applied[0].2 = vec![0; 48];
        assert!(problem(&applied).contains("different text"));
    }

    #[test]
    fn a_migration_this_binary_does_not_know_is_refused_too() {
        let mut applied = all_applied();
        applied.push((99_999_999_999_999, true, vec![]));
        let ahead = problem(&applied);
        assert!(ahead.contains("99999999999999"), "{ahead}");
        assert!(!ahead.contains("bromsync migrate"), "{ahead}");
    }
}
