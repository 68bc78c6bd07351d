//! The Bromcom API client of `docs/bromcom-api.md`: fetches every entity of one school over
//! HTTP (paging, retries, a cap on requests in flight) and returns a complete, typed
//! [`Snapshot`](crate::snapshot::Snapshot) or an error naming the school, the entity and what
//! went wrong. It never hands back half an entity.

pub mod base_url;
pub mod client;
pub mod error;
pub mod mapping;
mod page;
pub mod probe;
mod redact;
mod retry;
mod slots;

pub use client::Client;
pub use error::{ClientBuildError, ErrorCategory, FetchError, FetchErrorKind, Problem};
pub use probe::ProbeAnswer;
pub use slots::RequestSlots;

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

/// Makes ring the process's TLS crypto. reqwest is built without a provider of its own (the
/// database's TLS uses ring too, and aws-lc's entropy seeding cost every process ~60 ms), so
/// one must be chosen before any HTTP client is built. Installing twice is harmless.
pub fn install_tls_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// How the client reaches Bromcom and how patient it is. Every field has a default except the
/// credentials. The secret is a [`SecretString`]: its `Debug` prints a mask, never the value.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientConfig {
    /// Production is `https://api.bromcomcloud.com`.
    pub base_url: String,
    pub application_id: String,
    pub application_secret: SecretString,
    /// Rows per page; a page of exactly this many means "ask for the next one". The server
    /// decides its page size: a shorter page of a round size is confirmed to be the last by
    /// asking for the next (see `client::plausible_server_page`).
    pub page_size: usize,
    /// Requests in flight to the Bromcom host at once, across all schools of this process.
    pub max_in_flight: usize,
    /// One request's limit, connect to last byte.
    #[serde(with = "secs")]
    pub request_timeout: Duration,
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// First backoff; doubles each retry (with jitter) up to `max_backoff`.
    #[serde(with = "millis")]
    pub initial_backoff: Duration,
    #[serde(with = "millis")]
    pub max_backoff: Duration,
    /// Total time one request may spend on retries before the run gives up.
    #[serde(with = "secs")]
    pub max_retry_time: Duration,
    /// The longest `Retry-After` obeyed; a longer one is cut to this.
    #[serde(with = "secs")]
    pub retry_after_cap: Duration,
    /// The largest response body accepted; a bigger one fails the school's run (it would be
    /// as big again on a retry).
    pub max_body_bytes: u64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            base_url: "https://api.bromcomcloud.com".to_owned(),
            application_id: String::new(),
            application_secret: SecretString::from(String::new()),
            page_size: 100_000,
            max_in_flight: 4,
            request_timeout: Duration::from_secs(120),
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_millis(30_000),
            max_retry_time: Duration::from_secs(300),
            retry_after_cap: Duration::from_secs(120),
            max_body_bytes: 512 * 1024 * 1024,
        }
    }
}

/// Durations written as whole seconds in the configuration file.
mod secs {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        f64::deserialize(d).and_then(|s| {
            Duration::try_from_secs_f64(s).map_err(|_| {
                serde::de::Error::custom(format!("{s} is not a number of seconds (0 or more)"))
            })
        })
    }
}

/// Durations written as milliseconds in the configuration file.
mod millis {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
