//! Building the jail, in three stages that run in three different processes.
//!
//! 1. [`enter_namespaces`], in the helper: leave root if we are root, then unshare user,
//!    mount, pid, network, ipc and uts namespaces and map one id. Mapping our own id only is
//!    what an unprivileged process may do, so the same code serves root and normal users.
//! 2. [`build_root`], in the helper's child, which is pid 1 of the new pid namespace (a fresh
//!    `/proc` must be mounted from inside the namespace it shows): a private tmpfs holds the
//!    new root, a read-only overlay of the job's inputs over the toolchain; each writable
//!    directory is an overlay of its inputs under a size-capped upper layer; `/dev` gets four
//!    device nodes bound from the host; then `pivot_root` and the old root is detached.
//! 3. [`confine`], in the job's process just before `execve`: rlimits, working directory,
//!    `no_new_privs`, no capabilities, no inherited fds.
//!
//! Host directories (the layer of inputs, the toolchain) may sit below directories the
//! unprivileged id cannot search (an agent's 0700 state directory). So a helper running as
//! root first binds them, still as root, into a world-searchable tmpfs in a private mount
//! namespace of its own ([`HostStage`]); the jail's namespace copies those mounts. Overlayfs
//! insists that its layers are mounts of the caller's own namespace, so fds opened before
//! `unshare` would not do. A helper running as a normal user reaches its own files directly.

mod layer;

use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use nix::sys::resource::Resource;
use serde::{Deserialize, Serialize};

pub use layer::{hand_over, materialise, remove_job_dir, Layer};

use crate::path::JailPath;
use crate::spec::JobSpec;
use crate::syscalls::{SysError, Syscalls};

/// Device nodes bound into the jail's `/dev`.
pub const DEV_NODES: &[&str] = &["null", "zero", "full", "random", "urandom"];

/// The jail's hostname, the same on every worker.
pub const HOSTNAME: &str = "meshcc";

/// Why the jail could not be built or the job not started. The job did not run: the agent
/// should retry elsewhere or locally.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum JailError {
    /// The spec failed the helper's own checks.
    #[error("invalid job spec: {0}")]
    Spec(String),
    /// The helper could not read its request.
    #[error("the sandbox helper could not read its request: {0}")]
    Protocol(String),
    /// Namespaces cannot be created from a multi-threaded process.
    #[error("the sandbox helper has {threads} threads; it must be single-threaded")]
    Threads {
        /// Threads found.
        threads: usize,
    },
    /// Preparing the job's files on the host failed.
    #[error("preparing {path}: {message}")]
    Materialise {
        /// The file or directory.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A system call building the jail failed.
    #[error("building the jail: {call}({target}): {}", errno_desc(*errno))]
    Sys {
        /// The call.
        call: String,
        /// What it was called on.
        target: String,
        /// Its errno.
        errno: i32,
    },
    /// The job's process failed between `fork` and `execve`.
    #[error("starting the job: {call}({target}): {}", errno_desc(*errno))]
    Start {
        /// The call.
        call: String,
        /// What it was called on.
        target: String,
        /// Its errno.
        errno: i32,
    },
    /// The supervisor failed while the job ran.
    #[error("supervising the job: {call}: {}", errno_desc(*errno))]
    Supervise {
        /// The call.
        call: String,
        /// Its errno.
        errno: i32,
    },
}

fn errno_desc(errno: i32) -> &'static str {
    nix::errno::Errno::from_raw(errno).desc()
}

impl From<SysError> for JailError {
    fn from(e: SysError) -> Self {
        JailError::Sys {
            call: e.call.to_string(),
            target: e.target,
            errno: e.errno as i32,
        }
    }
}

/// Who the job runs as, decided by whether the helper is root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    /// Leave root for this uid/gid before unsharing.
    pub switch_to: Option<(u32, u32)>,
    /// The outside uid and gid the namespace maps.
    pub outside: (u32, u32),
    /// The ids inside.
    pub inside: (u32, u32),
}

/// Root's preparation: host directories bound into a world-searchable tmpfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostStage {
    /// Where the staging tmpfs goes (overmounted in our private namespace only).
    pub dir: PathBuf,
    /// Host directories and where they are bound under `dir`.
    pub binds: Vec<(PathBuf, PathBuf)>,
}

