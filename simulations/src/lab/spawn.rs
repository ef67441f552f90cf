//! Running a process "on" a lab host: in the host's cgroup(s) and network namespace.
//!
//! Not through `ip netns exec`: it also unshares the mount namespace and remounts `/sys` for the
//! new network namespace, which hides `/sys/fs/cgroup` — and the agent must read its own
//! cgroup's CPU use. So the child joins the cgroup and then `setns()`s into the network namespace
//! itself, between fork and exec, and keeps the machine's mount namespace.

use std::ffi::{CStr, CString};
use std::fs::{self, File, OpenOptions};
use std::ops::{Deref, DerefMut};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::thread;
use std::time::{Duration, Instant};

use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::{getpid, setsid, Pid};

use super::state::{HostState, ProcRef, NETNS_DIR};
use super::LabError;

/// A [`Command`] that will run on a lab host. Derefs to `Command` for arguments, environment and
/// stdio. It holds the namespace and cgroup files open, because the hook that runs in the child
/// uses their descriptors.
pub struct HostCommand {
    cmd: Command,
    _netns: File,
    _cgroup_procs: Vec<File>,
}

impl HostCommand {
    /// Prepares `program` to run on `host`; with `detach`, in a session of its own (a daemon that
    /// outlives `mesh-lab` and its terminal).
    pub(crate) fn new(
        host: &HostState,
        program: impl AsRef<std::ffi::OsStr>,
        detach: bool,
    ) -> Result<Self, LabError> {
        let ns_path = Path::new(NETNS_DIR).join(&host.netns);
        let netns = File::open(&ns_path).map_err(|e| LabError::io("open", &ns_path, e))?;
        let mut cgroup_procs = Vec::new();
        for dir in &host.cgroups {
            let path = dir.join("cgroup.procs");
            let file = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| LabError::io("open", &path, e))?;
            cgroup_procs.push(file);
        }
        let ns_fd = netns.as_raw_fd();
        let cg_fds: Vec<RawFd> = cgroup_procs.iter().map(|f| f.as_raw_fd()).collect();
        let mut cmd = Command::new(program);
        // SAFETY: the hook only makes system calls (getpid, write, setns, setsid) on descriptors
        // that outlive the command, and formats the pid on the stack: no allocation, no locks.
        unsafe {
            cmd.pre_exec(move || {
                // The cgroup first, while /sys/fs/cgroup is certainly ours to see; children
                // inherit it.
                let mut buf = [0u8; 12];
                let pid = format_pid(getpid().as_raw(), &mut buf);
                for &fd in &cg_fds {
                    nix::unistd::write(BorrowedFd::borrow_raw(fd), pid)?;
                }
                // setns(2) with CLONE_NEWNET: only the network namespace changes.
                setns(BorrowedFd::borrow_raw(ns_fd), CloneFlags::CLONE_NEWNET)?;
                if detach {
                    setsid()?;
                }
                Ok(())
            });
        }
        Ok(HostCommand {
            cmd,
            _netns: netns,
            _cgroup_procs: cgroup_procs,
        })
    }

    /// Gives the process a mount namespace of its own in which each `(source, target)` is
    /// bind-mounted over its target; the machine's mounts stay as they are. icecc's daemon needs
    /// this: its own `/var/run/icecc`, and a `/proc/stat` of its own (it reads machine-wide CPU
    /// counters, which on a shared machine make every daemon look fully loaded).
    pub fn private_mounts(&mut self, binds: &[(PathBuf, PathBuf)]) -> Result<&mut Self, LabError> {
        let cstr = |p: &Path| {
            CString::new(p.as_os_str().as_bytes())
                .map_err(|_| LabError::BadConfig(format!("NUL in path {}", p.display())))
        };
        let binds: Vec<(CString, CString)> = binds
            .iter()
            .map(|(src, dst)| Ok((cstr(src)?, cstr(dst)?)))
            .collect::<Result<_, LabError>>()?;
        // SAFETY: system calls only, on C strings allocated before the fork.
        unsafe {
            self.cmd.pre_exec(move || {
                // unshare(2) CLONE_NEWNS: a private copy of the mount table.
                unshare(CloneFlags::CLONE_NEWNS)?;
                // Mark everything private, so the binds below do not propagate to the machine.
                mount(
                    None::<&CStr>,
                    c"/",
                    None::<&CStr>,
                    MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                    None::<&CStr>,
                )?;
                for (src, dst) in &binds {
                    mount(
                        Some(src.as_c_str()),
                        dst.as_c_str(),
                        None::<&CStr>,
                        MsFlags::MS_BIND,
                        None::<&CStr>,
                    )?;
                }
                Ok(())
            });
        }
        Ok(self)
    }

    /// Starts it.
    pub fn spawn(&mut self) -> Result<Child, LabError> {
        self.cmd.spawn().map_err(|source| LabError::Spawn {
            cmd: super::cmd::display(&self.cmd),
            source,
        })
    }
}

