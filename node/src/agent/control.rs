//! The control socket: a unix socket in the state directory answering the `meshcc` command.
//!
//! Each connection is served by its own task and is one conversation (see
//! `meshcc_wire::control`): questions for the CLI, or one compile for the wrapper. A client
//! that sends garbage gets an error frame (where the stream still allows one) and is dropped,
//! and nobody else notices.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use libp2p::PeerId;
use meshcc_wire::control::{ControlRequest, ControlResponse, PeerName, Plan};
use meshcc_wire::ids::ToolchainId;
use meshcc_wire::{read_msg_async, write_msg_async, FrameError};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::compat::TokioAsyncReadCompatExt;
use tracing::{debug, warn};

use super::history::{output_label, JobGuard, Role};
use super::jobs::Submitter;
use super::mesh::{Command, PlanDecision};
use super::planner::Placement;
use super::shared::{Counted, Shared};

/// The longest a compile waits for its compiler's packaging when this host's slots are full;
/// then it compiles here anyway.
const PACKAGING_WAIT: Duration = Duration::from_secs(10);

/// Binds the socket at `path`, replacing a stale one but never a live agent's.
pub fn bind(path: &Path) -> Result<UnixListener> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!(
                "another agent is already running with control socket {}; stop it or use another --state-dir",
                path.display()
            );
        }
        std::fs::remove_file(path)
            .with_context(|| format!("cannot remove the stale control socket {} left by a stopped agent; remove it by hand", path.display()))?;
    }
    let listener = UnixListener::bind(path)
        .with_context(|| format!("cannot create the control socket {} (is the state directory writable? choose another with --state-dir)", path.display()))?;
    // Every local user may compile through the agent; jobs run sandboxed whoever sends them.
    let _ = std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o666));
    Ok(listener)
}

