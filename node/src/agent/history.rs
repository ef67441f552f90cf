//! The agent's recent jobs, for the web monitor's Gantt chart: the compiles its clients ran
//! here or sent to a worker (one record per worker tried), and the ones it ran for peers.
//!
//! Bounded: the oldest records go first once [`CAPACITY`] are kept, so a long-running agent
//! holds a few hundred KiB at most.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use libp2p::PeerId;
use serde::Serialize;

/// Records kept.
pub const CAPACITY: usize = 2000;

/// Whose job and where it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A client's compile run on this machine.
    Local,
    /// A client's compile sent to a worker.
    Remote,
    /// A peer's compile run here.
    Served,
}

/// One job, or one attempt of a job on one worker.
#[derive(Debug, Clone, Serialize)]
pub struct JobRecord {
    /// Unique within this agent's run.
    pub id: u64,
    /// Whose job, and where.
    pub role: Role,
    /// The peer that ran it (remote) or sent it (served); none for a local compile.
    pub peer: Option<String>,
    /// What it compiled: the output file's name, or the compiler's for a local compile.
    pub label: String,
    /// Start, milliseconds since the Unix epoch.
    pub start_ms: u64,
    /// End, once it ended.
    pub end_ms: Option<u64>,
    /// How it ended: `ok`, `compile error`, or a short sentence on what went wrong.
    pub outcome: Option<String>,
}

/// The recent jobs.
#[derive(Debug, Default)]
pub struct History {
    next: AtomicU64,
    jobs: Mutex<VecDeque<JobRecord>>,
}

impl History {
    /// Records a job starting now; it stays running until its guard ends it.
    pub fn start(
        self: &Arc<Self>,
        role: Role,
        peer: Option<PeerId>,
        label: impl Into<String>,
    ) -> JobGuard {
        let mut jobs = self.jobs.lock().unwrap();
        // Taken under the lock, so records stay in id order for `end`'s binary search.
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if jobs.len() >= CAPACITY {
            jobs.pop_front();
        }
        jobs.push_back(JobRecord {
            id,
            role,
            peer: peer.map(|p| p.to_string()),
            label: label.into(),
            start_ms: now_ms(),
            end_ms: None,
            outcome: None,
        });
        JobGuard {
            history: self.clone(),
            id,
            ended: false,
        }
    }

    fn end(&self, id: u64, outcome: String) {
        let mut jobs = self.jobs.lock().unwrap();
        // Records are in id order, so the one sought is found by binary search (it may have
        // been dropped from the front already).
        if let Ok(i) = jobs.binary_search_by_key(&id, |j| j.id) {
            jobs[i].end_ms = Some(now_ms());
            jobs[i].outcome = Some(outcome);
        }
    }

    /// Every record kept, oldest first.
    pub fn snapshot(&self) -> Vec<JobRecord> {
        self.jobs.lock().unwrap().iter().cloned().collect()
    }
}

/// A running job's record; ends it when told how the job ended, or as `abandoned` when dropped
/// first (the client went away, the agent gave up on it).
#[derive(Debug)]
pub struct JobGuard {
    history: Arc<History>,
    id: u64,
    ended: bool,
}

impl JobGuard {
    /// Ends the record with `outcome`.
    pub fn end(mut self, outcome: impl Into<String>) {
        self.history.end(self.id, outcome.into());
        self.ended = true;
    }
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        if !self.ended {
            self.history.end(self.id, "abandoned".to_owned());
        }
    }
}

/// The file name of a compile's first output (`lapi.o`), for a label.
pub fn output_label(first_output: Option<&std::path::Path>) -> String {
    first_output.and_then(|o| o.file_name()).map_or_else(
        || "compile".to_owned(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_end_once_and_the_oldest_go_first() {
        let history = Arc::new(History::default());
        let first = history.start(Role::Local, None, "gcc");
        first.end("ok");
        let dropped = history.start(Role::Served, Some(PeerId::random()), "lapi.o");
        drop(dropped);
        let jobs = history.snapshot();
        assert_eq!(jobs[0].outcome.as_deref(), Some("ok"));
        assert_eq!(jobs[1].outcome.as_deref(), Some("abandoned"));
        assert!(jobs[1].end_ms >= Some(jobs[1].start_ms));
        for _ in 0..CAPACITY {
            history.start(Role::Remote, None, "x.o").end("ok");
        }
        let jobs = history.snapshot();
        assert_eq!(jobs.len(), CAPACITY);
        assert_eq!(jobs[0].id, 2, "the two oldest records made room");
    }

    #[test]
    fn a_label_is_the_output_file_name() {
        let output = std::path::Path::new("/src/lua/lapi.o");
        assert_eq!(output_label(Some(output)), "lapi.o");
        assert_eq!(output_label(None), "compile");
    }
}
