//! `bromsync status` and single sign-on counts, as the real binary after real syncs: the JSON
//! keys exactly, exit codes that make it a monitoring check, a refused run waiting, the next
//! scheduled time, and for an SSO school the parents and teachers without an email (in the
//! run's summary, in `sync_runs`, in status).

use std::collections::BTreeSet;

use bromsync::snapshot::{EntityKind, SchoolId};
use chrono::{DateTime, Timelike, Utc};
use serde_json::{Value, json};

use crate::harness::{run_binary, stderr, stdout, write_config};
use crate::ops_fixture::dataset;
use crate::support::{TestDb, start_sim};

const SSO_SCHOOL: SchoolId = 51;
const PLAIN_SCHOOL: SchoolId = 52;

fn keys(object: &Value) -> BTreeSet<&str> {
    object
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {object}"))
        .keys()
        .map(String::as_str)
        .collect()
}

async fn status_json(config: &std::path::Path) -> (Option<i32>, Vec<Value>) {
    let output = run_binary(config, &["status", "--json"], &[]).await;
    let parsed: Value = serde_json::from_str(&stdout(&output)).unwrap_or_else(|e| {
        panic!(
            "status --json ({e}): {}\n{}",
            stdout(&output),
            stderr(&output)
        )
    });
    let schools = parsed.as_array().expect("an array").clone();
    (output.status.code(), schools)
}

#[tokio::test]
async fn status_follows_the_runs_and_counts_missing_emails_for_sso_schools() {
    let db = TestDb::new().await;
    let sim = start_sim(dataset(&[SSO_SCHOOL, PLAIN_SCHOOL])).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &db.url,
        &sim,
        100_000,
        &[
            format!("id = {SSO_SCHOOL}\nsso = true"),
            format!("id = {PLAIN_SCHOOL}"),
        ],
        "",
    );

    // Never run: not well, nothing to show but the schedule.
    let (code, schools) = status_json(&config).await;
    assert_eq!(code, Some(1));
    assert_eq!(schools.len(), 2);
    let expected_keys = BTreeSet::from([
        "school_id",
        "last_run",
        "last_success_at",
        "refused_pending",
        "next_scheduled_at",
        "sso_missing_email",
        "requests_waiting",
    ]);
    for school in &schools {
        assert_eq!(keys(school), expected_keys);
        assert_eq!(school["last_run"], Value::Null);
        assert_eq!(school["last_success_at"], Value::Null);
        assert_eq!(school["refused_pending"], false);
        // The default schedule, 02:00 in the school's zone (Europe/London), next.
        let next: DateTime<Utc> = school["next_scheduled_at"]
            .as_str()
            .expect("a time")
            .parse()
            .expect("RFC 3339");
        assert!(next > Utc::now());
        let local = next.with_timezone(&chrono_tz::Europe::London);
        assert_eq!((local.hour(), local.minute()), (2, 0));
    }
    assert_eq!(schools[0]["school_id"], SSO_SCHOOL);
    assert_eq!(
        schools[0]["sso_missing_email"],
        json!({"parents": 0, "teachers": 0})
    );
    assert_eq!(schools[1]["sso_missing_email"], Value::Null);

    // Both synced: the summary of the SSO school counts who has no email.
    let synced = run_binary(&config, &["sync"], &[]).await;
    assert_eq!(synced.status.code(), Some(0), "{}", stderr(&synced));
    assert_eq!(
        stdout(&synced)
            .matches("without email (SSO sign-in fails): parents 1, teachers 1")
            .count(),
        1,
        "{}",
        stdout(&synced)
    );
    assert!(stderr(&synced).contains("without email (SSO): parents 1, teachers 1"));
    let recorded: Vec<(i64, Option<Value>)> =
        sqlx::query_as("SELECT school_id, sso_missing_email FROM sync_runs ORDER BY school_id")
            .fetch_all(db.store.pool())
            .await
            .unwrap();
    assert_eq!(
        recorded,
        vec![
            (SSO_SCHOOL, Some(json!({"parents": 1, "teachers": 1}))),
            (PLAIN_SCHOOL, None)
        ]
    );

    let (code, schools) = status_json(&config).await;
    assert_eq!(code, Some(0), "{schools:?}");
    for school in &schools {
        let run = &school["last_run"];
        assert_eq!(
            keys(run),
            BTreeSet::from([
                "run_id",
                "status",
                "trigger",
                "started_at",
                "finished_at",
                "error_category",
                "permanent"
            ])
        );
        assert_eq!(run["error_category"], Value::Null);
        assert_eq!(run["permanent"], false);
        assert_eq!(run["status"], "succeeded");
        assert_eq!(run["trigger"], "manual");
        assert_eq!(school["last_success_at"], run["finished_at"]);
        assert!(run["run_id"].as_i64().is_some());
    }
    assert_eq!(
        schools[0]["sso_missing_email"],
        json!({"parents": 1, "teachers": 1})
    );

    // Every student of the plain school vanishes: the guard refuses, and status says so until
    // a run succeeds.
    sim.update_dataset(|d| {
        d.schools
            .get_mut(&PLAIN_SCHOOL)
            .unwrap()
            .insert(EntityKind::Students, Vec::new())
    });
    let refused = run_binary(
        &config,
        &["sync", "--school", &PLAIN_SCHOOL.to_string()],
        &[],
    )
    .await;
    assert_eq!(refused.status.code(), Some(3), "{}", stdout(&refused));
    let (code, schools) = status_json(&config).await;
    assert_eq!(code, Some(1));
    assert_eq!(schools[0]["refused_pending"], false);
    assert_eq!(schools[1]["refused_pending"], true);
    assert_eq!(schools[1]["last_run"]["status"], "refused");
    assert!(schools[1]["last_success_at"].is_string());

    let text = run_binary(
        &config,
        &["status", "--school", &PLAIN_SCHOOL.to_string()],
        &[],
    )
    .await;
    assert_eq!(text.status.code(), Some(1));
    let text = stdout(&text);
    assert!(
        text.contains(&format!("school {PLAIN_SCHOOL}: latest run")),
        "{text}"
    );
    assert!(text.contains("refused"), "{text}");
    assert!(
        text.contains(&format!(
            "bromsync sync --school {PLAIN_SCHOOL} --accept-removals"
        )),
        "{text}"
    );
    assert!(!text.contains(&format!("school {SSO_SCHOOL}")), "{text}");

    let accepted = run_binary(
        &config,
        &[
            "sync",
            "--school",
            &PLAIN_SCHOOL.to_string(),
            "--accept-removals",
        ],
        &[],
    )
    .await;
    assert_eq!(accepted.status.code(), Some(0), "{}", stderr(&accepted));
    let (code, schools) = status_json(&config).await;
    assert_eq!(code, Some(0));
    assert_eq!(schools[1]["refused_pending"], false);

    let unknown = run_binary(&config, &["status", "--school", "999"], &[]).await;
    assert_eq!(unknown.status.code(), Some(2));
}