impl Deref for HostCommand {
    type Target = Command;
    fn deref(&self) -> &Command {
        &self.cmd
    }
}

impl DerefMut for HostCommand {
    fn deref_mut(&mut self) -> &mut Command {
        &mut self.cmd
    }
}

/// Writes `pid` in decimal into `buf`, returning the digits (async-signal-safe).
fn format_pid(mut pid: i32, buf: &mut [u8; 12]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (pid % 10) as u8;
        pid /= 10;
        if pid == 0 {
            break;
        }
    }
    &buf[i..]
}

/// A process's start time, or `None` if it is gone or a zombie (dead, not yet reaped).
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: parse after its end.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

impl ProcRef {
    /// Identifies a running process.
    pub fn of(pid: i32) -> Option<ProcRef> {
        start_time(pid).map(|start_time| ProcRef { pid, start_time })
    }

    /// Whether this very process still runs (reaping it first if it is our child).
    pub fn alive(&self) -> bool {
        // ECHILD when it is not our child: then /proc tells.
        let _ = waitpid(Pid::from_raw(self.pid), Some(WaitPidFlag::WNOHANG));
        start_time(self.pid) == Some(self.start_time)
    }
}

/// SIGTERM to each, then SIGKILL to those still running after `grace`.
pub fn stop_all(procs: &[ProcRef], grace: Duration) {
    let live: Vec<&ProcRef> = procs.iter().filter(|p| p.alive()).collect();
    for p in &live {
        let _ = kill(Pid::from_raw(p.pid), Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while live.iter().any(|p| p.alive()) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    for p in live.iter().filter(|p| p.alive()) {
        let _ = kill(Pid::from_raw(p.pid), Signal::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while live.iter().any(|p| p.alive()) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
}

/// Kills every process whose network namespace is the one bound at `/run/netns/<name>` (agents,
/// VDE plugs, anything spawned on the host and since moved out of its cgroup), so that deleting
/// the namespace really frees it.
pub fn kill_netns_members(name: &str) {
    use std::os::unix::fs::MetadataExt;
    let Ok(target) = fs::metadata(Path::new(NETNS_DIR).join(name)) else {
        return;
    };
    let Ok(procs) = fs::read_dir("/proc") else {
        return;
    };
    for entry in procs.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(ns) = fs::metadata(entry.path().join("ns/net")) else {
            continue;
        };
        if ns.dev() == target.dev() && ns.ino() == target.ino() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_format_without_allocating() {
        let mut buf = [0u8; 12];
        assert_eq!(format_pid(0, &mut buf), b"0");
        assert_eq!(format_pid(4194304, &mut buf), b"4194304");
    }

    #[test]
    fn own_process_is_alive_and_a_wrong_start_time_is_not() {
        let me = ProcRef::of(std::process::id() as i32).expect("we run");
        assert!(me.alive());
        let other = ProcRef {
            start_time: me.start_time + 1,
            ..me
        };
        assert!(!other.alive());
    }
}
