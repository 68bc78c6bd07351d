//! How a failed attempt at a page is sorted, and how long the client waits before the next: an
//! HTTP status sorted into rows-to-come, retry or stop; a transport error named by its kind; a
//! 429's `Retry-After`; exponential backoff with jitter. The attempts themselves, and the limits
//! on them, are [`super::client`]'s.

use std::time::Duration;

use backon::ExponentialBuilder;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::ClientConfig;
use super::error::{FetchErrorKind, Problem};

/// How one attempt at one page ended, when it did not end with rows.
pub(super) enum AttemptFailure {
    Fatal(FetchErrorKind),
    Retry {
        problem: Problem,
        /// From a 429's `Retry-After`, before capping.
        retry_after: Option<Duration>,
    },
}

impl From<Problem> for AttemptFailure {
    fn from(problem: Problem) -> Self {
        AttemptFailure::Retry {
            problem,
            retry_after: None,
        }
    }
}

/// Sorts a status into rows-to-come, retry, or stop.
pub(super) fn check_status(response: &reqwest::Response) -> Result<(), AttemptFailure> {
    let status = response.status().as_u16();
    match status {
        200..=299 => Ok(()),
        401 => Err(AttemptFailure::Fatal(FetchErrorKind::CredentialsRejected)),
        403 => Err(AttemptFailure::Fatal(FetchErrorKind::EntityNotGranted)),
        404 => Err(AttemptFailure::Fatal(FetchErrorKind::NotFound)),
        429 => Err(AttemptFailure::Retry {
            problem: Problem::Throttled,
            retry_after: retry_after(response.headers(), std::time::SystemTime::now()),
        }),
        408 | 500..=599 => Err(Problem::ServerStatus(status).into()),
        other => Err(AttemptFailure::Fatal(FetchErrorKind::UnexpectedStatus(
            other,
        ))),
    }
}

/// How long `Retry-After` asks to wait, in either of its forms (RFC 9110): whole seconds, or an
/// HTTP date, counted from `now` (a date already past means "now"). Anything else is ignored
/// (normal backoff).
fn retry_after(headers: &HeaderMap, now: std::time::SystemTime) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Names a transport error by kind only: reqwest's text can be long and is not needed.
pub(super) fn transport_problem(error: &reqwest::Error) -> Problem {
    if error.is_timeout() {
        Problem::Timeout
    } else if error.is_connect() {
        Problem::Connection("could not connect")
    } else if error.is_body() || error.is_decode() {
        Problem::Connection("body cut short")
    } else {
        Problem::Connection("request failed")
    }
}

/// Exponential backoff with "equal jitter": each step doubles from `initial_backoff` up to
/// `max_backoff`, and the delay falls between half the step and the step, so that retries from
/// many schools do not arrive together (backon's jitter adds up to the delay again, hence the
/// halves). At most `max_attempts` attempts in all, the first included.
pub(super) fn backoff_policy(config: &ClientConfig) -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(config.initial_backoff / 2)
        .with_max_delay(config.max_backoff / 2)
        .with_factor(2.0)
        .with_max_times(config.max_attempts.saturating_sub(1) as usize)
        .with_jitter()
}

#[cfg(test)]
mod tests {
    use super::*;
    use backon::BackoffBuilder;
    use reqwest::header::HeaderValue;

    #[test]
    fn backoff_doubles_within_bounds() {
        let config = ClientConfig {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            max_attempts: 8,
            ..ClientConfig::default()
        };
        let delays: Vec<Duration> = backoff_policy(&config).build().collect();
        assert_eq!(delays.len(), 7, "max_attempts counts the first attempt");
        let steps = [100, 200, 400, 800, 1000, 1000, 1000];
        for (retry, (delay, step)) in delays.iter().zip(steps).enumerate() {
            let step = Duration::from_millis(step);
            assert!(
                *delay >= step / 2 && *delay <= step,
                "retry {retry}: {delay:?}"
            );
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers, now), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static(" 7 "));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(7)));
        // The three date formats HTTP allows, 90 s after `now`.
        for date in [
            "Wed, 21 Oct 2015 07:29:30 GMT",
            "Wednesday, 21-Oct-15 07:29:30 GMT",
            "Wed Oct 21 07:29:30 2015",
        ] {
            headers.insert(RETRY_AFTER, HeaderValue::from_static(date));
            assert_eq!(
                retry_after(&headers, now),
                Some(Duration::from_secs(90)),
                "{date}"
            );
        }
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:00:00 GMT"),
        );
        assert_eq!(retry_after(&headers, now), Some(Duration::ZERO), "past");
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers, now), None);
    }
}
