//! What the server and the handlers share: the dashboard's state, one request as read, an
//! answer and the helpers that build one (HTML, plain text, a redirect, a cookie), and why a
//! handler could not answer.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Response, StatusCode};

use crate::config::Settings;
use crate::store::{DashboardSession, Store};

/// The store, once the database answers (the daemon connects in the background).
pub type StoreSource = Arc<dyn Fn() -> BoxFuture<'static, Result<Store, String>> + Send + Sync>;

/// A store that is there already (tests, and a caller that has connected).
pub fn fixed_store(store: Store) -> StoreSource {
    Arc::new(move || {
        let store = store.clone();
        Box::pin(async move { Ok(store) })
    })
}

/// Everything a request may need.
pub struct Dashboard {
    pub settings: Arc<Settings>,
    pub store: StoreSource,
}

pub const SESSION_COOKIE: &str = "bromsync_session";
pub const LOGIN_COOKIE: &str = "bromsync_login";

/// What a handler hands back: a finished answer.
pub type Answer = Response<Full<Bytes>>;

/// One request as the handlers see it: its path split, its query and form fields, its cookies.
pub struct Call {
    pub method: Method,
    pub segments: Vec<String>,
    pub query: Vec<(String, String)>,
    pub form: Vec<(String, String)>,
    pub cookies: Vec<(String, String)>,
}

impl Call {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a handler could not answer.
pub enum Failure {
    /// Not there, or not this user's to see: the same answer for both.
    NotFound,
    /// The database failed.
    Store(crate::store::StoreError),
    /// Something else failed (the text is for the log and the page; IDs only).
    Other(String),
}

impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Self {
        Failure::Store(e)
    }
}

impl Failure {
    pub fn into_answer(self) -> Answer {
        match self {
            Failure::NotFound => plain(StatusCode::NOT_FOUND, "not found\n"),
            Failure::Store(e) => failed(e),
            Failure::Other(e) => {
                tracing::warn!("dashboard: {e}");
                plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "something failed; see the log\n",
                )
            }
        }
    }
}

pub fn failed(e: crate::store::StoreError) -> Answer {
    tracing::warn!("dashboard: the database failed: {e}");
    plain(
        StatusCode::SERVICE_UNAVAILABLE,
        "the database failed; try again shortly\n",
    )
}

pub fn plain(status: StatusCode, text: &'static str) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *answer.status_mut() = status;
    answer.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    answer
}

pub fn html(status: StatusCode, markup: maud::Markup) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::from(markup.into_string())));
    *answer.status_mut() = status;
    answer.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    answer
}

/// 303 See Other: after a form, the browser GETs the page.
pub fn redirect(to: &str) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::new()));
    *answer.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(to) {
        answer.headers_mut().insert(header::LOCATION, value);
    }
    answer
}

/// A cookie only the server reads (HttpOnly), sent on this site's own requests only
/// (SameSite=Strict), over https only when the public URL is https.
pub fn cookie(name: &str, value: &str, path: &str, max_age_secs: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Whether a session is an operator's.
pub fn is_operator(session: &DashboardSession) -> bool {
    session.user.role == crate::store::DashboardRole::Operator
}
