//! The bound on how many schools run at once, which a reload can change while some are running
//! (requests to Bromcom have their own resizable cap, `bromcom::RequestSlots`, which also orders
//! who is served first). Swapping in a new semaphore would let the work
//! holding the old one's permits run alongside a full set from the new one, so there is one
//! semaphore and it is resized: growing adds permits, shrinking takes the free ones at once and
//! the others as they come back.

use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::{AcquireError, Semaphore, SemaphorePermit};

/// At most `size` permits out at once, at every moment, across [`Limit::resize`].
#[derive(Debug)]
pub struct Limit {
    semaphore: Semaphore,
    sizing: Mutex<Sizing>,
}

#[derive(Debug)]
struct Sizing {
    size: usize,
    /// Permits held now that are not given back when released, because the limit shrank
    /// below what was held.
    owed: usize,
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
            sizing: Mutex::new(Sizing { size, owed: 0 }),
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
        self.sizing().size
    }

    /// Changes the bound. Work holding permits goes on; when the limit shrinks below what is
    /// held, no new permit is handed out until enough of them have come back.
    pub fn resize(&self, size: usize) {
        let mut sizing = self.sizing();
        if size > sizing.size {
            let grow = size - sizing.size;
            let repaid = grow.min(sizing.owed);
            sizing.owed -= repaid;
            self.semaphore.add_permits(grow - repaid);
        } else {
            let shrink = sizing.size - size;
            let taken = self.semaphore.forget_permits(shrink);
            sizing.owed += shrink - taken;
        }
        sizing.size = size;
    }

    fn sizing(&self) -> MutexGuard<'_, Sizing> {
        self.sizing.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for LimitPermit<'_> {
    fn drop(&mut self) {
        // Under the lock, so that a resize never sees a permit half given back.
        let mut sizing = self.limit.sizing();
        let Some(permit) = self.permit.take() else {
            return;
        };
        if sizing.owed > 0 {
            sizing.owed -= 1;
            permit.forget();
        } else {
            drop(permit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free(limit: &Limit) -> usize {
        limit.semaphore.available_permits()
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
