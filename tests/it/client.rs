//! Integration tests: the Bromcom client against the simulator over real loopback HTTP. Each
//! test states its own small dataset and faults, then checks what the client returned and what
//! the server saw (URLs, attempts per page, timing between attempts).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bromsync::bromcom::{Client, ClientConfig, FetchError, FetchErrorKind, Problem};
use bromsync::snapshot::{BadRow, EntityKind, SchoolId};
use bromsync_sim::dataset::Dataset;
use bromsync_sim::{Fault, FaultPlan, FaultRule, RequestRecord, SimHandle, SimOptions, SimServer};
use chrono::NaiveDate;
use secrecy::SecretString;
use serde_json::{Value, json};

const SCHOOL: SchoolId = 20001;
const APP_ID: &str = "test-app";
const SECRET: &str = "s3cr3t-Never-In-Logs-7f9q";

fn config(base_url: &str) -> ClientConfig {
    ClientConfig {
        base_url: base_url.to_owned(),
        application_id: APP_ID.to_owned(),
        application_secret: SecretString::from(SECRET),
        page_size: 100,
        max_in_flight: 4,
        request_timeout: Duration::from_secs(5),
        max_attempts: 4,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        max_retry_time: Duration::from_secs(10),
        retry_after_cap: Duration::from_secs(2),
        ..ClientConfig::default()
    }
}

fn make_client(config: ClientConfig) -> Client {
    match Client::new(config) {
        Ok(client) => client,
        Err(e) => panic!("client config refused: {e}"),
    }
}

fn students(count: i64) -> Vec<Value> {
    (1..=count)
        .map(|id| json!({"studentID": id, "firstName": format!(" S{id} ")}))
        .collect()
}

/// One school: `count` students, one staff member, one collection with one member.
fn school_dataset(count: i64) -> Dataset {
    let mut dataset = Dataset::default();
    dataset.schools.insert(
        SCHOOL,
        BTreeMap::from([
            (EntityKind::Students, students(count)),
            (
                EntityKind::Staff,
                vec![json!({"staffID": 900, "title": "Ms"})],
            ),
            (
                EntityKind::Collections,
                vec![json!({"collectionID": 5, "collectionTypeName": "CLASS"})],
            ),
            (
                EntityKind::CollectionAssociates,
                vec![json!({"collectionID": 5, "personID": 1})],
            ),
        ]),
    );
    dataset
}

async fn start(dataset: Dataset, page_size: usize) -> SimHandle {
    let options = SimOptions {
        dataset,
        page_size,
        application_id: APP_ID.to_owned(),
        application_secret: SECRET.to_owned(),
        ..SimOptions::default()
    };
    match SimServer::start(options).await {
        Ok(handle) => handle,
        Err(e) => panic!("simulator did not start: {e}"),
    }
}

fn of_entity(sim: &SimHandle, entity: EntityKind) -> Vec<RequestRecord> {
    sim.requests()
        .into_iter()
        .filter(|r| r.entity == Some(entity))
        .collect()
}

fn pages(records: &[RequestRecord]) -> Vec<Option<u32>> {
    records.iter().map(|r| r.page).collect()
}

fn expect_err<T: std::fmt::Debug>(result: Result<T, FetchError>) -> FetchError {
    match result {
        Ok(value) => panic!("expected the fetch to fail, got {value:?}"),
        Err(e) => e,
    }
}

fn expect_ok<T>(result: Result<T, FetchError>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("expected the fetch to succeed: {e}"),
    }
}

