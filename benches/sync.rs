//! End-to-end sync benchmark: one generated school served by the simulator over loopback,
//! synced into a real Postgres by the real binary, three times — first sync, resync with no
//! change, resync after 1% churn — printing wall time and peak memory of each, plus the fetch
//! and eligibility phases on their own.
//!
//! `cargo bench --bench sync` uses 50,000 students (override with BROMSYNC_BENCH_STUDENTS);
//! under `cargo test --all-targets` (no `--bench` flag) it is a quick smoke run of 300.
//! Needs PostgreSQL at 127.0.0.1:5432 (scripts/ensure-postgres); uses and drops a database of
//! its own.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bromsync::bromcom::{Client, ClientConfig};
use bromsync::store::Store;
use bromsync_sim::generator::{GenerateOptions, generate};
use bromsync_sim::server::{SimOptions, SimServer};
use secrecy::SecretString;
use sqlx::Connection;

const SCHOOL: i64 = 20001;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let students: usize = std::env::var("BROMSYNC_BENCH_STUDENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if full { 50_000 } else { 300 });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench(students));
}

async fn bench(students: usize) {
    let server = std::env::var("BROMSYNC_TEST_PG")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432".to_owned());
    let database = format!("bromsync_bench_{}", std::process::id());
    let url = format!("{server}/{database}");
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::London)
        .date_naive();

    let clock = Instant::now();
    let dataset = generate(&GenerateOptions {
        seed: 2026,
        schools: vec![SCHOOL],
        students_per_school: students,
        today,
    });
    let rows: usize = dataset
        .schools
        .values()
        .flat_map(|s| s.values())
        .map(Vec::len)
        .sum();
    println!(
        "school of {students} students: {rows} Bromcom rows generated in {:.2?}",
        clock.elapsed()
    );
    let sim = SimServer::start(SimOptions {
        dataset,
        ..SimOptions::default()
    })
    .await
    .expect("simulator");

    let client = Client::new(ClientConfig {
        base_url: sim.base_url(),
        application_id: "demo".to_owned(),
        application_secret: SecretString::from("demo-secret"),
        ..ClientConfig::default()
    })
    .expect("client");
    let clock = Instant::now();
    let snapshot = client.fetch_school(SCHOOL).await.expect("fetch");
    let fetched = clock.elapsed();
    let memberships = snapshot.associates.len() + snapshot.executives.len();
    let clock = Instant::now();
    let decision = bromsync::eligibility::decide(&snapshot, today, Default::default());
    let decided = clock.elapsed();
    println!(
        "fetch over HTTP + mapping: {fetched:.2?}; eligibility: {decided:.2?} ({memberships} memberships, {} students through)",
        decision.roster.students.len()
    );
    drop((snapshot, decision));

    let store = Store::connect_and_migrate(&SecretString::from(url.clone()), 4)
        .await
        .expect("bench database");
    store.close().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("bench.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"{url}\"\n[bromcom]\nbase_url = \"{}\"\napplication_id = \"demo\"\n\
             application_secret = \"demo-secret\"\n[[schools]]\nid = {SCHOOL}\n",
            sim.base_url()
        ),
    )
    .expect("config");

    let (first, first_peak) = timed_sync(&config).await;
    let (again, again_peak) = timed_sync(&config).await;
    sim.update_dataset(|d| bromsync_sim::churn::churn(d, SCHOOL, 0.01, 7, today));
    let (churned, churned_peak) = timed_sync(&config).await;
    println!("bromsync sync (whole process: start, fetch, decide, write, exit):");
    println!("  first sync          {first:>10.2?}   peak RSS {first_peak:>6} MiB");
    println!("  resync, no change   {again:>10.2?}   peak RSS {again_peak:>6} MiB");
    println!("  resync, 1% churn    {churned:>10.2?}   peak RSS {churned_peak:>6} MiB");

    sim.shutdown().await;
    if let Ok(mut conn) = sqlx::PgConnection::connect(&format!("{server}/postgres")).await {
        let sql = format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)");
        let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await;
    }
}

/// Runs `bromsync sync` as its own process; its wall time and peak resident memory (VmHWM,
/// read from /proc while it runs).
async fn timed_sync(config: &Path) -> (Duration, u64) {
    let binary = env!("CARGO_BIN_EXE_bromsync");
    let clock = Instant::now();
    let mut child = Command::new(binary)
        .arg("--config")
        .arg(config)
        .arg("sync")
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn bromsync");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "bromsync sync failed: {status}");
            break;
        }
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak_kib = peak_kib.max(kib);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (clock.elapsed(), peak_kib / 1024)
}
