//! The agent's web monitor: one page with the mesh as this agent sees it (hosts with their
//! slots and load, toolchain transfers under way) and a Gantt chart of recent jobs per host,
//! like Icecream's icemon.
//!
//! The page (`monitor/page.html`, compiled into the binary: no CDN, no files to install) polls
//! `GET /api/state` once a second; that JSON (schema `meshcc.monitor/1`, see `docs/json.md`)
//! is the peer table of `meshcc peers --json`, the transfers, and the job history. Loopback
//! only by default: the page shows peer ids, addresses and file names.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use meshcc_wire::control::{PeersReport, TransferProgress};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use super::config::MonitorListen;
use super::history::JobRecord;
use super::mesh::Command;
use super::shared::Shared;
use crate::report::PeerJson;

/// Where the monitor listens unless told otherwise.
pub const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 7071);

const PAGE: &str = include_str!("monitor/page.html");

/// Binds the monitor's listener, or none when it is off. The default port may be taken (a
/// second agent on this machine): then any free loopback port will do, since `meshcc peers`
/// prints the URL. An address asked for explicitly must work, or the agent does not start.
pub async fn bind(listen: MonitorListen) -> Result<Option<TcpListener>> {
    let listener = match listen {
        MonitorListen::Off => return Ok(None),
        MonitorListen::At(addr) => TcpListener::bind(addr).await.with_context(|| {
            format!("the web monitor cannot listen on {addr}; choose another --monitor address or use --no-monitor")
        })?,
        MonitorListen::Default => match TcpListener::bind(DEFAULT_ADDR).await {
            Ok(listener) => listener,
            Err(e) => {
                info!("the web monitor's usual address {DEFAULT_ADDR} is taken ({e}); using another port");
                TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                    .await
                    .context("the web monitor cannot listen on any loopback port")?
            }
        },
    };
    Ok(Some(listener))
}

/// The URL a browser opens for `listener`.
pub fn url(listener: &TcpListener) -> Result<String> {
    let addr = listener.local_addr()?;
    let host = match addr.ip() {
        ip if ip.is_unspecified() => "localhost".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    Ok(format!("http://{host}:{}/", addr.port()))
}

#[derive(Clone)]
struct Monitor {
    shared: Arc<Shared>,
    mesh: mpsc::Sender<Command>,
}

/// Serves the page and its data until the agent stops.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, mesh: mpsc::Sender<Command>) {
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/api/state", get(state))
        .with_state(Monitor { shared, mesh });
    if let Err(e) = axum::serve(listener, app).await {
        warn!("the web monitor stopped: {e}");
    }
}

/// `GET /api/state`.
#[derive(Debug, Serialize)]
pub struct MonitorState {
    /// Always `meshcc.monitor/1`.
    pub schema: &'static str,
    /// The agent's clock, milliseconds since the Unix epoch (the jobs' times are on it).
    pub now_ms: u64,
    /// The agent answering.
    pub local: PeerJson,
    /// Its peers.
    pub peers: Vec<PeerJson>,
    /// Toolchain fetches and packagings under way.
    pub transfers: Vec<TransferProgress>,
    /// Recent jobs, oldest first.
    pub jobs: Vec<JobRecord>,
}

async fn state(State(monitor): State<Monitor>) -> Response {
    let (reply, answer) = oneshot::channel();
    let report: Option<PeersReport> = match monitor.mesh.send(Command::Peers(reply)).await {
        Ok(()) => answer.await.ok(),
        Err(_) => None,
    };
    let Some(report) = report else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the agent is shutting down",
        )
            .into_response();
    };
    Json(MonitorState {
        schema: "meshcc.monitor/1",
        now_ms: super::history::now_ms(),
        local: (&report.local).into(),
        peers: report.peers.iter().map(Into::into).collect(),
        transfers: report.transfers,
        jobs: monitor.shared.history.snapshot(),
    })
    .into_response()
}
