//! The simulator's HTTP server: serves a [`Dataset`] the way `docs/bromcom-api.md` says
//! Bromcom does (paging by a literal `{page:N}` marker, credentials in headers, 401/403/404),
//! with latency and [`faults`](super::faults) that tests switch at runtime, and a log of every
//! request so tests can count attempts and check URLs.
//!
//! Speed matters (a 50,000-student school is about a million rows): each entity's rows are
//! serialized once into one buffer, comma-joined, and a page is a slice of it. The cache is
//! dropped whenever the dataset changes.

use std::collections::{BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::dataset::Dataset;
use super::faults::{ActiveFaults, Fault, FaultPlan};
use bromcom_api::{EntityKind, SchoolId};

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub dataset: Dataset,
    /// 0 picks a free port. The server listens on 127.0.0.1 only.
    pub port: u16,
    pub page_size: usize,
    /// Added before every answer.
    pub latency: Duration,
    pub application_id: String,
    pub application_secret: String,
    pub faults: FaultPlan,
    /// (school, entity) pairs the school has not granted: answered with 403.
    pub not_granted: BTreeSet<(SchoolId, EntityKind)>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            dataset: Dataset::default(),
            port: 0,
            page_size: 100_000,
            latency: Duration::ZERO,
            application_id: "demo".to_owned(),
            application_secret: "demo-secret".to_owned(),
            faults: FaultPlan::none(),
            not_granted: BTreeSet::new(),
        }
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// 1 for the first request since the server started.
    pub seq: u64,
    pub path_and_query: String,
    /// The entity name from the path, as sent.
    pub entity_name: String,
    pub entity: Option<EntityKind>,
    pub school: Option<SchoolId>,
    /// The `entityFilter` text without its page marker.
    pub filter: String,
    /// `None` when the page marker was malformed.
    pub page: Option<u32>,
    /// 0 while the answer is being prepared (or if the client went away before it was).
    pub status: u16,
    /// The injected fault, if any.
    pub fault: Option<String>,
    pub received_at: Instant,
}

/// The running server. Dropping it stops the server too.
pub struct SimHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// A namespace for [`SimServer::start`].
pub struct SimServer;

impl SimServer {
    /// Binds 127.0.0.1 and serves on the current tokio runtime until shut down.
    pub async fn start(options: SimOptions) -> std::io::Result<SimHandle> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, options.port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            credentials: (options.application_id, options.application_secret),
            page_size: AtomicUsize::new(options.page_size.max(1)),
            latency_micros: AtomicU64::new(micros(options.latency)),
            data: RwLock::new(DataState {
                dataset: options.dataset,
                generation: 0,
            }),
            cache: Mutex::new(HashMap::new()),
            faults: Mutex::new(ActiveFaults::new(options.faults)),
            not_granted: Mutex::new(options.not_granted),
            log: Mutex::new(Vec::new()),
            next_seq: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            peak_in_flight: AtomicUsize::new(0),
        });
        let router = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
        });
        tracing::info!(%addr, "Bromcom simulator listening");
        Ok(SimHandle {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`, the client's `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the fault plan; its counters start from zero.
    pub fn set_faults(&self, plan: FaultPlan) {
        *lock(&self.shared.faults) = ActiveFaults::new(plan);
    }

    pub fn clear_faults(&self) {
        self.set_faults(FaultPlan::none());
    }

    /// Replaces the set of (school, entity) pairs answered with 403.
    pub fn set_not_granted(&self, pairs: impl IntoIterator<Item = (SchoolId, EntityKind)>) {
        *lock(&self.shared.not_granted) = pairs.into_iter().collect();
    }

    pub fn set_page_size(&self, page_size: usize) {
        self.shared
            .page_size
            .store(page_size.max(1), Ordering::Relaxed);
    }

    pub fn set_latency(&self, latency: Duration) {
        self.shared
            .latency_micros
            .store(micros(latency), Ordering::Relaxed);
    }

    /// Changes the data served from the next request on (tests, churn between runs).
    pub fn update_dataset<R>(&self, change: impl FnOnce(&mut Dataset) -> R) -> R {
        let mut data = self
            .shared
            .data
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let result = change(&mut data.dataset);
        data.generation += 1;
        lock(&self.shared.cache).clear();
        result
    }

    /// Reads the data being served.
    pub fn with_dataset<R>(&self, read: impl FnOnce(&Dataset) -> R) -> R {
        let data = self
            .shared
            .data
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        read(&data.dataset)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.log).clone()
    }

    pub fn request_count(&self) -> usize {
        lock(&self.shared.log).len()
    }

    /// Forgets the request log and the in-flight peak.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
        self.shared.peak_in_flight.store(0, Ordering::SeqCst);
    }

    /// The most requests that were being answered at once.
    pub fn peak_in_flight(&self) -> usize {
        self.shared.peak_in_flight.load(Ordering::SeqCst)
    }

    /// Stops accepting, lets requests in flight finish (at most 5 s), then returns.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

