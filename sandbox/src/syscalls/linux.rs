//! The real calls, through `nix` where it has them and `libc` where it does not.

use std::cell::RefCell;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::prctl;
use nix::sys::resource::{setrlimit, Resource};
use nix::sys::stat::Mode;
use nix::unistd::{self, Gid, Uid};

use super::{SysError, SysResult, Syscalls};

/// Makes the calls for real.
#[derive(Debug, Default)]
pub struct Linux {
    handles: RefCell<Vec<OwnedFd>>,
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

impl Syscalls for Linux {
    fn switch_user(&self, uid: u32, gid: u32) -> SysResult {
        let target = format!("{uid}:{gid}");
        // Supplementary groups first: root's groups would otherwise follow us.
        unistd::setgroups(&[]).map_err(|e| SysError::new("setgroups", &target, e))?;
        let g = Gid::from_raw(gid);
        unistd::setresgid(g, g, g).map_err(|e| SysError::new("setresgid", &target, e))?;
        let u = Uid::from_raw(uid);
        unistd::setresuid(u, u, u).map_err(|e| SysError::new("setresuid", &target, e))
    }

    fn set_dumpable(&self, dumpable: bool) -> SysResult {
        prctl::set_dumpable(dumpable)
            .map_err(|e| SysError::new("prctl(PR_SET_DUMPABLE)", dumpable.to_string(), e))
    }

    fn unshare(&self, flags: CloneFlags) -> SysResult {
        unshare(flags).map_err(|e| SysError::new("unshare", format!("{flags:?}"), e))
    }

    fn write_proc(&self, path: &Path, contents: &str) -> SysResult {
        // One write(2): uid_map and gid_map accept exactly one.
        std::fs::write(path, contents).map_err(|e| {
            let errno = Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
            SysError::new(
                "write",
                format!("{} <- {contents:?}", path.display()),
                errno,
            )
        })
    }

    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> SysResult {
        mount(source, target, fstype, flags, data).map_err(|e| {
            let what = format!(
                "{} on {} type {} {flags:?} {}",
                source.map(shown).unwrap_or_default(),
                target.display(),
                fstype.unwrap_or("-"),
                data.unwrap_or("")
            );
            SysError::new("mount", what, e)
        })
    }

    fn umount_detach(&self, target: &Path) -> SysResult {
        umount2(target, MntFlags::MNT_DETACH)
            .map_err(|e| SysError::new("umount2", shown(target), e))
    }

    fn open_path(&self, path: &Path) -> Result<PathBuf, SysError> {
        // O_PATH: a handle good for naming the directory and nothing else.
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let fd =
            open(path, flags, Mode::empty()).map_err(|e| SysError::new("open", shown(path), e))?;
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let reach = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
        self.handles.borrow_mut().push(fd);
        Ok(reach)
    }

    fn close_paths(&self) {
        self.handles.borrow_mut().clear();
    }

    fn mkdir(&self, path: &Path, mode: u32) -> SysResult {
        unistd::mkdir(path, Mode::from_bits_truncate(mode))
            .map_err(|e| SysError::new("mkdir", shown(path), e))
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> SysResult {
        unistd::pivot_root(new_root, put_old).map_err(|e| {
            let what = format!("{}, {}", new_root.display(), put_old.display());
            SysError::new("pivot_root", what, e)
        })
    }

    fn chdir(&self, path: &Path) -> SysResult {
        unistd::chdir(path).map_err(|e| SysError::new("chdir", shown(path), e))
    }

    fn sethostname(&self, name: &str) -> SysResult {
        unistd::sethostname(name).map_err(|e| SysError::new("sethostname", name, e))
    }

    fn setrlimit(&self, resource: Resource, soft: u64, hard: u64) -> SysResult {
        setrlimit(resource, soft, hard)
            .map_err(|e| SysError::new("setrlimit", format!("{resource:?} {soft}/{hard}"), e))
    }

    fn set_no_new_privs(&self) -> SysResult {
        prctl::set_no_new_privs().map_err(|e| SysError::new("prctl(PR_SET_NO_NEW_PRIVS)", "1", e))
    }

    fn drop_capabilities(&self) -> SysResult {
        // The bounding set caps what any later execve could regain; EINVAL past the kernel's
        // last capability ends the loop.
        for cap in 0..64 {
            let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) };
            if r != 0 {
                match Errno::last() {
                    Errno::EINVAL => break,
                    e => return Err(SysError::new("prctl(PR_CAPBSET_DROP)", cap.to_string(), e)),
                }
            }
        }
        let r = unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL,
                0,
                0,
                0,
            )
        };
        if r != 0 {
            return Err(SysError::new(
                "prctl(PR_CAP_AMBIENT_CLEAR_ALL)",
                "",
                Errno::last(),
            ));
        }
        // capset(2) with empty sets; nix has no wrapper.
        let mut header = CapHeader {
            version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
            pid: 0,
        };
        let data = [CapData::default(); 2];
        let r = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
        if r != 0 {
            return Err(SysError::new("capset", "empty", Errno::last()));
        }
        Ok(())
    }

    fn close_fds_on_exec(&self, first: u32) -> SysResult {
        // close_range(2) with CLOSE_RANGE_CLOEXEC: every inherited fd, known or not, is gone at
        // execve, while the exec-error pipe still works until then.
        let r = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                first,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            )
        };
        if r == 0 {
            return Ok(());
        }
        // Kernels before 5.11: walk /proc/self/fd instead.
        let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
            .map_err(|e| {
                let errno = Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
                SysError::new("opendir", "/proc/self/fd", errno)
            })?
            .filter_map(|entry| {
                entry
                    .ok()?
                    .file_name()
                    .as_bytes()
                    .iter()
                    .try_fold(0i32, |n, &b| {
                        b.is_ascii_digit().then(|| n * 10 + i32::from(b - b'0'))
                    })
            })
            .filter(|&fd| fd >= first as i32)
            .collect();
        for fd in fds {
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
        Ok(())
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}