#[tokio::test]
async fn follows_pages_until_a_short_page_with_a_literal_page_marker() {
    let sim = start(school_dataset(10), 3).await;
    let mut cfg = config(&sim.base_url());
    cfg.page_size = 3;
    let snapshot = expect_ok(make_client(cfg).fetch_school(SCHOOL).await);

    let ids: Vec<i64> = snapshot.students.iter().map(|s| s.student_id).collect();
    assert_eq!(ids, (1..=10).collect::<Vec<_>>());
    assert_eq!(snapshot.students[3].first_name.as_deref(), Some("S4"));
    assert_eq!(snapshot.staff.len(), 1);
    assert_eq!(snapshot.associates.len(), 1);

    let requested: Vec<String> = of_entity(&sim, EntityKind::Students)
        .into_iter()
        .map(|r| r.path_and_query)
        .collect();
    assert_eq!(
        requested,
        (0..4)
            .map(|n| format!("/v2/Students?schoolId={SCHOOL}&entityFilter={{page:{n}}}"))
            .collect::<Vec<_>>()
    );
    // Every other entity fits in one short page.
    assert_eq!(sim.request_count(), 4 + 8);
    for entity in EntityKind::ALL {
        assert!(
            !of_entity(&sim, entity).is_empty(),
            "{entity} was not fetched"
        );
    }
}

#[tokio::test]
async fn a_full_last_page_is_followed_by_an_empty_one() {
    let sim = start(school_dataset(9), 3).await;
    let mut cfg = config(&sim.base_url());
    cfg.page_size = 3;
    let snapshot = expect_ok(make_client(cfg).fetch_school(SCHOOL).await);
    assert_eq!(snapshot.students.len(), 9);
    assert_eq!(
        pages(&of_entity(&sim, EntityKind::Students)),
        vec![Some(0), Some(1), Some(2), Some(3)]
    );
}

#[tokio::test]
async fn every_transient_fault_is_retried_and_recovered() {
    let sim = start(school_dataset(5), 100).await;
    let client = make_client(config(&sim.base_url()));
    let kinds = [
        (Fault::Status(500), 500),
        (Fault::Status(502), 502),
        (Fault::Status(503), 503),
        (
            Fault::TooManyRequests {
                retry_after_secs: None,
            },
            429,
        ),
        (
            Fault::SuccessFalse {
                message: Some("database busy".into()),
            },
            200,
        ),
        (Fault::SuccessFalse { message: None }, 200),
        (Fault::BrokenJson, 200),
        (Fault::HtmlPage, 200),
        (Fault::EmptyBody, 200),
        (Fault::CutMidBody, 200),
    ];
    for (fault, status) in kinds {
        sim.clear_requests();
        sim.set_faults(
            FaultPlan::none().rule(
                FaultRule::new(fault.clone())
                    .entity(EntityKind::Students)
                    .first(2),
            ),
        );
        let snapshot = expect_ok(client.fetch_school(SCHOOL).await);
        assert_eq!(snapshot.students.len(), 5, "{fault:?}");
        let tried = of_entity(&sim, EntityKind::Students);
        assert_eq!(tried.len(), 3, "{fault:?}: two faults then success");
        assert_eq!(
            tried.iter().map(|r| r.status).collect::<Vec<_>>(),
            vec![status, status, 200],
            "{fault:?}"
        );
        assert_eq!(tried[0].fault, Some(fault.label()));
        assert_eq!(tried[2].fault, None);
    }
}

#[tokio::test]
async fn a_fault_on_a_later_page_retries_only_that_page() {
    let sim = start(school_dataset(10), 3).await;
    sim.set_faults(
        FaultPlan::none()
            .rule(
                FaultRule::new(Fault::Status(500))
                    .entity(EntityKind::Students)
                    .page(2)
                    .first(1),
            )
            .rule(
                FaultRule::new(Fault::CutMidBody)
                    .entity(EntityKind::Students)
                    .page(1)
                    .first(1),
            ),
    );
    let mut cfg = config(&sim.base_url());
    cfg.page_size = 3;
    let snapshot = expect_ok(make_client(cfg).fetch_school(SCHOOL).await);
    assert_eq!(
        snapshot
            .students
            .iter()
            .map(|s| s.student_id)
            .collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>(),
        "no row lost or doubled by the retries"
    );
    assert_eq!(
        pages(&of_entity(&sim, EntityKind::Students)),
        vec![Some(0), Some(1), Some(1), Some(2), Some(2), Some(3)]
    );
}

