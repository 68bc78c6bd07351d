//! How a failed attempt at a page is sorted, and how long the client waits before the next: an
//! HTTP status sorted into rows-to-come, retry or stop; a transport error named by its kind; a
//! 429's `Retry-After`; exponential backoff with jitter; and the loop that retries an attempt
//! within the client's limits (attempts, total time). The attempts themselves are
//! [`super::client`]'s.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use tokio::time::Instant;

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

/// Runs `attempt` until it gives rows, fails for good, or the retries `config` allows are
/// spent: `max_attempts` in all, and no wait that would end past `max_retry_time` from the
/// first attempt. Apart from the client's `fetch_page` so that the rule can be tested on paused time.
pub(super) async fn with_retries<T, F, Fut>(
    config: &ClientConfig,
    attempt: F,
    notify: impl FnMut(&AttemptFailure, Duration),
) -> Result<T, AttemptFailure>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AttemptFailure>>,
{
    let started = Instant::now();
    attempt
        .retry(backoff_policy(config))
        .sleep(tokio::time::sleep)
        .when(|failure| matches!(failure, AttemptFailure::Retry { .. }))
        .adjust(|failure, planned| {
            // `planned` is `None` once the attempts are used up.
            let planned = planned?;
            let delay = match failure {
                AttemptFailure::Retry {
                    retry_after: Some(wait),
                    ..
                } => (*wait).min(config.retry_after_cap),
                _ => planned,
            };
            (started.elapsed() + delay <= config.max_retry_time).then_some(delay)
        })
        .notify(notify)
        .await
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
    use std::sync::atomic::{AtomicU32, Ordering};

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

    /// Attempts that always fail with a retryable problem after `cost` each: how many were
    /// made, and how long it all took, on paused time.
    async fn always_failing(
        config: &ClientConfig,
        cost: Duration,
        retry_after: Option<Duration>,
    ) -> (u32, Duration) {
        let started = Instant::now();
        let attempts = AtomicU32::new(0);
        let result: Result<(), _> = with_retries(
            config,
            || async {
                attempts.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(cost).await;
                Err(AttemptFailure::Retry {
                    problem: Problem::ServerStatus(500),
                    retry_after,
                })
            },
            |_, _| {},
        )
        .await;
        assert!(matches!(result, Err(AttemptFailure::Retry { .. })));
        (attempts.load(Ordering::Relaxed), started.elapsed())
    }

    fn time_bound(millis: u64) -> ClientConfig {
        ClientConfig {
            max_attempts: 1000,
            initial_backoff: Duration::from_millis(40),
            max_backoff: Duration::from_millis(40),
            max_retry_time: Duration::from_millis(millis),
            ..ClientConfig::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stop_once_the_time_bound_is_spent() {
        // Waits of 20..=40 ms (jitter on half to all of 40 ms), attempts that take no time:
        // seven waits always fit in 300 ms and sixteen never do.
        let config = time_bound(300);
        for _ in 0..50 {
            let (attempts, took) = always_failing(&config, Duration::ZERO, None).await;
            assert!((8..=16).contains(&attempts), "{attempts} attempts");
            assert!(took <= config.max_retry_time, "{took:?}");
            // The next wait (at most 40 ms) would have fitted: the bound, not chance, stopped it.
            assert!(
                took + Duration::from_millis(40) > config.max_retry_time,
                "{took:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_time_an_attempt_takes_counts_against_the_bound() {
        // 100 ms per attempt plus a 20..=40 ms wait: the third attempt starts by 280 ms at the
        // latest, no fourth can start by 300 ms; the last attempt may end past the bound.
        let config = time_bound(300);
        let cost = Duration::from_millis(100);
        for _ in 0..20 {
            let (attempts, took) = always_failing(&config, cost, None).await;
            assert_eq!(attempts, 3);
            assert!(took <= config.max_retry_time + cost, "{took:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_attempt_count_bounds_the_retries_before_the_time_does() {
        let config = ClientConfig {
            max_attempts: 4,
            ..time_bound(60_000)
        };
        let (attempts, took) = always_failing(&config, Duration::ZERO, None).await;
        assert_eq!(attempts, 4);
        assert!(
            took <= Duration::from_millis(120),
            "three waits of 40 ms at most: {took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_is_capped_and_counts_against_the_bound() {
        // Retry-After says a minute; the cap makes it 100 ms, so 1 + 10 attempts fit in 1 s.
        let config = ClientConfig {
            retry_after_cap: Duration::from_millis(100),
            ..time_bound(1000)
        };
        let (attempts, took) =
            always_failing(&config, Duration::ZERO, Some(Duration::from_secs(60))).await;
        assert_eq!(attempts, 11);
        assert_eq!(took, Duration::from_millis(1000));
    }
}
