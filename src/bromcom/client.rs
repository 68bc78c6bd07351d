//! The HTTP side of the Bromcom client: one school's nine entities fetched concurrently, each
//! page by page until a short page, every request under one process-wide cap, transient faults
//! retried with backoff, fatal answers (401/403/404) reported at once (`retry.rs` sorts
//! each failure and says how long to wait). Each body is read into typed rows by
//! [`super::page`] as soon as it is in, and let go.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{ACCEPT, HeaderMap, HeaderName, HeaderValue};
use secrecy::ExposeSecret;
use tokio::time::Instant;

use super::ClientConfig;
use super::error::{ClientBuildError, FetchError, FetchErrorKind};
use super::page::{Page, read_page};
use super::retry::{AttemptFailure, check_status, transport_problem, with_retries};
use super::slots::RequestSlots;
use crate::snapshot::{EntityKind, SchoolId, Snapshot};
use crate::telemetry::millis;

/// Pages larger than this are read on the blocking pool so that one big page does not hold up
/// the other schools' requests on the async workers.
const DECODE_OFF_THREAD_BYTES: usize = 1 << 20;

/// Entities in the order their first requests queue for a slot: memberships first, since a
/// school has many times more of them than of anything else and so they take the longest
/// chain of pages; started last, that chain would run on alone at the end of the fetch with
/// the other request slots idle.
const FETCH_ORDER: [EntityKind; 9] = [
    EntityKind::CollectionAssociates,
    EntityKind::StudentContacts,
    EntityKind::PersonTelephones,
    EntityKind::Emails,
    EntityKind::Contacts,
    EntityKind::Students,
    EntityKind::CollectionExecutives,
    EntityKind::Collections,
    EntityKind::Staff,
];

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
    in_flight: Arc<RequestSlots>,
    /// Numbers schools in the order they start fetching: the request slots serve the lowest.
    schools_started: AtomicU64,
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

impl Client {
    /// Checks the configuration and builds the HTTP client. No request is made.
    pub fn new(config: ClientConfig) -> Result<Client, ClientBuildError> {
        let in_flight = RequestSlots::new(config.max_in_flight);
        Client::with_request_limit(config, in_flight)
    }

