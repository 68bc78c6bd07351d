//! The daemon's health and metrics server, when `[http] listen` is set: `/healthz` (200 while the process
//! lives), `/readyz` (200 while the database answers, else 503) and `/metrics` (Prometheus text,
//! rendered from the recorder of [`crate::metrics`]). A few lines of hyper: no framework, and
//! no request ever reaches the database except `/readyz`'s one `SELECT 1`.
//!
//! Each connection costs the process a file, the same files its runs need for Postgres and
//! Bromcom, so the listener is bounded ([`Limits`], in [`serve_bounded`], which the dashboard's
//! listener uses too): a client has a few seconds to send a
//! request's headers (the same bound closes a kept-alive connection left idle), no connection
//! lives longer than a minute, and at most `max_connections` are open at once. One over the cap
//! is accepted and closed at once, rather than left waiting in the kernel's queue: it costs a
//! file for an instant, the client learns at once instead of hanging, and the queue never fills
//! with stale connections that a scraper arriving later would wait behind.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Whether the database answers now.
pub type ReadyCheck = Arc<dyn Fn() -> BoxFuture<'static, bool> + Send + Sync>;

/// How long `/readyz` waits for the database before it says 503.
const READY_WITHIN: Duration = Duration::from_secs(3);

/// How often histograms are folded, so memory stays flat between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// How long a connection may live, however busy: a client that sends its body or reads its
/// answer a byte at a time is cut off here.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);

/// How often a refused connection is logged at most (each one is counted in the metrics).
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(60);

/// The bounds on the listener's connections (`[http]` in the configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; one more is accepted and closed at once.
    pub max_connections: usize,
    /// How long a client has to send a request's headers, counted from when the connection
    /// opens or its previous answer was sent, so it bounds idle kept-alive connections too.
    pub header_read_timeout: Duration,
}

/// Binds `addr` (a bind failure is for the caller to report: the daemon refuses to start).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves `/healthz`, `/readyz` and `/metrics` until `stop` is cancelled.
pub fn serve(
    listener: TcpListener,
    limits: Limits,
    metrics: PrometheusHandle,
    ready: ReadyCheck,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let upkeep = {
        let metrics = metrics.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(UPKEEP_EVERY) => metrics.run_upkeep(),
                }
            }
        })
    };
    let server = serve_bounded(listener, limits, "health endpoint", stop, move |request| {
        respond(request, metrics.clone(), Arc::clone(&ready))
    });
    tokio::spawn(async move {
        server.await.ok();
        upkeep.abort();
    })
}