#[tokio::test]
async fn persistent_transient_faults_give_up_after_max_attempts_naming_the_entity() {
    let sim = start(school_dataset(3), 100).await;
    sim.set_faults(
        FaultPlan::none().rule(FaultRule::new(Fault::Status(503)).entity(EntityKind::Staff)),
    );
    let error = expect_err(
        make_client(config(&sim.base_url()))
            .fetch_school(SCHOOL)
            .await,
    );
    assert_eq!(error.school_id, SCHOOL);
    assert_eq!(error.entity, Some(EntityKind::Staff));
    assert_eq!(error.attempts, 4);
    assert_eq!(
        error.kind,
        FetchErrorKind::GaveUp {
            last_problem: Problem::ServerStatus(503)
        }
    );
    assert!(!error.is_credentials_rejected());
    assert_eq!(of_entity(&sim, EntityKind::Staff).len(), 4);
    let text = error.to_string();
    assert!(
        text.contains("Staff") && text.contains("20001") && text.contains("4 attempts"),
        "{text}"
    );
}

#[tokio::test]
async fn a_broken_body_on_every_attempt_fails_naming_the_entity() {
    let sim = start(school_dataset(3), 100).await;
    sim.set_faults(
        FaultPlan::none().rule(FaultRule::new(Fault::HtmlPage).entity(EntityKind::Collections)),
    );
    let error = expect_err(
        make_client(config(&sim.base_url()))
            .fetch_school(SCHOOL)
            .await,
    );
    assert_eq!(error.entity, Some(EntityKind::Collections));
    assert_eq!(
        error.kind,
        FetchErrorKind::GaveUp {
            last_problem: Problem::BrokenResponse("not JSON")
        }
    );
    assert_eq!(of_entity(&sim, EntityKind::Collections).len(), 4);

    // A connection cut after the headers every time ends as a cut body, not a parse error.
    sim.set_faults(
        FaultPlan::none().rule(FaultRule::new(Fault::CutMidBody).entity(EntityKind::Students)),
    );
    let error = expect_err(
        make_client(config(&sim.base_url()))
            .fetch_school(SCHOOL)
            .await,
    );
    assert_eq!(
        error.kind,
        FetchErrorKind::GaveUp {
            last_problem: Problem::Connection("body cut short")
        }
    );
}

