//! The submitter's queue of jobs ready to send and waiting for a worker.
//!
//! A job is bound to a worker when it is ready to go (preprocessed) and a worker can start it
//! at once or right after the job it runs now, not when make starts it. Bound at plan time, a
//! job waits in one worker's queue while another worker falls idle, and the biggest file of a
//! build, which make often reaches near the end (Lua's `lvm.c` is 31st of 32), waits behind
//! small ones and then runs alone while the mesh idles. Bound late, each job goes to the first
//! worker that frees up, and the biggest waiting job goes first: longest processing time first
//! (Graham, 1969), the rule that keeps a build from ending on one long job started late.
//!
//! A slot on this host that frees up takes the *smallest* waiting job instead: this host's CPU
//! also preprocesses every remote job, so a compile here is slower than its size says (in the
//! lab benchmark, `lvm.c` took 3.7 s here where a worker took 2), and a small job misjudged
//! costs little.
//!
//! The queue is generic over what a placement hands back so that its order can be tested
//! without an agent.

use std::cmp::Reverse;
use std::time::{Duration, Instant};

use meshcc_wire::ids::ToolchainId;
use tokio::sync::oneshot;

/// The longest a job waits for a worker before it is compiled locally instead: every worker
/// stuck full this long (a status that no longer moves) must not stall the build.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// Where a waiting job can go now.
#[derive(Debug)]
pub enum Free<T> {
    /// This worker takes it.
    Worker(T),
    /// Every worker is busy: keep waiting.
    Busy,
    /// No peer can run this toolchain at all: compile locally.
    Nobody,
}

impl<T> Free<T> {
    /// The same answer with the placement converted.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Free<U> {
        match self {
            Free::Worker(placed) => Free::Worker(f(placed)),
            Free::Busy => Free::Busy,
            Free::Nobody => Free::Nobody,
        }
    }
}

/// A job waiting for a worker.
#[derive(Debug)]
pub struct Waiting<T> {
    /// The preprocessed translation unit's length: the larger, the sooner it is sent.
    pub size: u64,
    /// The job's toolchain (not every worker may take every toolchain).
    pub toolchain: ToolchainId,
    /// Since when it waits.
    pub since: Instant,
    /// The worker, or why the job should be compiled locally.
    pub reply: oneshot::Sender<Result<T, String>>,
}

/// Jobs waiting for a worker, sent biggest first.
#[derive(Debug)]
pub struct DispatchQueue<T> {
    waiting: Vec<Waiting<T>>,
}

impl<T> Default for DispatchQueue<T> {
    fn default() -> Self {
        Self {
            waiting: Vec::new(),
        }
    }
}

impl<T> DispatchQueue<T> {
    /// Adds a job; [`DispatchQueue::dispatch`] places it.
    pub fn push(&mut self, job: Waiting<T>) {
        self.waiting.push(job);
    }

    /// Jobs waiting now.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether no job waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Offers waiting jobs, biggest first, to `peers`, which places each one it can; then,
    /// smallest first, to `here` (a free slot on this host). Answers the placed ones, those
    /// no peer can run, and those that waited past [`MAX_WAIT`]. Jobs whose wrapper has gone
    /// are dropped unplaced.
    pub fn dispatch(
        &mut self,
        mut peers: impl FnMut(ToolchainId) -> Free<T>,
        mut here: impl FnMut() -> Option<T>,
    ) {
        self.waiting.retain(|w| !w.reply.is_closed());
        // Stable: equal sizes keep make's order.
        self.waiting.sort_by_key(|w| Reverse(w.size));
        let mut i = 0;
        while i < self.waiting.len() {
            let answer = match peers(self.waiting[i].toolchain) {
                Free::Worker(placed) => Ok(placed),
                Free::Nobody => Err("no peer can take this compile now".to_owned()),
                Free::Busy => {
                    i += 1;
                    continue;
                }
            };
            self.answer(i, answer);
        }
        while let Some(placed) = self.waiting.last().and_then(|_| here()) {
            self.answer(self.waiting.len() - 1, Ok(placed));
        }
        while let Some(i) = self
            .waiting
            .iter()
            .position(|w| w.since.elapsed() >= MAX_WAIT)
        {
            let why = format!("no worker came free within {}s", MAX_WAIT.as_secs());
            self.answer(i, Err(why));
        }
    }

