//! End-to-end sync benchmark: generated schools served by the simulator over loopback, synced
//! into a real Postgres by the real release binary (`bromsync sync`, as a user runs it), each
//! figure printed next to the limit it is held against, measured in the same run:
//!
//! - **trust**: 40 schools x 1,200 students, first sync into an empty database, against `COPY`
//!   of exactly the rows it stored (roster, exclusions, the `added` history event of every
//!   record, the run records) into an empty copy of those tables, indexes and all; printed too
//!   against the `COPY` of the roster and exclusions alone. Then a resync with nothing changed,
//!   against the first sync (and it must write no roster row); then 1% churn in one school.
//! - **large school**: one school of 25,000 students, against the same two `COPY`s; peak RSS.
//! - **slow Bromcom**: 150 ms a request, 5,000-row pages, `max_in_flight = 4`, 8 schools of
//!   1,200, against every request slot busy (requests x latency / slots).
//!
//! Each timed step starts after a `CHECKPOINT`, so that none pays for another's writes. Each
//! figure is the best of three runs, the sync's as its limit's (this machine is shared: the
//! same step varies by a fifth from run to run): a first sync goes into a fresh database each
//! time, and each is followed by one run of each of its limits, so that a drift in the
//! machine's speed favours neither side.
//!
//! The figures are also written as JSON to `target/bench-sync.json` (the smoke run's to
//! `target/bench-sync-smoke.json`).
//!
//! `cargo bench --bench sync` runs the sizes above (`-- trust`, `-- large` or `-- slow` runs
//! those alone); under `cargo test --all-targets` (no `--bench` flag) the same scenarios run
//! tiny, as a smoke test. Needs PostgreSQL at
//! 127.0.0.1:5432 (scripts/ensure-postgres); uses and drops databases of its own.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bromsync::snapshot::SchoolId;
use bromsync::store::{ROSTER_TABLES, Store};
use bromsync_sim::dataset::Dataset;
use bromsync_sim::generator::{GenerateOptions, generate};
use bromsync_sim::server::{SimHandle, SimOptions, SimServer};
use futures::TryStreamExt;
use secrecy::SecretString;
use serde_json::json;
use sqlx::{Connection, PgConnection};

#[path = "../tests/it/write_counters.rs"]
mod write_counters;

const FIRST_SCHOOL: SchoolId = 20001;

