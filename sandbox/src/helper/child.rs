//! The job's process between `fork` and `execve`.
//!
//! A failure here is reported to pid 1 through a close-on-exec pipe: a successful `execve`
//! closes it empty, a failure writes one frame holding the [`JailError`] first. A missing
//! compiler is thus a sandbox error the agent can act on, not exit status 127 mistaken for a
//! compile that failed.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::signal::{signal, sigprocmask, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::stat::Mode;
use nix::unistd::{dup2, execve, setsid};

use crate::jail::{self, JailError, Plan};
use crate::spec::JobSpec;
use crate::syscalls::Linux;

fn start_err(call: &str, target: &str, errno: Errno) -> JailError {
    JailError::Start {
        call: call.to_string(),
        target: target.to_string(),
        errno: errno as i32,
    }
}

fn cstring(bytes: &[u8]) -> CString {
    // The spec was validated: no NUL bytes.
    CString::new(bytes).unwrap_or_default()
}

/// Sets up the job's process and replaces it with the job. Never returns.
pub(super) fn exec_job(
    spec: &JobSpec,
    plan: &Plan,
    stdout: OwnedFd,
    stderr: OwnedFd,
    report: OwnedFd,
) -> ! {
    let err = prepare(plan, stdout, stderr).err().unwrap_or_else(|| {
        let program = cstring(spec.program.as_path().as_os_str().as_bytes());
        let argv: Vec<CString> = spec.argv.iter().map(|a| cstring(a)).collect();
        let env: Vec<CString> = spec
            .env
            .iter()
            .map(|(k, v)| cstring(&[&k[..], b"=", &v[..]].concat()))
            .collect();
        let errno = execve(&program, &argv, &env).unwrap_err();
        start_err("execve", &spec.program.to_string(), errno)
    });
    let mut report = File::from(report);
    let _ = meshcc_wire::write_msg(&mut report, &err);
    // _exit: no destructors or atexit handlers of the parent's image may run in this copy.
    unsafe { libc::_exit(127) }
}

fn prepare(plan: &Plan, stdout: OwnedFd, stderr: OwnedFd) -> Result<(), JailError> {
    // A session of its own: no controlling terminal, and no signals sent to the helper's group.
    setsid().map_err(|e| start_err("setsid", "", e))?;
    // pid 1 blocks SIGCHLD and the helper ignores SIGPIPE; both survive execve, so reset them.
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(|e| start_err("sigprocmask", "", e))?;
    for sig in [Signal::SIGPIPE, Signal::SIGCHLD] {
        unsafe { signal(sig, SigHandler::SigDfl) }
            .map_err(|e| start_err("signal", sig.as_str(), e))?;
    }
    let null = open("/dev/null", OFlag::O_RDONLY, Mode::empty())
        .map_err(|e| start_err("open", "/dev/null", e))?;
    dup2(null, 0).map_err(|e| start_err("dup2", "stdin", e))?;
    dup2(stdout.as_raw_fd(), 1).map_err(|e| start_err("dup2", "stdout", e))?;
    dup2(stderr.as_raw_fd(), 2).map_err(|e| start_err("dup2", "stderr", e))?;
    jail::confine(&Linux::default(), plan).map_err(|e| match e {
        JailError::Sys {
            call,
            target,
            errno,
        } => JailError::Start {
            call,
            target,
            errno,
        },
        other => other,
    })?;
    Ok(())
}

/// Reads the job's start report: `None` if `execve` succeeded.
pub(super) fn start_error(report: OwnedFd) -> Option<JailError> {
    let mut report = File::from(report);
    match meshcc_wire::read_msg::<_, JailError>(&mut report) {
        Ok(None) => None,
        Ok(Some(e)) => Some(e),
        Err(e) => Some(JailError::Protocol(format!("start report: {e}"))),
    }
}
