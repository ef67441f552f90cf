//! Running a checked job on this worker: the toolchain tree, then the sandbox, twice — once to
//! preprocess and compare the translation unit with the submitter's, once for the original
//! command.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use libp2p::PeerId;
use meshcc_sandbox::{JailPath, JobOutcome, JobSpec, LimitHit, OutputFile, Termination};
use meshcc_wire::ids::{BlobHash, ToolchainId};
use meshcc_wire::job::{Exit, JobResponse, JobResult, OutputFile as WireOutput, RefusalKind};
use serde_bytes::ByteBuf;
use tracing::{debug, info};

use super::progress::TransferKind;
use super::worker::{job_dir, refuse, CheckedJob, Worker};
use crate::toolchain;

/// How often a toolchain fetch's progress is looked at.
const PROGRESS_LOOK: std::time::Duration = std::time::Duration::from_millis(250);

/// Where the preprocessed translation unit of the check is written inside the jail.
const TU_FILE: &str = "/tmp/meshcc-check.i";

/// How to start the sandbox helper: this executable with a hidden subcommand.
#[derive(Debug, Clone)]
pub struct Helper {
    program: PathBuf,
    args: Vec<String>,
}

impl Helper {
    /// `meshcc __sandbox`, from the running executable.
    pub fn current_exe() -> Self {
        Self {
            program: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("meshcc")),
            args: vec![crate::cli::SANDBOX_SUBCOMMAND.to_owned()],
        }
    }

    fn command(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(&self.program);
        cmd.args(&self.args);
        cmd
    }
}

/// One lock per toolchain, so that concurrent jobs fetch and unpack it once.
#[derive(Debug, Default, Clone)]
pub struct ToolchainLocks(Arc<Mutex<HashMap<ToolchainId, Arc<tokio::sync::Mutex<()>>>>>);

/// Makes sure the tree of `id` exists here, fetching what is missing from `sources`.
pub async fn ensure_toolchain(
    worker: &Worker,
    sources: &[PeerId],
    id: ToolchainId,
) -> anyhow::Result<PathBuf> {
    let shared = &worker.shared;
    let tree = shared.toolchains_dir.join(id.to_string());
    if tree.is_dir() {
        return Ok(tree);
    }
    let lock = worker
        .toolchain_locks
        .0
        .lock()
        .unwrap()
        .entry(id)
        .or_default()
        .clone();
    let _guard = lock.lock().await;
    if tree.is_dir() {
        return Ok(tree);
    }
    let started = Instant::now();
    let manifest_hash = toolchain::manifest_blob(&id);
    super::blobs::fetch(&worker.control, shared, sources, &[manifest_hash])
        .await
        .context("toolchain manifest")?;
    let manifest =
        toolchain::decode_manifest(&shared.store.get(&manifest_hash)?).map_err(|e| anyhow!(e))?;
    if manifest.arch != std::env::consts::ARCH || manifest.os != std::env::consts::OS {
        bail!(
            "toolchain is for {}-{}, this worker is {}-{}",
            manifest.arch,
            manifest.os,
            std::env::consts::ARCH,
            std::env::consts::OS
        );
    }
    fetch_chunks_watched(worker, sources, &id, &manifest)
        .await
        .context("toolchain files")?;
    let (store_shared, dir) = (shared.clone(), shared.toolchains_dir.clone());
    let tree = tokio::task::spawn_blocking(move || {
        toolchain::materialize::materialize(&store_shared.store, &manifest, &id, &dir)
    })
    .await??;
    shared.hold_toolchain(id);
    shared
        .stats
        .toolchains_fetched
        .fetch_add(1, Ordering::Relaxed);
    info!(toolchain = %id.short(), ms = started.elapsed().as_millis() as u64, "toolchain ready");
    Ok(tree)
}

/// Fetches the chunks of `manifest` the store lacks, listed as a transfer whose progress is
/// what the store holds: the fetch itself spreads batches over several peers and needs no
/// knowledge of who watches it.
async fn fetch_chunks_watched(
    worker: &Worker,
    sources: &[PeerId],
    id: &ToolchainId,
    manifest: &meshcc_wire::job::ToolchainManifest,
) -> Result<(), super::blobs::FetchError> {
    let shared = &worker.shared;
    let sizes = toolchain::chunk_sizes(manifest);
    let chunks = sizes.len();
    let missing: Vec<(BlobHash, u64)> = sizes
        .into_iter()
        .filter(|(hash, _)| !shared.store.has(hash))
        .collect();
    info!(toolchain = %id.short(), chunks, missing = missing.len(), sources = sources.len(), "fetching toolchain");
    let progress = shared
        .transfers
        .begin(TransferKind::Fetch, format!("toolchain {}", id.short()));
    progress.set_total(
        missing.iter().map(|(_, size)| size).sum(),
        missing.len() as u64,
    );
    let hashes: Vec<BlobHash> = missing.iter().map(|(hash, _)| *hash).collect();
    let fetch = super::blobs::fetch(&worker.control, shared, sources, &hashes);
    tokio::pin!(fetch);
    let mut look = tokio::time::interval(PROGRESS_LOOK);
    loop {
        tokio::select! {
            fetched = &mut fetch => return fetched,
            _ = look.tick() => {
                let arrived = missing.iter().filter(|(hash, _)| shared.store.has(hash));
                let (bytes, count) = arrived.fold((0, 0), |(b, n), (_, size)| (b + size, n + 1));
                progress.set_done(bytes, count);
            }
        }
    }
}

