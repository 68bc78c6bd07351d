//! The process-wide cap on Bromcom requests in flight, handing a free slot to the waiting
//! request of the school that started fetching first (then in order of asking). A reload may
//! resize it while requests are out: it is one cap, never a second one beside the first, and
//! its account of a resize is the [`Ledger`] that the bound on schools keeps too.
//!
//! A plain first-come queue serves every school's requests in turn, so the schools fetching
//! together all finish their fetch at about the same moment and then all write at once, with
//! every request slot idle meanwhile. Serving the oldest school first lets it finish early and
//! write while the others fetch, and lets the next school start.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

use crate::limit::Ledger;

/// Slots shared by every clone of the client, and by the clients a reload rebuilds.
#[derive(Debug)]
pub struct RequestSlots {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// The cap in force, and the slots out now that are retired rather than given back,
    /// because the cap shrank below what was out.
    ledger: Ledger,
    free: usize,
    /// Waiting requests, lowest (priority, arrival) first.
    waiting: BinaryHeap<Reverse<Waiter>>,
    arrivals: u64,
}

#[derive(Debug)]
struct Waiter {
    priority: u64,
    arrival: u64,
    wake: oneshot::Sender<Slot>,
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        (self.priority, self.arrival) == (other.priority, other.arrival)
    }
}
impl Eq for Waiter {}
impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiter {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.priority, self.arrival).cmp(&(other.priority, other.arrival))
    }
}

/// One request slot; given back (to the next waiter, or as free) when dropped, wherever that
/// happens: a slot sent to a waiter that has gone away is dropped with the channel.
#[derive(Debug)]
pub(super) struct Slot {
    /// `None` once given back.
    slots: Option<Arc<RequestSlots>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(slots) = self.slots.take() {
            slots.give_back();
        }
    }
}

impl RequestSlots {
    pub fn new(count: usize) -> Arc<RequestSlots> {
        Arc::new(RequestSlots {
            state: Mutex::new(State {
                ledger: Ledger::new(count),
                free: count,
                waiting: BinaryHeap::new(),
                arrivals: 0,
            }),
        })
    }

    /// Waits for a slot; a lower `priority` is served first.
    pub(super) async fn acquire(self: &Arc<Self>, priority: u64) -> Slot {
        let woken = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if state.free > 0 && state.waiting.is_empty() {
                state.free -= 1;
                return Slot {
                    slots: Some(Arc::clone(self)),
                };
            }
            let (wake, woken) = oneshot::channel();
            state.arrivals += 1;
            let arrival = state.arrivals;
            state.waiting.push(Reverse(Waiter {
                priority,
                arrival,
                wake,
            }));
            woken
        };
        match woken.await {
            Ok(slot) => slot,
            // The sender is only dropped after a send or while giving the slot to someone
            // else; should that ever happen, queue again rather than exceed the cap.
            Err(_) => Box::pin(self.acquire(priority)).await,
        }
    }

    /// Changes the cap. Requests holding slots go on; when the cap shrinks below what is out,
    /// no slot is handed out until enough have come back.
    pub fn resize(self: &Arc<Self>, size: usize) {
        let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let state = &mut *guard;
        let free = &mut state.free;
        let added = state.ledger.resize(size, |n| {
            let taken = n.min(*free);
            *free -= taken;
            taken
        });
        for _ in 0..added {
            self.hand_out(state);
        }
    }

    fn give_back(self: &Arc<Self>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.ledger.give_back() {
            self.hand_out(&mut state);
        }
    }

    /// One slot to the first waiter still waiting, or to the free ones.
    fn hand_out(self: &Arc<Self>, state: &mut State) {
        while let Some(Reverse(waiter)) = state.waiting.pop() {
            if waiter.wake.is_closed() {
                continue;
            }
            let slot = Slot {
                slots: Some(Arc::clone(self)),
            };
            match waiter.wake.send(slot) {
                Ok(()) => return,
                // Gone between the check and the send: the slot came back here; disarm it
                // (giving it back from its drop would lock again) and try the next waiter.
                Err(mut slot) => drop(slot.slots.take()),
            }
        }
        state.free += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_oldest_school_is_served_first_and_the_cap_holds() {
        let slots = RequestSlots::new(1);
        let held = slots.acquire(5).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for priority in [3u64, 1, 2] {
            let (slots, order) = (Arc::clone(&slots), Arc::clone(&order));
            tasks.push(tokio::spawn(async move {
                let _slot = slots.acquire(priority).await;
                order.lock().unwrap().push(priority);
            }));
            tokio::task::yield_now().await;
        }
        // A waiter that gives up does not take a slot with it.
        let gone =
            tokio::time::timeout(std::time::Duration::from_millis(1), slots.acquire(0)).await;
        assert!(gone.is_err());
        drop(held);
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![1, 2, 3]);
        let state = slots.state.lock().unwrap();
        assert_eq!((state.free, state.waiting.len()), (1, 0));
    }

    #[tokio::test]
    async fn a_resize_holds_the_cap_while_slots_are_out() {
        let slots = RequestSlots::new(3);
        let out: Vec<Slot> = vec![
            slots.acquire(0).await,
            slots.acquire(0).await,
            slots.acquire(0).await,
        ];
        slots.resize(1);
        let waiting = {
            let slots = Arc::clone(&slots);
            tokio::spawn(async move { slots.acquire(0).await })
        };
        let mut out = out.into_iter();
        drop(out.next());
        drop(out.next());
        tokio::task::yield_now().await;
        assert!(
            !waiting.is_finished(),
            "one slot is still out under a cap of 1"
        );
        drop(out.next());
        let slot = waiting.await.unwrap();
        {
            let state = slots.state.lock().unwrap();
            assert_eq!(
                (state.ledger.size(), state.free, state.ledger.owed()),
                (1, 0, 0)
            );
        }
        slots.resize(2);
        let second = slots.acquire(0).await;
        drop((slot, second));
        let state = slots.state.lock().unwrap();
        assert_eq!(
            (state.ledger.size(), state.free, state.ledger.owed()),
            (2, 2, 0)
        );
    }
}