/// The sizes of one benchmark run.
struct Sizes {
    trust_schools: usize,
    trust_students: usize,
    large_students: usize,
    slow_schools: usize,
    slow_students: usize,
    slow_latency: Duration,
    slow_page: usize,
    /// Each sync and each limit is the best of this many runs.
    runs: usize,
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let sizes = if full {
        Sizes {
            trust_schools: 40,
            trust_students: 1_200,
            large_students: 25_000,
            slow_schools: 8,
            slow_students: 1_200,
            slow_latency: Duration::from_millis(150),
            slow_page: 5_000,
            runs: 3,
        }
    } else {
        Sizes {
            trust_schools: 3,
            trust_students: 40,
            large_students: 150,
            slow_schools: 2,
            slow_students: 40,
            slow_latency: Duration::from_millis(5),
            slow_page: 100,
            runs: 1,
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Other arguments (a test filter passed on by `cargo test`) choose nothing.
    let chosen: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| ["trust", "large", "slow"].contains(&a.as_str()))
        .collect();
    let runs = |name: &str| chosen.is_empty() || chosen.iter().any(|c| c == name);
    let report = runtime.block_on(async {
        let mut report = json!({ "full": full });
        if runs("trust") {
            report["trust"] = trust(&sizes).await;
        }
        if runs("large") {
            report["large_school"] = large_school(&sizes).await;
        }
        if runs("slow") {
            report["slow_bromcom"] = slow_bromcom(&sizes).await;
        }
        report
    });
    // The smoke run under `cargo test` leaves the real figures alone.
    let file = if full {
        "bench-sync.json"
    } else {
        "bench-sync-smoke.json"
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(file);
    let text = serde_json::to_string_pretty(&report).expect("json");
    match std::fs::write(&path, text + "\n") {
        Ok(()) => println!("figures written to {}", path.display()),
        Err(e) => println!("could not write {}: {e}", path.display()),
    }
    if !full {
        check_smoke_figures(&report);
    }
}

/// The smoke run's figures are too small to time anything, but they must still add up: a
/// smoke run that only exits 0 would pass with a sync that wrote nothing, or everything twice.
fn check_smoke_figures(report: &serde_json::Value) {
    let Some(trust) = report.get("trust") else {
        return;
    };
    let written = |run: &str| trust[run]["rows_written"].as_i64();
    // A first sync into an empty database inserts each roster and exclusion row once.
    let stored = trust["roster_rows"].as_i64();
    assert!(stored.is_some_and(|n| n > 0), "no roster rows: {trust}");
    assert_eq!(
        written("first_sync"),
        stored,
        "first sync's rows written: {trust}"
    );
    assert_eq!(
        written("resync"),
        Some(0),
        "a resync with no change wrote rows: {trust}"
    );
    let ratio = trust["first_sync_ratio"].as_f64().unwrap_or(f64::NAN);
    assert!(ratio.is_finite() && ratio > 0.0, "first sync ratio {ratio}");
}

fn today() -> chrono::NaiveDate {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::London)
        .date_naive()
}

fn schools(count: usize) -> Vec<SchoolId> {
    (0..count as SchoolId).map(|i| FIRST_SCHOOL + i).collect()
}

fn dataset(schools: &[SchoolId], students: usize) -> Dataset {
    generate(&GenerateOptions {
        seed: 2026,
        schools: schools.to_vec(),
        students_per_school: students,
        today: today(),
    })
}

async fn trust(sizes: &Sizes) -> serde_json::Value {
    let ids = schools(sizes.trust_schools);
    let sim = start_sim(dataset(&ids, sizes.trust_students), Duration::ZERO, 100_000).await;
    println!(
        "trust: {} schools x {} students",
        sizes.trust_schools, sizes.trust_students
    );
    let (db, config, first, limits) =
        first_syncs_and_limits("trust", &sim, &ids, &[], sizes.runs, &BOTH_LIMITS).await;
    let [limit, roster_limit] = limits.try_into().expect("two limits");
    let mut again = db.timed_sync(&config.path).await;
    for _ in 1..sizes.runs {
        again = again.best(db.timed_sync(&config.path).await);
    }
    sim.update_dataset(|d| bromsync_sim::churn::churn(d, FIRST_SCHOOL, 0.01, 7, today()));
    let churned = db.timed_sync(&config.path).await;
    sim.shutdown().await;
    let first_ratio = first.secs() / limit.secs;
    let again_ratio = again.secs() / first.secs();
    println!(
        "  first sync        {:>8.2} s  COPY of the {} stored rows {:.2} s  ratio {first_ratio:.2}  (target <= 2.0)  peak RSS {} MiB  rows written {}",
        first.secs(),
        limit.rows,
        limit.secs,
        first.peak_mib,
        first.rows_written
    );
    roster_limit.print_against(&first);
    println!(
        "  resync, no change {:>8.2} s  ratio to the first sync {again_ratio:.2}  (target <= 0.30)  peak RSS {} MiB  rows written {} (must be 0)",
        again.secs(),
        again.peak_mib,
        again.rows_written
    );
    println!(
        "  resync, 1% churn of one school {:>8.2} s  rows written {}",
        churned.secs(),
        churned.rows_written
    );
    db.drop().await;
    json!({
        "schools": sizes.trust_schools,
        "students_per_school": sizes.trust_students,
        "stored_rows": limit.rows,
        "copy_limit_secs": limit.secs,
        "roster_rows": roster_limit.rows,
        "roster_copy_limit_secs": roster_limit.secs,
        "first_sync": first.json(),
        "first_sync_ratio": first_ratio,
        "first_sync_ratio_to_roster_copy": first.secs() / roster_limit.secs,
        "resync": again.json(),
        "resync_ratio_to_first": again_ratio,
        "churn_one_school": churned.json(),
    })
}

async fn large_school(sizes: &Sizes) -> serde_json::Value {
    let ids = [FIRST_SCHOOL];
    let sim = start_sim(dataset(&ids, sizes.large_students), Duration::ZERO, 100_000).await;
    println!("one school of {} students", sizes.large_students);
    let (db, _, first, limits) =
        first_syncs_and_limits("large", &sim, &ids, &[], sizes.runs, &BOTH_LIMITS).await;
    let [limit, roster_limit] = limits.try_into().expect("two limits");
    sim.shutdown().await;
    let school_page_ms = school_page_ms(&db.url, FIRST_SCHOOL, sizes.runs.max(3)).await;
    println!("  dashboard school page {school_page_ms:>6.1} ms  (target < 100 ms)");
    let ratio = first.secs() / limit.secs;
    println!(
        "  first sync        {:>8.2} s  COPY of the {} stored rows {:.2} s  ratio {ratio:.2}  (target <= 2.0)  peak RSS {} MiB (target <= 150)  rows written {}",
        first.secs(),
        limit.rows,
        limit.secs,
        first.peak_mib,
        first.rows_written
    );
    roster_limit.print_against(&first);
    db.drop().await;
    json!({
        "students": sizes.large_students,
        "stored_rows": limit.rows,
        "copy_limit_secs": limit.secs,
        "roster_rows": roster_limit.rows,
        "roster_copy_limit_secs": roster_limit.secs,
        "first_sync": first.json(),
        "ratio": ratio,
        "ratio_to_roster_copy": first.secs() / roster_limit.secs,
        "dashboard_school_page_ms": school_page_ms,
    })
}

/// The Data Dashboard's school page for the synced school: the best of `runs` requests over
/// loopback (after one to warm the connections), from request sent to body read, with a session
/// made straight in the store.
async fn school_page_ms(url: &str, school: SchoolId, runs: usize) -> f64 {
    use bromsync::web::auth;
    bromsync::bromcom::install_tls_crypto();
    let settings = bromsync::config::from_toml(&format!(
        "[database]\nurl = \"{url}\"\n[bromcom]\nbase_url = \"https://api.bromcomcloud.com\"\n\
         application_id = \"demo\"\napplication_secret = \"demo-secret\"\n[[schools]]\nid = {school}\n"
    ))
    .expect("settings");
    let store = Store::connect(&SecretString::from(url.to_owned()), 4)
        .await
        .expect("store");
    let hash = auth::hash_password(&auth::one_time_password()).expect("hash");
    let user = store
        .dashboard_user_add(
            "bench",
            bromsync::store::DashboardRole::Operator,
            &[],
            &hash,
        )
        .await
        .expect("user")
        .expect("a new user");
    let token = auth::random_token();
    store
        .dashboard_session_create(
            &auth::token_hash(&token),
            user,
            &auth::random_token(),
            chrono::Utc::now() + chrono::Duration::hours(1),
        )
        .await
        .expect("session");
    let listener = bromsync::http::bind(([127, 0, 0, 1], 0).into())
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let stop = tokio_util::sync::CancellationToken::new();
    bromsync::web::serve(
        listener,
        settings.dashboard.limits(),
        std::sync::Arc::new(bromsync::web::Dashboard {
            settings: std::sync::Arc::new(settings),
            store: bromsync::web::fixed_store(store.clone()),
        }),
        stop.clone(),
    );
    let client = reqwest::Client::new();
    let mut best = f64::INFINITY;
    for _ in 0..=runs {
        let clock = Instant::now();
        let page = client
            .get(format!("{base}/schools/{school}"))
            .header("cookie", format!("bromsync_session={token}"))
            .send()
            .await
            .expect("the school page");
        assert!(page.status().is_success(), "school page: {}", page.status());
        let body = page.text().await.expect("body");
        assert!(body.contains("Recent runs"), "not the school page");
        best = best.min(clock.elapsed().as_secs_f64() * 1000.0);
    }
    stop.cancel();
    store.close().await;
    best
}

async fn slow_bromcom(sizes: &Sizes) -> serde_json::Value {
    let ids = schools(sizes.slow_schools);
    let slots = 4;
    let sim = start_sim(
        dataset(&ids, sizes.slow_students),
        sizes.slow_latency,
        sizes.slow_page,
    )
    .await;
    let extra = [
        format!("page_size = {}", sizes.slow_page),
        format!("max_in_flight = {slots}"),
    ];
    println!(
        "slow Bromcom: {} ms a request, {}-row pages, {slots} requests in flight, {} schools x {} students",
        sizes.slow_latency.as_millis(),
        sizes.slow_page,
        sizes.slow_schools,
        sizes.slow_students
    );
    // Every run asks for the same pages (no faults are served), so any run's count is theirs.
    let (db, _, first, _) =
        first_syncs_and_limits("slow", &sim, &ids, &extra, sizes.runs, &[]).await;
    let requests = sim.request_count() / sizes.runs;
    let peak_in_flight = sim.peak_in_flight();
    sim.shutdown().await;
    let limit = requests as f64 * sizes.slow_latency.as_secs_f64() / slots as f64;
    let ratio = first.secs() / limit;
    println!(
        "  sync              {:>8.2} s  every slot busy: {requests} requests x {} ms / {slots} = {limit:.2} s  ratio {ratio:.2}  (target <= 1.25)  peak in flight {peak_in_flight}  peak RSS {} MiB",
        first.secs(),
        sizes.slow_latency.as_millis(),
        first.peak_mib
    );
    db.drop().await;
    json!({
        "schools": sizes.slow_schools,
        "students_per_school": sizes.slow_students,
        "latency_ms": sizes.slow_latency.as_millis() as u64,
        "page_size": sizes.slow_page,
        "max_in_flight": slots,
        "requests": requests,
        "peak_in_flight": peak_in_flight,
        "limit_secs": limit,
        "sync": first.json(),
        "ratio": ratio,
    })
}

async fn start_sim(dataset: Dataset, latency: Duration, page_size: usize) -> SimHandle {
    SimServer::start(SimOptions {
        dataset,
        latency,
        page_size,
        ..SimOptions::default()
    })
    .await
    .expect("simulator")
}

/// Flushes what earlier steps left in memory, so that no timed step pays for another's writes.
async fn checkpoint(conn: &mut PgConnection) {
    sqlx::query("CHECKPOINT")
        .execute(conn)
        .await
        .expect("CHECKPOINT (the benchmark's role must be a superuser or have pg_checkpoint)");
}

fn server_url() -> String {
    std::env::var("BROMSYNC_TEST_PG")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432".to_owned())
}

/// `runs` first syncs of `schools`, each into a fresh database of its own, each followed by one
/// run of every limit in `stored` (its rows read out after the first sync): sync and limits
/// alternate, so that a machine whose speed drifts favours neither, and each figure is the
/// best of its runs. The last database is kept, for the resyncs.
async fn first_syncs_and_limits(
    label: &str,
    sim: &SimHandle,
    schools: &[SchoolId],
    bromcom_extra: &[String],
    runs: usize,
    stored: &[Stored],
) -> (BenchDb, BenchConfig, Timed, Vec<CopyLimit>) {
    let mut db = BenchDb::new(label).await;
    let mut config = db.config(sim, schools, bromcom_extra);
    let mut best = db.timed_sync(&config.path).await;
    let mut sources = Vec::new();
    for &which in stored {
        sources.push(db.read_stored(which).await);
    }
    let mut limits: Vec<CopyLimit> = sources
        .iter()
        .map(|source| CopyLimit {
            secs: f64::INFINITY,
            rows: source.rows,
        })
        .collect();
    for run in 0..runs {
        if run > 0 {
            db.drop().await;
            db = BenchDb::new(label).await;
            config = db.config(sim, schools, bromcom_extra);
            best = best.best(db.timed_sync(&config.path).await);
        }
        for (limit, source) in limits.iter_mut().zip(&sources) {
            limit.secs = limit.secs.min(db.time_copy(source).await);
        }
    }
    (db, config, best, limits)
}

/// A database of the benchmark's own, migrated.
struct BenchDb {
    name: String,
    url: String,
    dir: tempfile::TempDir,
}

struct BenchConfig {
    path: std::path::PathBuf,
}

/// One `bromsync sync` process: wall time, peak RSS, rows the database wrote.
struct Timed {
    wall: Duration,
    peak_mib: u64,
    rows_written: i64,
}

impl Timed {
    fn secs(&self) -> f64 {
        self.wall.as_secs_f64()
    }

