//! The serving side of a remote compile: check the job, fetch what is missing, run it jailed.
//!
//! A job from a peer is hostile until shown otherwise: its command must parse as a
//! distributable compile under meshcc's own argument model (so no `-fplugin=`, `-B`, `-specs=`,
//! `-wrapper` or `@file` gets through), its outputs are the ones that model names — not the
//! ones the request lists — and every path is absolute and plain. Then the toolchain manifest
//! and chunks come from the submitter and from every peer that gossips holding the toolchain,
//! and the inputs from the submitter; everything is verified by hash before it is used.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use libp2p::PeerId;
use libp2p_stream::{Control, IncomingStreams};
use meshcc_wire::job::{JobRequest, JobResponse, Refusal, RefusalKind};
use meshcc_wire::{read_msg_async, write_msg_async};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tracing::{info, warn, Instrument};

use super::history::{output_label, Role};
use super::mesh::Command;
use super::shared::{Counted, Shared};
use crate::safepath::{absolute_lexical, plain_absolute};

/// Jobs accepted per slot (running, fetching or waiting) before refusing more as busy.
const QUEUE_PER_SLOT: u32 = 4;

/// Environment variables a job may set; anything else in a request is refused.
pub const ALLOWED_ENV: &[&str] = &[
    "CPATH",
    "CPLUS_INCLUDE_PATH",
    "C_INCLUDE_PATH",
    "GCC_COLORS",
    "GCC_URLS",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
    "PATH",
    "SOURCE_DATE_EPOCH",
    "TERM",
];

/// What a worker needs to serve jobs.
#[derive(Clone)]
pub struct Worker {
    /// Opens streams to peers (for blob fetches).
    pub control: Control,
    /// Shared agent state.
    pub shared: Arc<Shared>,
    /// The mesh task, to learn who holds a toolchain.
    pub mesh: mpsc::Sender<Command>,
    /// Bounds the jobs running at once.
    pub slots: Arc<Semaphore>,
    /// How to start the sandbox helper process.
    pub helper: super::execute::Helper,
    /// Serialises fetching and unpacking of each toolchain.
    pub toolchain_locks: super::execute::ToolchainLocks,
    /// The sandbox limits of every job (`--job-memory-mb` sets the memory one).
    pub limits: meshcc_sandbox::Limits,
}

/// A job that passed the checks, with the facts the worker derived itself.
pub struct CheckedJob {
    /// The request.
    pub request: JobRequest,
    /// Working directory.
    pub cwd: PathBuf,
    /// The compiler, absolute.
    pub program: PathBuf,
    /// Output files, absolute, from our own parse of the command.
    pub outputs: Vec<PathBuf>,
    /// The preprocessing command for the check (argv without argv\[0\]).
    pub preprocess_args: Vec<OsString>,
    /// Input files, absolute.
    pub inputs: Vec<PathBuf>,
}

impl Worker {
    /// Serves job streams until the listener closes.
    pub async fn serve(self, mut incoming: IncomingStreams) {
        while let Some((peer, mut stream)) = incoming.next().await {
            let worker = self.clone();
            tokio::spawn(async move {
                let request: JobRequest = match read_msg_async(&mut stream).await {
                    Ok(Some(r)) => r,
                    Ok(None) => return,
                    Err(e) => {
                        warn!(%peer, "bad job request: {e}");
                        return;
                    }
                };
                let span = tracing::info_span!("job", id = request.job_id, %peer);
                let response = worker.run(peer, request).instrument(span).await;
                if let Err(e) = write_msg_async(&mut stream, &response).await {
                    warn!(%peer, "job result not delivered: {e}");
                }
            });
        }
    }

    async fn run(&self, peer: PeerId, request: JobRequest) -> JobResponse {
        let shared = &self.shared;
        if let Some(why) = shared.refuses_jobs_because() {
            return refuse(RefusalKind::NotAccepting, why);
        }
        let waiting = shared.served_queued.load(Ordering::Relaxed)
            + shared.served_running.load(Ordering::Relaxed);
        if waiting >= QUEUE_PER_SLOT * shared.slots {
            return refuse(
                RefusalKind::Busy,
                format!("{waiting} jobs already running or queued here"),
            );
        }
        let job = match check(request) {
            Ok(job) => job,
            Err(why) => {
                warn!("job refused: {why}");
                return refuse(RefusalKind::Forbidden, why);
            }
        };
        let record = shared.history.start(
            Role::Served,
            Some(peer),
            output_label(job.outputs.first().map(PathBuf::as_path)),
        );
        // Fetching takes no slot: a job waiting for its toolchain or inputs does not keep
        // another, ready one from the CPU.
        let queued = Counted::new(shared, |s| &s.served_queued);
        let started = Instant::now();
        let tree = match self.fetch(peer, &job).await {
            Ok(tree) => tree,
            Err(refusal) => {
                if let JobResponse::Refused(r) = &refusal {
                    warn!(kind = ?r.kind, "job refused: {}", r.message);
                }
                record.end(super::jobs::job_outcome(&refusal));
                return refusal;
            }
        };
        let fetch_ms = started.elapsed().as_millis() as u64;
        let Ok(_permit) = self.slots.clone().acquire_owned().await else {
            return refuse(RefusalKind::Internal, "the agent is shutting down");
        };
        drop(queued);
        let _running = Counted::new(shared, |s| &s.served_running);
        let response = super::execute::execute(self, &tree, &job, fetch_ms).await;
        record.end(super::jobs::job_outcome(&response));
        match &response {
            JobResponse::Done(r) => {
                shared.stats.jobs_served.fetch_add(1, Ordering::Relaxed);
                info!(fetch_ms, compile_ms = r.compile_ms, exit = ?r.exit, "job done");
            }
            JobResponse::Refused(r) => warn!(kind = ?r.kind, "job failed here: {}", r.message),
        }
        response
    }

