//! What can go wrong in a benchmark run.

use std::path::PathBuf;

use crate::lab::LabError;

/// A benchmark that could not be run (a build that fails is one of these too: a benchmark of a
/// broken build measures nothing).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The lab failed (creating hosts, running a command on one, …).
    #[error(transparent)]
    Lab(#[from] LabError),
    /// A tool exited with a failure.
    #[error("{cmd} failed ({status}): {stderr}")]
    Command {
        /// The command line.
        cmd: String,
        /// Its exit status.
        status: String,
        /// The end of what it printed on stderr.
        stderr: String,
    },
    /// A file or directory could not be read or written.
    #[error("cannot {what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// With which path.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// A daemon did not become ready (icecc's scheduler did not list every daemon, a meshcc
    /// agent did not see its peers, …).
    #[error("{system}: {what} (log: {log})")]
    NotReady {
        /// icecc, distcc or meshcc.
        system: &'static str,
        /// What was waited for.
        what: String,
        /// Where to look.
        log: PathBuf,
    },
    /// A package could not be installed.
    #[error("installing {packages:?} failed: {detail}")]
    Install {
        /// The Debian packages.
        packages: Vec<String>,
        /// What apt said.
        detail: String,
    },
    /// The workload's sources could not be found.
    #[error("workload {workload}: {detail}")]
    Sources {
        /// The workload.
        workload: String,
        /// Why.
        detail: String,
    },
    /// A build through one of the systems failed.
    #[error("{system} build of {workload} failed ({status}); its output is in {log}")]
    Build {
        /// Which system.
        system: String,
        /// Which workload.
        workload: String,
        /// make's exit status.
        status: String,
        /// make's output.
        log: PathBuf,
    },
    /// The report or the plot could not be written.
    #[error("writing {path}: {detail}")]
    Report {
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
}

impl BenchError {
    /// An [`BenchError::Io`] for `path`.
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        BenchError::Io {
            what,
            path: path.into(),
            source,
        }
    }
}
