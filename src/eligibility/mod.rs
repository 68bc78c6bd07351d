//! Who comes through: `docs/eligibility.md` as a pure function of a snapshot, today's date in
//! the school's zone and the school's name choice. No I/O, no clock, no database.
//!
//! The way through, one file a step:
//! - `cleaning`: every text field cleaned again (idempotent), so any `Snapshot` is safe.
//! - `intake`: record entities into tables by ID; bad rows and conflicting duplicates make an
//!   ID unreadable (`invalid_record`, `duplicate_id`); identical duplicates count once.
//! - `collections`: what each collection is (class, group, unknown type, unreadable).
//! - `rules`: each record's own rules.
//! - `memberships`, `contacts`: pairs deduplicated, dangling ones dropped and counted.
//! - `ripple`: the greatest set of students, teachers and classes that satisfies every rule at
//!   once, by counting (linear in memberships); groups and contacts follow from it.
//! - `assemble`, `exclusions`: the [`Roster`](crate::roster::Roster) and
//!   [`Exclusions`](crate::roster::Exclusions), sorted by key.
//! - `explain`: operator text that follows a ripple back to where it started.
//!
//! Choices where docs/eligibility.md is silent are documented in the module that makes them; in
//! short: unreadable records get only intake reasons from their own rows; derived reasons are
//! judged against the final roster for every excluded record; a membership of an excluded (but
//! existing) record is not counted as dropped; staff and students' email/phone rows are ignored
//! without counting; bad rows that name no record are counted in `dropped` as
//! (entity, `invalid_record`).

mod assemble;
mod cleaning;
mod collections;
mod contacts;
mod exclusions;
mod explain;
mod intake;
mod memberships;
mod reasons;
mod ripple;
mod rules;
mod school;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use chrono::NaiveDate;

pub use self::explain::explain;
use crate::roster::{Decision, NameChoice, Reason};
use crate::snapshot::{EntityKind, Snapshot};

/// Links, memberships and unnamed bad rows left out, counted by entity and reason.
type Dropped = BTreeMap<(EntityKind, Reason), u64>;

/// Decides the roster and the exclusions of one school.
pub fn decide(snapshot: &Snapshot, today: NaiveDate, names: NameChoice) -> Decision {
    let school = school::School::judge(snapshot, today, names);
    Decision {
        roster: assemble::roster(&school),
        exclusions: exclusions::exclusions(&school),
    }
}