    /// The toolchain tree and the inputs, from the submitter and the toolchain's holders.
    async fn fetch(&self, peer: PeerId, job: &CheckedJob) -> Result<PathBuf, JobResponse> {
        let toolchain = job.request.toolchain;
        let mut sources = vec![peer];
        sources.extend(
            self.holders(toolchain)
                .await
                .into_iter()
                .filter(|p| *p != peer),
        );
        let tree = super::execute::ensure_toolchain(self, &sources, toolchain)
            .await
            .map_err(|e| self.fetch_failed(RefusalKind::Toolchain, format!("{e:#}")))?;
        let hashes: Vec<_> = job.request.compile.inputs.iter().map(|i| i.hash).collect();
        super::blobs::fetch(&self.control, &self.shared, &[peer], &hashes)
            .await
            .map_err(|e| self.fetch_failed(RefusalKind::Inputs, e.to_string()))?;
        Ok(tree)
    }

    /// The refusal for a failed fetch. A fetch also fails when nothing can be stored here:
    /// then the full disk is the reason to give, not the sources.
    fn fetch_failed(&self, kind: RefusalKind, why: String) -> JobResponse {
        self.shared.check_disk();
        match self.shared.refuses_jobs_because() {
            Some(disk_full) => refuse(RefusalKind::NotAccepting, disk_full),
            None => refuse(kind, why),
        }
    }

    async fn holders(&self, toolchain: meshcc_wire::ids::ToolchainId) -> Vec<PeerId> {
        let (reply, answer) = oneshot::channel();
        if self
            .mesh
            .send(Command::Holders { toolchain, reply })
            .await
            .is_err()
        {
            return Vec::new();
        }
        answer.await.unwrap_or_default()
    }
}

/// A refusal response.
pub fn refuse(kind: RefusalKind, message: impl Into<String>) -> JobResponse {
    JobResponse::Refused(Refusal {
        kind,
        message: message.into(),
    })
}

/// The checks every job passes before anything is fetched or run.
pub fn check(request: JobRequest) -> Result<CheckedJob, String> {
    let path = |raw: &[u8], what: &str| {
        plain_absolute(raw).map_err(|why| {
            format!(
                "{what} {:?} is refused: {why}",
                String::from_utf8_lossy(raw)
            )
        })
    };
    let c = &request.compile;
    let cwd = path(&c.cwd, "working directory")?;
    let program = path(&c.program, "compiler path")?;
    if c.argv.is_empty() || c.argv.len() > 10_000 || c.inputs.len() > 100_000 {
        return Err("the command line or the input list has an absurd length".into());
    }
    let mut inputs = Vec::with_capacity(c.inputs.len());
    for input in &c.inputs {
        inputs.push(path(&input.path, "input")?);
    }
    for (name, _) in &c.env {
        if !ALLOWED_ENV.iter().any(|a| a.as_bytes() == &name[..]) {
            return Err(format!(
                "environment variable {:?} is not allowed",
                String::from_utf8_lossy(name)
            ));
        }
    }
    let args: Vec<OsString> = c.argv[1..]
        .iter()
        .map(|a| OsStr::from_bytes(a).to_owned())
        .collect();
    let name = program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let invocation = crate::args::parse(&name, &args)
        .map_err(|reason| format!("not a distributable compile: {reason}"))?;
    let mut outputs = Vec::new();
    for o in &invocation.outputs {
        if o.path.as_os_str().as_bytes().ends_with(b"/") {
            return Err(format!(
                "output {:?} is refused: it names a directory, not a file",
                o.path
            ));
        }
        let abs = absolute_lexical(&cwd, &o.path);
        path(abs.as_os_str().as_bytes(), "output")?;
        outputs.push(abs);
    }
    let declared: HashSet<&[u8]> = c.outputs.iter().map(|o| &o[..]).collect();
    let derived: HashSet<&[u8]> = outputs.iter().map(|o| o.as_os_str().as_bytes()).collect();
    if declared != derived {
        return Err("the outputs listed differ from the ones the command writes".into());
    }
    let preprocess_args = crate::hermetic::preprocess_args(&invocation);
    Ok(CheckedJob {
        request,
        cwd,
        program,
        outputs,
        preprocess_args,
        inputs,
    })
}

/// Where a job's root is built, and removed after.
pub fn job_dir(shared: &Shared, job_id: u64) -> PathBuf {
    let _ = std::fs::create_dir_all(&shared.jobs_dir);
    shared
        .jobs_dir
        .join(format!("{job_id:016x}-{}", rand::random::<u32>()))
}

/// `path` under the jail root `root` as seen from the host.
pub fn in_root(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}
