//! What a lab is made of, kept on disk (`/run/meshcc-lab/<lab>/state.json`) so that separate
//! `mesh-lab` invocations, and `down` after a crash half-way through `up`, know what to remove.
//!
//! Each lab gets a small index, unique among the labs that are up; every kernel name the lab
//! creates is derived from it (`ml<idx>h<i>`, `ml<idx>br`), and so is its subnet
//! (`10.199.<idx>.0/24`), so that concurrent labs never collide and names stay under the
//! 15-byte limit for interfaces.

use std::fs::{self, File};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::{LabConfig, LabError};

/// Where every lab keeps its state.
pub const LAB_ROOT: &str = "/run/meshcc-lab";
/// Where `ip netns` keeps named namespaces.
pub const NETNS_DIR: &str = "/run/netns";
/// The most hosts a lab can have (one /24, with room to spare).
pub const MAX_HOSTS: usize = 200;
/// How many labs can be up at once (the third octet of the subnet).
const MAX_LABS: u8 = 250;

/// A process the lab started, identified so that a reused pid is never mistaken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcRef {
    /// Its process id.
    pub pid: i32,
    /// Its start time in clock ticks since boot (`/proc/PID/stat` field 22).
    pub start_time: u64,
}

/// One host of the lab.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostState {
    /// Host number, from 0.
    pub index: usize,
    /// Its network namespace, under `/run/netns`.
    pub netns: String,
    /// Its address on the lab's wire (interface `eth0`).
    pub addr: Ipv4Addr,
    /// Its state directory: the agent's `--state-dir`, its log and control socket.
    pub dir: PathBuf,
    /// The cgroup directories a process on this host joins (one per v1 hierarchy, or one v2).
    pub cgroups: Vec<PathBuf>,
    /// The agent running on it, if `mesh-lab agents` started one.
    pub agent: Option<ProcRef>,
    /// Whether it is off the wire (`cut`).
    pub cut: bool,
}

/// How hosts are wired together.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Wire {
    /// veth pairs on a Linux bridge `br0` in a namespace of its own.
    Bridge {
        /// The bridge's namespace.
        netns: String,
    },
    /// TAP devices plugged into VDE switches, each joined to a core switch by a `wirefilter`
    /// that adds delay, jitter and loss (this kernel has no netem).
    Vde {
        /// Directory holding the switches' sockets, the filters' management sockets and pidfiles.
        dir: PathBuf,
    },
}

/// Everything the lab made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    /// Format version of this file.
    pub version: u32,
    /// The lab's name (`--lab`).
    pub name: String,
    /// The lab's index, from which its kernel names and subnet derive.
    pub index: u8,
    /// What it was asked for.
    pub config: LabConfig,
    /// How hosts are wired.
    pub wire: Wire,
    /// The hosts.
    pub hosts: Vec<HostState>,
    /// Cgroup directories made for the lab as a whole (parents of the hosts' cgroups).
    pub cgroup_parents: Vec<PathBuf>,
}

impl State {
    /// The current format version.
    pub const VERSION: u32 = 1;

    /// The lab's state directory.
    pub fn dir_of(name: &str) -> PathBuf {
        Path::new(LAB_ROOT).join(name)
    }

    /// The path of a lab's state file.
    pub fn path_of(name: &str) -> PathBuf {
        Self::dir_of(name).join("state.json")
    }

    /// Reads a lab's state; `Ok(None)` when the lab is not up.
    pub fn load(name: &str) -> Result<Option<State>, LabError> {
        let path = Self::path_of(name);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(LabError::io("read", &path, source)),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| LabError::StateFile { path, source })
    }

    /// Writes the state file atomically (write, then rename), so a reader never sees half of it.
    pub fn save(&self) -> Result<(), LabError> {
        let path = Self::path_of(&self.name);
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).expect("lab state serializes");
        fs::write(&tmp, text).map_err(|e| LabError::io("write", &tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| LabError::io("rename", &tmp, e))
    }

    /// The subnet's address for host `i`.
    pub fn addr_of(index: u8, host: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 199, index, host as u8 + 1)
    }
}

/// Lab names become directory names and appear in error messages: keep them plain.
pub fn check_name(name: &str) -> Result<(), LabError> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(LabError::BadName(name.to_owned()))
    }
}

/// An exclusive lock on all labs' bookkeeping, held while an index is chosen and while a lab's
/// state is changed; released on drop.
pub struct Lock(#[allow(dead_code)] Flock<File>);

impl Lock {
    /// Takes the lock, waiting for any other `mesh-lab` holding it. The lock is on the
    /// directory itself, so that no lock file is left behind.
    pub fn take() -> Result<Lock, LabError> {
        let root = Path::new(LAB_ROOT);
        fs::create_dir_all(root).map_err(|e| LabError::io("create", root, e))?;
        let dir = File::open(root).map_err(|e| LabError::io("open", root, e))?;
        Flock::lock(dir, FlockArg::LockExclusive)
            .map(Lock)
            .map_err(|(_, errno)| LabError::io("lock", root, errno.into()))
    }
}

/// The smallest index no lab that is up uses, and whose namespace names are all free (a lab
/// that crashed before recording itself may have left some: they are not ours to delete). Call
/// with the [`Lock`] held.
pub fn free_index() -> Result<u8, LabError> {
    let mut used = Vec::new();
    let root = Path::new(LAB_ROOT);
    let entries = fs::read_dir(root).map_err(|e| LabError::io("list", root, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if check_name(&name).is_err() {
            continue;
        }
        if let Ok(Some(state)) = State::load(&name) {
            used.push(state.index);
        }
    }
    let taken_names: Vec<String> = fs::read_dir(NETNS_DIR)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let names_free = |i: u8| {
        let prefix = format!("ml{i}");
        !taken_names.iter().any(|name| {
            name.strip_prefix(&prefix)
                .is_some_and(|rest| rest == "br" || rest.starts_with('h'))
        })
    };
    (0..MAX_LABS)
        .find(|&i| !used.contains(&i) && names_free(i))
        .ok_or(LabError::NoFreeIndex)
}

/// Names of the host and bridge namespaces of the lab with this index.
pub fn host_netns(index: u8, host: usize) -> String {
    format!("ml{index}h{host}")
}

/// Name of the bridge's namespace.
pub fn bridge_netns(index: u8) -> String {
    format!("ml{index}br")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("lab").is_ok());
        assert!(check_name("test-cut_2").is_ok());
        for bad in ["", ".lock", "a/b", "x y", &"n".repeat(33)] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn kernel_names_fit_interface_limits() {
        // Namespaces are files, but keep them as short as interface names (15 bytes) anyway.
        assert!(host_netns(249, MAX_HOSTS - 1).len() <= 15);
        assert!(bridge_netns(249).len() <= 15);
        assert_eq!(State::addr_of(3, 0), Ipv4Addr::new(10, 199, 3, 1));
        assert_eq!(State::addr_of(3, MAX_HOSTS - 1).octets()[3], 200);
    }
}
