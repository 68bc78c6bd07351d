//! Synthetic schools from a seed: deterministic, realistic UK secondary-school shape.

use chrono::NaiveDate;

use super::dataset::Dataset;
use crate::snapshot::SchoolId;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub seed: u64,
    pub schools: Vec<SchoolId>,
    pub students_per_school: usize,
    /// The date the data is made around (leavers, ended memberships); fixed for determinism.
    pub today: NaiveDate,
}

/// Generates the dataset for `options` (placeholder until the generator lands).
pub fn generate(options: &GenerateOptions) -> Dataset {
    let _ = options;
    Dataset::default()
}