    /// As [`Client::new`], with the cap on requests in flight given: a client rebuilt on a
    /// reload counts its requests against the same cap as the old one's still going (the
    /// caller resizes the cap to `config.max_in_flight`).
    pub fn with_request_limit(
        config: ClientConfig,
        in_flight: Arc<RequestSlots>,
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

        super::install_tls_crypto();
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
                schools_started: AtomicU64::new(0),
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
        // Requests of schools that started fetching earlier are served first.
        let priority = self.inner.schools_started.fetch_add(1, Ordering::Relaxed);
        let mut parts = futures::future::try_join_all(FETCH_ORDER.map(|entity| async move {
            let part = self.fetch_entity(school_id, entity, priority).await?;
            Ok::<_, FetchError>((entity, part))
        }))
        .await?;
        // Assembled in the contract's order whatever the order of fetching.
        parts.sort_by_key(|(entity, _)| EntityKind::ALL.iter().position(|e| e == entity));
        let parts = parts.into_iter().map(|(_, part)| part);
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
        priority: u64,
    ) -> Result<Snapshot, FetchError> {
        let started = Instant::now();
        let page_size = self.inner.config.page_size;
        let mut part = Snapshot {
            school_id,
            ..Snapshot::default()
        };
        let (mut page, mut rows) = (0u32, 0usize);
        // The size a page of this entity is taken to be full at: `page_size` until the server
        // shows pages of its own size (see [`plausible_server_page`]).
        let mut full_page = page_size;
        let mut confirmed = false;
        loop {
            let Page {
                rows: count,
                part: page_part,
            } = self.fetch_page(school_id, entity, page, priority).await?;
            rows += count;
            tracing::debug!(
                school_id,
                entity = entity.api_name(),
                page,
                rows = count,
                "page"
            );
            append(&mut part, page_part);
            page += 1;
            if count >= full_page {
                continue;
            }
            // A short page may be the server's own page size, smaller than ours: the next page
            // is asked for once, and if it has rows the server's size is the one paged by.
            if !confirmed && plausible_server_page(count) {
                confirmed = true;
                full_page = count;
                tracing::debug!(
                    school_id,
                    entity = entity.api_name(),
                    page,
                    rows = count,
                    "short page of a plausible server page size; confirming the end"
                );
                continue;
            }
            break;
        }
        let bad_rows = part.bad_rows.len();
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
    /// `max_retry_time`: exponential backoff with jitter, or a 429's `Retry-After` (capped).
    async fn fetch_page(
        &self,
        school_id: SchoolId,
        entity: EntityKind,
        page: u32,
        priority: u64,
    ) -> Result<Page, FetchError> {
        let config = &self.inner.config;
        let url = page_url(&self.inner.base_url, entity, school_id, "", page);
        let attempts = AtomicU32::new(0);
        let result = with_retries(
            config,
            || async {
                attempts.fetch_add(1, Ordering::Relaxed);
                self.attempt(&url, entity, priority).await
            },
            |failure, delay| {
                if let AttemptFailure::Retry { problem, .. } = failure {
                    tracing::warn!(
                        school_id,
                        entity = entity.api_name(),
                        page,
                        attempt = attempts.load(Ordering::Relaxed),
                        category = problem.category().as_str(),
                        status = problem.status(),
                        reason = %problem,
                        delay_ms = millis(delay),
                        "Bromcom request failed; retrying"
                    );
                }
            },
        )
        .await;
        let failure = match result {
            Ok(page) => return Ok(page),
            Err(failure) => failure,
        };
        let (kind, gave_up) = match failure {
            AttemptFailure::Fatal(kind) => (kind, false),
            AttemptFailure::Retry { problem, .. } => (
                FetchErrorKind::GaveUp {
                    last_problem: problem,
                },
                true,
            ),
        };
        let error = FetchError {
            school_id,
            entity: Some(entity),
            kind,
            attempts: attempts.load(Ordering::Relaxed),
        };
        let (attempt, category) = (error.attempts, error.category().as_str());
        if gave_up {
            tracing::warn!(school_id, entity = entity.api_name(), page, attempt, category, error = %error, "giving up on Bromcom request");
        } else {
            tracing::warn!(school_id, entity = entity.api_name(), page, attempt, category, error = %error, "Bromcom request failed");
        }
        Err(error)
    }

    /// One request: the permit is held from sending until the body is in, not while its rows
    /// are read and not while waiting to retry. The body is dropped once read.
    async fn attempt(
        &self,
        url: &str,
        entity: EntityKind,
        priority: u64,
    ) -> Result<Page, AttemptFailure> {
        let body = {
            let _slot = self.inner.in_flight.acquire(priority).await;
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
            // Reading does not panic on input; should it ever, the panic is passed on as if
            // the page had been read inline.
            match tokio::task::spawn_blocking(move || {
                read_page(entity, &body, secret.expose_secret())
            })
            .await
            {
                Ok(read) => read,
                Err(join_error) => std::panic::resume_unwind(join_error.into_panic()),
            }
        } else {
            read_page(entity, &body, secret.expose_secret())
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

/// Whether a short page of `rows` could be a full page of a server whose page size is smaller
/// than ours: a server's page size is a round number, so a page of a multiple of 50 rows, or
/// of a power of two from 64, is confirmed to be the last by asking for the next. Any other
/// count is taken as the end. Most entities' last pages are not round, so the cost is about
/// one request in fifty entities, plus one for each entity that really has a round count.
fn plausible_server_page(rows: usize) -> bool {
    rows >= 50 && (rows.is_multiple_of(50) || (rows >= 64 && rows.is_power_of_two()))
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

/// Moves the rows of `part` (a page's, or an entity's) into `into`.
fn append(into: &mut Snapshot, part: Snapshot) {
    /// Takes `rows` whole when `into` has none (the usual case: one page, or the first
    /// entity part), rather than copying them into a second allocation.
    fn extend<T>(into: &mut Vec<T>, mut rows: Vec<T>) {
        if into.is_empty() {
            *into = rows;
        } else {
            into.append(&mut rows);
        }
    }
    extend(&mut into.students, part.students);
    extend(&mut into.staff, part.staff);
    extend(&mut into.contacts, part.contacts);
    extend(&mut into.student_contacts, part.student_contacts);
    extend(&mut into.emails, part.emails);
    extend(&mut into.telephones, part.telephones);
    extend(&mut into.collections, part.collections);
    extend(&mut into.associates, part.associates);
    extend(&mut into.executives, part.executives);
    extend(&mut into.bad_rows, part.bad_rows);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entity_is_fetched_once() {
        let mut fetched = FETCH_ORDER.to_vec();
        fetched.sort_by_key(|e| EntityKind::ALL.iter().position(|a| a == e));
        assert_eq!(fetched, EntityKind::ALL.to_vec());
    }

    #[test]
    fn round_short_pages_are_plausible_server_pages() {
        for rows in [50, 100, 250, 500, 1000, 5000, 64, 128, 256, 512, 1024] {
            assert!(plausible_server_page(rows), "{rows}");
        }
        for rows in [0, 1, 25, 32, 49, 51, 99, 465, 1199, 3382] {
            assert!(!plausible_server_page(rows), "{rows}");
        }
    }

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
}
