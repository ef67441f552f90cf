//! Resource limits, and telling afterwards which one stopped a job.
//!
//! Most limits are rlimits, which the kernel enforces per process: a compile whose `cc1` runs
//! out of CPU time dies of `SIGXCPU`, and the driver then exits with an ordinary error status
//! and a sentence on stderr. So the reason a job stopped is read from three places — the
//! signal, the supervisor's own actions (wall clock, output caps), and the few fixed phrases
//! that libc, gcc and clang print when a limit bites — and reported as a [`LimitHit`] whose
//! `Display` is a sentence a user can act on ("the job ran out of memory (limit 512 MiB)"),
//! never a bare number.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::outcome::{Stream, Termination, Usage};
use crate::spec::SpecError;

/// Resource limits for one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// CPU seconds per process (`RLIMIT_CPU`; `SIGXCPU` at the limit, `SIGKILL` a second later).
    pub cpu_secs: u64,
    /// Address space per process, bytes (`RLIMIT_AS`).
    pub memory_bytes: u64,
    /// Largest file a process may write, bytes (`RLIMIT_FSIZE`).
    pub file_size_bytes: u64,
    /// Processes, counting the sandbox's own two (`RLIMIT_NPROC`, per user namespace).
    pub processes: u64,
    /// Open files per process (`RLIMIT_NOFILE`).
    pub open_files: u64,
    /// Wall-clock time from the job's start, milliseconds.
    pub wall_ms: u64,
    /// Size of the tmpfs holding everything the job writes, bytes.
    pub scratch_bytes: u64,
    /// Total bytes of output files read back.
    pub output_bytes: u64,
    /// Bytes kept of stdout and of stderr each; a job writing more is stopped.
    pub stream_bytes: u64,
}

impl Default for Limits {
    /// Generous for any real compile, small enough that a hostile job cannot hurt the worker.
    fn default() -> Self {
        const MIB: u64 = 1024 * 1024;
        Limits {
            cpu_secs: 300,
            memory_bytes: 4096 * MIB,
            file_size_bytes: 1024 * MIB,
            processes: 64,
            open_files: 1024,
            wall_ms: 600_000,
            scratch_bytes: 1024 * MIB,
            output_bytes: 48 * MIB,
            stream_bytes: 4 * MIB,
        }
    }
}

/// Room left in a helper reply frame for everything that is not output or stream bytes.
const FRAME_SLACK: u64 = 1024 * 1024;

impl Limits {
    /// Checks the limits are usable: none zero, and the reply fits one frame.
    pub fn validate(&self) -> Result<(), SpecError> {
        let fields = [
            ("cpu_secs", self.cpu_secs),
            ("memory_bytes", self.memory_bytes),
            ("file_size_bytes", self.file_size_bytes),
            ("processes", self.processes),
            ("open_files", self.open_files),
            ("wall_ms", self.wall_ms),
            ("scratch_bytes", self.scratch_bytes),
            ("stream_bytes", self.stream_bytes),
        ];
        for (name, value) in fields {
            if value == 0 {
                let why = "a zero limit would stop every job";
                return Err(SpecError::Limit { name, value, why });
            }
        }
        if self.processes < 4 {
            let why = "the sandbox itself uses two processes";
            let (name, value) = ("processes", self.processes);
            return Err(SpecError::Limit { name, value, why });
        }
        let reply = self.output_bytes + 2 * self.stream_bytes + FRAME_SLACK;
        if reply > meshcc_wire::MAX_MESSAGE_SIZE as u64 {
            let why = "outputs plus both streams must fit one 64 MiB frame";
            let (name, value) = ("output_bytes", self.output_bytes);
            return Err(SpecError::Limit { name, value, why });
        }
        Ok(())
    }
}

/// The limit that stopped a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LimitHit {
    /// A process used up its CPU time.
    CpuTime {
        /// The limit, seconds.
        limit_secs: u64,
    },
    /// A process could not get memory.
    Memory {
        /// The limit, bytes.
        limit_bytes: u64,
    },
    /// A process tried to write a file larger than allowed.
    FileSize {
        /// The limit, bytes.
        limit_bytes: u64,
    },
    /// A process could not fork.
    Processes {
        /// The limit.
        limit: u64,
    },
    /// The job ran past its wall-clock time and was killed.
    WallClock {
        /// The limit, milliseconds.
        limit_ms: u64,
    },
    /// The job wrote more than allowed to stdout or stderr and was killed.
    Output {
        /// Which stream.
        stream: Stream,
        /// The limit, bytes.
        limit_bytes: u64,
    },
    /// The job filled its scratch space.
    ScratchSpace {
        /// The limit, bytes.
        limit_bytes: u64,
    },
}

