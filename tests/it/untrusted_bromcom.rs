//! What Bromcom sends that we cannot trust: free-text error messages (kept as a length, never
//! as text), text fields of any length (excluded over their limit, never stored), pages of a
//! size other than ours (followed to the end), and JSON nested past the parser's limit (named
//! as such). Real HTTP against the simulator, real Postgres, the real binary where the output
//! of the program is what is checked.

use bromsync::bromcom::{FetchErrorKind, Problem};
use bromsync::roster::{ExcludedEntity, Reason};
use bromsync::snapshot::{EntityKind, SchoolId};
use bromsync_sim::faults::{Fault, FaultPlan, FaultRule};
use bytes::Bytes;
use serde_json::json;

use crate::harness::*;
use crate::support::*;

const SCHOOL: SchoolId = 20001;

/// A fake pupil's particulars and the test secret in the forms an echo could take.
fn private_parts() -> Vec<String> {
    let base64_of_header = {
        // base64("ApplicationSecret:test-secret-Zq8"), computed by hand-free encoding below.
        encode_base64(format!("ApplicationSecret:{APP_SECRET}").as_bytes())
    };
    vec![
        "Jemima Puddleduck".to_owned(),
        "2014-03-07".to_owned(),
        "jemima.parent@example.org".to_owned(),
        APP_SECRET.to_owned(),
        APP_SECRET.to_lowercase(),
        APP_SECRET.to_uppercase(),
        url::form_urlencoded::byte_serialize(APP_SECRET.as_bytes()).collect(),
        base64_of_header,
    ]
}

fn encode_base64(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_servers_message_is_kept_as_a_category_and_a_length_never_as_text() {
    let db = TestDb::new().await;
    let sim = start_sim(generated(71, &[SCHOOL], 20)).await;
    let parts = private_parts();
    let message = format!(
        "Pupil {} born {} (parent {}) refused: bad secret {} / {} / {} / {} / {}",
        parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], parts[6], parts[7]
    );
    let message_chars = message.chars().count();
    sim.set_faults(
        FaultPlan::none().rule(
            FaultRule::new(Fault::SuccessFalse {
                message: Some(message),
            })
            .entity(EntityKind::Students),
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let config = one_school_config(dir.path(), &db, &sim, SCHOOL);
    let sync = run_binary(&config, &["sync"], &[("RUST_LOG", "debug")]).await;
    assert!(!sync.status.success(), "the run must fail");
    let (status, error) = last_run(&db, SCHOOL).await;
    assert_eq!(status, "failed");
    let error = error.expect("a failed run records its error");
    assert!(
        error.starts_with("server_error_message: ")
            && error.contains("Students")
            && error.contains(&format!("a message of {message_chars} characters")),
        "{error}"
    );
    let (out, err) = (stdout(&sync), stderr(&sync));
    assert!(
        err.contains("retrying"),
        "retries are logged at WARN:\n{err}"
    );
    for part in &parts {
        for (place, text) in [
            ("sync_runs.error", &error),
            ("stdout", &out),
            ("stderr", &err),
        ] {
            assert!(
                !text.contains(part.as_str()),
                "{part:?} in {place}:\n{text}"
            );
        }
    }

    let status_text = stdout(&run_binary(&config, &["status"], &[]).await);
    assert!(
        status_text.contains("error category:  server_error_message"),
        "{status_text}"
    );
    let json_text = stdout(&run_binary(&config, &["status", "--json"], &[]).await);
    let statuses: serde_json::Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(
        statuses[0]["last_run"]["error_category"],
        json!("server_error_message"),
        "{json_text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_follows_a_server_page_size_smaller_than_ours_to_the_end() {
    let db = TestDb::new().await;
    let sim = start_sim(generated(72, &[SCHOOL], 300)).await;
    sim.set_page_size(500);
    // The whole school as a client paging at the server's own size sees it.
    let matching = paging_client(&sim, 500);
    let expected = decision_now(&matching, SCHOOL).await;
    let snapshot = matching.fetch_school(SCHOOL).await.unwrap();
    assert!(
        snapshot.associates.len() > 2 * 500,
        "memberships must span several pages: {}",
        snapshot.associates.len()
    );

    // Our default page size is far larger than the server's: the first sync stores it all.
    let client = paging_client(&sim, 100_000);
    succeeded(run_once(&db, &client, SCHOOL).await.unwrap());
    let differences = differences_from(&db, SCHOOL, &expected).await;
    assert!(differences.is_empty(), "{differences:?}");
    let roster = db.store.load_roster(SCHOOL).await.unwrap();
    assert_eq!(roster, expected.roster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_over_its_length_limit_excludes_the_record_and_is_stored_nowhere() {
    let db = TestDb::new().await;
    let good = generated(73, &[SCHOOL], 40);
    let sim = start_sim(good.clone()).await;
    let client = client_for(&sim);
    succeeded(run_once(&db, &client, SCHOOL).await.unwrap());
    let student = db.store.load_roster(SCHOOL).await.unwrap().students[0].student_id;
    let huge = format!("Zz{}", "q".repeat(5 * 1024 * 1024));
    sim.update_dataset(|d| {
        let rows = d
            .schools
            .get_mut(&SCHOOL)
            .and_then(|s| s.get_mut(&EntityKind::Students))
            .unwrap();
        let row = rows
            .iter_mut()
            .find(|r| r["studentID"].as_i64() == Some(student))
            .unwrap();
        row["firstName"] = json!(huge);
    });
    let mut request = request(SCHOOL);
    request.guard = bromsync::config::RemovalGuard {
        max_fraction: 1.0,
        max_count: u64::MAX,
    };
    let ctx = bromsync::sync::SyncContext::new(db.store.clone(), client.clone());
    succeeded(bromsync::sync::run_school(&ctx, request).await.unwrap());

    let exclusions = db.store.load_exclusions(SCHOOL).await.unwrap();
    let excluded = exclusions
        .iter()
        .find(|e| e.entity == ExcludedEntity::Student && e.id == student)
        .expect("the student is excluded");
    assert_eq!(excluded.reasons, vec![Reason::TextTooLong]);
    let why = bromsync::why::answer(&db.store, SCHOOL, ExcludedEntity::Student, student)
        .await
        .unwrap();
    assert!(
        why.contains("text_too_long") && why.contains("[over the length limit: firstName]"),
        "{why}"
    );
    // Nowhere in the database: every text column of every table, cast to text.
    let found: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT to_jsonb(t)::text AS row FROM students t \
         UNION ALL SELECT detail::text FROM exclusions \
         UNION ALL SELECT coalesce(error, '') FROM sync_runs) rows WHERE row LIKE '%Zzqqqq%'",
    )
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    assert_eq!(found, 0);
}

#[tokio::test]
async fn a_page_nested_ten_thousand_deep_is_named_nested_too_deeply() {
    let sim = start_sim(generated(74, &[SCHOOL], 5)).await;
    let body = format!(
        "{{\"success\":true,\"data\":[{}{}]}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    sim.set_faults(
        FaultPlan::none()
            .rule(FaultRule::new(Fault::Body(Bytes::from(body))).entity(EntityKind::Students)),
    );
    let error = client_for(&sim).fetch_school(SCHOOL).await.unwrap_err();
    assert_eq!(
        error.kind,
        FetchErrorKind::GaveUp {
            last_problem: Problem::BrokenResponse("JSON nested too deeply (over 128 levels)")
        }
    );
    let text = error.to_string();
    assert!(
        text.starts_with("broken_response: ") && text.contains("nested too deeply"),
        "{text}"
    );
}
