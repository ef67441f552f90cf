//! The submitting side of a remote compile: send the job to the chosen worker, serve its
//! inputs while it runs, and try another worker when one fails.
//!
//! Every failure here is the mesh's, not the source's: a refusal, a vanished worker, a timeout.
//! After [`ATTEMPTS`] workers, or when no other worker is worth trying, the wrapper is told to
//! compile locally, so the build never fails because of the mesh.

use std::ffi::OsStr;
use std::future::Future;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use libp2p::{PeerId, StreamProtocol};
use libp2p_stream::Control;
use meshcc_wire::control::{Compiled, ControlResponse, PeerName};
use meshcc_wire::ids::{BlobHash, ToolchainId};
use meshcc_wire::job::{Compile, Exit, JobRequest, JobResponse, RefusalKind, JOB_PROTOCOL};
use meshcc_wire::{read_msg_async, write_msg_async};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use super::history::{output_label, Role};
use super::mesh::Command;
use super::shared::{Assignment, Shared};

/// The job protocol.
pub const JOB: StreamProtocol = StreamProtocol::new(JOB_PROTOCOL);
/// Workers tried for one job before compiling locally.
const ATTEMPTS: usize = 3;
/// Longest a job may take on a worker, toolchain fetch included, before we give up on it.
const JOB_TIMEOUT: Duration = Duration::from_secs(180);
/// The least time a worker gets to answer before the job goes to another worker as well.
const MIN_PATIENCE: Duration = Duration::from_secs(5);
/// Further patience for a worker that must first fetch the toolchain (77 MiB for gcc 12: 40 s
/// over a 16 Mbit/s link).
const FETCH_PATIENCE: Duration = Duration::from_secs(60);

/// One job on one worker: who, since when, and how it went.
type Attempt<'a> =
    Pin<Box<dyn Future<Output = (PeerId, Instant, anyhow::Result<JobResponse>)> + Send + 'a>>;

/// Sends jobs of this agent's clients to workers.
#[derive(Clone)]
pub struct Submitter {
    /// Opens streams to peers.
    pub control: Control,
    /// Shared agent state.
    pub shared: Arc<Shared>,
    /// The mesh task, for worker choice and in-flight accounting.
    pub mesh: mpsc::Sender<Command>,
    /// What a remote job has lately taken, start to answer (zero until one has).
    pub typical: Arc<Mutex<Duration>>,
}

impl Submitter {
    /// Runs `req` on `first`, or on other workers if it fails; answers what the wrapper is told.
    pub async fn submit(
        &self,
        first: Assignment,
        toolchain: ToolchainId,
        req: Compile,
    ) -> ControlResponse {
        let files: Vec<(BlobHash, PathBuf)> = req
            .inputs
            .iter()
            .map(|i| (i.hash, PathBuf::from(OsStr::from_bytes(&i.path))))
            .collect();
        self.shared.offer(&files);
        let response = self.attempts(first, toolchain, req).await;
        self.shared.withdraw(&files);
        response
    }