    /// The faster of two runs of the same work, with the higher of their peaks.
    fn best(self, other: Timed) -> Timed {
        let peak_mib = self.peak_mib.max(other.peak_mib);
        let faster = if other.wall < self.wall { other } else { self };
        Timed { peak_mib, ..faster }
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "secs": self.secs(),
            "peak_rss_mib": self.peak_mib,
            "rows_written": self.rows_written,
        })
    }
}

/// The rows a first sync stored in some of its tables, as `COPY` text.
struct CopySource {
    tables: Vec<(&'static str, Vec<u8>)>,
    rows: u64,
}

/// The COPY limits a first sync is held against: all it stored, and the roster alone.
const BOTH_LIMITS: [Stored; 2] = [Stored::All, Stored::Roster];

/// `COPY` of exactly the stored rows into an empty copy of the schema, in one transaction.
#[derive(Debug)]
struct CopyLimit {
    secs: f64,
    rows: u64,
}

/// Which of a sync's tables a figure counts.
#[derive(Clone, Copy)]
enum Stored {
    /// The roster and the exclusions: what "rows written" counts (0 when nothing changed).
    Roster,
    /// Everything a first sync stores: the roster, the exclusions, the history events of
    /// every record added, the run records and the tables' fingerprints.
    All,
}

impl Stored {
    fn tables(self) -> Vec<&'static str> {
        let mut tables: Vec<&str> = ROSTER_TABLES.to_vec();
        tables.push("exclusions");
        if let Stored::All = self {
            tables.extend(["record_history", "sync_runs", "roster_fingerprints"]);
        }
        tables
    }
}

