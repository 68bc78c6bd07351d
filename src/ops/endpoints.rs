//! The daemon's HTTP endpoints, when `[http] listen` is set: `/healthz` (200 while the process
//! lives), `/readyz` (200 while the database answers, else 503) and `/metrics` (Prometheus text,
//! rendered from the recorder of [`crate::metrics`]). A few lines of hyper: no framework, and
//! no request ever reaches the database except `/readyz`'s one `SELECT 1`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Whether the database answers now.
pub type ReadyCheck = Arc<dyn Fn() -> BoxFuture<'static, bool> + Send + Sync>;

/// How long `/readyz` waits for the database before it says 503.
const READY_WITHIN: Duration = Duration::from_secs(3);

/// How often histograms are folded, so memory stays flat between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Binds `addr` (a bind failure is for the caller to report: the daemon refuses to start).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves until `stop` is cancelled.
pub fn serve(
    listener: TcpListener,
    metrics: PrometheusHandle,
    ready: ReadyCheck,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
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
        loop {
            let stream = tokio::select! {
                _ = stop.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!("health endpoint: accepting a connection failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let (metrics, ready, stop) = (metrics.clone(), Arc::clone(&ready), stop.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    respond(request, metrics.clone(), Arc::clone(&ready))
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = connection => {}
                }
            });
        }
        upkeep.abort();
    })
}

async fn respond(
    request: Request<Incoming>,
    metrics: PrometheusHandle,
    ready: ReadyCheck,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Ok(text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n"));
    }
    Ok(match request.uri().path() {
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
    })
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}
