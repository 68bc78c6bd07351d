//! The HTTP side of the Bromcom client: one school's nine entities fetched concurrently, each
//! page by page until a short page, every request under one process-wide cap, transient faults
//! retried with backoff, fatal answers (401/403/404) reported at once. Rows are read by
//! [`super::mapping`], the same code the tests and the demo use without HTTP.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{ACCEPT, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;

use super::ClientConfig;
use super::error::{ClientBuildError, FetchError, FetchErrorKind, Problem};
use super::mapping::read_entity_rows;
use crate::limit::Limit;
use crate::snapshot::{EntityKind, SchoolId, Snapshot};

/// Pages larger than this are decoded on the blocking pool so that one big page does not hold
/// up the other schools' requests on the async workers.
const DECODE_OFF_THREAD_BYTES: usize = 1 << 20;

/// The longest server message kept in an error or a log line.
const MESSAGE_CLIP_CHARS: usize = 200;

/// A Bromcom client for every school of this process. Cloning is cheap and clones share the
/// cap on requests in flight.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// The base URL without a trailing slash.
    base_url: String,
    /// ApplicationId, ApplicationSecret (marked sensitive), Accept.
    headers: HeaderMap,
    config: ClientConfig,
    /// Shared with the clients built before and after this one on a reload.
    in_flight: Arc<Limit>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base_url)
            .field("application_id", &self.inner.config.application_id)
            .field("application_secret", &"[redacted]")
            .field("page_size", &self.inner.config.page_size)
            .field("max_in_flight", &self.inner.config.max_in_flight)
            .finish_non_exhaustive()
    }
}

/// How one attempt at one page ended, when it did not end with rows.
enum AttemptFailure {
    Fatal(FetchErrorKind),
    Retry {
        problem: Problem,
        /// From a 429's `Retry-After`, before capping.
        retry_after: Option<Duration>,
    },
}

impl From<Problem> for AttemptFailure {
    fn from(problem: Problem) -> Self {
        AttemptFailure::Retry {
            problem,
            retry_after: None,
        }
    }
}

impl Client {
    /// Checks the configuration and builds the HTTP client. No request is made.
    pub fn new(config: ClientConfig) -> Result<Client, ClientBuildError> {
        let in_flight = Arc::new(Limit::new(config.max_in_flight));
        Client::with_request_limit(config, in_flight)
    }

