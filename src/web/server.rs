//! The dashboard's HTTP server: plain HTTP/1.1 for a reverse proxy that holds the TLS, on the
//! health server's bounded accept loop ([`crate::http::serve_bounded`]: connections at once,
//! time to send headers, a connection's lifetime) and with bodies capped. Every answer carries a strict
//! Content-Security-Policy (no inline script or style: the one stylesheet is served from the
//! binary) and is never cached; every page but the login form needs a session, every POST
//! the session's CSRF token; a school a user is not given is a 404, as if it did not exist.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::auth;
use super::handlers;
use super::reply::{Answer, Call, Dashboard, SESSION_COOKIE, failed, plain, redirect};

/// A form body larger than this is refused: the largest form is a login.
const MAX_BODY: usize = 16 * 1024;

/// No script at all, styles and images from this origin only, forms posted here only, never
/// framed.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                       frame-ancestors 'none'; base-uri 'none'";

/// Serves until `stop` is cancelled.
pub fn serve(
    listener: TcpListener,
    limits: crate::http::Limits,
    dashboard: Arc<Dashboard>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    crate::http::serve_bounded(listener, limits, "dashboard", stop, move |request| {
        let dashboard = Arc::clone(&dashboard);
        async move { respond(&dashboard, request).await }
    })
}

async fn respond(dashboard: &Dashboard, request: Request<Incoming>) -> Answer {
    let mut answer = match read_call(request).await {
        Ok(call) => route(dashboard, call).await,
        Err((status, text)) => plain(status, text),
    };
    secure_headers(&mut answer);
    answer
}

/// The request read, or why it cannot be (a bad path, a body over the cap).
async fn read_call(request: Request<Incoming>) -> Result<Call, (StatusCode, &'static str)> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    let segments = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode(s).ok_or((StatusCode::BAD_REQUEST, "bad path\n")))
        .collect::<Result<Vec<_>, _>>()?;
    let query = parts
        .uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let cookies = parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            Some((k.to_owned(), v.to_owned()))
        })
        .collect();
    let form = if parts.method == Method::POST {
        let bytes = Limited::new(body, MAX_BODY)
            .collect()
            .await
            .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "the form is too large\n"))?
            .to_bytes();
        url::form_urlencoded::parse(&bytes).into_owned().collect()
    } else {
        Vec::new()
    };
    Ok(Call {
        method: parts.method,
        segments,
        query,
        form,
        cookies,
    })
}

fn percent_decode(segment: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

async fn route(dashboard: &Dashboard, call: Call) -> Answer {
    let path: Vec<&str> = call.segments.iter().map(String::as_str).collect();
    match (&call.method, path.as_slice()) {
        (&Method::GET, ["static", "style.css"]) => return stylesheet(),
        (&Method::GET, ["login"]) => {
            return handlers::login_form(Some(&call), None, StatusCode::OK);
        }
        _ => {}
    }
    let store = match (dashboard.store)().await {
        Ok(store) => store,
        Err(e) => {
            tracing::warn!("dashboard: the database is not reachable: {e}");
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database does not answer; try again shortly\n",
            );
        }
    };
    if call.method == Method::POST && path == ["login"] {
        return handlers::login(dashboard, &store, &call).await;
    }
    let session = match call.cookie(SESSION_COOKIE) {
        Some(token) => match store.dashboard_session(&auth::token_hash(token)).await {
            Ok(session) => session,
            Err(e) => return failed(e),
        },
        None => None,
    };
    let Some(session) = session else {
        return if call.method == Method::GET {
            redirect("/login")
        } else {
            plain(StatusCode::FORBIDDEN, "log in first\n")
        };
    };
    if call.method == Method::POST {
        let sent = call.field("csrf").unwrap_or_default();
        if !auth::same_token(sent, &session.csrf_token) {
            return plain(
                StatusCode::FORBIDDEN,
                "the form's security token is missing or wrong: reload the page and try again\n",
            );
        }
    }
    let context = handlers::Context {
        dashboard,
        store: &store,
        session: &session,
        call: &call,
    };
    match handlers::route(&context, &path).await {
        Ok(answer) => answer,
        Err(e) => e.into_answer(),
    }
}

fn stylesheet() -> Answer {
    let mut answer = Response::new(Full::new(Bytes::from_static(
        include_str!("style.css").as_bytes(),
    )));
    answer.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    answer.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=3600"),
    );
    answer
}

fn secure_headers(answer: &mut Answer) {
    let headers = answer.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    // Pages hold pupils' data: never kept by the browser or a proxy.
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}
