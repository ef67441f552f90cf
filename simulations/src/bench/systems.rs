//! The systems compared: a local build, meshcc, icecc and distcc, each started in the lab's
//! hosts and torn down again, and each able to say, from one job's client log, where that job
//! ran.

mod distcc;
pub mod icecc;
mod meshcc;

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

pub use distcc::Distcc;
pub use icecc::Icecc;
pub use meshcc::Meshcc;

/// Which system builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SystemKind {
    /// The compiler alone on host 0, `make -jK` for host 0's quota.
    Local,
    /// meshcc agents on every host.
    Meshcc,
    /// An icecc scheduler and an iceccd per host.
    Icecc,
    /// A distccd per host.
    Distcc,
}

impl SystemKind {
    /// Every system, in report order.
    pub const ALL: [SystemKind; 4] = [
        SystemKind::Local,
        SystemKind::Meshcc,
        SystemKind::Icecc,
        SystemKind::Distcc,
    ];

    /// Its name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            SystemKind::Local => "local",
            SystemKind::Meshcc => "meshcc",
            SystemKind::Icecc => "icecc",
            SystemKind::Distcc => "distcc",
        }
    }
}

impl fmt::Display for SystemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SystemKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        SystemKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unknown system {s:?} (local, meshcc, icecc, distcc)"))
    }
}

/// How to run a build through a system on host 0.
#[derive(Debug, Clone, Default)]
pub struct BuildSetup {
    /// `make -j` this.
    pub jobs: usize,
    /// Put before the compiler in `CC`/`CXX` (`meshcc`, `icecc`, `distcc`; nothing for local).
    pub prefix: Vec<OsString>,
    /// Extra environment for the build.
    pub env: Vec<(String, String)>,
    /// Private bind mounts the build needs (icecc: host 0's own `/var/run/icecc`).
    pub mounts: Vec<(PathBuf, PathBuf)>,
}

/// What happened to one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobHow {
    /// Compiled on another host.
    Remote,
    /// Compiled on the submitting host, by choice.
    Local,
    /// Meant for another host, compiled locally after something went wrong.
    Fallback,
}

impl JobHow {
    /// Its name in the CSV.
    pub fn name(self) -> &'static str {
        match self {
            JobHow::Remote => "remote",
            JobHow::Local => "local",
            JobHow::Fallback => "fallback",
        }
    }
}

/// Where one job ran, read from its client log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Remote, local or fallback.
    pub how: JobHow,
    /// The host that compiled it (0 for local and fallback jobs; `None` when the log names a
    /// host that is not in the lab).
    pub host: Option<usize>,
}

impl Placement {
    /// On the submitting host (host 0).
    pub fn local(how: JobHow) -> Placement {
        Placement { how, host: Some(0) }
    }
}

/// The lab's address of host `i`, as the systems' logs print it.
pub(crate) fn host_of_addr(addrs: &[std::net::Ipv4Addr], text: &str) -> Option<usize> {
    addrs.iter().position(|a| a.to_string() == text)
}