    /// As [`Client::new`], with the cap on requests in flight given: a client rebuilt on a
    /// reload counts its requests against the same cap as the old one's still going (the
    /// caller resizes the cap to `config.max_in_flight`).
    pub fn with_request_limit(
        config: ClientConfig,
        in_flight: Arc<Limit>,
    ) -> Result<Client, ClientBuildError> {
        let invalid = |text: &str| ClientBuildError(text.to_owned());
        match url::Url::parse(&config.base_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => return Err(invalid("bromcom.base_url is not an http(s) URL")),
        }
        if config.page_size == 0 {
            return Err(invalid("bromcom.page_size must be at least 1"));
        }
        if config.max_in_flight == 0 {
            return Err(invalid("bromcom.max_in_flight must be at least 1"));
        }
        if config.max_attempts == 0 {
            return Err(invalid("bromcom.max_attempts must be at least 1"));
        }
        let mut headers = HeaderMap::new();
        let id = HeaderValue::from_str(&config.application_id).map_err(|_| {
            invalid("bromcom.application_id has characters not allowed in an HTTP header")
        })?;
        let mut secret =
            HeaderValue::from_str(config.application_secret.expose_secret()).map_err(|_| {
                invalid("bromcom.application_secret has characters not allowed in an HTTP header")
            })?;
        // Keeps the value out of `Debug` output of the header map and out of HPACK tables.
        secret.set_sensitive(true);
        headers.insert(HeaderName::from_static("applicationid"), id);
        headers.insert(HeaderName::from_static("applicationsecret"), secret);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));

        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(30)))
            // A redirect could carry the secret header to another host; Bromcom has no reason
            // to redirect, so a 3xx is reported instead.
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(config.max_in_flight)
            .user_agent(concat!("bromsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientBuildError(format!("HTTP client: {e}")))?;
        let base_url = config.base_url.trim_end_matches('/').to_owned();
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base_url,
                headers,
                in_flight,
                config,
            }),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The HTTP client, the base URL and the credential headers, for [`super::probe`].
    pub(super) fn http_parts(&self) -> (&reqwest::Client, &str, &HeaderMap) {
        (&self.inner.http, &self.inner.base_url, &self.inner.headers)
    }

    /// Fetches every entity of one school, whole, or fails naming the entity. Entities are
    /// fetched concurrently; the first failure cancels the rest.
    pub async fn fetch_school(&self, school_id: SchoolId) -> Result<Snapshot, FetchError> {
        let started = Instant::now();
        let parts = futures::future::try_join_all(
            EntityKind::ALL.map(|entity| self.fetch_entity(school_id, entity)),
        )
        .await?;
        let mut snapshot = Snapshot {
            school_id,
            ..Snapshot::default()
        };
        for part in parts {
            append(&mut snapshot, part);
        }
        tracing::info!(
            school_id,
            students = snapshot.students.len(),
            staff = snapshot.staff.len(),
            bad_rows = snapshot.bad_rows.len(),
            elapsed_ms = millis(started.elapsed()),
            "fetched school from Bromcom"
        );
        Ok(snapshot)
    }

    /// All pages of one entity, read into a snapshot holding only that entity.
    async fn fetch_entity(
        &self,
        school_id: SchoolId,
        entity: EntityKind,
    ) -> Result<Snapshot, FetchError> {
        let started = Instant::now();
        let page_size = self.inner.config.page_size;
        let mut part = Snapshot {
            school_id,
            ..Snapshot::default()
        };
        let (mut page, mut rows, mut bad_rows) = (0u32, 0usize, 0usize);
        loop {
            let page_rows = self.fetch_page(school_id, entity, page).await?;
            let count = page_rows.len();
            let (next_part, bad) = map_rows(entity, page_rows, part).await;
            part = next_part;
            rows += count;
            bad_rows += bad;
            tracing::debug!(
                school_id,
                entity = entity.api_name(),
                page,
                rows = count,
                "page"
            );
            page += 1;
            if count < page_size {
                break;
            }
        }
        tracing::info!(
            school_id,
            entity = entity.api_name(),
            pages = page,
            rows,
            bad_rows,
            elapsed_ms = millis(started.elapsed()),
            "fetched entity"
        );
        Ok(part)
    }

    /// One page's rows, retrying transient problems within `max_attempts` and
    /// `max_retry_time`.
    async fn fetch_page(
        &self,
        school_id: SchoolId,
        entity: EntityKind,
        page: u32,
    ) -> Result<Vec<Value>, FetchError> {
        let config = &self.inner.config;
        let url = page_url(&self.inner.base_url, entity, school_id, "", page);
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let failure = match self.attempt(&url).await {
                Ok(rows) => return Ok(rows),
                Err(failure) => failure,
            };
            let fail = |kind| FetchError {
                school_id,
                entity: Some(entity),
                kind,
                attempts: attempt,
            };
            let (problem, retry_after) = match failure {
                AttemptFailure::Fatal(kind) => {
                    let error = fail(kind);
                    tracing::warn!(school_id, entity = entity.api_name(), page, attempt, error = %error, "Bromcom request failed");
                    return Err(error);
                }
                AttemptFailure::Retry {
                    problem,
                    retry_after,
                } => (problem, retry_after),
            };
            let delay = match retry_after {
                Some(wait) => wait.min(config.retry_after_cap),
                None => backoff(config, attempt),
            };
            if attempt >= config.max_attempts || started.elapsed() + delay > config.max_retry_time {
                let error = fail(FetchErrorKind::GaveUp {
                    last_problem: problem,
                });
                tracing::warn!(school_id, entity = entity.api_name(), page, attempt, error = %error, "giving up on Bromcom request");
                return Err(error);
            }
            tracing::warn!(
                school_id,
                entity = entity.api_name(),
                page,
                attempt,
                reason = %problem,
                delay_ms = millis(delay),
                "Bromcom request failed; retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// One request: the permit is held from sending until the body is read, not while
    /// decoding and not while waiting to retry.
    async fn attempt(&self, url: &str) -> Result<Vec<Value>, AttemptFailure> {
        let body = {
            // The semaphore is never closed, so acquiring cannot fail; treat it as a
            // connection problem if it ever did rather than panic.
            let _permit = self
                .inner
                .in_flight
                .acquire()
                .await
                .map_err(|_| Problem::Connection("client is shutting down"))?;
            let response = self
                .inner
                .http
                .get(url)
                .headers(self.inner.headers.clone())
                .send()
                .await;
            crate::metrics::bromcom_request_to(url, response.as_ref().ok().map(|r| r.status()));
            let response = response.map_err(|e| transport_problem(&e))?;
            check_status(&response)?;
            self.read_body(response).await?
        };
        let secret = self.inner.config.application_secret.clone();
        if body.len() > DECODE_OFF_THREAD_BYTES {
            tokio::task::spawn_blocking(move || decode_envelope(&body, secret.expose_secret()))
                .await
                .map_err(|_| Problem::BrokenResponse("decoding the body failed"))?
        } else {
            decode_envelope(&body, secret.expose_secret())
        }
        .map_err(AttemptFailure::from)
    }

    /// The whole body, refusing more than `max_body_bytes`.
    async fn read_body(&self, mut response: reqwest::Response) -> Result<Bytes, AttemptFailure> {
        let limit = self.inner.config.max_body_bytes;
        let too_large = || AttemptFailure::Fatal(FetchErrorKind::BodyTooLarge { limit });
        let expected = response.content_length().unwrap_or(0);
        if expected > limit {
            return Err(too_large());
        }
        let mut body = BytesMut::with_capacity(usize::try_from(expected).unwrap_or(0));
        while let Some(chunk) = response.chunk().await.map_err(|e| transport_problem(&e))? {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }
}

/// `{base}/v2/{Entity}?schoolId={id}&entityFilter={filter}{page:N}` with the page marker
/// written literally: the URL parser leaves `{`, `}` and `:` alone in a query, whereas a
/// form encoder would escape them.
pub fn page_url(
    base_url: &str,
    entity: EntityKind,
    school_id: SchoolId,
    filter: &str,
    page: u32,
) -> String {
    let filter: String = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
    format!(
        "{}/v2/{}?schoolId={school_id}&entityFilter={filter}{{page:{page}}}",
        base_url.trim_end_matches('/'),
        entity.api_name()
    )
}

/// Sorts a status into rows-to-come, retry, or stop.
fn check_status(response: &reqwest::Response) -> Result<(), AttemptFailure> {
    let status = response.status().as_u16();
    match status {
        200..=299 => Ok(()),
        401 => Err(AttemptFailure::Fatal(FetchErrorKind::CredentialsRejected)),
        403 => Err(AttemptFailure::Fatal(FetchErrorKind::EntityNotGranted)),
        404 => Err(AttemptFailure::Fatal(FetchErrorKind::NotFound)),
        429 => Err(AttemptFailure::Retry {
            problem: Problem::Throttled,
            retry_after: retry_after(response.headers(), std::time::SystemTime::now()),
        }),
        408 | 500..=599 => Err(Problem::ServerStatus(status).into()),
        other => Err(AttemptFailure::Fatal(FetchErrorKind::UnexpectedStatus(
            other,
        ))),
    }
}

/// How long `Retry-After` asks to wait, in either of its forms (RFC 9110): whole seconds, or an
/// HTTP date, counted from `now` (a date already past means "now"). Anything else is ignored
/// (normal backoff).
fn retry_after(headers: &HeaderMap, now: std::time::SystemTime) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Names a transport error by kind only: reqwest's text can be long and is not needed.
fn transport_problem(error: &reqwest::Error) -> Problem {
    if error.is_timeout() {
        Problem::Timeout
    } else if error.is_connect() {
        Problem::Connection("could not connect")
    } else if error.is_body() || error.is_decode() {
        Problem::Connection("body cut short")
    } else {
        Problem::Connection("request failed")
    }
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default, alias = "Success")]
    success: Option<Value>,
    #[serde(default, alias = "Message")]
    message: Option<Value>,
    #[serde(default, alias = "Data")]
    data: Option<Value>,
}

