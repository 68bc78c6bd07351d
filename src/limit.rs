//! Resizable bounds, which a reload changes while work holds some of their units. Swapping in a
//! new semaphore would let the work holding the old one's permits run alongside a full set
//! from the new one, so a bound is resized in place: growing adds units, shrinking takes the
//! free ones at once and retires the others as they come back. [`Ledger`] keeps that account
//! for both of the process's bounds: [`Limit`] here (schools at once, over a semaphore) and
//! `bromcom::RequestSlots` (requests to Bromcom in flight, which also orders who is served
//! first).

use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::{AcquireError, Semaphore, SemaphorePermit};

/// At most `size` permits out at once, at every moment, across [`Limit::resize`].
#[derive(Debug)]
pub struct Limit {
    semaphore: Semaphore,
    ledger: Mutex<Ledger>,
}

/// The account of a resizable bound, whoever hands its units out: the bound in force, and how
/// many of the units out now are to be retired rather than given back when they return,
/// because the bound shrank below what was out. The caller keeps the free units and calls in
/// under the same lock as it hands them out.
#[derive(Debug)]
pub struct Ledger {
    size: usize,
    owed: usize,
}

impl Ledger {
    pub fn new(size: usize) -> Ledger {
        Ledger { size, owed: 0 }
    }

    /// The bound in force.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Units out now that are retired, not given back, when they return.
    pub fn owed(&self) -> usize {
        self.owed
    }

    /// Changes the bound to `size` and says how many units to add to the free ones. Growing
    /// first cancels what an earlier shrink still owed. Shrinking takes free units at once,
    /// through `take_free(n)`, which takes up to `n` and says how many it took; the rest are
    /// owed, retired as they come back.
    pub fn resize(&mut self, size: usize, take_free: impl FnOnce(usize) -> usize) -> usize {
        let added = if size >= self.size {
            let grow = size - self.size;
            let repaid = grow.min(self.owed);
            self.owed -= repaid;
            grow - repaid
        } else {
            let shrink = self.size - size;
            let taken = take_free(shrink).min(shrink);
            self.owed += shrink - taken;
            0
        };
        self.size = size;
        added
    }

    /// A unit came back: `true` if it is free again, `false` if it is retired (it paid off one
    /// that a shrink owed).
    pub fn give_back(&mut self) -> bool {
        if self.owed > 0 {
            self.owed -= 1;
            false
        } else {
            true
        }
    }
}

/// One unit of the limit, given back (or retired, after a shrink) when dropped.
#[derive(Debug)]
pub struct LimitPermit<'a> {
    limit: &'a Limit,
    permit: Option<SemaphorePermit<'a>>,
}

impl Limit {
    pub fn new(size: usize) -> Limit {
        Limit {
            semaphore: Semaphore::new(size),
            ledger: Mutex::new(Ledger::new(size)),
        }
    }

