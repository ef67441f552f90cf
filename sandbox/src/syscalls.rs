//! The system calls that build the jail, behind a trait (as youki's `libcontainer::syscall`).
//!
//! The order of these calls is the sandbox's security: a mount made before `unshare` lands on
//! the host, limits set before `pivot_root` are fine but capabilities dropped before the mounts
//! make the mounts fail, an fd left open across `execve` is a way out. [`Linux`] makes the
//! calls; [`Recording`] writes them down, so the order is unit-tested without root.
//!
//! `fork` and `execve` stay outside the trait: they split or replace the process, and the code
//! around them (in `helper`) is small enough to read.

mod linux;
mod recording;

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use nix::sys::resource::Resource;

pub use linux::Linux;
pub use recording::{Call, Recording};

/// A system call that failed, with what it was called on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{call}({target}): {errno}", errno = errno.desc())]
pub struct SysError {
    /// The call's name.
    pub call: &'static str,
    /// What it was called on: a path, a flag set, a resource.
    pub target: String,
    /// Why it failed.
    pub errno: Errno,
}

impl SysError {
    /// Wraps an errno with the call's name and its argument.
    pub fn new(call: &'static str, target: impl Into<String>, errno: Errno) -> Self {
        SysError {
            call,
            target: target.into(),
            errno,
        }
    }
}

/// Result of one call.
pub type SysResult = Result<(), SysError>;

/// The calls the jail is built from.
pub trait Syscalls {
    /// Leaves root for `uid`/`gid` with no supplementary groups (`setgroups`, `setresgid`,
    /// `setresuid`).
    fn switch_user(&self, uid: u32, gid: u32) -> SysResult;
    /// Sets whether the process is dumpable (`prctl(PR_SET_DUMPABLE)`).
    fn set_dumpable(&self, dumpable: bool) -> SysResult;
    /// Moves the process into new namespaces.
    fn unshare(&self, flags: CloneFlags) -> SysResult;
    /// Writes a `/proc` control file such as `uid_map`.
    fn write_proc(&self, path: &Path, contents: &str) -> SysResult;
    /// Mounts a filesystem.
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> SysResult;
    /// Detaches a mount (`umount2(MNT_DETACH)`).
    fn umount_detach(&self, target: &Path) -> SysResult;
    /// Opens a directory as an `O_PATH` handle kept until [`Syscalls::close_paths`], and returns
    /// a path that reaches it (`/proc/self/fd/N`) even once it is mounted over.
    fn open_path(&self, path: &Path) -> Result<PathBuf, SysError>;
    /// Closes the handles of [`Syscalls::open_path`].
    fn close_paths(&self);
    /// Creates one directory.
    fn mkdir(&self, path: &Path, mode: u32) -> SysResult;
    /// Swaps the root filesystem.
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> SysResult;
    /// Changes directory.
    fn chdir(&self, path: &Path) -> SysResult;
    /// Sets the hostname of the UTS namespace.
    fn sethostname(&self, name: &str) -> SysResult;
    /// Sets one resource limit.
    fn setrlimit(&self, resource: Resource, soft: u64, hard: u64) -> SysResult;
    /// Forbids gaining privileges through `execve` (`PR_SET_NO_NEW_PRIVS`).
    fn set_no_new_privs(&self) -> SysResult;
    /// Empties the bounding, ambient, inheritable, permitted and effective capability sets.
    fn drop_capabilities(&self) -> SysResult;
    /// Marks every fd from `first` up close-on-exec.
    fn close_fds_on_exec(&self, first: u32) -> SysResult;
}