impl CopyLimit {
    /// The same sync held against the COPY of its roster and exclusions alone.
    fn print_against(&self, sync: &Timed) {
        println!(
            "    the same against COPY of its {} roster and exclusion rows alone {:.2} s: ratio {:.2}",
            self.rows,
            self.secs,
            sync.secs() / self.secs
        );
    }
}

impl BenchDb {
    async fn new(label: &str) -> BenchDb {
        let name = format!("bromsync_bench_{label}_{}", std::process::id());
        let url = format!("{}/{name}", server_url());
        let store = Store::connect_and_migrate(&SecretString::from(url.clone()), 2)
            .await
            .expect("bench database: is PostgreSQL running at 127.0.0.1:5432?");
        store.close().await;
        BenchDb {
            name,
            url,
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn config(
        &self,
        sim: &SimHandle,
        schools: &[SchoolId],
        bromcom_extra: &[String],
    ) -> BenchConfig {
        let mut text = format!(
            "[database]\nurl = \"{}\"\n[bromcom]\nbase_url = \"{}\"\napplication_id = \"demo\"\n\
             application_secret = \"demo-secret\"\n",
            self.url,
            sim.base_url()
        );
        for line in bromcom_extra {
            text.push_str(line);
            text.push('\n');
        }
        for id in schools {
            text.push_str(&format!("[[schools]]\nid = {id}\n"));
        }
        let path = self.dir.path().join("bench.toml");
        std::fs::write(&path, text).expect("config");
        BenchConfig { path }
    }

    async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url).await.expect("connect")
    }

