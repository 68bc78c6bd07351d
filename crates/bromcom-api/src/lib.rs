//! The words of the Bromcom contract (`docs/bromcom-api.md`) that both sides of it speak: the
//! client in `bromsync` and the simulator in `bromsync-sim`. It holds names, not behaviour, so
//! that the simulator can stand in for Bromcom without depending on the product it tests.

use serde::{Deserialize, Serialize};
use strum::{Display, EnumString, IntoStaticStr, VariantArray};

/// Bromcom's ID for a school.
pub type SchoolId = i64;

/// Every entity the sync fetches, in Bromcom's names (the `/v2/{Entity}` path segment).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    Display,
    EnumString,
    IntoStaticStr,
    VariantArray,
)]
#[strum(ascii_case_insensitive)]
pub enum EntityKind {
    Students,
    Staff,
    Contacts,
    StudentContacts,
    Emails,
    PersonTelephones,
    Collections,
    CollectionAssociates,
    CollectionExecutives,
}

impl EntityKind {
    /// Every entity, in the order the contract lists them (an array, so that a fetch can map
    /// it to one future per entity).
    pub const ALL: [EntityKind; 9] = match EntityKind::VARIANTS.first_chunk() {
        Some(all) if EntityKind::VARIANTS.len() == 9 => *all,
        _ => panic!("EntityKind::ALL must name every entity"),
    };

    /// The name Bromcom uses in the URL path (`/v2/{Entity}`).
    pub fn api_name(self) -> &'static str {
        self.into()
    }

    /// The entity a URL path names, in any case.
    pub fn from_api_name(name: &str) -> Option<EntityKind> {
        name.parse().ok()
    }
}

/// Compares two texts the way the contract does (`docs/eligibility.md`): trimmed, ignoring case.
pub fn same_text(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    a.eq_ignore_ascii_case(b) || a.to_lowercase() == b.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_names_round_trip_in_any_case() {
        assert_eq!(EntityKind::ALL.len(), 9);
        for entity in EntityKind::ALL {
            assert_eq!(EntityKind::from_api_name(entity.api_name()), Some(entity));
            let lower = entity.api_name().to_lowercase();
            assert_eq!(EntityKind::from_api_name(&lower), Some(entity));
            assert_eq!(entity.to_string(), entity.api_name());
        }
        assert_eq!(
            EntityKind::CollectionAssociates.api_name(),
            "CollectionAssociates"
        );
        assert_eq!(EntityKind::from_api_name("Pupils"), None);
    }

    #[test]
    fn compares_trimmed_ignoring_case() {
        assert!(same_text("granted ", "Granted"));
        assert!(same_text("TUTORGRP", "tutorgrp"));
        assert!(same_text(" ÉLÈVE", "élève"));
        assert!(!same_text("Step-Mother", "Mother"));
    }
}
