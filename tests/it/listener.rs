//! `bromsync run`'s HTTP listener under a flood of idle, half-sent connections, more than the
//! process may open files: runs still succeed and `/metrics` still answers once the flood's
//! connections time out. Also the listener's configuration: loopback only unless allowed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bromsync::snapshot::SchoolId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{Daemon, LogLines, bromsync, reserve_port, run_binary, stderr, write_config};
use crate::ops_fixture::dataset;
use crate::support::{TestDb, start_sim};

const SCHOOL: SchoolId = 83;
/// A schedule that does not fire during a test.
const NEVER_SOON: &str = "0 0 1 1 *";
/// The daemon's open-files limit, soft and hard alike (so it cannot raise it).
const OPEN_FILES: libc::rlim_t = 256;
/// More idle connections than that.
const FLOOD: usize = 300;
/// The cap on connections the test configures (the default too).
const MAX_CONNECTIONS: usize = 64;
/// Long enough that the run below happens while the flood's held connections are still open.
const HEADER_TIMEOUT_SECS: u64 = 20;

/// What a request's headers look like when the client stops half-way.
const HALF_SENT: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow\r\n";

/// One GET with a short limit of its own: `(status, body)`, status 0 when nothing answered.
async fn get(url: &str) -> (u16, String) {
    bromsync::bromcom::install_tls_crypto();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"));
    match client.get(url).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

/// Polls `url` until it answers 200, returning the body.
async fn wait_answer(url: &str, within: Duration, log: &LogLines) -> String {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = get(url).await;
        if status == 200 {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not answer within {within:?} (last: {status} {body}); the log:\n{}",
            log.text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `(status, error)` of every run of the school so far.
async fn runs(db: &TestDb) -> Vec<(String, Option<String>)> {
    sqlx::query_as("SELECT status, error FROM sync_runs WHERE school_id = $1 ORDER BY run_id")
        .bind(SCHOOL)
        .fetch_all(db.store.pool())
        .await
        .unwrap_or_else(|e| panic!("runs: {e}"))
}

fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_idle_connections_beyond_the_open_files_limit_starves_neither_runs_nor_metrics()
{
    // The flood is this process's files too.
    bromsync::daemon::open_files::raise();
    let db = TestDb::new().await;
    let sim = start_sim(dataset(&[SCHOOL])).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write_config(
        dir.path(),
        &db.url,
        &sim,
        100_000,
        &[format!("id = {SCHOOL}")],
        &format!(
            "[daemon]\nschedule = \"{NEVER_SOON}\"\n\n[http]\nlisten = \"127.0.0.1:0\"\n\
             max_connections = {MAX_CONNECTIONS}\nheader_read_timeout_secs = {HEADER_TIMEOUT_SECS}\n"
        ),
    );
    let mut command = bromsync(&config, &["--log-format", "json", "run"], &[]);
    command.stdout(std::process::Stdio::null());
    // SAFETY: only setrlimit, which is async-signal-safe, runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: OPEN_FILES,
                rlim_max: OPEN_FILES,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut daemon = Daemon::spawn_command(command);
    let log = daemon.log.clone();
    // The system picked the port; the daemon says which.
    let base = daemon.http_base().await;
    let port: u16 = base
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("port of {base}"));
    wait_answer(&format!("{base}/healthz"), Duration::from_secs(30), &log).await;

    // The flood: each connection sends half a request's headers and waits; a task per
    // connection notes when the daemon closes it.
    let closed = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for n in 0..FLOOD {
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("connection {n}: {e}"));
        // A connection closed before its bytes are sent is as good as one closed after.
        let _ = stream.write_all(HALF_SENT).await;
        let closed = Arc::clone(&closed);
        readers.push(tokio::spawn(async move {
            let mut sink = Vec::new();
            let _ = stream.read_to_end(&mut sink).await;
            closed.fetch_add(1, Ordering::SeqCst);
        }));
    }

    // A run now, against the simulator, while the flood holds every slot it may.
    daemon.signal("USR1");
    let deadline = Instant::now() + Duration::from_secs(60);
    let outcome = loop {
        if let Some(run) = runs(&db).await.pop() {
            break run;
        }
        assert!(
            Instant::now() < deadline,
            "no run within a minute; the log:\n{}",
            log.text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let closed_by_then = closed.load(Ordering::SeqCst);
    assert_eq!(
        outcome.0,
        "succeeded",
        "the run under the flood: {:?}; the log:\n{}",
        outcome.1,
        log.text()
    );
    assert!(
        closed_by_then < FLOOD,
        "the whole flood was gone before the run ended, so it proves nothing"
    );

    // The connections over the cap were closed at once; the held ones time out, and then
    // `/metrics` answers.
    let metrics = wait_answer(&format!("{base}/metrics"), Duration::from_secs(90), &log).await;
    let succeeded = format!(
        "bromsync_runs_total{{school=\"{SCHOOL}\",trigger=\"signal\",outcome=\"succeeded\"}}"
    );
    assert_eq!(sample(&metrics, &succeeded), Some(1.0), "{metrics}");
    let refused = sample(&metrics, "bromsync_http_connections_refused_total").unwrap_or(0.0);
    assert!(
        refused >= (FLOOD - MAX_CONNECTIONS) as f64,
        "{refused} connections refused over the cap: {metrics}"
    );
    let all_closed = tokio::time::timeout(
        Duration::from_secs(HEADER_TIMEOUT_SECS + 30),
        futures::future::join_all(readers),
    )
    .await;
    assert!(
        all_closed.is_ok(),
        "{} of {FLOOD} idle connections closed by the daemon",
        closed.load(Ordering::SeqCst)
    );
    assert!(
        log.text().contains("open-files limit"),
        "the limit is logged: {}",
        log.text()
    );

    daemon.stop(Duration::from_secs(30)).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_listener_off_loopback_is_refused_at_start_unless_allowed() {
    let sim = start_sim(dataset(&[SCHOOL])).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // Nothing needs the database: the configuration is refused before it is used.
    let dead = reserve_port();
    let db_url = format!("postgres://root@127.0.0.1:{}/nowhere", dead.port);
    let config = write_config(
        dir.path(),
        &db_url,
        &sim,
        100_000,
        &[format!("id = {SCHOOL}")],
        "[http]\nlisten = \"0.0.0.0:0\"\n",
    );
    let output = tokio::time::timeout(Duration::from_secs(30), run_binary(&config, &["run"], &[]))
        .await
        .expect("refused at once");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("http.listen"),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("http.allow_remote"),
        "{}",
        stderr(&output)
    );
    sim.shutdown().await;
}