/// The rows of a `{"success": true, "data": [...]}` body; anything else is a transient problem.
/// `secret` is cut out of any server message kept, in case a server echoes the request.
fn decode_envelope(body: &[u8], secret: &str) -> Result<Vec<Value>, Problem> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::BrokenResponse("empty body"));
    }
    let parsed = serde_json::from_slice::<Envelope>(body).or_else(|error| {
        // One name with a lone UTF-16 surrogate escape must not fail the whole school every
        // night: such escapes become U+FFFD and the page is read again. Only on failure, so
        // the common path never pays for the scan.
        match repair_lone_surrogates(body) {
            Some(repaired) if error.is_syntax() => serde_json::from_slice(&repaired),
            _ => Err(error),
        }
    });
    let envelope: Envelope = parsed.map_err(|e| {
        Problem::BrokenResponse(match e.classify() {
            serde_json::error::Category::Eof => "JSON ends early",
            serde_json::error::Category::Data => "not the success/data envelope",
            _ => "not JSON",
        })
    })?;
    if envelope.success != Some(Value::Bool(true)) {
        let message = envelope
            .message
            .as_ref()
            .and_then(Value::as_str)
            .and_then(|m| clip_message(m, secret));
        return Err(Problem::ServerReportedFailure { message });
    }
    match envelope.data {
        Some(Value::Array(rows)) => Ok(rows),
        None | Some(Value::Null) => Err(Problem::BrokenResponse("`data` is missing")),
        Some(_) => Err(Problem::BrokenResponse("`data` is not a list")),
    }
}

