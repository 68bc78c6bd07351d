//! Rows the database wrote to the tables a sync owns (the roster and the exclusions): inserted,
//! updated and deleted tuples from `pg_stat_user_tables`. One reader for the integration tests
//! and the sync benchmark, which includes this file by path.

use std::time::Duration;

use sqlx::Connection;

/// The counters of the database at `url`, once every connection that wrote has closed and its
/// statistics are in: they arrive when a backend ends or goes idle, so this waits until they
/// stop moving.
pub async fn write_counters(url: &str) -> i64 {
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    let tables: Vec<String> = bromsync::store::ROSTER_TABLES
        .iter()
        .chain(["exclusions"].iter())
        .map(|t| t.to_string())
        .collect();
    let mut last = -1;
    for _ in 0..50 {
        let _ = sqlx::query("SELECT pg_stat_clear_snapshot()")
            .execute(&mut conn)
            .await;
        let now: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint \
             FROM pg_stat_user_tables WHERE schemaname = 'public' AND relname = ANY($1)",
        )
        .bind(&tables)
        .fetch_one(&mut conn)
        .await
        .expect("read statistics");
        if now == last {
            return now;
        }
        last = now;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    last
}
