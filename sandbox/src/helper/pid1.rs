//! Pid 1 of the job's namespace: builds the root, starts the job, supervises it, reports.
//!
//! As init of its pid namespace it inherits every orphan, so it reaps everything; once the
//! job's main process has exited it kills whatever the job left behind (`kill(-1)` from init
//! reaches every process of the namespace but itself), so a backgrounded grandchild can
//! neither outlive the job nor hold its output pipes open. Stdout and stderr are drained
//! concurrently with `poll`, each up to its cap; a job that writes more is killed.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::resource::{getrusage, UsageWho};
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::stat::{umask, Mode};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, pipe2, ForkResult, Pid};
use serde_bytes::ByteBuf;

use super::child;
use super::Reply;
use crate::jail::{self, JailError, Plan};
use crate::limits::{classify, Evidence};
use crate::outcome::{read_outputs, Captured, JobOutcome, Stream, Termination, Usage};
use crate::spec::JobSpec;
use crate::syscalls::{Linux, Syscalls};

fn supervise_err(call: &str, errno: Errno) -> JailError {
    JailError::Supervise {
        call: call.to_string(),
        errno: errno as i32,
    }
}

/// Runs as pid 1 and returns the reply to send.
pub(super) fn run(spec: &JobSpec, plan: &Plan) -> Reply {
    match run_inner(spec, plan) {
        Ok(outcome) => Reply::Ran(outcome),
        Err(e) => Reply::Failed(e),
    }
}

fn run_inner(spec: &JobSpec, plan: &Plan) -> Result<JobOutcome, JailError> {
    // If the helper above us dies, so do we, and with us the whole namespace.
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(|e| supervise_err("prctl", e))?;
    jail::build_root(&Linux::default(), plan)?;
    // Undumpable: the job, under the same uid, cannot read our /proc/1/environ or ptrace us.
    Linux::default().set_dumpable(false)?;
    umask(Mode::from_bits_truncate(0o022));

    // SIGCHLD arrives through a signalfd we poll with the pipes, so no signal handler.
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)
        .map_err(|e| supervise_err("sigprocmask", e))?;
    let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| supervise_err("signalfd", e))?;
    let pipe = || pipe2(OFlag::O_CLOEXEC).map_err(|e| supervise_err("pipe2", e));
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (exec_r, exec_w) = pipe()?;

    let started = Instant::now();
    // Safe: single-threaded.
    let job = match unsafe { fork() }.map_err(|e| supervise_err("fork", e))? {
        ForkResult::Child => child::exec_job(spec, plan, out_w, err_w, exec_w),
        ForkResult::Parent { child } => child,
    };
    drop((out_w, err_w, exec_w));
    if let Some(e) = child::start_error(exec_r) {
        let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
        reap_all();
        return Err(e);
    }
    let deadline = started + Duration::from_millis(spec.limits.wall_ms);
    let cap = spec.limits.stream_bytes as usize;
    let mut streams = [Capture::new(out_r, cap), Capture::new(err_r, cap)];
    let end = supervise(job, &sigfd, &mut streams, deadline)?;
    reap_all();

    let usage = usage(end.finished.duration_since(started))?;
    let [stdout, stderr] = streams.map(Capture::finish);
    let outputs = read_outputs(&spec.outputs, spec.limits.output_bytes);
    let evidence = Evidence {
        termination: end.termination,
        stderr: &stderr.bytes,
        usage,
        wall_killed: end.wall_killed,
        stream_overflow: end.overflow,
    };
    let stopped_by = classify(&evidence, &spec.limits);
    Ok(JobOutcome {
        termination: end.termination,
        stdout,
        stderr,
        outputs,
        usage,
        stopped_by,
    })
}

struct Capture {
    fd: Option<File>,
    bytes: Vec<u8>,
    cap: usize,
    truncated: bool,
}

impl Capture {
    fn new(fd: OwnedFd, cap: usize) -> Self {
        Capture {
            fd: Some(File::from(fd)),
            bytes: Vec::new(),
            cap,
            truncated: false,
        }
    }

