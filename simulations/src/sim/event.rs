//! The event calendar: a min-heap on time, ties broken by insertion order so that a run is a
//! deterministic function of its seed.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Something that happens at an instant of model time (unit: one mean job service time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The next job (Poisson mode) or build (build mode) arrives.
    Arrival,
    /// `job` finishes on `node`, freeing a slot.
    Finish { node: u32, job: u32 },
    /// The result of `job` reaches its submitter.
    Returned { job: u32 },
    /// A slot on `node` held by a late-binding reservation that got no job is free again.
    SlotFree { node: u32 },
}

struct Entry {
    time: f64,
    seq: u64,
    event: Event,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest entry.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .time
            .total_cmp(&self.time)
            .then(other.seq.cmp(&self.seq))
    }
}

/// Pending events.
#[derive(Default)]
pub struct Calendar {
    heap: BinaryHeap<Entry>,
    seq: u64,
}

impl Calendar {
    /// Schedule `event` at `time`.
    pub fn push(&mut self, time: f64, event: Event) {
        self.seq += 1;
        self.heap.push(Entry {
            time,
            seq: self.seq,
            event,
        });
    }

    /// The earliest pending event.
    pub fn pop(&mut self) -> Option<(f64, Event)> {
        self.heap.pop().map(|e| (e.time, e.event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_time_then_insertion_order() {
        let mut c = Calendar::default();
        c.push(2.0, Event::SlotFree { node: 2 });
        c.push(1.0, Event::SlotFree { node: 1 });
        c.push(1.0, Event::SlotFree { node: 3 });
        let order: Vec<_> = std::iter::from_fn(|| c.pop()).collect();
        assert_eq!(
            order,
            [
                (1.0, Event::SlotFree { node: 1 }),
                (1.0, Event::SlotFree { node: 3 }),
                (2.0, Event::SlotFree { node: 2 }),
            ]
        );
    }
}