/// Accepts clients until the listener fails.
pub async fn serve(listener: UnixListener, submitter: Submitter) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve_client(stream, submitter.clone()));
            }
            Err(e) => {
                warn!("control socket accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// Where one client's compile stands.
#[derive(Default)]
struct Conversation {
    /// A compile planned remote: its reservation and toolchain, until it is submitted.
    remote: Option<(Counted, ToolchainId)>,
    /// The worker whose result this client got, the only one it may report a check of.
    compiled_by: Option<PeerId>,
    lease: Option<Counted>,
    /// The local compile's record in the job history.
    local_job: Option<JobGuard>,
}

impl Conversation {
    /// The client compiles locally under `lease`, recorded in the history as `label`.
    fn start_local(&mut self, lease: Counted, shared: &Shared, label: String) {
        self.lease = Some(lease);
        self.local_job = Some(shared.history.start(Role::Local, None, label));
        shared.stats.jobs_local.fetch_add(1, Ordering::Relaxed);
    }
}

async fn serve_client(stream: UnixStream, submitter: Submitter) {
    let mut stream = stream.compat();
    let mut conversation = Conversation::default();
    loop {
        let request = match read_msg_async::<_, ControlRequest>(&mut stream).await {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(e) => {
                warn!("bad request on the control socket: {e}");
                if !matches!(e, FrameError::Io(_)) {
                    let reply = ControlResponse::Error(format!(
                        "the agent could not read the request: {e}"
                    ));
                    let _ = write_msg_async(&mut stream, &reply).await;
                }
                return;
            }
        };
        debug!(request = request_name(&request), "control request");
        let response = answer(request, &submitter, &mut conversation).await;
        if write_msg_async(&mut stream, &response).await.is_err() {
            return;
        }
    }
}

fn request_name(r: &ControlRequest) -> &'static str {
    match r {
        ControlRequest::Peers => "peers",
        ControlRequest::Stats => "stats",
        ControlRequest::Jobs => "jobs",
        ControlRequest::Plan(_) => "plan",
        ControlRequest::Submit(_) => "submit",
        ControlRequest::Finished(_) => "finished",
        ControlRequest::Checked(_) => "checked",
        ControlRequest::Health => "health",
    }
}

async fn answer(
    request: ControlRequest,
    submitter: &Submitter,
    conv: &mut Conversation,
) -> ControlResponse {
    let shutting_down = || ControlResponse::Error("the agent is shutting down".into());
    match request {
        ControlRequest::Peers => submitter.ask(Command::Peers)
            .await
            .map_or_else(shutting_down, ControlResponse::Peers),
        ControlRequest::Stats => submitter.ask(Command::Stats)
            .await
            .map_or_else(shutting_down, ControlResponse::Stats),
        ControlRequest::Jobs => submitter.ask(Command::Jobs)
            .await
            .map_or_else(shutting_down, ControlResponse::Jobs),
        ControlRequest::Health => submitter.ask(Command::Health)
            .await
            .map_or_else(shutting_down, ControlResponse::Health),
        ControlRequest::Plan(plan) => {
            let compiler = PathBuf::from(OsStr::from_bytes(&plan.compiler));
            let compiler_name = compiler
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            if !compiler.is_absolute() {
                return ControlResponse::Error("the compiler path must be absolute".into());
            }
            let deadline = Instant::now() + PACKAGING_WAIT;
            let decision = loop {
                let compiler = compiler.clone();
                let may_wait = Instant::now() < deadline;
                match submitter
                    .ask(|reply| Command::Plan {
                        compiler,
                        may_wait,
                        reply,
                    })
                    .await
                {
                    Some(PlanDecision::Wait) => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    other => break other,
                }
            };
            match decision {
                Some(PlanDecision::Remote {
                    expected,
                    reservation,
                    toolchain,
                }) => {
                    conv.remote = Some((reservation, toolchain));
                    ControlResponse::Plan(Plan::Remote {
                        worker: PeerName(expected.to_string()),
                    })
                }
                Some(PlanDecision::Local(reason, lease)) => {
                    conv.start_local(lease, &submitter.shared, compiler_name);
                    ControlResponse::Plan(Plan::Local { reason })
                }
                // (`Wait` never ends the loop above.)
                Some(PlanDecision::Wait) | None => shutting_down(),
            }
        }
        ControlRequest::Submit(req) => match conv.remote.take() {
            Some((reservation, toolchain)) => {
                let size = req.tu_size;
                let placed = submitter
                    .ask(|reply| Command::Dispatch {
                        toolchain,
                        size,
                        reply,
                    })
                    .await
                    .unwrap_or_else(|| Err("the agent is shutting down".into()));
                drop(reservation);
                match placed {
                    Ok(Placement::Worker(worker)) => {
                        let response = submitter.submit(worker, toolchain, req).await;
                        if let ControlResponse::Compiled(done) = &response {
                            conv.compiled_by = done.worker.0.parse().ok();
                        }
                        response
                    }
                    Ok(Placement::Here(lease)) => {
                        let first = req.outputs.first().map(|o| Path::new(OsStr::from_bytes(o)));
                        conv.start_local(lease, &submitter.shared, output_label(first));
                        ControlResponse::Plan(Plan::Local {
                            reason: "a slot here came free before any worker's".into(),
                        })
                    }
                    Err(why) => ControlResponse::Fallback(why),
                }
            }
            None => ControlResponse::Error("submit without a remote plan".into()),
        },
        ControlRequest::Finished(finished) => {
            conv.lease = None;
            if let Some(job) = conv.local_job.take() {
                job.end(if finished.success {
                    "ok"
                } else {
                    "compile error"
                });
            }
            ControlResponse::Ok
        }
        // Only about the result this client was just given: a local user cannot mark
        // arbitrary peers untrusted.
        ControlRequest::Checked(checked) => match conv.compiled_by.take() {
            Some(worker) if worker.to_string() == checked.worker.0 => {
                submitter.shared.check.record(worker, checked.same);
                ControlResponse::Ok
            }
            _ => ControlResponse::Error(format!(
                "a result check of worker {} without a result from it on this connection; not recorded",
                checked.worker
            )),
        },
    }
}

/// The socket path inside a state directory.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join("agent.sock")
}
