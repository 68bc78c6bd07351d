//! Why fetching a school failed: which school, which entity, what went wrong, how many attempts
//! were made. The texts are written for an operator reading a run record; they carry IDs and
//! status codes, never the application secret and never row contents.

use std::fmt;

use crate::snapshot::{EntityKind, SchoolId};

/// A fetch of one school that did not produce a whole snapshot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe(self))]
pub struct FetchError {
    pub school_id: SchoolId,
    /// The entity being fetched, when the failure belongs to one.
    pub entity: Option<EntityKind>,
    pub kind: FetchErrorKind,
    /// Requests made for the failing page, the first included.
    pub attempts: u32,
}

/// What went wrong. Only `GaveUp` follows retries; the others are final at the first answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchErrorKind {
    /// 401: the application id/secret were refused. Every school will fail alike.
    CredentialsRejected,
    /// 403: the school has not granted this entity to the application.
    EntityNotGranted,
    /// 404: Bromcom does not know the school or the entity.
    NotFound,
    /// Another 4xx the contract does not describe; retrying would not help.
    UnexpectedStatus(u16),
    /// The body was bigger than `max_body_bytes`; retrying would fetch it again.
    BodyTooLarge { limit: u64 },
    /// Transient problems persisted past `max_attempts` or `max_retry_time`.
    GaveUp { last_problem: Problem },
}

/// One attempt's transient problem: the reason a retry was made (and logged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// 5xx, or 408.
    ServerStatus(u16),
    /// 429, whether or not it said how long to wait.
    Throttled,
    /// 200 with `"success": false` (or `success` missing); the server's message, clipped.
    ServerReportedFailure { message: Option<String> },
    /// 200 with a body that is not the envelope; says what was wrong with it.
    BrokenResponse(&'static str),
    /// The request or its body took longer than `request_timeout`.
    Timeout,
    /// Could not connect, or the connection broke before the body was complete.
    Connection(&'static str),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::ServerStatus(code) => write!(f, "HTTP {code}"),
            Problem::Throttled => f.write_str("HTTP 429 (throttled)"),
            Problem::ServerReportedFailure { message: None } => {
                f.write_str("the server answered success:false")
            }
            Problem::ServerReportedFailure {
                message: Some(message),
            } => write!(f, "the server answered success:false ({message})"),
            Problem::BrokenResponse(what) => write!(f, "broken response: {what}"),
            Problem::Timeout => f.write_str("timed out"),
            Problem::Connection(what) => write!(f, "connection problem: {what}"),
        }
    }
}

impl FetchError {
    /// True when Bromcom refused the application's credentials (401): the caller should stop
    /// every school, not just this one.
    pub fn is_credentials_rejected(&self) -> bool {
        self.kind == FetchErrorKind::CredentialsRejected
    }

    /// True when the school has not granted an entity (403).
    pub fn is_entity_not_granted(&self) -> bool {
        self.kind == FetchErrorKind::EntityNotGranted
    }
}

fn describe(error: &FetchError) -> String {
    let school = error.school_id;
    let entity = error
        .entity
        .map_or_else(|| "(no entity)".to_owned(), |e| e.to_string());
    let attempts = error.attempts;
    let plural = if attempts == 1 { "" } else { "s" };
    match &error.kind {
        FetchErrorKind::CredentialsRejected => format!(
            "Bromcom rejected the application id/secret (HTTP 401) when fetching {entity} for \
             school {school}; no school can be fetched until bromcom.application_id and \
             bromcom.application_secret are corrected"
        ),
        FetchErrorKind::EntityNotGranted => format!(
            "school {school} has not granted entity {entity} to this application (HTTP 403); \
             the school must add it to the application's scope"
        ),
        FetchErrorKind::NotFound => {
            format!("Bromcom does not know school {school} or entity {entity} (HTTP 404)")
        }
        FetchErrorKind::UnexpectedStatus(code) => {
            format!("fetching {entity} for school {school} failed with unexpected HTTP {code}")
        }
        FetchErrorKind::BodyTooLarge { limit } => format!(
            "fetching {entity} for school {school}: a response was larger than the limit of \
             {limit} bytes (bromcom.max_body_bytes)"
        ),
        FetchErrorKind::GaveUp { last_problem } => format!(
            "fetching {entity} for school {school} failed after {attempts} attempt{plural}; \
             last problem: {last_problem}"
        ),
    }
}

/// The client could not be built from its configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot build the Bromcom client: {0}")]
pub struct ClientBuildError(pub String);
