//! The agent's side: start a helper, hand it the job, wait for the reply, never hang.

use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use meshcc_wire::FrameError;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::helper::Reply;
use crate::jail::{remove_job_dir, JailError};
use crate::outcome::JobOutcome;
use crate::spec::{JobSpec, SpecError};

/// Time allowed beyond the job's wall clock for building the jail and reading outputs.
pub const SETUP_GRACE: Duration = Duration::from_secs(15);

/// Helper stderr kept for error messages.
const HELPER_STDERR_CAP: usize = 16 * 1024;

/// Why a job could not be run. None of these is the job's own failure: the agent retries
/// elsewhere or locally — except [`SandboxError::Spec`], a request no worker should run.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The spec was refused before anything was started.
    #[error("invalid job spec: {0}")]
    Spec(#[from] SpecError),
    /// The job directory could not be created.
    #[error("creating the job directory {path}: {source}")]
    JobDir {
        /// The directory.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// The helper process could not be started.
    #[error("starting the sandbox helper {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: io::Error,
    },
    /// The helper could not build the jail or start the job.
    #[error("the sandbox could not run the job: {0}")]
    Jail(#[from] JailError),
    /// The helper ended without a reply.
    #[error("the sandbox helper ended ({status}) without replying; its stderr: {stderr:?}")]
    HelperDied {
        /// Its exit status.
        status: String,
        /// What it wrote to stderr, truncated.
        stderr: String,
    },
    /// The helper's reply did not decode.
    #[error("the sandbox helper sent a bad reply: {0}")]
    Reply(FrameError),
    /// The helper did not reply in time and was killed with its process group.
    #[error("the sandbox helper did not reply within {after_ms} ms and was killed")]
    TimedOut {
        /// How long we waited.
        after_ms: u64,
    },
}

/// Runs one job in a fresh helper started by `helper` (for instance the agent's own executable
/// with its hidden `__sandbox` subcommand, whose `main` calls [`crate::helper_main`]).
///
/// `helper`'s stdio and environment are replaced: the helper needs none of the caller's
/// environment and must not pass it on. Blocking; call it from a blocking thread.
pub fn run(mut helper: Command, spec: &JobSpec) -> Result<JobOutcome, SandboxError> {
    spec.validate()?;
    std::fs::create_dir(&spec.job_dir).map_err(|source| SandboxError::JobDir {
        path: spec.job_dir.display().to_string(),
        source,
    })?;
    helper
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_clear()
        // Its own process group, so one killpg ends the helper and pid 1 of the job.
        .process_group(0);
    let result = talk(helper, spec);
    // A job directory left behind is only hard links; the next job uses another directory.
    let _ = remove_job_dir(&spec.job_dir);
    result
}

fn talk(mut helper: Command, spec: &JobSpec) -> Result<JobOutcome, SandboxError> {
    let program = helper.get_program().to_string_lossy().into_owned();
    let mut child = helper
        .spawn()
        .map_err(|source| SandboxError::Spawn { program, source })?;
    let pgid = Pid::from_raw(child.id() as i32);
    let timeout = Duration::from_millis(spec.limits.wall_ms) + SETUP_GRACE;
    let deadline = Instant::now() + timeout;

    let mut stdin = child.stdin.take().expect("piped");
    let request = meshcc_wire::encode(spec).map_err(SandboxError::Reply)?;
    // A thread, so a helper that does not read cannot block us.
    let writer = thread::spawn(move || io::Write::write_all(&mut stdin, &request));
    let mut stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        let _ = tx.send(meshcc_wire::read_msg::<_, Reply>(&mut stdout));
    });
    let mut stderr = child.stderr.take().expect("piped");
    let errors = thread::spawn(move || {
        let mut kept = Vec::new();
        let _ = (&mut stderr)
            .take(HELPER_STDERR_CAP as u64)
            .read_to_end(&mut kept);
        let _ = io::copy(&mut stderr, &mut io::sink());
        String::from_utf8_lossy(&kept).into_owned()
    });

    let reply = rx.recv_timeout(timeout);
    if reply.is_err() {
        let _ = killpg(pgid, Signal::SIGKILL);
    }
    let status = wait_until(
        &mut child,
        pgid,
        deadline.max(Instant::now() + Duration::from_secs(2)),
    );
    let _ = writer.join();
    let _ = reader.join();
    let stderr = errors.join().unwrap_or_default();
    match reply {
        Ok(Ok(Some(Reply::Ran(outcome)))) => Ok(outcome),
        Ok(Ok(Some(Reply::Failed(e)))) => Err(SandboxError::Jail(e)),
        Ok(Ok(None)) => Err(SandboxError::HelperDied { status, stderr }),
        Ok(Err(FrameError::Io(_))) => Err(SandboxError::HelperDied { status, stderr }),
        Ok(Err(e)) => Err(SandboxError::Reply(e)),
        Err(_) => Err(SandboxError::TimedOut {
            after_ms: timeout.as_millis() as u64,
        }),
    }
}

/// Waits for the helper to exit, killing its group at `deadline`; returns its status.
fn wait_until(child: &mut Child, pgid: Pid, deadline: Instant) -> String {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.to_string(),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(2)),
            Ok(None) => {
                let _ = killpg(pgid, Signal::SIGKILL);
                return child.wait().map(|s| s.to_string()).unwrap_or_default();
            }
            Err(e) => return e.to_string(),
        }
    }
}