    fn answer(&mut self, i: usize, answer: Result<T, String>) {
        let job = self.waiting.remove(i);
        // A wrapper that left just now drops the placement, which frees the worker again.
        let _ = job.reply.send(answer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(
        queue: &mut DispatchQueue<&'static str>,
        size: u64,
    ) -> oneshot::Receiver<Result<&'static str, String>> {
        let (reply, rx) = oneshot::channel();
        queue.push(Waiting {
            size,
            toolchain: ToolchainId([0; 32]),
            since: Instant::now(),
            reply,
        });
        rx
    }

    #[test]
    fn the_biggest_waiting_job_takes_the_first_free_worker() {
        let mut queue = DispatchQueue::default();
        let mut small = job(&mut queue, 2_000);
        let mut big = job(&mut queue, 90_000);
        let mut middle = job(&mut queue, 40_000);
        let mut workers = vec!["w2", "w1"];
        queue.dispatch(|_| workers.pop().map_or(Free::Busy, Free::Worker), || None);
        assert_eq!(big.try_recv().unwrap(), Ok("w1"));
        assert_eq!(middle.try_recv().unwrap(), Ok("w2"));
        assert!(small.try_recv().is_err(), "no worker left: it waits");
        assert_eq!(queue.len(), 1);
        queue.dispatch(|_| Free::Worker("w3"), || None);
        assert_eq!(small.try_recv().unwrap(), Ok("w3"));
        assert!(queue.is_empty());
    }

    #[test]
    fn a_free_slot_here_takes_the_smallest_waiting_job() {
        let mut queue = DispatchQueue::default();
        let mut big = job(&mut queue, 90_000);
        let mut small = job(&mut queue, 2_000);
        let mut middle = job(&mut queue, 40_000);
        let mut slots_here = vec!["here"];
        queue.dispatch(|_| Free::Busy, || slots_here.pop());
        assert_eq!(small.try_recv().unwrap(), Ok("here"));
        assert!(big.try_recv().is_err() && middle.try_recv().is_err());
        queue.dispatch(|_| Free::Worker("w"), || Some("here"));
        assert_eq!(
            big.try_recv().unwrap(),
            Ok("w"),
            "workers first, biggest first"
        );
        assert_eq!(middle.try_recv().unwrap(), Ok("w"));
    }

    #[test]
    fn equal_sizes_keep_their_order() {
        let mut queue = DispatchQueue::default();
        let mut first = job(&mut queue, 5);
        let mut second = job(&mut queue, 5);
        let mut workers = vec!["b", "a"];
        queue.dispatch(|_| workers.pop().map_or(Free::Busy, Free::Worker), || None);
        assert_eq!(first.try_recv().unwrap(), Ok("a"));
        assert_eq!(second.try_recv().unwrap(), Ok("b"));
    }

    #[test]
    fn no_peer_at_all_sends_every_job_back_to_compile_locally() {
        let mut queue = DispatchQueue::default();
        let mut a = job(&mut queue, 1);
        let mut b = job(&mut queue, 2);
        queue.dispatch(|_| Free::Nobody, || None);
        assert!(a.try_recv().unwrap().is_err());
        assert!(b.try_recv().unwrap().is_err());
        assert!(queue.is_empty());
    }

    #[test]
    fn a_job_waiting_past_the_limit_is_compiled_locally() {
        let mut queue = DispatchQueue::default();
        let (reply, mut old) = oneshot::channel();
        queue.push(Waiting {
            size: 1,
            toolchain: ToolchainId([0; 32]),
            since: Instant::now() - MAX_WAIT,
            reply,
        });
        let mut fresh = job(&mut queue, 1);
        queue.dispatch(|_| Free::<&str>::Busy, || None);
        let why = old.try_recv().unwrap().unwrap_err();
        assert!(why.contains("no worker came free"), "{why}");
        assert!(fresh.try_recv().is_err(), "a fresh job keeps waiting");
    }

    #[test]
    fn a_job_whose_wrapper_left_is_not_placed() {
        let mut queue = DispatchQueue::default();
        drop(job(&mut queue, 100));
        let mut kept = job(&mut queue, 1);
        let mut offered = 0;
        queue.dispatch(
            |_| {
                offered += 1;
                Free::Worker("w")
            },
            || None,
        );
        assert_eq!(offered, 1, "only the live job is offered a worker");
        assert_eq!(kept.try_recv().unwrap(), Ok("w"));
    }
}