#[tokio::test]
async fn max_retry_time_bounds_the_retries() {
    let sim = start(school_dataset(3), 100).await;
    sim.set_faults(
        FaultPlan::none().rule(FaultRule::new(Fault::Status(500)).entity(EntityKind::Emails)),
    );
    let mut cfg = config(&sim.base_url());
    cfg.max_attempts = 1000;
    cfg.initial_backoff = Duration::from_millis(40);
    cfg.max_backoff = Duration::from_millis(40);
    cfg.max_retry_time = Duration::from_secs(1);
    let bound = cfg.max_retry_time;
    let request_timeout = cfg.request_timeout;
    let started = std::time::Instant::now();
    let error = expect_err(make_client(cfg).fetch_school(SCHOOL).await);
    let elapsed = started.elapsed();
    assert_eq!(error.entity, Some(EntityKind::Emails));
    assert!(
        matches!(error.kind, FetchErrorKind::GaveUp { .. }),
        "{:?}",
        error.kind
    );
    let tried = of_entity(&sim, EntityKind::Emails).len() as u32;
    assert_eq!(tried, error.attempts);
    // The time, not the 1000 attempts, stopped it. Waits are at least 20 ms, so however fast
    // the machine no more than 1 + 1000 / 20 attempts fit; however slow, it did retry.
    // (The exact counts are `bromcom::client::tests`, on paused time.)
    assert!((2..=51).contains(&tried), "{tried} attempts");
    // The last attempt starts within the bound and may take up to the request timeout; the
    // rest is a margin for a loaded machine, far below the 1000 attempts' worth of waiting.
    assert!(
        elapsed < bound + request_timeout + Duration::from_secs(5),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn rejected_credentials_are_not_retried_and_say_so() {
    let sim = start(school_dataset(3), 100).await;
    let mut cfg = config(&sim.base_url());
    let wrong_secret = "wrong-secret-Q1w2E3";
    cfg.application_secret = SecretString::from(wrong_secret);
    let error = expect_err(make_client(cfg).fetch_school(SCHOOL).await);
    assert!(error.is_credentials_rejected());
    assert_eq!(error.attempts, 1);
    assert_eq!(error.kind, FetchErrorKind::CredentialsRejected);
    for entity in EntityKind::ALL {
        assert!(of_entity(&sim, entity).len() <= 1, "{entity} retried");
    }
    assert!(sim.requests().iter().all(|r| r.status == 401));
    let text = error.to_string();
    assert!(
        text.contains("401") && text.contains("application"),
        "{text}"
    );
    for shown in [text, format!("{error:?}")] {
        assert!(!shown.contains(wrong_secret) && !shown.contains(SECRET));
    }

    // A 401 arriving mid-run (the right secret, then revoked) is just as final.
    sim.clear_requests();
    sim.set_faults(
        FaultPlan::none().rule(FaultRule::new(Fault::Status(401)).entity(EntityKind::Contacts)),
    );
    let error = expect_err(
        make_client(config(&sim.base_url()))
            .fetch_school(SCHOOL)
            .await,
    );
    assert!(error.is_credentials_rejected());
    assert_eq!(error.entity, Some(EntityKind::Contacts));
    assert_eq!(of_entity(&sim, EntityKind::Contacts).len(), 1);
}

#[tokio::test]
async fn an_entity_not_granted_fails_the_school_naming_both() {
    let sim = start(school_dataset(3), 100).await;
    sim.set_not_granted([(SCHOOL, EntityKind::Contacts)]);
    let client = make_client(config(&sim.base_url()));
    let error = expect_err(client.fetch_school(SCHOOL).await);
    assert!(error.is_entity_not_granted());
    assert!(!error.is_credentials_rejected());
    assert_eq!(error.entity, Some(EntityKind::Contacts));
    assert_eq!(error.attempts, 1);
    assert!(
        error
            .to_string()
            .contains("school 20001 has not granted entity Contacts to this application"),
        "{error}"
    );
    assert_eq!(of_entity(&sim, EntityKind::Contacts).len(), 1);

    // The same as an injected fault for one entity of one school; other schools are unaffected.
    sim.set_not_granted([]);
    sim.update_dataset(|d| {
        let copy = d.schools[&SCHOOL].clone();
        d.schools.insert(20002, copy);
    });
    sim.set_faults(
        FaultPlan::none().rule(
            FaultRule::new(Fault::Status(403))
                .school(20002)
                .entity(EntityKind::PersonTelephones),
        ),
    );
    let error = expect_err(client.fetch_school(20002).await);
    assert!(
        error
            .to_string()
            .contains("school 20002 has not granted entity PersonTelephones"),
        "{error}"
    );
    assert_eq!(
        expect_ok(client.fetch_school(SCHOOL).await).students.len(),
        3
    );
}

#[tokio::test]
async fn an_unknown_school_is_final_without_retries() {
    let sim = start(school_dataset(3), 100).await;
    let error = expect_err(
        make_client(config(&sim.base_url()))
            .fetch_school(99_999)
            .await,
    );
    assert_eq!(error.kind, FetchErrorKind::NotFound);
    assert_eq!(error.school_id, 99_999);
    assert_eq!(error.attempts, 1);
    assert!(error.to_string().contains("99999"), "{error}");
    for entity in EntityKind::ALL {
        assert!(of_entity(&sim, entity).len() <= 1, "{entity} retried");
    }
    assert!(sim.requests().iter().all(|r| r.status == 404));
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let sim = start(school_dataset(3), 100).await;
    sim.set_faults(
        FaultPlan::none().rule(
            FaultRule::new(Fault::TooManyRequests {
                retry_after_secs: Some(1),
            })
            .entity(EntityKind::Students)
            .first(1),
        ),
    );
    expect_ok(
        make_client(config(&sim.base_url()))
            .fetch_school(SCHOOL)
            .await,
    );
    let tried = of_entity(&sim, EntityKind::Students);
    assert_eq!(tried.len(), 2);
    assert_eq!(tried[0].status, 429);
    let waited = tried[1].received_at - tried[0].received_at;
    assert!(waited >= Duration::from_secs(1), "waited only {waited:?}");
    assert!(waited < Duration::from_secs(2), "waited {waited:?}");
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured() {
    let sim = start(school_dataset(3), 100).await;
    sim.set_faults(
        FaultPlan::none().rule(
            FaultRule::new(Fault::TooManyRequestsUntil { wait_secs: 2 })
                .entity(EntityKind::Students)
                .first(1),
        ),
    );
    let mut cfg = config(&sim.base_url());
    cfg.retry_after_cap = Duration::from_secs(10);
    expect_ok(make_client(cfg).fetch_school(SCHOOL).await);
    let tried = of_entity(&sim, EntityKind::Students);
    assert_eq!(tried.len(), 2);
    assert_eq!(tried[0].status, 429);
    // The date has whole seconds: two seconds ahead, cut down, is a wait of over one second
    // (the normal backoff here is milliseconds).
    let waited = tried[1].received_at - tried[0].received_at;
    assert!(
        waited >= Duration::from_millis(900),
        "waited only {waited:?}"
    );
    assert!(waited < Duration::from_secs(3), "waited {waited:?}");
}

#[tokio::test]
async fn retry_after_is_capped() {
    let sim = start(school_dataset(3), 100).await;
    sim.set_faults(
        FaultPlan::none().rule(
            FaultRule::new(Fault::TooManyRequests {
                retry_after_secs: Some(3600),
            })
            .entity(EntityKind::Staff)
            .first(1),
        ),
    );
    let mut cfg = config(&sim.base_url());
    cfg.retry_after_cap = Duration::from_millis(300);
    expect_ok(make_client(cfg).fetch_school(SCHOOL).await);
    let tried = of_entity(&sim, EntityKind::Staff);
    assert_eq!(tried.len(), 2);
    let waited = tried[1].received_at - tried[0].received_at;
    assert!(
        waited >= Duration::from_millis(300),
        "waited only {waited:?}"
    );
    assert!(waited < Duration::from_secs(3), "cap ignored: {waited:?}");
}

#[tokio::test]
async fn a_stalled_answer_times_out_and_is_retried() {
    let sim = start(school_dataset(3), 100).await;
    sim.set_faults(
        FaultPlan::none().rule(
            FaultRule::new(Fault::Stall(Duration::from_secs(3)))
                .entity(EntityKind::Contacts)
                .first(1),
        ),
    );
    let mut cfg = config(&sim.base_url());
    cfg.request_timeout = Duration::from_millis(300);
    let started = std::time::Instant::now();
    expect_ok(make_client(cfg.clone()).fetch_school(SCHOOL).await);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(of_entity(&sim, EntityKind::Contacts).len(), 2);

    // Timing out every time ends as a timeout.
    sim.set_faults(
        FaultPlan::none().rule(
            FaultRule::new(Fault::Stall(Duration::from_secs(3))).entity(EntityKind::Contacts),
        ),
    );
    cfg.max_attempts = 2;
    let error = expect_err(make_client(cfg).fetch_school(SCHOOL).await);
    assert_eq!(
        error.kind,
        FetchErrorKind::GaveUp {
            last_problem: Problem::Timeout
        }
    );
    assert_eq!(error.attempts, 2);
}

#[tokio::test]
async fn a_body_over_the_limit_fails_without_retry() {
    let sim = start(school_dataset(50), 100).await;
    let mut cfg = config(&sim.base_url());
    cfg.max_body_bytes = 200;
    let error = expect_err(make_client(cfg).fetch_school(SCHOOL).await);
    assert_eq!(error.entity, Some(EntityKind::Students));
    assert_eq!(error.kind, FetchErrorKind::BodyTooLarge { limit: 200 });
    assert_eq!(error.attempts, 1);
    assert_eq!(of_entity(&sim, EntityKind::Students).len(), 1);
}

#[tokio::test]
async fn requests_in_flight_are_capped_across_schools() {
    let mut dataset = school_dataset(3);
    let copy = dataset.schools[&SCHOOL].clone();
    dataset.schools.insert(20002, copy);
    let sim = start(dataset, 100).await;
    sim.set_latency(Duration::from_millis(30));
    let mut cfg = config(&sim.base_url());
    cfg.max_in_flight = 2;
    let client = make_client(cfg);
    let shared = client.clone();
    let (a, b) = tokio::join!(client.fetch_school(SCHOOL), shared.fetch_school(20002));
    expect_ok(a);
    expect_ok(b);
    assert_eq!(sim.request_count(), 18);
    assert_eq!(sim.peak_in_flight(), 2);
}

#[tokio::test]
async fn rows_are_read_leniently_and_bad_rows_recorded_without_failing_the_school() {
    let mut dataset = Dataset::default();
    dataset.schools.insert(
        SCHOOL,
        BTreeMap::from([
            (
                EntityKind::Students,
                vec![
                    json!({"studentID": 1, "dateOfBirth": "2011-03-14T00:00:00",
                        "startDate": "2022-09-01", "tutorGroup": " 7KH "}),
                    json!({"StudentId": "2", "DateOfBirth": "2011-03-15"}),
                    json!({"studentid": " 3 ", "dateofbirth": null, "ENDDATE": ""}),
                    json!({"studentID": "12a", "firstName": "Hidden"}),
                    json!({"studentID": 4.5}),
                    json!({"studentID": 5, "dateOfBirth": "2024-02-30"}),
                    json!("not an object"),
                ],
            ),
            (
                EntityKind::StudentContacts,
                [
                    json!(true),
                    json!("Yes"),
                    json!("yes"),
                    json!("TRUE"),
                    json!("true"),
                    json!("Y"),
                    json!("y"),
                    json!("1"),
                    json!(1),
                    json!(false),
                    json!("No"),
                    json!("FALSE"),
                    json!("N"),
                    json!("0"),
                    json!("maybe"),
                    json!(null),
                ]
                .into_iter()
                .enumerate()
                .map(|(i, flag)| {
                    json!({"studentID": 1, "personID": 100 + i, "parentalResponsibility": flag})
                })
                .collect(),
            ),
        ]),
    );
    let sim = start(dataset, 100).await;
    let snapshot = expect_ok(
        make_client(config(&sim.base_url()))
            .fetch_school(SCHOOL)
            .await,
    );

    let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
    let read: Vec<_> = snapshot
        .students
        .iter()
        .map(|s| (s.student_id, s.date_of_birth, s.start_date, s.end_date))
        .collect();
    assert_eq!(
        read,
        vec![
            (1, date(2011, 3, 14), date(2022, 9, 1), None),
            (2, date(2011, 3, 15), None, None),
            (3, None, None, None),
        ]
    );
    assert_eq!(snapshot.students[0].tutor_group.as_deref(), Some("7KH"));

    let flags: Vec<bool> = snapshot
        .student_contacts
        .iter()
        .map(|l| l.parental_responsibility)
        .collect();
    let mut expected = vec![true; 9];
    expected.extend([false; 7]);
    assert_eq!(flags, expected);

    let bad = |id, field: &str, problem: &str| BadRow {
        entity: EntityKind::Students,
        id,
        field: field.to_owned(),
        problem: problem.to_owned(),
    };
    assert_eq!(
        snapshot.bad_rows,
        vec![
            bad(None, "studentID", "is not an integer"),
            bad(None, "studentID", "is not a whole number"),
            bad(
                Some(5),
                "dateOfBirth",
                "is not a date (expected yyyy-MM-dd or yyyy-MM-ddTHH:mm:ss)"
            ),
            bad(None, "(row)", "is not a JSON object"),
        ]
    );
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(
            &self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_owned()
    }
}

// Single-threaded so that every task (client, server, connections) logs into this test's
// subscriber.
#[tokio::test(flavor = "current_thread")]
async fn the_secret_never_appears_in_logs_or_errors() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = crate::log_capture::capture_on_this_thread(subscriber);

    let sim = start(school_dataset(10), 3).await;
    let mut cfg = config(&sim.base_url());
    cfg.page_size = 3;
    cfg.max_attempts = 8;
    let client = make_client(cfg.clone());
    // One whole fetch first, so that progress is logged whatever the random faults do next
    // (on a loaded machine every entity of the faulty fetch can end in a give-up).
    expect_ok(client.fetch_school(SCHOOL).await);
    sim.set_faults(
        FaultPlan::random(0.4, 11).rule(
            FaultRule::new(Fault::SuccessFalse {
                message: Some(format!("invalid header ApplicationSecret={SECRET}")),
            })
            .entity(EntityKind::Students)
            .first(1),
        ),
    );
    let mut errors: Vec<FetchError> = Vec::new();
    if let Err(e) = client.fetch_school(SCHOOL).await {
        errors.push(e);
    }
    // One error of every kind, plus a give-up whose last problem quotes the server's message.
    sim.set_faults(
        FaultPlan::none().rule(
            FaultRule::new(Fault::SuccessFalse {
                message: Some(format!("echo {SECRET}")),
            })
            .entity(EntityKind::Emails),
        ),
    );
    errors.push(expect_err(client.fetch_school(SCHOOL).await));
    sim.set_faults(FaultPlan::none());
    sim.set_not_granted([(SCHOOL, EntityKind::Staff)]);
    errors.push(expect_err(client.fetch_school(SCHOOL).await));
    errors.push(expect_err(client.fetch_school(4).await));
    sim.set_faults(FaultPlan::none().rule(FaultRule::new(Fault::Status(401))));
    errors.push(expect_err(client.fetch_school(SCHOOL).await));
    let mut small = cfg.clone();
    small.max_body_bytes = 10;
    sim.set_faults(FaultPlan::none());
    sim.set_not_granted([]);
    errors.push(expect_err(make_client(small).fetch_school(SCHOOL).await));

    let logs = captured.text();
    assert!(
        logs.contains("retrying"),
        "retries were not logged:\n{logs}"
    );
    assert!(logs.contains("fetched entity"), "progress was not logged");
    assert!(!logs.contains(SECRET), "the secret leaked into the logs");
    assert!(errors.len() >= 5);
    let echo = &errors[errors.len() - 5];
    assert!(
        !echo.to_string().contains("echo")
            && echo.to_string().contains(&format!(
                "a message of {} characters (not kept)",
                format!("echo {SECRET}").chars().count()
            )),
        "only the server's message's length is kept: {echo}"
    );
    for error in &errors {
        assert!(!error.to_string().contains(SECRET), "{error}");
        assert!(!format!("{error:?}").contains(SECRET));
    }
    assert!(!format!("{client:?}").contains(SECRET));
    assert!(!format!("{cfg:?}").contains(SECRET));
}
