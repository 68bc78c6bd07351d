//! Asking Bromcom, cheaply, whether a school has granted one entity to the application: one
//! request for a page far past the end, which a granted entity answers with no rows however
//! large the school. Used by `bromsync check`; a run never probes.

use std::time::Duration;

use super::Client;
use super::client::page_url;
use crate::snapshot::{EntityKind, SchoolId};

/// A page no school reaches: `{page:N}` this far out answers with an empty list.
const PROBE_PAGE: u32 = 1_000_000;

/// Attempts at one probe when the answer is transient (5xx, 408, 429, no connection).
const PROBE_ATTEMPTS: u32 = 3;

/// What Bromcom said about one entity of one school.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeAnswer {
    Granted,
    /// 403: the school has not granted this entity to the application.
    NotGranted,
    /// 401: the application id/secret were refused (every school alike).
    CredentialsRejected,
    /// 404: Bromcom does not know the school.
    SchoolUnknown,
    /// Anything else, in words (status codes and kinds of failure only).
    Trouble(String),
}

impl Client {
    /// One entity's grant, asked with a page past the end (retried briefly if Bromcom is
    /// having a transient problem).
    pub async fn probe(&self, school_id: SchoolId, entity: EntityKind) -> ProbeAnswer {
        let (http, base_url, headers) = self.http_parts();
        let url = page_url(base_url, entity, school_id, "", PROBE_PAGE);
        let mut answer = ProbeAnswer::Trouble("no answer".to_owned());
        for attempt in 1..=PROBE_ATTEMPTS {
            let response = http.get(&url).headers(headers.clone()).send().await;
            crate::metrics::bromcom_request(
                entity,
                response.as_ref().ok().map(|r| r.status().as_u16()),
            );
            let transient = match response {
                Ok(response) => match response.status().as_u16() {
                    200..=299 => return ProbeAnswer::Granted,
                    401 => return ProbeAnswer::CredentialsRejected,
                    403 => return ProbeAnswer::NotGranted,
                    404 => return ProbeAnswer::SchoolUnknown,
                    status @ (408 | 429 | 500..=599) => format!("HTTP {status}"),
                    status => return ProbeAnswer::Trouble(format!("unexpected HTTP {status}")),
                },
                Err(e) if e.is_timeout() => "timed out".to_owned(),
                Err(_) => "could not connect".to_owned(),
            };
            answer = ProbeAnswer::Trouble(transient);
            if attempt < PROBE_ATTEMPTS {
                tokio::time::sleep(Duration::from_millis(300 * u64::from(attempt))).await;
            }
        }
        answer
    }
}
