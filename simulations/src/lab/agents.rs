//! One `meshcc agent` per lab host, daemonized so it outlives `mesh-lab`.

use std::env;
use std::ffi::OsString;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::spawn::HostCommand;
use super::state::{HostState, ProcRef};
use super::LabError;

/// The port every agent listens on, on its host's lab address.
pub const AGENT_PORT: u16 = 7070;

/// How to start agents.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// The `meshcc` binary.
    pub meshcc: PathBuf,
    /// Extra options after `agent --state-dir DIR --listen ADDR` (e.g. `--no-mdns`, `--peer …`).
    pub args: Vec<OsString>,
    /// Hosts to start on; `None` for all.
    pub hosts: Option<Vec<usize>>,
}

impl AgentOptions {
    /// All hosts, the default `meshcc`, no extra options.
    pub fn new() -> Result<AgentOptions, LabError> {
        Ok(AgentOptions {
            meshcc: default_meshcc()?,
            args: Vec::new(),
            hosts: None,
        })
    }
}

/// `meshcc` next to the running executable (or, for a test binary in `target/*/deps`, one
/// directory up, where cargo puts binaries), else the first in `PATH`.
pub fn default_meshcc() -> Result<PathBuf, LabError> {
    if let Ok(exe) = env::current_exe() {
        let dir = exe.parent().unwrap_or(Path::new("/"));
        let mut candidates = vec![dir.join("meshcc")];
        if dir.file_name().is_some_and(|n| n == "deps") {
            candidates.extend(dir.parent().map(|d| d.join("meshcc")));
        }
        if let Some(found) = candidates.into_iter().find(|c| c.is_file()) {
            return Ok(found);
        }
    }
    env::var_os("PATH")
        .and_then(|paths| {
            env::split_paths(&paths)
                .map(|d| d.join("meshcc"))
                .find(|c| c.is_file())
        })
        .ok_or(LabError::NoMeshcc)
}

/// The argument list an agent on `host` gets.
pub fn agent_args(host: &HostState, extra: &[OsString]) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        "agent".into(),
        "--state-dir".into(),
        host.dir.clone().into(),
        "--listen".into(),
        format!("/ip4/{}/tcp/{AGENT_PORT}", host.addr).into(),
    ];
    args.extend(extra.iter().cloned());
    args
}

/// Starts the agent on `host`; its log (`MESHCC_LOG`, stdout and stderr) is `DIR/agent.log`.
pub fn start(host: &HostState, opts: &AgentOptions) -> Result<ProcRef, LabError> {
    if let Some(agent) = host.agent.filter(ProcRef::alive) {
        return Err(LabError::AgentRunning {
            host: host.index,
            pid: agent.pid,
        });
    }
    let log_path = host.dir.join("agent.log");
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| LabError::io("open", &log_path, e))?;
    let err_log = log
        .try_clone()
        .map_err(|e| LabError::io("open", &log_path, e))?;
    let mut cmd = HostCommand::new(host, &opts.meshcc, true)?;
    cmd.args(agent_args(host, &opts.args))
        .env("MESHCC_LOG", &log_path)
        .env("MESHCC_SOCKET", host.dir.join("agent.sock"))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err_log);
    let child = cmd.spawn()?;
    let pid = child.id() as i32;
    // Not waited for: the agent is a daemon. `ProcRef::alive` reaps it if it dies while we run.
    drop(child);
    ProcRef::of(pid).ok_or(LabError::AgentDied {
        host: host.index,
        log: log_path,
    })
}