fn human_bytes(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

impl fmt::Display for LimitHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LimitHit::CpuTime { limit_secs } => {
                write!(
                    f,
                    "the job ran out of CPU time (limit {limit_secs} s per process)"
                )
            }
            LimitHit::Memory { limit_bytes } => write!(
                f,
                "the job ran out of memory (limit {})",
                human_bytes(limit_bytes)
            ),
            LimitHit::FileSize { limit_bytes } => write!(
                f,
                "the job tried to write a file larger than the file-size limit ({})",
                human_bytes(limit_bytes)
            ),
            LimitHit::Processes { limit } => {
                write!(f, "the job could not start more processes (limit {limit})")
            }
            LimitHit::WallClock { limit_ms } => write!(
                f,
                "the job was killed when it reached its wall-clock limit ({:.1} s)",
                limit_ms as f64 / 1000.0
            ),
            LimitHit::Output {
                stream,
                limit_bytes,
            } => write!(
                f,
                "the job was killed for writing more than {} to {stream}",
                human_bytes(limit_bytes)
            ),
            LimitHit::ScratchSpace { limit_bytes } => write!(
                f,
                "the job filled its scratch space (limit {})",
                human_bytes(limit_bytes)
            ),
        }
    }
}

/// What the supervisor knows when deciding why a job stopped.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    /// How the job's main process ended.
    pub termination: Termination,
    /// What the job wrote to stderr (kept part).
    pub stderr: &'a [u8],
    /// Resources used.
    pub usage: Usage,
    /// The supervisor killed the job at the wall clock.
    pub wall_killed: bool,
    /// The supervisor killed the job for writing too much to this stream.
    pub stream_overflow: Option<Stream>,
}

