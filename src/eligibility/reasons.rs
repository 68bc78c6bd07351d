//! A small set of [`Reason`]s kept as bits, so that collecting every reason that applies to a
//! record costs no allocation and comes out sorted and without repeats for free.

use crate::roster::Reason;

/// Every reason in its declared order, which is also its `Ord` order and its bit number.
const ALL: &[Reason] = Reason::ALL;

// Every reason needs a bit of its own.
const _: () = assert!(ALL.len() <= 32);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct ReasonSet(u32);

impl ReasonSet {
    fn bit(reason: Reason) -> u32 {
        1 << (reason as u32)
    }

    pub(super) fn insert(&mut self, reason: Reason) {
        self.0 |= Self::bit(reason);
    }

    /// Adds `reason` when `applies`; reads like the rule it records.
    pub(super) fn add_if(&mut self, applies: bool, reason: Reason) {
        if applies {
            self.insert(reason);
        }
    }

    pub(super) fn contains(self, reason: Reason) -> bool {
        self.0 & Self::bit(reason) != 0
    }

    pub(super) fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub(super) fn union(self, other: ReasonSet) -> ReasonSet {
        ReasonSet(self.0 | other.0)
    }

    /// The reasons, sorted, without repeats.
    pub(super) fn to_vec(self) -> Vec<Reason> {
        ALL.iter()
            .copied()
            .filter(|reason| self.contains(*reason))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_own_bit_in_ord_order() {
        for (position, reason) in ALL.iter().enumerate() {
            assert_eq!(*reason as usize, position, "{reason} is out of place");
        }
        assert!(ALL.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn to_vec_is_sorted_and_unique() {
        let mut set = ReasonSet::default();
        set.insert(Reason::NoClasses);
        set.insert(Reason::NoConsent);
        set.insert(Reason::NoClasses);
        set.add_if(false, Reason::DuplicateId);
        assert_eq!(set.to_vec(), vec![Reason::NoConsent, Reason::NoClasses]);
        assert!(!set.is_empty());
        assert!(ReasonSet::default().is_empty());
    }
}