/// `body` with every `\uXXXX` escape of a lone UTF-16 surrogate (one not part of a high/low
/// pair) replaced by `\ufffd`; `None` when there is none. Escaped backslashes are skipped, so
/// the JSON text `\\ud800` (an escaped backslash, then "ud800") is left alone.
fn repair_lone_surrogates(body: &[u8]) -> Option<Vec<u8>> {
    fn unit_at(body: &[u8], at: usize) -> Option<u16> {
        if body.get(at) != Some(&b'\\') || body.get(at + 1) != Some(&b'u') {
            return None;
        }
        let hex = std::str::from_utf8(body.get(at + 2..at + 6)?).ok()?;
        u16::from_str_radix(hex, 16).ok()
    }
    let is_high = |u: u16| (0xD800..=0xDBFF).contains(&u);
    let is_low = |u: u16| (0xDC00..=0xDFFF).contains(&u);
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < body.len() {
        if body[i] != b'\\' {
            i += 1;
            continue;
        }
        match unit_at(body, i) {
            Some(high) if is_high(high) && unit_at(body, i + 6).is_some_and(is_low) => i += 12,
            Some(unit) if is_high(unit) || is_low(unit) => {
                let repaired = out.get_or_insert_with(|| Vec::with_capacity(body.len()));
                repaired.extend_from_slice(&body[copied..i]);
                repaired.extend_from_slice(b"\\ufffd");
                i += 6;
                copied = i;
            }
            Some(_) => i += 6,
            // Any other escape (`\\`, `\"`, `\n`...) is two bytes.
            None => i += 2,
        }
    }
    let mut repaired = out?;
    repaired.extend_from_slice(&body[copied..]);
    Some(repaired)
}

fn clip_message(message: &str, secret: &str) -> Option<String> {
    let mut text = crate::text::clean(message)?;
    if !secret.is_empty() {
        text = text.replace(secret, "[redacted]");
    }
    Some(text.chars().take(MESSAGE_CLIP_CHARS).collect())
}

/// Reads one page's rows into `part`, off the async workers when the page is big.
/// Returns the part back with the number of bad rows added.
async fn map_rows(entity: EntityKind, rows: Vec<Value>, part: Snapshot) -> (Snapshot, usize) {
    fn map(entity: EntityKind, rows: Vec<Value>, mut part: Snapshot) -> (Snapshot, usize) {
        let bad = read_entity_rows(entity, &rows, &mut part);
        (part, bad)
    }
    if rows.len() < 10_000 {
        return map(entity, rows, part);
    }
    // Mapping does not panic on input; should it ever panic, the panic is passed on as if
    // the mapping had run inline.
    match tokio::task::spawn_blocking(move || map(entity, rows, part)).await {
        Ok(done) => done,
        Err(join_error) => std::panic::resume_unwind(join_error.into_panic()),
    }
}

/// Moves one entity's rows into the school's snapshot.
fn append(into: &mut Snapshot, mut part: Snapshot) {
    into.students.append(&mut part.students);
    into.staff.append(&mut part.staff);
    into.contacts.append(&mut part.contacts);
    into.student_contacts.append(&mut part.student_contacts);
    into.emails.append(&mut part.emails);
    into.telephones.append(&mut part.telephones);
    into.collections.append(&mut part.collections);
    into.associates.append(&mut part.associates);
    into.executives.append(&mut part.executives);
    into.bad_rows.append(&mut part.bad_rows);
}

