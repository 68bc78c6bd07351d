//! Capturing one test's logs with a thread-local subscriber, reliably.
//!
//! tracing caches, per callsite and for the whole process, whether any subscriber wants the
//! callsite's events, and the process-wide maximum level. Both are recomputed when a
//! subscriber is set, but a callsite first reached on another thread while that happens can
//! keep an answer computed without the new subscriber: "nobody wants this", so the test's
//! own subscriber never sees the event (a flaky "progress was not logged"). A process-wide
//! subscriber that wants everything (and does nothing with it) rules that answer out: a
//! callsite's cached interest is then never "never" and the maximum level is always TRACE,
//! so every event reaches whichever subscriber the thread has; the cache is rebuilt once more
//! after the thread's subscriber is set, for callsites registered while the global one was
//! being installed.

use std::sync::Once;

use tracing::level_filters::LevelFilter;
use tracing::subscriber::{DefaultGuard, Interest};
use tracing::{Event, Metadata, Subscriber, span};

/// Wants every event and span, and drops them.
struct WantsEverything;

impl Subscriber for WantsEverything {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::always()
    }

    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::TRACE)
    }

    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }

    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}

    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

    fn event(&self, _: &Event<'_>) {}

    fn enter(&self, _: &span::Id) {}

    fn exit(&self, _: &span::Id) {}
}

/// Makes `subscriber` this thread's default until the guard drops, with every callsite's
/// events reaching it whatever other tests do on other threads.
pub fn capture_on_this_thread(subscriber: impl Subscriber + Send + Sync + 'static) -> DefaultGuard {
    static GLOBAL: Once = Once::new();
    GLOBAL.call_once(|| {
        // Fails only if a global subscriber is already set: that one then decides, as before.
        let _ = tracing::subscriber::set_global_default(WantsEverything);
    });
    let guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();
    guard
}