/// Decides which limit, if any, stopped a job. A successful job was stopped by none.
pub fn classify(ev: &Evidence<'_>, limits: &Limits) -> Option<LimitHit> {
    if ev.wall_killed {
        return Some(LimitHit::WallClock {
            limit_ms: limits.wall_ms,
        });
    }
    if let Some(stream) = ev.stream_overflow {
        let limit_bytes = limits.stream_bytes;
        return Some(LimitHit::Output {
            stream,
            limit_bytes,
        });
    }
    let cpu = LimitHit::CpuTime {
        limit_secs: limits.cpu_secs,
    };
    let memory = LimitHit::Memory {
        limit_bytes: limits.memory_bytes,
    };
    let fsize = LimitHit::FileSize {
        limit_bytes: limits.file_size_bytes,
    };
    match ev.termination {
        Termination::Exited(0) => return None,
        Termination::Signaled(sig) if sig == libc::SIGXCPU => return Some(cpu),
        Termination::Signaled(sig) if sig == libc::SIGXFSZ => return Some(fsize),
        // SIGKILL follows SIGXCPU one second after the soft CPU limit if it was ignored.
        Termination::Signaled(sig)
            if sig == libc::SIGKILL && ev.usage.cpu_ms() >= limits.cpu_secs * 1000 =>
        {
            return Some(cpu)
        }
        _ => {}
    }
    let text = String::from_utf8_lossy(ev.stderr).to_ascii_lowercase();
    let said = |phrases: &[&str]| phrases.iter().any(|p| text.contains(p));
    // The driver's words when a child died of a limit signal, e.g. gcc's "CPU time limit
    // exceeded signal terminated program cc1".
    if said(&["cpu time limit exceeded"]) {
        return Some(cpu);
    }
    if said(&["file size limit exceeded"]) {
        return Some(fsize);
    }
    // gcc: "virtual memory exhausted", "out of memory allocating"; clang/libstdc++:
    // "std::bad_alloc", "LLVM ERROR: out of memory"; libc: "Cannot allocate memory".
    if said(&[
        "memory exhausted",
        "out of memory",
        "cannot allocate memory",
        "bad_alloc",
    ]) {
        return Some(memory);
    }
    if said(&["no space left on device"]) {
        let limit_bytes = limits.scratch_bytes;
        return Some(LimitHit::ScratchSpace { limit_bytes });
    }
    // fork/vfork/posix_spawn failing with EAGAIN under RLIMIT_NPROC.
    if text.contains("fork") && said(&["resource temporarily unavailable", "cannot fork"]) {
        let limit = limits.processes;
        return Some(LimitHit::Processes { limit });
    }
    // A process killed or crashed while close to its address-space cap most likely failed to
    // grow its heap or stack there.
    if let Termination::Signaled(sig) = ev.termination {
        let near_cap = ev.usage.max_rss_bytes.saturating_mul(2) >= limits.memory_bytes;
        if near_cap && [libc::SIGKILL, libc::SIGSEGV, libc::SIGABRT, libc::SIGBUS].contains(&sig) {
            return Some(memory);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(termination: Termination, stderr: &str) -> Evidence<'_> {
        Evidence {
            termination,
            stderr: stderr.as_bytes(),
            usage: Usage::default(),
            wall_killed: false,
            stream_overflow: None,
        }
    }

    fn hit(e: Evidence<'_>) -> Option<LimitHit> {
        classify(&e, &Limits::default())
    }

    #[test]
    fn success_is_never_a_limit_even_if_stderr_says_so() {
        assert_eq!(
            hit(ev(Termination::Exited(0), "warning: out of memory")),
            None
        );
    }

    #[test]
    fn signals_name_their_limit() {
        let e = ev(Termination::Signaled(libc::SIGXCPU), "");
        assert!(matches!(
            hit(e),
            Some(LimitHit::CpuTime { limit_secs: 300 })
        ));
        let e = ev(Termination::Signaled(libc::SIGXFSZ), "");
        assert!(matches!(hit(e), Some(LimitHit::FileSize { .. })));
    }

    #[test]
    fn compiler_words_name_their_limit() {
        let cases = [
            (
                "gcc: fatal error: CPU time limit exceeded signal terminated program cc1",
                "cpu",
            ),
            (
                "cc1: out of memory allocating 65536 bytes after a total of 0 bytes",
                "mem",
            ),
            ("virtual memory exhausted: Cannot allocate memory", "mem"),
            (
                "terminate called after throwing an instance of 'std::bad_alloc'",
                "mem",
            ),
            (
                "as: File size limit exceeded signal terminated program as",
                "fsize",
            ),
            (
                "gcc: fatal error: cannot execute 'cc1': fork: Resource temporarily unavailable",
                "proc",
            ),
            ("foo.o: No space left on device", "scratch"),
        ];
        for (stderr, want) in cases {
            let got = hit(ev(Termination::Exited(1), stderr));
            let kind = match got {
                Some(LimitHit::CpuTime { .. }) => "cpu",
                Some(LimitHit::Memory { .. }) => "mem",
                Some(LimitHit::FileSize { .. }) => "fsize",
                Some(LimitHit::Processes { .. }) => "proc",
                Some(LimitHit::ScratchSpace { .. }) => "scratch",
                _ => "none",
            };
            assert_eq!(kind, want, "{stderr}");
        }
    }

    #[test]
    fn an_ordinary_compile_error_is_no_limit() {
        let e = ev(
            Termination::Exited(1),
            "foo.c:3:1: error: expected ';' before '}' token",
        );
        assert_eq!(hit(e), None);
    }

    #[test]
    fn supervisor_kills_take_precedence() {
        let mut e = ev(Termination::Signaled(libc::SIGKILL), "");
        e.wall_killed = true;
        assert!(matches!(hit(e), Some(LimitHit::WallClock { .. })));
        let mut e = ev(Termination::Signaled(libc::SIGKILL), "");
        e.stream_overflow = Some(Stream::Stdout);
        assert!(matches!(hit(e), Some(LimitHit::Output { .. })));
    }

    #[test]
    fn a_crash_near_the_memory_cap_is_memory() {
        let mut e = ev(Termination::Signaled(libc::SIGSEGV), "");
        e.usage.max_rss_bytes = 3 * 1024 * 1024 * 1024;
        assert!(matches!(hit(e), Some(LimitHit::Memory { .. })));
        e.usage.max_rss_bytes = 10 * 1024 * 1024;
        assert_eq!(hit(e), None);
    }

    #[test]
    fn sentences_are_plain() {
        let m = LimitHit::Memory {
            limit_bytes: 512 * 1024 * 1024,
        };
        assert_eq!(m.to_string(), "the job ran out of memory (limit 512 MiB)");
        let w = LimitHit::WallClock { limit_ms: 1500 };
        assert_eq!(
            w.to_string(),
            "the job was killed when it reached its wall-clock limit (1.5 s)"
        );
    }

    #[test]
    fn limits_are_checked() {
        Limits::default().validate().unwrap();
        let zero = Limits {
            cpu_secs: 0,
            ..Limits::default()
        };
        assert!(zero.validate().is_err());
        let huge = Limits {
            output_bytes: 64 * 1024 * 1024,
            ..Limits::default()
        };
        assert!(huge.validate().is_err());
    }
}