    /// Runs `bromsync sync` as its own process: wall time, peak resident memory (VmHWM, read
    /// from /proc while it runs) and the tuples it inserted, updated and deleted.
    async fn timed_sync(&self, config: &Path) -> Timed {
        let before = self.write_counters().await;
        checkpoint(&mut self.connect().await).await;
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
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let wall = clock.elapsed();
        let after = self.write_counters().await;
        Timed {
            wall,
            peak_mib: peak_kib / 1024,
            rows_written: after - before,
        }
    }

    /// Rows the database has written to the roster and exclusions so far.
    async fn write_counters(&self) -> i64 {
        write_counters::write_counters(&self.url).await
    }

    /// The limit a first sync is held against: every stored row of the `stored` tables, read
    /// out beforehand, copied into an empty copy of those tables (same keys and indexes) in one
    /// transaction, after a checkpoint as before a timed sync.
    /// Every stored row of the `stored` tables, read out for the COPY limit.
    async fn read_stored(&self, stored: Stored) -> CopySource {
        let mut conn = self.connect().await;
        let mut tables = Vec::new();
        let mut rows = 0u64;
        for table in stored.tables() {
            let chunks: Vec<bytes::Bytes> = conn
                .copy_out_raw(&format!("COPY public.{table} TO STDOUT"))
                .await
                .expect("copy out")
                .try_collect()
                .await
                .expect("copy out");
            let bytes: Vec<u8> = chunks.concat();
            rows += bytes.iter().filter(|b| **b == b'\n').count() as u64;
            tables.push((table, bytes));
        }
        CopySource { tables, rows }
    }

    /// One run of the limit: `source`'s rows copied into an empty copy of their tables (same
    /// keys and indexes) in one transaction, after a checkpoint as before a timed sync.
    async fn time_copy(&self, source: &CopySource) -> f64 {
        let mut conn = self.connect().await;
        for sql in [
            "DROP SCHEMA IF EXISTS bench_copy CASCADE",
            "CREATE SCHEMA bench_copy",
        ] {
            sqlx::query(sql).execute(&mut conn).await.expect("schema");
        }
        for (table, _) in &source.tables {
            let sql =
                format!("CREATE TABLE bench_copy.{table} (LIKE public.{table} INCLUDING ALL)");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .expect("copy table");
        }
        checkpoint(&mut conn).await;
        let clock = Instant::now();
        let mut tx = conn.begin().await.expect("begin");
        for (table, bytes) in &source.tables {
            let mut copy = tx
                .copy_in_raw(&format!("COPY bench_copy.{table} FROM STDIN"))
                .await
                .expect("copy in");
            copy.send(bytes.as_slice()).await.expect("copy data");
            copy.finish().await.expect("copy finish");
        }
        tx.commit().await.expect("commit");
        let secs = clock.elapsed().as_secs_f64();
        sqlx::query("DROP SCHEMA bench_copy CASCADE")
            .execute(&mut conn)
            .await
            .expect("drop schema");
        secs
    }

    async fn drop(self) {
        if let Ok(mut conn) = PgConnection::connect(&format!("{}/postgres", server_url())).await {
            let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await;
        }
    }
}
