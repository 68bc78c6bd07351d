//! Secrets and personal data: whole syncs logged at TRACE (in-process with a captured
//! subscriber, and the real binary with `RUST_LOG=trace`) never show the application secret,
//! the database password, or any name, email, phone or date of birth of the dataset — neither
//! in log lines nor in error texts nor in `sync_runs`.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use bromsync::snapshot::{EntityKind, SchoolId};
use bromsync::store::Store;
use bromsync::sync::{RunOutcome, SyncContext};
use bromsync_sim::churn;
use bromsync_sim::dataset::Dataset;
use bromsync_sim::faults::{Fault, FaultPlan, FaultRule};
use secrecy::SecretString;

use crate::harness::*;
use crate::support::*;

const SCHOOL: SchoolId = 20001;
const DB_PASSWORD: &str = "Db-Pass-Never-Logged-4k2";

/// Every personal value in the dataset that is long enough to search for without matching
/// ordinary log text: names, emails, phones (length >= 4), dates of birth in both forms.
fn personal_values(dataset: &Dataset) -> Vec<String> {
    const TEXT_FIELDS: [&str; 7] = [
        "firstName",
        "lastName",
        "preferredFirstName",
        "preferredLastName",
        "emailAddress",
        "workEmail",
        "telephoneNumber",
    ];
    let mut values = std::collections::BTreeSet::new();
    for school in dataset.schools.values() {
        for rows in school.values() {
            for row in rows {
                let Some(object) = row.as_object() else {
                    continue;
                };
                for (key, value) in object {
                    let Some(text) = value.as_str().map(str::trim) else {
                        continue;
                    };
                    if TEXT_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(key))
                        && text.chars().count() >= 4
                    {
                        values.insert(text.to_owned());
                    }
                    if key.eq_ignore_ascii_case("dateOfBirth") && text.len() >= 10 {
                        let iso = &text[..10];
                        values.insert(iso.to_owned());
                        if let [y, m, d] = iso.split('-').collect::<Vec<_>>()[..] {
                            values.insert(format!("{d}/{m}/{y}"));
                        }
                    }
                }
            }
        }
    }
    values.into_iter().collect()
}

/// What of `forbidden` shows in `text`, each with the line it is on.
fn leaks(text: &str, forbidden: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for value in forbidden {
        if let Some(line) = text.lines().find(|l| l.contains(value.as_str())) {
            found.push(format!(
                "{value:?} in: {}",
                line.chars().take(300).collect::<String>()
            ));
        }
    }
    found
}

