use std::path::{Path, PathBuf};

/// What can go wrong building, using or removing a lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// Namespaces, bridges and cgroups need root.
    #[error("this needs root: the lab creates network namespaces, bridges and cgroups (run it with sudo)")]
    NotRoot,
    /// A lab name that cannot be a directory name.
    #[error("invalid lab name {0:?}: use 1-32 letters, digits, '-', '_' or '.'")]
    BadName(String),
    /// A configuration that cannot be built.
    #[error("invalid lab configuration: {0}")]
    BadConfig(String),
    /// `up` on a lab that is already up.
    #[error("lab {name:?} is already up (state in {}); run `mesh-lab --lab {name} down` first", dir.display())]
    AlreadyUp { name: String, dir: PathBuf },
    /// A command on a lab that is not up.
    #[error("lab {0:?} is not up (run `mesh-lab --lab {0} up` first)")]
    NotUp(String),
    /// A host number out of range.
    #[error("no host {host}: the lab has hosts 0 to {}", hosts.saturating_sub(1))]
    NoSuchHost { host: usize, hosts: usize },
    /// Every lab index is taken.
    #[error("too many labs are up at once")]
    NoFreeIndex,
    /// `--cpu` on a machine without a usable CPU controller.
    #[error("no cgroup CPU controller found (neither cgroup v2 with `cpu` nor v1 `cpu` under /sys/fs/cgroup)")]
    NoCpuController,
    /// A `meshcc` binary could not be found.
    #[error("no `meshcc` binary next to this program or in PATH; pass --meshcc PATH")]
    NoMeshcc,
    /// An external tool could not be started.
    #[error("could not run `{cmd}`: {source}")]
    Spawn { cmd: String, source: std::io::Error },
    /// An external tool failed.
    #[error("`{cmd}` failed ({status}): {stderr}")]
    Command {
        cmd: String,
        status: String,
        stderr: String,
    },
    /// A file operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: String,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The state file is not what this version writes.
    #[error("unreadable lab state {}: {source}", path.display())]
    StateFile {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// Something the lab started did not become ready.
    #[error("timed out waiting for {0}")]
    Timeout(String),
    /// `agents` on a host whose agent still runs.
    #[error("an agent already runs on host {host} (pid {pid}); run `mesh-lab stop-agents` first")]
    AgentRunning { host: usize, pid: i32 },
    /// The agent exited as soon as it started.
    #[error("the agent on host {host} exited at once; see {}", log.display())]
    AgentDied { host: usize, log: PathBuf },
    /// `ping` printed no round-trip summary (no reply at all).
    #[error("no reply pinging host {to} from host {from}")]
    NoReply { from: usize, to: usize },
    /// Teardown removed what it could; these parts remain.
    #[error("lab teardown incomplete:\n  {}", .0.join("\n  "))]
    Teardown(Vec<String>),
}

impl LabError {
    pub(crate) fn io(action: &str, path: &Path, source: std::io::Error) -> LabError {
        LabError::Io {
            action: action.to_owned(),
            path: path.to_owned(),
            source,
        }
    }
}
