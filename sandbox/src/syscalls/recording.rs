//! Writes calls down instead of making them, for tests of their order.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use nix::sys::resource::Resource;

use super::{SysError, SysResult, Syscalls};

/// One call as recorded: its name and its arguments in a readable form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The call's name, as in [`Syscalls`].
    pub name: &'static str,
    /// Its arguments, formatted.
    pub args: String,
}

/// Records every call and succeeds, or fails the call named in `fail_on`.
#[derive(Debug, Default)]
pub struct Recording {
    calls: RefCell<Vec<Call>>,
    fail_on: Option<&'static str>,
}

impl Recording {
    /// A recorder whose calls all succeed.
    pub fn new() -> Self {
        Self::default()
    }

    /// A recorder whose first call named `name` fails with `EPERM`.
    pub fn failing_on(name: &'static str) -> Self {
        Recording {
            calls: RefCell::default(),
            fail_on: Some(name),
        }
    }

    /// The calls so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.borrow().clone()
    }

    /// The names of the calls so far.
    pub fn names(&self) -> Vec<&'static str> {
        self.calls.borrow().iter().map(|c| c.name).collect()
    }

    fn record(&self, name: &'static str, args: String) -> SysResult {
        self.calls.borrow_mut().push(Call {
            name,
            args: args.clone(),
        });
        if self.fail_on == Some(name) {
            return Err(SysError::new(name, args, nix::errno::Errno::EPERM));
        }
        Ok(())
    }
}

/// `MsFlags(MS_BIND)` → `MS_BIND`.
fn bare(flags: impl std::fmt::Debug) -> String {
    let s = format!("{flags:?}");
    match (s.find('('), s.ends_with(')')) {
        (Some(open), true) => s[open + 1..s.len() - 1].to_string(),
        _ => s,
    }
}

impl Syscalls for Recording {
    fn switch_user(&self, uid: u32, gid: u32) -> SysResult {
        self.record("switch_user", format!("{uid}:{gid}"))
    }
    fn set_dumpable(&self, dumpable: bool) -> SysResult {
        self.record("set_dumpable", dumpable.to_string())
    }
    fn unshare(&self, flags: CloneFlags) -> SysResult {
        self.record("unshare", bare(flags))
    }
    fn write_proc(&self, path: &Path, contents: &str) -> SysResult {
        self.record("write_proc", format!("{} {contents}", path.display()))
    }
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> SysResult {
        let args = format!(
            "{} {} {} {} {}",
            source
                .map(|s| s.display().to_string())
                .unwrap_or("-".into()),
            target.display(),
            fstype.unwrap_or("-"),
            bare(flags),
            data.unwrap_or("-")
        );
        self.record("mount", args)
    }
    fn umount_detach(&self, target: &Path) -> SysResult {
        self.record("umount_detach", target.display().to_string())
    }
    fn open_path(&self, path: &Path) -> Result<PathBuf, SysError> {
        let n = 100
            + self
                .calls
                .borrow()
                .iter()
                .filter(|c| c.name == "open_path")
                .count();
        self.record("open_path", path.display().to_string())?;
        Ok(PathBuf::from(format!("/proc/self/fd/{n}")))
    }
    fn close_paths(&self) {
        let _ = self.record("close_paths", String::new());
    }
    fn mkdir(&self, path: &Path, mode: u32) -> SysResult {
        self.record("mkdir", format!("{} {mode:o}", path.display()))
    }
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> SysResult {
        let args = format!("{} {}", new_root.display(), put_old.display());
        self.record("pivot_root", args)
    }
    fn chdir(&self, path: &Path) -> SysResult {
        self.record("chdir", path.display().to_string())
    }
    fn sethostname(&self, name: &str) -> SysResult {
        self.record("sethostname", name.to_string())
    }
    fn setrlimit(&self, resource: Resource, soft: u64, hard: u64) -> SysResult {
        self.record("setrlimit", format!("{resource:?} {soft} {hard}"))
    }
    fn set_no_new_privs(&self) -> SysResult {
        self.record("set_no_new_privs", String::new())
    }
    fn drop_capabilities(&self) -> SysResult {
        self.record("drop_capabilities", String::new())
    }
    fn close_fds_on_exec(&self, first: u32) -> SysResult {
        self.record("close_fds_on_exec", first.to_string())
    }
}