/// Everything the three stages need, computed before any of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Ids to switch to and map.
    pub ids: Ids,
    /// Root's preparation, when the helper is root.
    pub stage: Option<HostStage>,
    /// Directory to mount the jail's private tmpfs on.
    pub staging: PathBuf,
    /// Size of that tmpfs, which holds everything the job writes.
    pub scratch_bytes: u64,
    /// Lower layers of the root, top first.
    pub root_lowers: Vec<PathBuf>,
    /// Writable directories and the lower layer holding their inputs.
    pub writable: Vec<(JailPath, PathBuf)>,
    /// Working directory.
    pub cwd: JailPath,
    /// Rlimits as (resource, soft, hard).
    pub rlimits: Vec<(Resource, u64, u64)>,
}

impl Plan {
    /// The plan for `spec`, whose inputs are materialised in the host directory `layer`.
    pub fn new(spec: &JobSpec, ids: Ids, layer: &Path) -> Plan {
        let l = &spec.limits;
        let (stage, staging, layer, toolchain) = if ids.switch_to.is_some() {
            let dir = PathBuf::from("/tmp");
            let (in_layer, in_toolchain) = (dir.join("layer"), dir.join("toolchain"));
            let binds = vec![
                (layer.to_path_buf(), in_layer.clone()),
                (spec.toolchain.clone(), in_toolchain.clone()),
            ];
            let staging = dir.join("jail");
            (
                Some(HostStage { dir, binds }),
                staging,
                in_layer,
                in_toolchain,
            )
        } else {
            let staging = spec.job_dir.join("jail");
            (None, staging, layer.to_path_buf(), spec.toolchain.clone())
        };
        let writable = spec
            .writable_dirs()
            .into_iter()
            .map(|w| {
                let lower = w.under(&layer);
                (w, lower)
            })
            .collect();
        Plan {
            ids,
            stage,
            staging,
            scratch_bytes: l.scratch_bytes,
            root_lowers: vec![layer, toolchain],
            writable,
            cwd: spec.cwd.clone(),
            rlimits: vec![
                // SIGXCPU at the soft limit, SIGKILL a second later if it is caught.
                (Resource::RLIMIT_CPU, l.cpu_secs, l.cpu_secs + 1),
                (Resource::RLIMIT_AS, l.memory_bytes, l.memory_bytes),
                (Resource::RLIMIT_FSIZE, l.file_size_bytes, l.file_size_bytes),
                (Resource::RLIMIT_NPROC, l.processes, l.processes),
                (Resource::RLIMIT_NOFILE, l.open_files, l.open_files),
                (Resource::RLIMIT_CORE, 0, 0),
            ],
        }
    }

    fn new_root(&self) -> PathBuf {
        self.staging.join("root")
    }
}

/// Marks every mount of this mount namespace private, so that what is mounted next neither
/// propagates to nor receives from the host (mount(2), MS_PRIVATE with MS_REC).
fn make_mounts_private(sys: &dyn Syscalls) -> Result<(), JailError> {
    let none: Option<&Path> = None;
    sys.mount(
        none,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
    )?;
    Ok(())
}

/// Stage 1, in the helper: stage host directories if root, leave root, unshare, map ids.
pub fn enter_namespaces(sys: &dyn Syscalls, plan: &Plan) -> Result<(), JailError> {
    if let Some(stage) = &plan.stage {
        sys.unshare(CloneFlags::CLONE_NEWNS)?;
        make_mounts_private(sys)?;
        // Handles opened in this namespace still reach the host directories once the staging
        // tmpfs covers them (they may well live under /tmp).
        let sources: Vec<PathBuf> = stage
            .binds
            .iter()
            .map(|(host, _)| sys.open_path(host))
            .collect::<Result<_, _>>()?;
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
        let tmpfs = Some(Path::new("tmpfs"));
        sys.mount(
            tmpfs,
            &stage.dir,
            Some("tmpfs"),
            flags,
            Some("size=64k,mode=0755"),
        )?;
        for (source, (_, target)) in sources.iter().zip(&stage.binds) {
            sys.mkdir(target, 0o755)?;
            sys.mount(Some(source), target, None, MsFlags::MS_BIND, None)?;
        }
        sys.close_paths();
        sys.mkdir(&plan.staging, 0o755)?;
    }
    if let Some((uid, gid)) = plan.ids.switch_to {
        sys.switch_user(uid, gid)?;
        // A uid change makes the process undumpable, which makes /proc/self root's; we need
        // to write our own uid_map and reach our fds through /proc/self/fd.
        sys.set_dumpable(true)?;
    }
    let flags = CloneFlags::CLONE_NEWUSER
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNET
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWUTS;
    sys.unshare(flags)?;
    let (ouid, ogid) = plan.ids.outside;
    let (iuid, igid) = plan.ids.inside;
    // An unprivileged gid_map needs setgroups denied first (user_namespaces(7)).
    sys.write_proc(Path::new("/proc/self/setgroups"), "deny")?;
    sys.write_proc(
        Path::new("/proc/self/uid_map"),
        &format!("{iuid} {ouid} 1\n"),
    )?;
    sys.write_proc(
        Path::new("/proc/self/gid_map"),
        &format!("{igid} {ogid} 1\n"),
    )?;
    Ok(())
}

