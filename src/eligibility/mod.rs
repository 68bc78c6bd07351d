//! Who comes through: `shared/eligibility.md` as a pure function of a snapshot, today's date in
//! the school's zone and the school's name choice. No I/O, no clock, no database.

use chrono::NaiveDate;

use crate::roster::{Decision, NameChoice};
use crate::snapshot::Snapshot;

/// Decides the roster and the exclusions of one school.
pub fn decide(snapshot: &Snapshot, today: NaiveDate, names: NameChoice) -> Decision {
    let _ = (snapshot, today, names);
    Decision::default()
}
