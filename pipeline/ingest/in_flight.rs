//! Between the decoding threads and the writer: a decoded chunk with its
//! place in input order, and the [`Budget`] that bounds the weight of chunks
//! admitted for decoding and not yet written.

use std::sync::{Condvar, Mutex};

use crate::ingest::decode::ChunkOutput;

/// The most weight of chunks admitted and not yet written (a single heavier
/// chunk is admitted alone).
pub const IN_FLIGHT_WEIGHT: usize = 32 << 20;

/// A decoded chunk on its way to the writer.
pub(crate) struct Decoded {
    /// The chunk's place in input order.
    pub seq: u64,
    /// Its weight, handed back to the [`Budget`] once it is written.
    pub weight: usize,
    /// What it gave.
    pub output: ChunkOutput,
}

#[derive(Default)]
struct BudgetState {
    in_flight: usize,
    running: usize,
    closed: bool,
}

/// The weight of chunks in flight, and the decoding tasks still running.
#[derive(Default)]
pub(crate) struct Budget {
    state: Mutex<BudgetState>,
    changed: Condvar,
}

impl Budget {
    fn lock(&self) -> std::sync::MutexGuard<'_, BudgetState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until `weight` more fits, then admits it as one running task;
    /// false once the writer has stopped.
    pub(crate) fn admit(&self, weight: usize) -> bool {
        let mut s = self.lock();
        while !s.closed && s.in_flight > 0 && s.in_flight + weight > IN_FLIGHT_WEIGHT {
            s = self.changed.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        if s.closed {
            return false;
        }
        s.in_flight += weight;
        s.running += 1;
        true
    }

    /// A decoding task has finished.
    pub(crate) fn task_done(&self) {
        self.lock().running -= 1;
        self.changed.notify_all();
    }

    /// Waits until no decoding task runs.
    pub(crate) fn wait_idle(&self) {
        let mut s = self.lock();
        while s.running > 0 {
            s = self.changed.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// A chunk of `weight` has been written.
    pub(crate) fn release(&self, weight: usize) {
        let mut s = self.lock();
        s.in_flight = s.in_flight.saturating_sub(weight);
        drop(s);
        self.changed.notify_all();
    }

    /// The writer has stopped: admit nothing more.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// A guard that closes the budget when dropped, so that the decoders
    /// stop however the writer ends (an error, or a panic).
    pub(crate) fn closer(&self) -> impl Drop + '_ {
        struct Closer<'a>(&'a Budget);
        impl Drop for Closer<'_> {
            fn drop(&mut self) {
                self.0.close();
            }
        }
        Closer(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;
    use std::time::Duration;

    #[test]
    fn admits_up_to_the_limit_then_waits_for_a_release() {
        let budget = Arc::new(Budget::default());
        // Alone, a chunk heavier than the limit is admitted.
        assert!(budget.admit(IN_FLIGHT_WEIGHT + 1));
        budget.release(IN_FLIGHT_WEIGHT + 1);
        assert!(budget.admit(IN_FLIGHT_WEIGHT / 2));
        assert!(budget.admit(IN_FLIGHT_WEIGHT / 2));
        let waiting = {
            let budget = budget.clone();
            thread::spawn(move || budget.admit(1))
        };
        thread::sleep(Duration::from_millis(50));
        assert!(!waiting.is_finished(), "a full budget admits nothing more");
        budget.release(IN_FLIGHT_WEIGHT / 2);
        assert!(waiting.join().unwrap(), "a release lets the next chunk in");
        assert_eq!(budget.lock().in_flight, IN_FLIGHT_WEIGHT / 2 + 1);
        assert_eq!(budget.lock().running, 4);
    }

    #[test]
    fn closing_refuses_waiting_and_later_chunks() {
        let budget = Arc::new(Budget::default());
        assert!(budget.admit(IN_FLIGHT_WEIGHT));
        let waiting = {
            let budget = budget.clone();
            thread::spawn(move || budget.admit(1))
        };
        thread::sleep(Duration::from_millis(50));
        drop(budget.closer());
        assert!(!waiting.join().unwrap(), "closing wakes a waiting admit");
        assert!(!budget.admit(1), "nothing is admitted once closed");
    }

    #[test]
    fn wait_idle_returns_once_every_task_is_done() {
        let budget = Arc::new(Budget::default());
        assert!(budget.admit(1));
        assert!(budget.admit(1));
        let idle = {
            let budget = budget.clone();
            thread::spawn(move || budget.wait_idle())
        };
        budget.task_done();
        thread::sleep(Duration::from_millis(50));
        assert!(!idle.is_finished(), "one task still runs");
        budget.task_done();
        idle.join().unwrap();
    }
}