    /// Waits for a permit. Fails only if the semaphore were closed, which it never is.
    pub async fn acquire(&self) -> Result<LimitPermit<'_>, AcquireError> {
        let permit = self.semaphore.acquire().await?;
        Ok(LimitPermit {
            limit: self,
            permit: Some(permit),
        })
    }

    /// The bound in force.
    pub fn size(&self) -> usize {
        self.ledger().size()
    }

    /// Changes the bound. Work holding permits goes on; when the limit shrinks below what is
    /// held, no new permit is handed out until enough of them have come back.
    pub fn resize(&self, size: usize) {
        let mut ledger = self.ledger();
        let added = ledger.resize(size, |n| self.semaphore.forget_permits(n));
        self.semaphore.add_permits(added);
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for LimitPermit<'_> {
    fn drop(&mut self) {
        // Under the lock, so that a resize never sees a permit half given back.
        let mut ledger = self.limit.ledger();
        let Some(permit) = self.permit.take() else {
            return;
        };
        if ledger.give_back() {
            drop(permit);
        } else {
            permit.forget();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free(limit: &Limit) -> usize {
        limit.semaphore.available_permits()
    }

    /// A bound over plain counts: `free` stands for the units nobody holds.
    #[test]
    fn the_ledger_takes_free_units_at_once_and_retires_the_rest_as_they_return() {
        let mut ledger = Ledger::new(4);
        let mut free = 1; // three out
        let added = ledger.resize(1, |n| {
            let taken = n.min(free);
            free -= taken;
            taken
        });
        assert_eq!((added, free, ledger.size(), ledger.owed()), (0, 0, 1, 2));
        assert!(
            !ledger.give_back(),
            "retired: two out is over a bound of one"
        );
        assert!(!ledger.give_back(), "retired: one out is the bound");
        assert!(ledger.give_back(), "free again");
        assert_eq!(ledger.owed(), 0);
    }

    #[test]
    fn growing_the_ledger_cancels_what_a_shrink_owed_before_adding_units() {
        let mut ledger = Ledger::new(3);
        assert_eq!(ledger.resize(1, |_| 0), 0);
        assert_eq!(ledger.owed(), 2);
        assert_eq!(ledger.resize(2, |_| unreachable!()), 0, "repays one owed");
        assert_eq!(ledger.owed(), 1);
        assert_eq!(
            ledger.resize(5, |_| unreachable!()),
            2,
            "repays the last, adds two"
        );
        assert_eq!((ledger.size(), ledger.owed()), (5, 0));
        assert_eq!(ledger.resize(5, |_| unreachable!()), 0);
    }

    #[test]
    fn a_take_that_claims_more_than_asked_cannot_unbalance_the_ledger() {
        let mut ledger = Ledger::new(3);
        assert_eq!(ledger.resize(2, |_| 7), 0);
        assert_eq!((ledger.size(), ledger.owed()), (2, 0));
    }

    #[tokio::test]
    async fn shrinking_below_what_is_held_hands_out_nothing_until_enough_come_back() {
        let limit = Limit::new(3);
        let a = limit.acquire().await.unwrap();
        let b = limit.acquire().await.unwrap();
        let c = limit.acquire().await.unwrap();
        limit.resize(1);
        assert_eq!(limit.size(), 1);
        drop(a);
        assert_eq!(free(&limit), 0, "two held, bound one: nothing free");
        drop(b);
        assert_eq!(free(&limit), 0, "one held, bound one: nothing free");
        drop(c);
        assert_eq!(free(&limit), 1);
        let _d = limit.acquire().await.unwrap();
        assert!(limit.semaphore.try_acquire().is_err());
    }

    #[tokio::test]
    async fn shrinking_takes_free_permits_at_once() {
        let limit = Limit::new(4);
        let a = limit.acquire().await.unwrap();
        limit.resize(2);
        assert_eq!(free(&limit), 1);
        drop(a);
        assert_eq!(free(&limit), 2);
    }

    #[tokio::test]
    async fn growing_first_cancels_what_a_shrink_still_owed() {
        let limit = Limit::new(2);
        let a = limit.acquire().await.unwrap();
        let b = limit.acquire().await.unwrap();
        limit.resize(1);
        limit.resize(2);
        assert_eq!(free(&limit), 0, "two held, bound two");
        limit.resize(3);
        assert_eq!(free(&limit), 1);
        drop(a);
        drop(b);
        assert_eq!(free(&limit), 3);
    }

    #[tokio::test]
    async fn a_waiter_gets_its_permit_only_when_the_new_bound_allows() {
        let limit = std::sync::Arc::new(Limit::new(2));
        let a = limit.acquire().await.unwrap();
        let b = limit.acquire().await.unwrap();
        limit.resize(1);
        let waiter = {
            let limit = std::sync::Arc::clone(&limit);
            tokio::spawn(async move {
                let _permit = limit.acquire().await.unwrap();
            })
        };
        drop(a);
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(
            !waiter.is_finished(),
            "one still held against a bound of one"
        );
        drop(b);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("the waiter runs once nothing is held")
            .unwrap();
    }
}