    /// Reads what is there; returns whether the cap was passed just now.
    fn read_some(&mut self) -> bool {
        let Some(fd) = self.fd.as_mut() else {
            return false;
        };
        let mut buf = [0u8; 65536];
        match fd.read(&mut buf) {
            Ok(0) => self.fd = None,
            Ok(n) => {
                let room = self.cap - self.bytes.len();
                self.bytes.extend_from_slice(&buf[..n.min(room)]);
                if n > room && !self.truncated {
                    self.truncated = true;
                    return true;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => self.fd = None,
        }
        false
    }

    fn finish(self) -> Captured {
        Captured {
            bytes: ByteBuf::from(self.bytes),
            truncated: self.truncated,
        }
    }
}

struct End {
    termination: Termination,
    finished: Instant,
    wall_killed: bool,
    overflow: Option<Stream>,
}

fn kill_all() {
    // From init, kill(-1) signals every process of the namespace except init itself.
    let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
}

fn supervise(
    job: Pid,
    sigfd: &SignalFd,
    streams: &mut [Capture; 2],
    deadline: Instant,
) -> Result<End, JailError> {
    let mut status: Option<(Termination, Instant)> = None;
    let (mut killed, mut wall_killed, mut overflow) = (false, false, None);
    loop {
        let open: Vec<usize> = (0..2).filter(|&i| streams[i].fd.is_some()).collect();
        if let Some((termination, finished)) = status {
            if open.is_empty() {
                return Ok(End {
                    termination,
                    finished,
                    wall_killed,
                    overflow,
                });
            }
        }
        let now = Instant::now();
        if now >= deadline && status.is_none() && !killed {
            (killed, wall_killed) = (true, true);
            kill_all();
        }
        let wait = deadline
            .saturating_duration_since(now)
            .max(Duration::from_millis(10));
        let timeout =
            PollTimeout::try_from(wait.min(Duration::from_secs(10))).unwrap_or(PollTimeout::MAX);
        let mut fds = vec![PollFd::new(sigfd.as_fd(), PollFlags::POLLIN)];
        for &i in &open {
            fds.push(PollFd::new(
                streams[i].fd.as_ref().unwrap().as_fd(),
                PollFlags::POLLIN,
            ));
        }
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(supervise_err("poll", e)),
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.any().unwrap_or(false)).collect();
        drop(fds);
        for (k, &i) in open.iter().enumerate() {
            if ready[k + 1] && streams[i].read_some() && !killed {
                killed = true;
                overflow = Some([Stream::Stdout, Stream::Stderr][i]);
                kill_all();
            }
        }
        if ready[0] {
            while let Ok(Some(_)) = sigfd.read_signal() {}
            while let Ok(ws) = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                let ended = match ws {
                    WaitStatus::Exited(pid, code) => (pid, Termination::Exited(code)),
                    WaitStatus::Signaled(pid, sig, _) => (pid, Termination::Signaled(sig as i32)),
                    _ => break,
                };
                if ended.0 == job {
                    status = Some((ended.1, Instant::now()));
                    kill_all();
                }
            }
        }
    }
}

/// Kills and reaps whatever is left, until init has no children.
fn reap_all() {
    kill_all();
    while let Ok(_) | Err(Errno::EINTR) = waitpid(Pid::from_raw(-1), None) {}
}

fn usage(wall: Duration) -> Result<Usage, JailError> {
    let ru = getrusage(UsageWho::RUSAGE_CHILDREN).map_err(|e| supervise_err("getrusage", e))?;
    let ms =
        |tv: nix::sys::time::TimeVal| (tv.tv_sec() as u64) * 1000 + (tv.tv_usec() as u64) / 1000;
    Ok(Usage {
        user_ms: ms(ru.user_time()),
        sys_ms: ms(ru.system_time()),
        // ru_maxrss is in KiB on Linux.
        max_rss_bytes: (ru.max_rss().max(0) as u64) * 1024,
        wall_ms: wall.as_millis() as u64,
    })
}
