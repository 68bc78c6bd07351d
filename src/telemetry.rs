//! Logging set-up: `RUST_LOG` honoured (default `info`), human-readable lines on a terminal or
//! JSON lines (`--log-format json`) for log shippers. Logs carry IDs and counts, never names,
//! emails, phones, dates of birth or secrets: that is the callers' promise, kept by only ever
//! logging IDs.

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// A duration as the whole milliseconds a log field (`elapsed_ms`, `duration_ms`) carries.
pub fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line, with the span's fields (school, run id, trigger) on each.
    Json,
}

/// Installs the global subscriber writing to `writer` (stderr for the binary), at `RUST_LOG`'s
/// level or else `default_level`. A second call is harmless (tests may call it more than once).
pub fn init<W>(format: LogFormat, default_level: &str, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}
