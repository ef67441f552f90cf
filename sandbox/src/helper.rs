//! The helper process and its protocol with the agent.
//!
//! # Protocol
//!
//! Participants: the agent (multi-threaded, calls [`crate::run`]) and a fresh helper process
//! (single-threaded, calls [`helper_main`]), connected by the helper's stdin and stdout.
//! Frames are `meshcc_wire`'s: `u32` big-endian length, CBOR `[version, message]`, 64 MiB cap
//! checked before allocation.
//!
//! 1. agent → helper, stdin: one [`crate::JobSpec`]; then stdin is closed.
//! 2. helper → agent, stdout: one [`Reply`]; then the helper exits.
//!
//! Goals: the agent never forks itself (namespaces cannot be created from a multi-threaded
//! process, and forking one is unsafe), and never hangs on a helper — [`crate::run`] kills the
//! helper's process group when the job's wall clock plus a grace period runs out. Non-goals:
//! streaming output while the job runs; versions differing between agent and helper (they are
//! the same executable). The helper's stderr carries nothing but panics.
//!
//! # Processes
//!
//! ```text
//! helper ── materialise, leave root, unshare ── fork ─┬─ waits for pid 1, exits with its status
//!                                                      └─ pid 1: build root, pivot ── fork ─┬─ supervise, read outputs, reply
//!                                                                                           └─ job: confine, execve
//! ```
//! When pid 1 of a pid namespace dies, the kernel kills everything else in it, so killing the
//! helper's process group (helper and pid 1) ends the whole job whatever it did.

mod child;
mod pid1;

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::process::ExitCode;

use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, getgid, getuid, ForkResult, Uid};
use serde::{Deserialize, Serialize};

use crate::jail::{self, Ids, JailError, Plan};
use crate::outcome::JobOutcome;
use crate::spec::JobSpec;
use crate::syscalls::Linux;

/// The helper's one message back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Reply {
    /// The job ran (whatever its status).
    Ran(JobOutcome),
    /// The jail could not be built or the job not started.
    Failed(JailError),
}

/// The helper's entry point: reads a spec on stdin, runs the job, writes a [`Reply`] on stdout.
///
/// Call it from a process's `main` before anything starts a thread (the agent dispatches its
/// hidden `__sandbox` subcommand before building its runtime).
pub fn helper_main() -> ExitCode {
    let mut out = match io::stdout().as_fd().try_clone_to_owned() {
        Ok(fd) => File::from(fd),
        Err(_) => return ExitCode::from(70),
    };
    let spec = match meshcc_wire::read_msg::<_, JobSpec>(&mut io::stdin().lock()) {
        Ok(Some(spec)) => spec,
        Ok(None) => {
            return reply(
                &mut out,
                Reply::Failed(JailError::Protocol("no request".into())),
            )
        }
        Err(e) => return reply(&mut out, Reply::Failed(JailError::Protocol(e.to_string()))),
    };
    match start(&spec, &mut out) {
        Ok(code) => code,
        Err(e) => reply(&mut out, Reply::Failed(e)),
    }
}

fn reply(out: &mut File, reply: Reply) -> ExitCode {
    let ok = meshcc_wire::write_msg(out, &reply).is_ok() && out.flush().is_ok();
    match (&reply, ok) {
        (Reply::Ran(_), true) => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    }
}

fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(1)
}

/// Everything up to the first fork; returns the exit code of the helper's outer process.
fn start(spec: &JobSpec, out: &mut File) -> Result<ExitCode, JailError> {
    spec.validate()
        .map_err(|e| JailError::Spec(e.to_string()))?;
    let threads = threads();
    if threads != 1 {
        return Err(JailError::Threads { threads });
    }
    let layer = jail::materialise(spec)?;
    let id = &spec.identity;
    let ids = if Uid::effective().is_root() {
        let unprivileged = (id.unprivileged_uid, id.unprivileged_gid);
        jail::hand_over(&layer.dir, spec, unprivileged)?;
        Ids {
            switch_to: Some(unprivileged),
            outside: unprivileged,
            inside: (id.inside_uid, id.inside_gid),
        }
    } else {
        Ids {
            switch_to: None,
            outside: (getuid().as_raw(), getgid().as_raw()),
            inside: (id.inside_uid, id.inside_gid),
        }
    };
    let plan = Plan::new(spec, ids, &layer.dir);
    jail::enter_namespaces(&Linux::default(), &plan)?;
    // Safe: this process is single-threaded (checked above).
    match unsafe { fork() } {
        Err(e) => Err(JailError::Sys {
            call: "fork".into(),
            target: "pid 1".into(),
            errno: e as i32,
        }),
        Ok(ForkResult::Child) => {
            let result = pid1::run(spec, &plan);
            Ok(reply(out, result))
        }
        Ok(ForkResult::Parent { child }) => loop {
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, code)) => return Ok(ExitCode::from(code as u8)),
                Ok(WaitStatus::Signaled(_, sig, _)) => {
                    return Ok(ExitCode::from(128u8.wrapping_add(sig as u8)))
                }
                Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return Ok(ExitCode::from(1)),
            }
        },
    }
}
