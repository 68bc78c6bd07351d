//! What started a run: a word the run, its record, its log line and its metrics all carry. It
//! sits below them all (beside `roster`), so that `config` and `metrics` name it without
//! importing the store.

use serde::Serialize;
use strum::{Display, EnumString, IntoStaticStr};

/// What started a run.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Display, EnumString, IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Trigger {
    Schedule,
    Signal,
    Manual,
    /// A request recorded by `bromsync resync` or `approve` (or the dashboard).
    Request,
}

impl Trigger {
    /// The word the `sync_runs` column holds.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}
