//! Why fetching a school failed: which school, which entity, what went wrong, how many attempts
//! were made. The texts are written for an operator reading a run record; they carry IDs,
//! status codes, a category and lengths, never the application secret, never row contents and
//! never the free text of a server's message (it may name a pupil or a parent). Every text
//! starts with its [`ErrorCategory`] so that `status` can name it from the run record.

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
    /// 200 with `"success": false` (or `success` missing). Only the length of the server's
    /// message is kept, in characters: its text may carry personal data.
    ServerReportedFailure { message_chars: Option<usize> },
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
            Problem::ServerReportedFailure {
                message_chars: None,
            } => f.write_str("HTTP 200 with success:false and no message"),
            Problem::ServerReportedFailure {
                message_chars: Some(chars),
            } => write!(
                f,
                "HTTP 200 with success:false and a message of {chars} characters (not kept)"
            ),
            Problem::BrokenResponse(what) => write!(f, "broken response: {what}"),
            Problem::Timeout => f.write_str("timed out"),
            Problem::Connection(what) => write!(f, "connection problem: {what}"),
        }
    }
}

/// What kind of failure a [`FetchError`] is, in words an operator can search for: the first
/// word of every run record's error, and what `bromsync status` shows of a failed run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCategory {
    /// 401.
    Credentials,
    /// 403.
    NotGranted,
    /// 404.
    UnknownSchool,
    /// Another 4xx.
    UnexpectedStatus,
    /// Over `max_body_bytes`.
    BodyTooLarge,
    /// 5xx or 408, until the retries ran out.
    Http5xx,
    /// 429, until the retries ran out.
    Throttled,
    /// 200 with `success: false`.
    ServerErrorMessage,
    /// 200 with a body that is not the envelope (nested too deeply included).
    BrokenResponse,
    Timeout,
    Connection,
}

impl ErrorCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCategory::Credentials => "credentials",
            ErrorCategory::NotGranted => "not_granted",
            ErrorCategory::UnknownSchool => "unknown_school",
            ErrorCategory::UnexpectedStatus => "unexpected_status",
            ErrorCategory::BodyTooLarge => "body_too_large",
            ErrorCategory::Http5xx => "http_5xx",
            ErrorCategory::Throttled => "throttled",
            ErrorCategory::ServerErrorMessage => "server_error_message",
            ErrorCategory::BrokenResponse => "broken_response",
            ErrorCategory::Timeout => "timeout",
            ErrorCategory::Connection => "connection",
        }
    }
}

impl fmt::Display for ErrorCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Problem {
    pub fn category(&self) -> ErrorCategory {
        match self {
            Problem::ServerStatus(_) => ErrorCategory::Http5xx,
            Problem::Throttled => ErrorCategory::Throttled,
            Problem::ServerReportedFailure { .. } => ErrorCategory::ServerErrorMessage,
            Problem::BrokenResponse(_) => ErrorCategory::BrokenResponse,
            Problem::Timeout => ErrorCategory::Timeout,
            Problem::Connection(_) => ErrorCategory::Connection,
        }
    }

    /// The HTTP status the problem came with, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Problem::ServerStatus(code) => Some(*code),
            Problem::Throttled => Some(429),
            Problem::ServerReportedFailure { .. } | Problem::BrokenResponse(_) => Some(200),
            Problem::Timeout | Problem::Connection(_) => None,
        }
    }
}

impl FetchError {
    pub fn category(&self) -> ErrorCategory {
        match &self.kind {
            FetchErrorKind::CredentialsRejected => ErrorCategory::Credentials,
            FetchErrorKind::EntityNotGranted => ErrorCategory::NotGranted,
            FetchErrorKind::NotFound => ErrorCategory::UnknownSchool,
            FetchErrorKind::UnexpectedStatus(_) => ErrorCategory::UnexpectedStatus,
            FetchErrorKind::BodyTooLarge { .. } => ErrorCategory::BodyTooLarge,
            FetchErrorKind::GaveUp { last_problem } => last_problem.category(),
        }
    }

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
    let text = match &error.kind {
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
    };
    format!("{}: {text}", error.category())
}

/// The client could not be built from its configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot build the Bromcom client: {0}")]
pub struct ClientBuildError(pub String);