/// Overlay options escape `\`, `,` and `:` in paths with a backslash.
fn overlay_path(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        if matches!(c, '\\' | ',' | ':') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Stage 2, in pid 1 of the new pid namespace: build the root and enter it.
pub fn build_root(sys: &dyn Syscalls, plan: &Plan) -> Result<(), JailError> {
    // Nothing we mount from here on may propagate back to the host.
    make_mounts_private(sys)?;
    // No nested user namespaces for the job: each would hand it a fresh set of capabilities
    // over its own mounts, and much kernel attack surface. The limit is per user namespace.
    sys.write_proc(Path::new("/proc/sys/user/max_user_namespaces"), "0")?;
    let nosuid_nodev = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    let size = format!("size={},mode=0755", plan.scratch_bytes);
    let tmpfs = Some(Path::new("tmpfs"));
    sys.mount(
        tmpfs,
        &plan.staging,
        Some("tmpfs"),
        nosuid_nodev,
        Some(&size),
    )?;
    let root = plan.new_root();
    sys.mkdir(&root, 0o755)?;
    let lowers: Vec<String> = plan.root_lowers.iter().map(|p| overlay_path(p)).collect();
    let opts = format!("lowerdir={}", lowers.join(":"));
    let overlay = Some(Path::new("overlay"));
    let ro = MsFlags::MS_RDONLY | nosuid_nodev;
    sys.mount(overlay, &root, Some("overlay"), ro, Some(&opts))?;
    for (i, (dir, lower)) in plan.writable.iter().enumerate() {
        let scratch = plan.staging.join(format!("w{i}"));
        let (upper, work) = (scratch.join("upper"), scratch.join("work"));
        for d in [&scratch, &upper, &work] {
            sys.mkdir(d, 0o755)?;
        }
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            overlay_path(lower),
            overlay_path(&upper),
            overlay_path(&work)
        );
        sys.mount(
            overlay,
            &dir.under(&root),
            Some("overlay"),
            nosuid_nodev,
            Some(&opts),
        )?;
    }
    for node in DEV_NODES {
        let host = Path::new("/dev").join(node);
        let target = root.join("dev").join(node);
        // A bind keeps the host's device superblock; nodes made in a user namespace would not work.
        sys.mount(Some(&host), &target, None, MsFlags::MS_BIND, None)?;
    }
    let noexec = nosuid_nodev | MsFlags::MS_NOEXEC;
    // subset=pid: only process directories, no /proc/sys, /proc/kcore and the like.
    let proc_ = Some(Path::new("proc"));
    sys.mount(
        proc_,
        &root.join("proc"),
        Some("proc"),
        noexec,
        Some("subset=pid"),
    )?;
    sys.chdir(&root)?;
    // pivot_root(".", ".") stacks the old root on the new one; detaching "." then drops it
    // without needing a directory for it (as runc does).
    sys.pivot_root(Path::new("."), Path::new("."))?;
    sys.umount_detach(Path::new("."))?;
    sys.chdir(Path::new("/"))?;
    sys.sethostname(HOSTNAME)?;
    Ok(())
}

/// Stage 3, in the job's process before `execve`: limits and dropping everything.
pub fn confine(sys: &dyn Syscalls, plan: &Plan) -> Result<(), JailError> {
    for &(resource, soft, hard) in &plan.rlimits {
        sys.setrlimit(resource, soft, hard)?;
    }
    sys.chdir(plan.cwd.as_path())?;
    sys.set_no_new_privs()?;
    sys.drop_capabilities()?;
    sys.close_fds_on_exec(3)?;
    Ok(())
}

#[cfg(test)]
mod tests;