    async fn attempts(
        &self,
        first: Assignment,
        toolchain: ToolchainId,
        req: Compile,
    ) -> ControlResponse {
        let job = JobRequest {
            job_id: rand::random(),
            toolchain,
            compile: req,
        };
        let first_output = job.compile.outputs.first();
        let label = output_label(first_output.map(|o| std::path::Path::new(OsStr::from_bytes(o))));
        let mut tried = Vec::new();
        // Workers that have the job now, and their attempts.
        let mut pending: Vec<(PeerId, Instant)> = Vec::new();
        let mut running = FuturesUnordered::new();
        let mut why: String;
        let mut patience = self.start(first, &job, &label, &mut tried, &mut pending, &mut running);
        let mut hedge_at = Instant::now() + patience;
        let response = loop {
            let hedge = tokio::time::sleep_until(hedge_at.into());
            let (peer, started, outcome) = tokio::select! {
                Some(finished) = running.next() => finished,
                () = hedge => {
                    // A worker that says nothing for this long is stuck, dead without a
                    // goodbye, or lying about its slots: ask another one too (or compile
                    // locally) and keep the first answer, instead of waiting out JOB_TIMEOUT.
                    warn!(job = job.job_id, ?patience, "no result yet; asking another worker as well");
                    self.shared.stats.fallback("worker silent, job sent elsewhere too");
                    match self.next_worker(toolchain, &tried).await {
                        Some(next) => {
                            patience = self.start(next, &job, &label, &mut tried, &mut pending, &mut running);
                        }
                        // Nobody else to ask: the wrapper compiles it, and the silent worker
                        // is not blamed (its first job may be fetching a large toolchain).
                        None => break ControlResponse::Fallback("workers did not answer in time".into()),
                    }
                    hedge_at = Instant::now() + patience;
                    continue;
                }
            };
            if let Some(i) = pending.iter().position(|(p, _)| *p == peer) {
                pending.remove(i);
            }
            if matches!(outcome, Ok(JobResponse::Done(_))) {
                // Workers that had the job before this one and are still silent were not
                // merely given a large file: leave them out for a while. (Judged only now, so
                // that a worker slowly compiling a big file is not punished for a hedge.)
                let earlier = pending.iter().filter(|(_, at)| *at < started);
                self.stalled(earlier.map(|(p, _)| *p)).await;
            }
            match outcome {
                Ok(JobResponse::Done(result)) => {
                    self.shared
                        .stats
                        .jobs_remote
                        .fetch_add(1, Ordering::Relaxed);
                    let took = started.elapsed();
                    self.learn(took);
                    info!(
                        job = job.job_id,
                        %peer,
                        ms = took.as_millis() as u64,
                        fetch_ms = result.fetch_ms,
                        compile_ms = result.compile_ms,
                        "remote compile done"
                    );
                    let verify = result.exit == Exit::Code(0) && self.shared.check.sample();
                    break ControlResponse::Compiled(Compiled {
                        worker: PeerName(peer.to_string()),
                        result,
                        verify,
                    });
                }
                Ok(JobResponse::Refused(refusal)) => {
                    warn!(job = job.job_id, %peer, kind = ?refusal.kind, "worker refused the job: {}", refusal.message);
                    self.shared.stats.fallback(refusal_phrase(refusal.kind));
                    why = format!("worker {peer} refused: {}", refusal.message);
                    // The same inputs give the same answer anywhere: compile locally now. A
                    // job that ran out of memory would on the next worker too (workers share
                    // the default limit); the submitter's own compiler has none.
                    if matches!(
                        refusal.kind,
                        RefusalKind::TuMismatch | RefusalKind::Forbidden | RefusalKind::OutOfMemory
                    ) {
                        break ControlResponse::Fallback(why);
                    }
                }
                Err(e) => {
                    warn!(job = job.job_id, %peer, "remote compile failed: {e:#}; trying elsewhere");
                    self.shared
                        .stats
                        .fallback("worker lost, unreachable or too slow");
                    why = format!("worker {peer} failed: {e:#}");
                }
            }
            if !running.is_empty() {
                continue; // another worker still has the job
            }
            match self.next_worker(toolchain, &tried).await {
                Some(next) => {
                    patience =
                        self.start(next, &job, &label, &mut tried, &mut pending, &mut running);
                    hedge_at = Instant::now() + patience;
                }
                None => break ControlResponse::Fallback(why),
            }
        };
        // Attempts still running are abandoned here: dropping them releases their workers'
        // assignments and ends their history records as abandoned.
        drop(running);
        response
    }