/// Exponential backoff with "equal jitter": half the step fixed, half random, so retries from
/// many schools do not arrive together.
fn backoff(config: &ClientConfig, attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(20);
    let step = config
        .initial_backoff
        .saturating_mul(1u32 << exponent)
        .min(config.max_backoff);
    let half = step / 2;
    let jitter_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    let jitter = if jitter_nanos == 0 {
        0
    } else {
        rand::Rng::random_range(&mut rand::rng(), 0..=jitter_nanos)
    };
    half + Duration::from_nanos(jitter)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    #[test]
    fn lone_surrogate_escapes_become_replacement_characters() {
        let repaired = repair_lone_surrogates(br#"{"a":"Ann\ud800e","b":"x\uDC01"}"#).unwrap();
        assert_eq!(repaired, br#"{"a":"Ann\ufffde","b":"x\ufffd"}"#.to_vec());
        let value: serde_json::Value = serde_json::from_slice(&repaired).unwrap();
        assert_eq!(value["a"], "Ann\u{fffd}e");
    }

    #[test]
    fn pairs_and_escaped_backslashes_are_left_alone() {
        assert_eq!(repair_lone_surrogates(br#"{"a":"\ud83e\udd84"}"#), None);
        assert_eq!(repair_lone_surrogates(br#"{"a":"\\ud800"}"#), None);
        assert_eq!(repair_lone_surrogates(br#"{"a":"plain \n \u0041"}"#), None);
        // A high surrogate followed by a non-surrogate escape is lone.
        assert_eq!(
            repair_lone_surrogates(br#""\ud800\u0041""#).unwrap(),
            br#""\ufffd\u0041""#.to_vec()
        );
    }

    #[test]
    fn a_page_with_a_lone_surrogate_is_read_with_a_replacement_character() {
        let rows = decode_envelope(
            br#"{"success": true, "data": [{"studentID": 1, "firstName": "Ann\ud800e"}]}"#,
            "",
        )
        .unwrap();
        assert_eq!(rows[0]["firstName"], "Ann\u{fffd}e");
    }

    use super::*;

    #[test]
    fn page_marker_is_literal() {
        assert_eq!(
            page_url("http://h:1/", EntityKind::Students, 20001, "", 3),
            "http://h:1/v2/Students?schoolId=20001&entityFilter={page:3}"
        );
        assert_eq!(
            page_url("http://h", EntityKind::Emails, 1, "a b&c", 0),
            "http://h/v2/Emails?schoolId=1&entityFilter=a+b%26c{page:0}"
        );
        // The URL parser reqwest uses keeps the marker as written.
        let url = page_url("http://h", EntityKind::Staff, 2, "", 10);
        let parsed = url::Url::parse(&url).map(|u| u.to_string());
        assert_eq!(parsed.as_deref(), Ok(url.as_str()));
    }

    #[test]
    fn envelope_problems_are_transient_and_named() {
        let rows = decode_envelope(br#"{"success":true,"data":[{"a":1}]}"#, "s");
        assert_eq!(rows.map(|r| r.len()), Ok(1));
        let cases: [(&[u8], Problem); 8] = [
            (b"", Problem::BrokenResponse("empty body")),
            (b"  \n", Problem::BrokenResponse("empty body")),
            (b"<html>oops</html>", Problem::BrokenResponse("not JSON")),
            (
                br#"{"success":true,"data":[{"a"#,
                Problem::BrokenResponse("JSON ends early"),
            ),
            (
                br#"{"success":true}"#,
                Problem::BrokenResponse("`data` is missing"),
            ),
            (
                br#"{"success":true,"data":{}}"#,
                Problem::BrokenResponse("`data` is not a list"),
            ),
            (
                br#"{"data":[]}"#,
                Problem::ServerReportedFailure { message: None },
            ),
            (
                br#"{"success":false,"message":" bad s3cret here ","data":[]}"#,
                Problem::ServerReportedFailure {
                    message: Some("bad [redacted] here".into()),
                },
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                decode_envelope(body, "s3cret"),
                Err(expected),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn backoff_doubles_within_bounds() {
        let config = ClientConfig {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            ..ClientConfig::default()
        };
        for (attempt, step) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (40, 1000),
        ] {
            let d = backoff(&config, attempt);
            let step = Duration::from_millis(step);
            assert!(d >= step / 2 && d <= step, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers, now), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static(" 7 "));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(7)));
        // The three date formats HTTP allows, 90 s after `now`.
        for date in [
            "Wed, 21 Oct 2015 07:29:30 GMT",
            "Wednesday, 21-Oct-15 07:29:30 GMT",
            "Wed Oct 21 07:29:30 2015",
        ] {
            headers.insert(RETRY_AFTER, HeaderValue::from_static(date));
            assert_eq!(
                retry_after(&headers, now),
                Some(Duration::from_secs(90)),
                "{date}"
            );
        }
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:00:00 GMT"),
        );
        assert_eq!(retry_after(&headers, now), Some(Duration::ZERO), "past");
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers, now), None);
    }
}