/// Runs the check and the compile; every failure that is not the compiler's is a refusal.
pub async fn execute(worker: &Worker, tree: &Path, job: &CheckedJob, fetch_ms: u64) -> JobResponse {
    let started = Instant::now();
    let base = match base_spec(worker, tree, job) {
        Ok(spec) => spec,
        Err(e) => return refuse(RefusalKind::Forbidden, format!("{e:#}")),
    };
    // 1. The translation unit, in the jail, must be the submitter's.
    let mut check = base.clone();
    check.job_dir = job_dir(&worker.shared, job.request.job_id);
    check.argv = std::iter::once(job.request.compile.argv[0].clone())
        .chain(
            job.preprocess_args
                .iter()
                .map(|a| ByteBuf::from(a.as_bytes().to_vec())),
        )
        .chain(
            ["-o", TU_FILE]
                .iter()
                .map(|a| ByteBuf::from(a.as_bytes().to_vec())),
        )
        .collect();
    let tu = JailPath::new(TU_FILE).expect("constant path");
    check.outputs = vec![tu.clone()];
    let outcome = match sandboxed(worker, check).await {
        Ok(o) => o,
        Err(e) => return refuse(RefusalKind::Sandbox, format!("{e:#}")),
    };
    if let Some(limit) = outcome.stopped_by {
        return limit_refusal(limit);
    }
    match outcome.output(&tu) {
        Some(text) if BlobHash::of(text) == job.request.compile.tu_hash => {}
        Some(_) => {
            return refuse(RefusalKind::TuMismatch, "the preprocessed source differs from the submitter's (a file the compile reads was not shipped)");
        }
        None => {
            let why = String::from_utf8_lossy(&outcome.stderr.bytes);
            return refuse(
                RefusalKind::TuMismatch,
                format!("preprocessing failed on the worker: {}", why.trim()),
            );
        }
    }
    debug!(
        ms = started.elapsed().as_millis() as u64,
        "translation unit checked"
    );
    // 2. The original command, unchanged.
    let mut compile = base;
    compile.job_dir = job_dir(&worker.shared, job.request.job_id);
    compile.argv = job.request.compile.argv.clone();
    let outcome = match sandboxed(worker, compile).await {
        Ok(o) => o,
        Err(e) => return refuse(RefusalKind::Sandbox, format!("{e:#}")),
    };
    if let Some(limit) = outcome.stopped_by {
        return limit_refusal(limit);
    }
    let outputs = outcome
        .outputs
        .iter()
        .filter_map(|(path, file)| match file {
            OutputFile::Present(bytes) => Some(WireOutput {
                path: ByteBuf::from(path.as_path().as_os_str().as_bytes().to_vec()),
                data: bytes.clone(),
            }),
            _ => None,
        })
        .collect();
    JobResponse::Done(JobResult {
        exit: match outcome.termination {
            Termination::Exited(code) => Exit::Code(code),
            Termination::Signaled(sig) => Exit::Signal(sig),
        },
        stdout: outcome.stdout.bytes,
        stderr: outcome.stderr.bytes,
        outputs,
        fetch_ms,
        compile_ms: started.elapsed().as_millis() as u64,
    })
}

fn limit_refusal(limit: LimitHit) -> JobResponse {
    match limit {
        LimitHit::Memory { limit_bytes } => refuse(
            RefusalKind::OutOfMemory,
            format!("the worker ran out of memory for this job (limit {} MiB); it will be compiled elsewhere", limit_bytes >> 20),
        ),
        other => refuse(RefusalKind::Limit, format!("the job was stopped on the worker: {other}")),
    }
}

/// The spec shared by the check and the compile.
fn base_spec(worker: &Worker, tree: &Path, job: &CheckedJob) -> anyhow::Result<JobSpec> {
    let store = &worker.shared.store;
    let mut inputs = Vec::with_capacity(job.inputs.len());
    for (path, file) in job.inputs.iter().zip(&job.request.compile.inputs) {
        store.touch(&file.hash);
        inputs.push(meshcc_sandbox::Input {
            path: JailPath::new(path)?,
            source: store.path(&file.hash),
        });
    }
    let cwd = JailPath::new(&job.cwd)?;
    let mut writable: Vec<JailPath> = Vec::new();
    for out in &job.outputs {
        let dir = JailPath::new(out.parent().unwrap_or(Path::new("/")))?;
        if !dir.is_within(&cwd) && !writable.contains(&dir) {
            writable.push(dir);
        }
    }
    Ok(JobSpec {
        toolchain: tree.to_owned(),
        job_dir: PathBuf::new(),
        inputs,
        cwd,
        writable,
        program: JailPath::new(&job.program)?,
        argv: Vec::new(),
        env: job.request.compile.env.clone(),
        outputs: job
            .outputs
            .iter()
            .map(JailPath::new)
            .collect::<Result<_, _>>()?,
        limits: worker.limits,
        identity: Default::default(),
    })
}

async fn sandboxed(worker: &Worker, spec: JobSpec) -> anyhow::Result<JobOutcome> {
    let helper = worker.helper.clone();
    tokio::task::spawn_blocking(move || {
        meshcc_sandbox::run(helper.command(), &spec).map_err(anyhow::Error::from)
    })
    .await
    .map_err(|e| anyhow!("sandbox task failed: {e}"))?
}
