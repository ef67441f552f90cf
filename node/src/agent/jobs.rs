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
use meshcc_wire::job::{Compile, JobRequest, JobResponse, RefusalKind, JOB_PROTOCOL};
use meshcc_wire::{read_msg_async, write_msg_async};
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use super::mesh::Command;
use super::shared::Shared;

/// The job protocol.
pub const JOB: StreamProtocol = StreamProtocol::new(JOB_PROTOCOL);
/// Workers tried for one job before compiling locally.
const ATTEMPTS: usize = 3;
/// Longest a job may take on a worker, toolchain fetch included, before we give up on it.
const JOB_TIMEOUT: Duration = Duration::from_secs(180);
/// The least time a worker gets to answer before the job goes to another worker as well.
const MIN_PATIENCE: Duration = Duration::from_secs(5);

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
        first: PeerId,
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
        first: PeerId,
        toolchain: ToolchainId,
        req: Compile,
    ) -> ControlResponse {
        let job = JobRequest {
            job_id: rand::random(),
            toolchain,
            compile: req,
        };
        let mut tried = Vec::new();
        // Workers that have the job now, and their futures.
        let mut pending: Vec<PeerId> = Vec::new();
        let mut running = FuturesUnordered::new();
        let mut why: String;
        self.start(first, &job, &mut tried, &mut pending, &mut running)
            .await;
        let patience = self.patience();
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
                    for peer in &pending {
                        let _ = self.mesh.send(Command::Stalled { peer: *peer }).await;
                    }
                    self.shared.stats.fallback("worker silent, job sent elsewhere too");
                    match self.next_worker(toolchain, &tried).await {
                        Some(next) => self.start(next, &job, &mut tried, &mut pending, &mut running).await,
                        None => break ControlResponse::Fallback("workers did not answer in time".into()),
                    }
                    hedge_at = Instant::now() + patience;
                    continue;
                }
            };
            if let Some(i) = pending.iter().position(|p| *p == peer) {
                pending.remove(i);
            }
            let _ = self
                .mesh
                .send(Command::InFlight {
                    peer,
                    started: false,
                })
                .await;
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
                    break ControlResponse::Compiled(Compiled {
                        worker: PeerName(peer.to_string()),
                        result,
                    });
                }
                Ok(JobResponse::Refused(refusal)) => {
                    warn!(job = job.job_id, %peer, kind = ?refusal.kind, "worker refused the job: {}", refusal.message);
                    self.shared.stats.fallback(refusal_phrase(refusal.kind));
                    why = format!("worker {peer} refused: {}", refusal.message);
                    // The same inputs give the same answer anywhere: compile locally now.
                    if matches!(
                        refusal.kind,
                        RefusalKind::TuMismatch | RefusalKind::Forbidden
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
                    self.start(next, &job, &mut tried, &mut pending, &mut running)
                        .await;
                    hedge_at = Instant::now() + patience;
                }
                None => break ControlResponse::Fallback(why),
            }
        };
        // Attempts still running are abandoned: their workers no longer count this job.
        for peer in pending {
            let _ = self
                .mesh
                .send(Command::InFlight {
                    peer,
                    started: false,
                })
                .await;
        }
        response
    }

    /// Sends `job` to `peer`, counting it in flight.
    async fn start<'a>(
        &'a self,
        peer: PeerId,
        job: &'a JobRequest,
        tried: &mut Vec<PeerId>,
        pending: &mut Vec<PeerId>,
        running: &mut FuturesUnordered<Attempt<'a>>,
    ) {
        tried.push(peer);
        pending.push(peer);
        let _ = self
            .mesh
            .send(Command::InFlight {
                peer,
                started: true,
            })
            .await;
        running.push(Box::pin(async move {
            let started = Instant::now();
            (peer, started, self.run_on(peer, job).await)
        }));
    }

    /// Another worker, unless [`ATTEMPTS`] have been tried.
    async fn next_worker(&self, toolchain: ToolchainId, tried: &[PeerId]) -> Option<PeerId> {
        if tried.len() >= ATTEMPTS {
            return None;
        }
        self.pick(toolchain, tried).await
    }

    /// How long a worker may stay silent before the job is sent elsewhere too: a few times
    /// what remote jobs have lately taken, and never less than [`MIN_PATIENCE`] (a worker's
    /// first job includes fetching the toolchain).
    fn patience(&self) -> Duration {
        let typical = *self.typical.lock().unwrap();
        (typical * 4).clamp(MIN_PATIENCE, JOB_TIMEOUT)
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
        let exchange = async {
            let mut stream = control.open_stream(peer, JOB).await?;
            write_msg_async(&mut stream, job).await?;
            read_msg_async::<_, JobResponse>(&mut stream)
                .await?
                .ok_or_else(|| anyhow::anyhow!("the worker closed the stream without an answer"))
        };
        tokio::time::timeout(JOB_TIMEOUT, exchange)
            .await
            .map_err(|_| anyhow::anyhow!("no result within {JOB_TIMEOUT:?}"))?
    }

    /// Another worker for the job, or none (compile locally).
    async fn pick(&self, toolchain: ToolchainId, exclude: &[PeerId]) -> Option<PeerId> {
        let (reply, answer) = oneshot::channel();
        let pick = Command::PickWorker {
            toolchain,
            exclude: exclude.to_vec(),
            reply,
        };
        self.mesh.send(pick).await.ok()?;
        answer.await.ok().flatten()
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