    /// Sends `job` to the worker of `assignment`; the assignment (the job counted as load on
    /// that worker) and the job's history record live as long as the attempt. Returns how long
    /// to wait for this worker before asking another as well.
    fn start<'a>(
        &'a self,
        assignment: Assignment,
        job: &'a JobRequest,
        label: &str,
        tried: &mut Vec<PeerId>,
        pending: &mut Vec<(PeerId, Instant)>,
        running: &mut FuturesUnordered<Attempt<'a>>,
    ) -> Duration {
        let peer = assignment.peer();
        let patience = self.patience(assignment.holds_toolchain());
        let started = Instant::now();
        tried.push(peer);
        pending.push((peer, started));
        debug!(job = job.job_id, %peer, output = label, size = job.compile.tu_size, "job sent");
        let record = self.shared.history.start(Role::Remote, Some(peer), label);
        running.push(Box::pin(async move {
            let outcome = self.run_on(peer, job).await;
            drop(assignment);
            match &outcome {
                Ok(response) => record.end(job_outcome(response)),
                Err(_) => record.end("worker lost, unreachable or too slow"),
            }
            (peer, started, outcome)
        }));
        patience
    }

    /// Tells the planner that these workers held a job past patience and lost the race.
    async fn stalled(&self, peers: impl Iterator<Item = PeerId>) {
        for peer in peers {
            let _ = self.mesh.send(Command::Stalled { peer }).await;
        }
    }

    /// Another worker, unless [`ATTEMPTS`] have been tried.
    async fn next_worker(&self, toolchain: ToolchainId, tried: &[PeerId]) -> Option<Assignment> {
        if tried.len() >= ATTEMPTS {
            return None;
        }
        self.pick(toolchain, tried).await
    }

    /// How long a worker may stay silent before the job is sent elsewhere too: a few times
    /// what remote jobs have lately taken, never less than [`MIN_PATIENCE`], and
    /// [`FETCH_PATIENCE`] more when the worker did not hold the toolchain.
    fn patience(&self, holds_toolchain: bool) -> Duration {
        let typical = *self.typical.lock().unwrap();
        let compile = (typical * 4).clamp(MIN_PATIENCE, JOB_TIMEOUT);
        if holds_toolchain {
            compile
        } else {
            compile + FETCH_PATIENCE
        }
    }

    /// Folds one finished job's time into the typical one (a moving average).
    fn learn(&self, took: Duration) {
        let mut typical = self.typical.lock().unwrap();
        *typical = if typical.is_zero() {
            took
        } else {
            (*typical * 7 + took) / 8
        };
    }

    async fn run_on(&self, peer: PeerId, job: &JobRequest) -> anyhow::Result<JobResponse> {
        let mut control = self.control.clone();
        // A cut-off worker leaves the table within seconds, but the stream on its dead
        // connection would wait for TCP to give up (minutes): watch the table instead.
        let mut left = self.shared.peer_left.subscribe();
        let lost = async move {
            loop {
                match left.recv().await {
                    Ok(gone) if gone == peer => return,
                    Err(RecvError::Closed) => std::future::pending::<()>().await,
                    _ => {}
                }
            }
        };
        let exchange = async {
            let mut stream = control.open_stream(peer, JOB).await?;
            write_msg_async(&mut stream, job).await?;
            read_msg_async::<_, JobResponse>(&mut stream)
                .await?
                .ok_or_else(|| anyhow::anyhow!("the worker closed the stream without an answer"))
        };
        tokio::select! {
            answer = tokio::time::timeout(JOB_TIMEOUT, exchange) => {
                answer.map_err(|_| anyhow::anyhow!("no result within {JOB_TIMEOUT:?}"))?
            }
            () = lost => Err(anyhow::anyhow!("the worker went silent and was disconnected")),
        }
    }

    /// Asks the mesh task a question built around its reply channel; `None` once the agent is
    /// shutting down.
    pub async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.mesh.send(make(reply)).await.ok()?;
        answer.await.ok()
    }

    /// Another worker for the job, or none (compile locally).
    async fn pick(&self, toolchain: ToolchainId, exclude: &[PeerId]) -> Option<Assignment> {
        let exclude = exclude.to_vec();
        self.ask(|reply| Command::PickWorker {
            toolchain,
            exclude,
            reply,
        })
        .await
        .flatten()
    }
}

/// How a job ended, for the job history: `ok`, `compile error` or `refused: …`.
pub fn job_outcome(response: &JobResponse) -> String {
    match response {
        JobResponse::Done(r) if r.exit == meshcc_wire::job::Exit::Code(0) => "ok".into(),
        JobResponse::Done(_) => "compile error".into(),
        JobResponse::Refused(r) => format!("refused: {}", refusal_phrase(r.kind)),
    }
}

/// The phrase `meshcc stats` counts a refusal under.
pub fn refusal_phrase(kind: RefusalKind) -> &'static str {
    match kind {
        RefusalKind::Busy => "worker busy",
        RefusalKind::NotAccepting => "worker does not take this job",
        RefusalKind::Forbidden => "worker refused a flag or path",
        RefusalKind::Toolchain => "toolchain could not be fetched",
        RefusalKind::Inputs => "inputs could not be fetched",
        RefusalKind::TuMismatch => "translation unit differs on the worker",
        RefusalKind::OutOfMemory => "worker ran out of memory",
        RefusalKind::Limit => "worker limit reached (time, CPU, file size)",
        RefusalKind::Sandbox => "sandbox failed on the worker",
        RefusalKind::Internal => "worker error",
    }
}