fn url_with_password(db: &TestDb) -> String {
    format!("postgres://root:{DB_PASSWORD}@127.0.0.1:5432/{}", db.name)
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn sync_run_texts(db: &TestDb) -> String {
    let rows: Vec<String> = sqlx::query_scalar("SELECT s::text FROM sync_runs s")
        .fetch_all(db.store.pool())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    rows.join("\n")
}

/// Removes the first `count` students the simulator serves.
fn remove_students(sim: &bromsync_sim::server::SimHandle, count: usize) {
    let ids: Vec<i64> = sim.with_dataset(|d| {
        d.schools[&SCHOOL][&EntityKind::Students]
            .iter()
            .filter_map(|r| r["studentID"].as_i64())
            .take(count)
            .collect()
    });
    for id in ids {
        sim.update_dataset(|d| {
            churn::remove_rows(d, SCHOOL, EntityKind::Students, "studentID", id)
        });
    }
}

// Single-threaded, so that every task (client, server, store) logs into this test's
// subscriber.
#[tokio::test(flavor = "current_thread")]
async fn a_whole_sync_at_trace_level_logs_no_secret_and_no_personal_data() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // Other tests on other threads register callsites at the same time; one registered in
    // the middle of ours can keep an interest computed without this subscriber. Rebuilding
    // the cache before each run makes every callsite ask this subscriber again.
    tracing::callsite::rebuild_interest_cache();

    let db = TestDb::new().await;
    let dataset = generated(91, &[SCHOOL], 150);
    let sim = start_sim(dataset.clone()).await;
    let store = Store::connect(&SecretString::from(url_with_password(&db)), 4)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ctx = SyncContext::new(store, paging_client(&sim, 40));
    sim.set_page_size(40);
    let mut errors = Vec::new();
    // A first sync, a churned one with retries, a dry run, a refusal, and failures.
    succeeded(run(&ctx, false).await.unwrap_or_else(|e| panic!("{e}")));
    sim.update_dataset(|d| churn::churn(d, SCHOOL, 0.05, 91, today()));
    sim.set_faults(
        FaultPlan::random(0.2, 9).rule(
            FaultRule::new(Fault::SuccessFalse {
                message: Some(format!("invalid ApplicationSecret={APP_SECRET}")),
            })
            .entity(EntityKind::Staff)
            .first(1),
        ),
    );
    let mut patient = paging_config(&sim, 40);
    patient.max_attempts = 10;
    let patient_ctx = SyncContext::new(
        ctx.store.clone(),
        bromsync::bromcom::Client::new(patient).unwrap_or_else(|e| panic!("{e}")),
    );
    succeeded(
        run(&patient_ctx, false)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    );
    sim.clear_faults();
    remove_students(&sim, 60);
    let dry = run(&ctx, true).await;
    assert!(matches!(dry, Ok(RunOutcome::DryRun(_))), "{dry:?}");
    let refused = run(&ctx, false).await;
    assert!(matches!(refused, Ok(RunOutcome::Refused(_))), "{refused:?}");
    sim.set_faults(FaultPlan::none().rule(FaultRule::new(Fault::SuccessFalse {
        message: Some(format!("echo {APP_SECRET}")),
    })));
    errors.push(
        run(&ctx, false)
            .await
            .expect_err("success false fails")
            .to_string(),
    );
    sim.set_faults(FaultPlan::none().rule(FaultRule::new(Fault::Status(401))));
    errors.push(run(&ctx, false).await.expect_err("401 fails").to_string());
    sim.clear_faults();

    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap_or_else(PoisonError::into_inner))
        .into_owned();
    assert!(logs.contains("run succeeded"), "the runs were logged");
    assert!(logs.contains("TRACE"), "TRACE lines were captured");
    assert!(
        logs.contains("db.statement"),
        "sqlx's statements were captured"
    );
    let mut forbidden = personal_values(&dataset);
    forbidden.extend(personal_values(&sim.with_dataset(Clone::clone)));
    assert!(forbidden.len() > 300, "{} personal values", forbidden.len());
    forbidden.push(APP_SECRET.to_owned());
    forbidden.push(DB_PASSWORD.to_owned());
    let all_text = format!(
        "{logs}\n{}\n{}\n{:?}\n{:?}",
        errors.join("\n"),
        sync_run_texts(&db).await,
        ctx,
        patient_ctx
    );
    // The search finds what it looks for.
    assert!(!leaks(&format!("x {} y", forbidden[7]), &forbidden).is_empty());
    let found = leaks(&all_text, &forbidden);
    assert!(
        found.is_empty(),
        "{} leaks:\n{}",
        found.len(),
        found.join("\n")
    );
    ctx.store.close().await;
    sim.shutdown().await;
}