/// Serves each connection of `listener` with `respond`, within `limits`, until `stop` is
/// cancelled: the one accept loop of both listeners (this one and the dashboard's). `name`
/// says which listener in the log.
pub fn serve_bounded<F, Fut>(
    listener: TcpListener,
    limits: Limits,
    name: &'static str,
    stop: CancellationToken,
    respond: F,
) -> JoinHandle<()>
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    tokio::spawn(async move {
        let slots = Arc::new(Semaphore::new(limits.max_connections));
        let mut refusals = Refusals::default();
        loop {
            let stream = tokio::select! {
                _ = stop.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!("{name}: accepting a connection failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                drop(stream);
                refusals.one_more(name, limits.max_connections);
                continue;
            };
            let (respond, stop) = (respond.clone(), stop.clone());
            tokio::spawn(async move {
                let _slot = slot;
                let service = hyper::service::service_fn(move |request| {
                    let answer = respond(request);
                    async move { Ok::<_, Infallible>(answer.await) }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(limits.header_read_timeout)
                    .serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = connection => {}
                    _ = tokio::time::sleep(CONNECTION_LIFETIME) => {}
                }
            });
        }
    })
}

/// Connections refused over the cap: counted, and logged once a minute at most (a flood of
/// them would otherwise flood the journal).
#[derive(Default)]
struct Refusals {
    since_logged: u64,
    logged_at: Option<tokio::time::Instant>,
}

impl Refusals {
    fn one_more(&mut self, name: &'static str, cap: usize) {
        metrics::counter!(crate::metrics::HTTP_CONNECTIONS_REFUSED).increment(1);
        self.since_logged += 1;
        let now = tokio::time::Instant::now();
        if self
            .logged_at
            .is_none_or(|at| now.duration_since(at) >= REFUSAL_LOG_EVERY)
        {
            tracing::warn!(
                refused = self.since_logged,
                max_connections = cap,
                "{name}: connections over the cap closed at once"
            );
            self.since_logged = 0;
            self.logged_at = Some(now);
        }
    }
}

async fn respond(
    request: Request<Incoming>,
    metrics: PrometheusHandle,
    ready: ReadyCheck,
) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
    }
    match request.uri().path() {
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" => match tokio::time::timeout(READY_WITHIN, ready()).await {
            Ok(true) => text(StatusCode::OK, "ready\n"),
            _ => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database does not answer\n",
            ),
        },
        "/metrics" => {
            let mut response = text(StatusCode::OK, metrics.render());
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /healthz, /readyz or /metrics\n",
        ),
    }
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::time::Instant;

    const HALF_SENT: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: x\r\n";

    async fn start(limits: Limits) -> (SocketAddr, CancellationToken) {
        let listener = bind(([127, 0, 0, 1], 0).into()).await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
            .build_recorder()
            .handle();
        let ready: ReadyCheck = Arc::new(|| Box::pin(async { true }));
        let stop = CancellationToken::new();
        serve(listener, limits, metrics, ready, stop.clone());
        (addr, stop)
    }

    /// Everything the server sends until it closes the connection, and when it closed it.
    async fn until_closed(mut stream: TcpStream, within: Duration) -> (String, Instant) {
        let mut bytes = Vec::new();
        tokio::time::timeout(within, stream.read_to_end(&mut bytes))
            .await
            .expect("the server closes the connection in time")
            .ok();
        (String::from_utf8_lossy(&bytes).into_owned(), Instant::now())
    }

    async fn connect(addr: SocketAddr, send: &[u8]) -> TcpStream {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(send).await.expect("send");
        stream
    }

    #[tokio::test]
    async fn idle_half_sent_and_kept_alive_connections_are_closed_after_the_header_timeout() {
        let timeout = Duration::from_millis(400);
        let (addr, stop) = start(Limits {
            max_connections: 8,
            header_read_timeout: timeout,
        })
        .await;
        let opened = Instant::now();
        let idle = connect(addr, b"").await;
        let half = connect(addr, HALF_SENT).await;
        let kept = connect(addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let within = Duration::from_secs(10);
        let (idle, half, kept) = tokio::join!(
            until_closed(idle, within),
            until_closed(half, within),
            until_closed(kept, within)
        );
        for (what, (_, closed)) in [("idle", &idle), ("half-sent", &half), ("kept alive", &kept)] {
            assert!(
                closed.duration_since(opened) >= timeout,
                "{what}: closed before the timeout"
            );
        }
        assert!(kept.0.starts_with("HTTP/1.1 200"), "{}", kept.0);
        assert!(kept.0.ends_with("ok\n"), "{}", kept.0);
        stop.cancel();
    }

    #[tokio::test]
    async fn a_connection_over_the_cap_is_closed_at_once_and_a_freed_slot_serves_again() {
        let (addr, stop) = start(Limits {
            max_connections: 2,
            header_read_timeout: Duration::from_secs(300),
        })
        .await;
        let first = connect(addr, HALF_SENT).await;
        let second = connect(addr, HALF_SENT).await;
        // The third is over the cap: closed with nothing said, long before any timeout.
        let third = connect(addr, HALF_SENT).await;
        let (said, _) = until_closed(third, Duration::from_secs(10)).await;
        assert_eq!(said, "");
        drop(first);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let stream = connect(addr, b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n").await;
            let (said, _) = until_closed(stream, Duration::from_secs(10)).await;
            if said.starts_with("HTTP/1.1 200") {
                break;
            }
            assert!(Instant::now() < deadline, "no slot came free: {said:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(second);
        stop.cancel();
    }
}
