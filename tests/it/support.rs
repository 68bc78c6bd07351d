//! Helpers every integration test shares: a fresh database of its own (created, migrated,
//! dropped afterwards even when the test fails).

use std::sync::atomic::{AtomicU32, Ordering};

use bromsync::store::Store;
use secrecy::SecretString;
use sqlx::Connection;

/// The server the tests use; trust auth as root, as on these machines.
pub fn server_url() -> String {
    std::env::var("BROMSYNC_TEST_PG").unwrap_or_else(|_| "postgres://root@127.0.0.1:5432".into())
}

/// A database of the test's own, dropped when this is dropped.
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub store: Store,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    pub async fn new() -> TestDb {
        let name = format!(
            "bromsync_test_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst),
            rand::random::<u32>()
        );
        let url = format!("{}/{}", server_url(), name);
        let store = Store::connect(&SecretString::from(url.clone()), 8)
            .await
            .expect("test database: is PostgreSQL running at 127.0.0.1:5432?");
        TestDb { name, url, store }
    }

    pub fn secret_url(&self) -> SecretString {
        SecretString::from(self.url.clone())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async: a short-lived runtime on its own thread drops the database,
        // forcing off any connection the test left open.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async move {
                let mut conn = sqlx::PgConnection::connect(&format!("{}/postgres", server_url()))
                    .await
                    .ok()?;
                let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
    }
}