async fn run(ctx: &SyncContext, dry_run: bool) -> Result<RunOutcome, bromsync::sync::SyncError> {
    tracing::callsite::rebuild_interest_cache();
    let mut request = request(SCHOOL);
    request.dry_run = dry_run;
    bromsync::sync::run_school(ctx, request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_at_trace_level_logs_no_secret_and_no_personal_data() {
    let db = TestDb::new().await;
    let dataset = generated(92, &[SCHOOL], 150);
    let sim = start_sim(dataset.clone()).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let school = [format!("id = {SCHOOL}")];
    let good = write_config(
        dir.path(),
        &url_with_password(&db),
        &sim,
        100_000,
        &school,
        "",
    );
    let trace = [("RUST_LOG", "trace")];
    let mut outputs = Vec::new();

    let first = run_binary(&good, &["sync"], &trace).await;
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    outputs.push(first);
    sim.update_dataset(|d| churn::churn(d, SCHOOL, 0.05, 92, today()));
    outputs.push(
        run_binary(
            &good,
            &["--log-format", "json", "sync", "--dry-run"],
            &trace,
        )
        .await,
    );
    remove_students(&sim, 60);
    let refused = run_binary(&good, &["--log-format", "json", "sync"], &trace).await;
    assert_eq!(refused.status.code(), Some(3), "{}", stdout(&refused));
    outputs.push(refused);
    let accepted = run_binary(&good, &["sync", "--accept-removals"], &trace).await;
    assert_eq!(accepted.status.code(), Some(0), "{}", stdout(&accepted));
    outputs.push(accepted);
    // Bromcom refuses the secret, and echoes it in its message.
    sim.set_faults(FaultPlan::none().rule(FaultRule::new(Fault::SuccessFalse {
        message: Some(format!("bad secret {APP_SECRET}")),
    })));
    let echoed = run_binary(&good, &["sync"], &trace).await;
    assert_eq!(echoed.status.code(), Some(1), "{}", stdout(&echoed));
    outputs.push(echoed);
    sim.set_faults(FaultPlan::none().rule(FaultRule::new(Fault::Status(401))));
    outputs.push(run_binary(&good, &["sync"], &trace).await);
    sim.clear_faults();
    // The database unreachable, and its URL unreadable: the password must not be echoed.
    let closed = crate::harness::reserve_port();
    let closed_port = closed.port;
    for url in [
        format!(
            "postgres://root:{DB_PASSWORD}@127.0.0.1:{closed_port}/{}",
            db.name
        ),
        format!(
            "postgres://root:{DB_PASSWORD}@127.0.0.1:notaport/{}",
            db.name
        ),
        format!(
            "postgres://root:{DB_PASSWORD}@127.0.0.1:5432/{}?sslmode=bogus",
            db.name
        ),
    ] {
        let sub = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let config = write_config(sub.path(), &url, &sim, 100_000, &school, "");
        let output = run_binary(&config, &["sync"], &trace).await;
        assert_ne!(output.status.code(), Some(0), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("database"),
            "the error names the database: {}",
            stderr(&output)
        );
        outputs.push(output);
    }

    let mut forbidden = personal_values(&dataset);
    forbidden.extend(personal_values(&sim.with_dataset(Clone::clone)));
    forbidden.push(APP_SECRET.to_owned());
    forbidden.push(DB_PASSWORD.to_owned());
    let mut text = String::new();
    for output in &outputs {
        text.push_str(&stdout(output));
        text.push_str(&stderr(output));
    }
    assert!(text.contains("TRACE"), "TRACE lines were logged");
    assert!(
        text.contains("db.statement"),
        "sqlx's statements were logged"
    );
    text.push_str(&sync_run_texts(&db).await);
    let found = leaks(&text, &forbidden);
    assert!(
        found.is_empty(),
        "{} leaks:\n{}",
        found.len(),
        found.join("\n")
    );
    sim.shutdown().await;
}

/// A configuration file whose TOML is broken on the secret's line, or on the database URL's:
/// refused at start (exit 2) by line, column and key, and neither the secret nor the password
/// is printed.
#[tokio::test]
async fn a_syntax_error_in_the_configuration_prints_neither_the_secret_nor_the_password() {
    let sim = start_sim(generated(93, &[SCHOOL], 5)).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // The database is never reached: the file is refused first.
    let url = format!("postgres://root:{DB_PASSWORD}@127.0.0.1:5432/nowhere");
    let good = write_config(
        dir.path(),
        &url,
        &sim,
        100_000,
        &[format!("id = {SCHOOL}")],
        "",
    );
    let text = std::fs::read_to_string(&good).unwrap_or_else(|e| panic!("{e}"));
    let secret_line = format!("application_secret = \"{APP_SECRET}\"");
    let url_line = format!("url = \"{url}\"");
    assert!(text.contains(&secret_line) && text.contains(&url_line));
    for (broken, key) in [
        (
            text.replace(
                &secret_line,
                &format!("application_secret = \"{APP_SECRET}"),
            ),
            "bromcom.application_secret",
        ),
        (
            text.replace(&url_line, &format!("url = {url}")),
            "database.url",
        ),
        (
            text.replace(
                &secret_line,
                &format!("application_secret = '''{APP_SECRET}"),
            ),
            "bromcom.application_secret",
        ),
    ] {
        std::fs::write(&good, &broken).unwrap_or_else(|e| panic!("{e}"));
        for command in ["run", "sync"] {
            let output = tokio::time::timeout(
                std::time::Duration::from_secs(30),
                run_binary(&good, &[command], &[]),
            )
            .await
            .unwrap_or_else(|_| panic!("`{command}` did not stop"));
            let shown = format!("{}{}", stdout(&output), stderr(&output));
            assert_eq!(output.status.code(), Some(2), "{command}: {shown}");
            assert!(
                shown.contains("TOML syntax error at line")
                    && shown.contains(&format!("(key `{key}`)")),
                "{command}: {shown}"
            );
            for forbidden in [APP_SECRET, DB_PASSWORD] {
                assert!(!shown.contains(forbidden), "{command}: {shown}");
            }
        }
    }
    sim.shutdown().await;
}