struct Shared {
    /// (application id, application secret). Never logged.
    credentials: (String, String),
    page_size: AtomicUsize,
    latency_micros: AtomicU64,
    data: RwLock<DataState>,
    cache: Mutex<RowCache>,
    faults: Mutex<ActiveFaults>,
    not_granted: Mutex<BTreeSet<(SchoolId, EntityKind)>>,
    log: Mutex<Vec<RequestRecord>>,
    next_seq: AtomicU64,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
}

/// Counts a request as in flight until dropped (also when the client goes away mid-request).
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared) -> Self {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serialized rows by (school, entity), each with the data generation it was built from.
type RowCache = HashMap<(SchoolId, EntityKind), (u64, Arc<SerializedRows>)>;

struct DataState {
    dataset: Dataset,
    /// Bumped on every change; cache entries of an older generation are stale.
    generation: u64,
}

/// One entity's rows as JSON, comma-joined, with where each row starts and ends.
struct SerializedRows {
    joined: Bytes,
    spans: Vec<(usize, usize)>,
}

impl SerializedRows {
    fn build(rows: &[serde_json::Value]) -> Self {
        let mut joined = Vec::with_capacity(rows.len() * 96);
        let mut spans = Vec::with_capacity(rows.len());
        for (index, row) in rows.iter().enumerate() {
            if index > 0 {
                joined.push(b',');
            }
            let start = joined.len();
            // Writing a `Value` into a Vec cannot fail; keep the JSON valid if it ever did.
            if serde_json::to_writer(&mut joined, row).is_err() {
                joined.truncate(start);
                joined.extend_from_slice(b"null");
            }
            spans.push((start, joined.len()));
        }
        SerializedRows {
            joined: Bytes::from(joined),
            spans,
        }
    }

    /// The envelope for rows `[first, first + count)`.
    fn page_body(&self, page: u32, page_size: usize) -> Bytes {
        const PREFIX: &[u8] = br#"{"success":true,"data":["#;
        const SUFFIX: &[u8] = b"]}";
        let first = usize::try_from(page)
            .unwrap_or(usize::MAX)
            .saturating_mul(page_size);
        let last = first.saturating_add(page_size).min(self.spans.len());
        let rows: &[u8] = if first < last {
            &self.joined[self.spans[first].0..self.spans[last - 1].1]
        } else {
            &[]
        };
        let mut body = BytesMut::with_capacity(PREFIX.len() + rows.len() + SUFFIX.len());
        body.extend_from_slice(PREFIX);
        body.extend_from_slice(rows);
        body.extend_from_slice(SUFFIX);
        body.freeze()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// What a request asked for.
struct Asked {
    entity_name: String,
    entity: Option<EntityKind>,
    school: Option<SchoolId>,
    filter: String,
    page: Option<u32>,
}

fn parse_request(path: &str, query: Option<&str>) -> Option<Asked> {
    let entity_name = path.strip_prefix("/v2/")?;
    if entity_name.is_empty() || entity_name.contains('/') {
        return None;
    }
    let (mut school, mut filter_raw) = (None, None);
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if key.eq_ignore_ascii_case("schoolId") {
            school = value.trim().parse::<SchoolId>().ok();
        } else if key.eq_ignore_ascii_case("entityFilter") {
            filter_raw = Some(value.into_owned());
        }
    }
    let (filter, page) = split_page_marker(filter_raw.as_deref().unwrap_or(""));
    Some(Asked {
        entity_name: entity_name.to_owned(),
        entity: EntityKind::from_api_name(entity_name),
        school,
        filter: filter.to_owned(),
        page,
    })
}

/// Splits `<filter>{page:N}` into the filter and N; no marker means page 0, a malformed one
/// gives `None`.
pub fn split_page_marker(entity_filter: &str) -> (&str, Option<u32>) {
    let Some(without_brace) = entity_filter.strip_suffix('}') else {
        return (entity_filter, Some(0));
    };
    match without_brace.rfind("{page:") {
        Some(at) => (
            &entity_filter[..at],
            without_brace[at + "{page:".len()..].parse().ok(),
        ),
        None => (entity_filter, Some(0)),
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let received_at = Instant::now();
    let _in_flight = InFlight::enter(&shared);
    let uri = request.uri().clone();
    let path_and_query = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let asked = parse_request(uri.path(), uri.query());
    // Logged on arrival, so that a request the client gave up on (timeout) is still seen.
    let seq = shared.next_seq.fetch_add(1, Ordering::SeqCst) + 1;
    lock(&shared.log).push(RequestRecord {
        seq,
        path_and_query,
        entity_name: asked
            .as_ref()
            .map_or_else(String::new, |a| a.entity_name.clone()),
        entity: asked.as_ref().and_then(|a| a.entity),
        school: asked.as_ref().and_then(|a| a.school),
        filter: asked
            .as_ref()
            .map_or_else(String::new, |a| a.filter.clone()),
        page: asked.as_ref().and_then(|a| a.page),
        status: 0,
        fault: None,
        received_at,
    });
    let latency = Duration::from_micros(shared.latency_micros.load(Ordering::Relaxed));
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let (response, fault) = match &asked {
        None => (status_response(404, "no such endpoint"), None),
        Some(asked) => answer(&shared, request.headers(), asked).await,
    };
    let status = response.status().as_u16();
    tracing::debug!(
        school = asked.as_ref().and_then(|a| a.school),
        entity = asked.as_ref().map_or("", |a| a.entity_name.as_str()),
        page = asked.as_ref().and_then(|a| a.page),
        status,
        fault = fault.as_deref().unwrap_or(""),
        "simulator request"
    );
    let mut log = lock(&shared.log);
    if let Some(record) = log.iter_mut().rev().find(|r| r.seq == seq) {
        record.status = status;
        record.fault = fault;
    }
    drop(log);
    response
}

/// The answer to a well-formed path, and the label of the fault injected, if any.
async fn answer(shared: &Shared, headers: &HeaderMap, asked: &Asked) -> (Response, Option<String>) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (id, secret) = &shared.credentials;
    if header("applicationid") != Some(id.as_str())
        || header("applicationsecret") != Some(secret.as_str())
    {
        return (status_response(401, "application not authorised"), None);
    }
    let Some(page) = asked.page else {
        return (status_response(400, "malformed page marker"), None);
    };
    let fault = lock(&shared.faults).pick(asked.school, asked.entity, page);
    if let Some(Fault::Stall(wait)) = &fault {
        tokio::time::sleep(*wait).await;
    }
    let label = fault.as_ref().map(Fault::label);
    let response = match fault {
        None | Some(Fault::Stall(_)) => normal_answer(shared, asked, page),
        Some(fault) => fault_answer(shared, asked, page, fault),
    };
    (response, label)
}

fn normal_answer(shared: &Shared, asked: &Asked, page: u32) -> Response {
    let (Some(entity), Some(school)) = (asked.entity, asked.school) else {
        return status_response(404, "unknown entity or school");
    };
    if lock(&shared.not_granted).contains(&(school, entity)) {
        return status_response(403, "entity not granted to this application");
    }
    match page_body(shared, school, entity, page) {
        Some(body) => json_response(200, body),
        None => status_response(404, "unknown school"),
    }
}

/// The page as it would be served, or `None` for an unknown school.
fn page_body(shared: &Shared, school: SchoolId, entity: EntityKind, page: u32) -> Option<Bytes> {
    let page_size = shared.page_size.load(Ordering::Relaxed);
    let data = shared.data.read().unwrap_or_else(PoisonError::into_inner);
    let school_data = data.dataset.schools.get(&school)?;
    let cached = lock(&shared.cache)
        .get(&(school, entity))
        .filter(|(generation, _)| *generation == data.generation)
        .map(|(_, rows)| Arc::clone(rows));
    let rows = match cached {
        Some(rows) => rows,
        None => {
            // Serialized under the read lock, so the data cannot change underneath; two
            // requests may both build it the first time, which is harmless.
            let built = Arc::new(SerializedRows::build(
                school_data.get(&entity).map_or(&[][..], Vec::as_slice),
            ));
            lock(&shared.cache).insert((school, entity), (data.generation, Arc::clone(&built)));
            built
        }
    };
    Some(rows.page_body(page, page_size))
}

fn fault_answer(shared: &Shared, asked: &Asked, page: u32, fault: Fault) -> Response {
    match fault {
        Fault::Status(code) => status_response(code, "simulated failure"),
        Fault::TooManyRequests { retry_after_secs } => {
            let mut response = status_response(429, "too many requests");
            if let Some(secs) = retry_after_secs {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(secs));
            }
            response
        }
        Fault::TooManyRequestsUntil { wait_secs } => {
            let mut response = status_response(429, "too many requests");
            let at = std::time::SystemTime::now() + Duration::from_secs(wait_secs);
            if let Ok(date) = HeaderValue::from_str(&httpdate::fmt_http_date(at)) {
                response.headers_mut().insert(RETRY_AFTER, date);
            }
            response
        }
        Fault::SuccessFalse { message } => {
            let body = match message {
                Some(m) => serde_json::json!({"success": false, "message": m, "data": []}),
                None => serde_json::json!({"success": false, "data": []}),
            };
            json_response(200, Bytes::from(body.to_string()))
        }
        Fault::BrokenJson => json_response(
            200,
            Bytes::from_static(br#"{"success":true,"data":[{"studentID":1,"first"#),
        ),
        Fault::HtmlPage => {
            let mut response = Response::new(Body::from(
                "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>\
                 <body><h1>Bad Gateway</h1></body></html>",
            ));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
            response
        }
        Fault::EmptyBody => json_response(200, Bytes::new()),
        Fault::CutMidBody => {
            let full = match (asked.school, asked.entity) {
                (Some(school), Some(entity)) => page_body(shared, school, entity, page),
                _ => None,
            }
            .unwrap_or_else(|| Bytes::from_static(br#"{"success":true,"data":[]}"#));
            cut_response(full)
        }
        Fault::Body(body) => json_response(200, body),
        // Handled before: a stall answers normally after waiting.
        Fault::Stall(_) => status_response(500, "stall"),
    }
}

/// 200 with headers and the first half of `full`, then the connection breaks.
fn cut_response(full: Bytes) -> Response {
    let half = full.slice(..full.len() / 2);
    let first = futures::stream::iter([Ok::<Bytes, std::io::Error>(half)]);
    // The pause lets the headers and the first half reach the client before the break.
    let cut = futures::stream::once(async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Err::<Bytes, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "simulated connection cut",
        ))
    });
    let mut response = Response::new(Body::from_stream(futures::StreamExt::chain(first, cut)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn json_response(status: u16, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn status_response(status: u16, message: &str) -> Response {
    let body = serde_json::json!({"success": false, "message": message});
    let mut response = json_response(status, Bytes::from(body.to_string()));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn page_marker_split() {
        assert_eq!(split_page_marker("{page:0}"), ("", Some(0)));
        assert_eq!(split_page_marker("x=1{page:12}"), ("x=1", Some(12)));
        assert_eq!(split_page_marker(""), ("", Some(0)));
        assert_eq!(split_page_marker("abc"), ("abc", Some(0)));
        assert_eq!(split_page_marker("{page:x}"), ("", None));
        assert_eq!(split_page_marker("{page:-1}"), ("", None));
    }

    #[test]
    fn pages_are_slices_of_the_joined_rows() {
        let rows: Vec<_> = (0..10).map(|i| json!({"id": i})).collect();
        let serialized = SerializedRows::build(&rows);
        let page = |n| {
            let body = serialized.page_body(n, 3);
            let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            value["data"]
                .as_array()
                .map(|rows| rows.iter().map(|r| r["id"].as_i64()).collect::<Vec<_>>())
        };
        assert_eq!(page(0), Some(vec![Some(0), Some(1), Some(2)]));
        assert_eq!(page(3), Some(vec![Some(9)]));
        assert_eq!(page(4), Some(vec![]));
        assert_eq!(page(u32::MAX), Some(vec![]));
    }
}
