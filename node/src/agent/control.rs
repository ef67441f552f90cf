//! The control socket: a unix socket in the state directory answering the `meshcc` command.
//!
//! Each connection is served by its own task; a client that sends garbage gets an error frame
//! (where the stream still allows one) and is dropped, and nobody else notices.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use meshcc_wire::control::{ControlRequest, ControlResponse};
use meshcc_wire::{read_msg_async, write_msg_async, FrameError};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tokio_util::compat::TokioAsyncReadCompatExt;
use tracing::{debug, warn};

use super::mesh::Command;

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
            .with_context(|| format!("cannot remove stale socket {}", path.display()))?;
    }
    UnixListener::bind(path)
        .with_context(|| format!("cannot bind control socket {}", path.display()))
}

/// Accepts clients until the listener fails.
pub async fn serve(listener: UnixListener, commands: mpsc::Sender<Command>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve_client(stream, commands.clone()));
            }
            Err(e) => {
                warn!("control socket accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve_client(stream: UnixStream, commands: mpsc::Sender<Command>) {
    let mut stream = stream.compat();
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
        debug!(?request, "control request");
        let response = answer(request, &commands).await;
        if write_msg_async(&mut stream, &response).await.is_err() {
            return;
        }
    }
}

async fn answer(request: ControlRequest, commands: &mpsc::Sender<Command>) -> ControlResponse {
    async fn ask<T>(
        commands: &mpsc::Sender<Command>,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        commands.send(make(tx)).await.ok()?;
        rx.await.ok()
    }
    let answer = match request {
        ControlRequest::Peers => ask(commands, Command::Peers)
            .await
            .map(ControlResponse::Peers),
        ControlRequest::Stats => ask(commands, Command::Stats)
            .await
            .map(ControlResponse::Stats),
        ControlRequest::Jobs => ask(commands, Command::Jobs)
            .await
            .map(ControlResponse::Jobs),
    };
    answer.unwrap_or_else(|| ControlResponse::Error("the agent is shutting down".into()))
}

/// The socket path inside a state directory.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join("agent.sock")
}
