//! The commands an operator types, run as the real binary: configuration errors, the
//! environment overrides, `why`, `demo` and `sim shape`.

use std::path::Path;
use std::process::Output;

use bromsync::roster::ExcludedEntity;
use bromsync_sim::server::SimHandle;

use crate::harness::{clean_command, one_school_config, stderr, stdout, write_config_text};
use crate::support::*;

const SCHOOL: i64 = 20001;

/// `bromsync <args>` run to the end, with no configuration unless the arguments or `env` give
/// one.
fn bromsync(args: &[&str], env: &[(&str, &str)]) -> Output {
    clean_command()
        .args(args)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .output()
        .expect("run bromsync")
}

/// The harness's configuration for one school, less the line `without` (when not empty).
fn config_with(db: &TestDb, sim: &SimHandle, dir: &Path, without: &str) -> String {
    let path = one_school_config(dir, db, sim, SCHOOL);
    if without.is_empty() {
        return path.display().to_string();
    }
    let text = std::fs::read_to_string(&path).expect("config written");
    assert!(
        text.contains(without),
        "the configuration has no `{without}`"
    );
    write_config_text(dir, &text.replace(without, ""));
    path.display().to_string()
}

#[test]
fn a_wrong_configuration_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[database]\nurl = \"postgres://root@127.0.0.1/x\"\n[bromcom]\nbase_url = \"https://a.example\"\n\
         application_id = \"a\"\napplication_secret = \"b\"\npage_sise = 5\n",
    )
    .unwrap();
    let output = bromsync(&["--config", path.to_str().unwrap(), "sync"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("page_sise"), "{}", stderr(&output));

    let output = bromsync(&["--config", "/nonexistent/bromsync.toml", "sync"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("/nonexistent/bromsync.toml"));

    let output = bromsync(&["sync"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--config"));
}

#[test]
fn plain_http_to_bromcom_is_refused_unless_it_stays_on_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("http.toml");
    let with_base_url = |url: &str| {
        std::fs::write(
            &path,
            format!(
                "[database]\nurl = \"{}/bromsync_no_such_database\"\n[bromcom]\nbase_url = \"{url}\"\n\
                 application_id = \"a\"\napplication_secret = \"b\"\n[[schools]]\nid = 1\n",
                server_url()
            ),
        )
        .unwrap();
    };
    for command in ["sync", "run"] {
        with_base_url("http://api.bromcomcloud.com");
        let output = bromsync(&["--config", path.to_str().unwrap(), command], &[]);
        assert_eq!(output.status.code(), Some(2), "{command}");
        let message = stderr(&output);
        assert!(
            message.contains("bromcom.base_url") && message.contains("plain http"),
            "{message}"
        );
    }
    // Loopback passes the check: the run then fails on the database (it does not exist).
    with_base_url("http://127.0.0.1:1");
    let output = bromsync(&["--config", path.to_str().unwrap(), "sync"], &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(!stderr(&output).contains("bromcom.base_url"));
}

#[tokio::test]
async fn the_environment_supplies_the_secret_and_the_file_path() {
    let db = TestDb::new().await;
    let sim = start_sim(generated(21, &[SCHOOL], 80)).await;
    let dir = tempfile::tempdir().unwrap();
    // No secret in the file: it comes from the environment, as the README advises.
    let path = config_with(
        &db,
        &sim,
        dir.path(),
        &format!("application_secret = \"{APP_SECRET}\""),
    );
    let refused = bromsync(&["--config", &path, "sync"], &[]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("bromcom.application_secret"));

    let output = tokio::task::spawn_blocking(move || {
        bromsync(
            &["sync", "--school", "20001"],
            &[
                ("BROMSYNC_CONFIG", path.as_str()),
                ("BROMSYNC_BROMCOM__APPLICATION_SECRET", APP_SECRET),
            ],
        )
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains("school 20001: succeeded"));
    assert!(!stdout(&output).contains(APP_SECRET) && !stderr(&output).contains(APP_SECRET));
}

#[tokio::test]
async fn why_follows_a_ripple_and_says_who_comes_through() {
    let db = TestDb::new().await;
    let sim = start_sim(generated(22, &[SCHOOL], 300)).await;
    succeeded(
        bromsync::sync::run_school(
            &bromsync::sync::SyncContext::new(db.store.clone(), client_for(&sim)),
            request(SCHOOL),
        )
        .await
        .expect("sync"),
    );
    let exclusions = db.store.load_exclusions(SCHOOL).await.unwrap();
    let rippled = exclusions
        .iter()
        .find(|e| e.entity == ExcludedEntity::Parent && !e.caused_by.is_empty())
        .expect("a generated school has a parent left out because of their children");
    let student = db.store.load_roster(SCHOOL).await.unwrap().students[0].student_id;
    let dir = tempfile::tempdir().unwrap();
    let path = config_with(&db, &sim, dir.path(), "");
    let (parent_id, cause) = (rippled.id, rippled.caused_by[0]);
    let (out_parent, out_student) = tokio::task::spawn_blocking(move || {
        let parent = bromsync(
            &[
                "--config",
                &path,
                "why",
                "--school",
                "20001",
                "parent",
                &parent_id.to_string(),
            ],
            &[],
        );
        let student = bromsync(
            &[
                "--config",
                &path,
                "why",
                "--school",
                "20001",
                "student",
                &student.to_string(),
            ],
            &[],
        );
        (parent, student)
    })
    .await
    .unwrap();
    assert_eq!(out_parent.status.code(), Some(0));
    let text = stdout(&out_parent);
    assert!(
        text.contains(&format!(
            "parent {parent_id} fell out: no_eligible_children ("
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("({} {} fell out: ", cause.entity, cause.id)),
        "{text}"
    );
    assert!(stdout(&out_student).contains("comes through"));
}

#[tokio::test]
async fn the_demo_syncs_a_generated_school_and_a_resync_writes_nothing() {
    let db = TestDb::new().await;
    let url = db.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        bromsync(
            &["demo", "--students", "250"],
            &[("DATABASE_URL", url.as_str())],
        )
    })
    .await
    .unwrap();
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    assert!(text.contains("sync:"), "{text}");
    assert!(text.contains("why is parent"), "{text}");
    assert!(text.contains("left out:"), "{text}");
    assert!(
        text.contains("no roster or exclusion row written"),
        "{text}"
    );
    let students: i64 = sqlx::query_scalar("SELECT count(*) FROM students WHERE school_id = 20001")
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    assert!(students > 200, "{students}");
}

#[test]
fn sim_shape_prints_the_generated_figures() {
    let output = bromsync(
        &[
            "sim",
            "shape",
            "--schools",
            "1",
            "--students",
            "300",
            "--seed",
            "4",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    for figure in [
        "classes per student",
        "students per tutor group",
        "consent granted",
    ] {
        assert!(text.contains(figure), "{figure} missing:\n{text}");
    }
}

#[tokio::test]
async fn a_configuration_that_cannot_work_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("never.toml");
    let base = "[database]\nurl = \"postgres://root@127.0.0.1:1/x\"\n[bromcom]\nbase_url = \"https://a.example\"\n\
                application_id = \"a\"\napplication_secret = \"b\"\n";
    for (extra, key) in [
        ("[daemon]\nschedule = \"0 2 30 2 *\"\n", "daemon.schedule"),
        (
            "[[schools]]\nid = 1\nschedule = \"0 0 31 4 *\"\n",
            "schools[0].schedule",
        ),
        ("request_timeout = 0\n", "bromcom.request_timeout"),
    ] {
        std::fs::write(&path, format!("{base}{extra}")).unwrap();
        for command in ["run", "sync"] {
            // Accepted, `run` would wait for its database for good: the limit ends it.
            let output = tokio::time::timeout(
                std::time::Duration::from_secs(30),
                crate::harness::run_binary(&path, &[command], &[]),
            )
            .await
            .unwrap_or_else(|_| panic!("`{command}` accepted {key}"));
            assert_eq!(output.status.code(), Some(2), "{command} {key}");
            assert!(stderr(&output).contains(key), "{}", stderr(&output));
        }
    }
}
