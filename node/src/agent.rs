//! `meshcc agent`: the process every machine runs.
//!
//! It joins the mesh (discovery, gossip, liveness: [`mesh`]) and answers the local `meshcc`
//! command on its control socket ([`control`]).

pub mod codec;
pub mod config;
pub mod control;
pub mod discovery;
pub mod identity;
pub mod load;
pub mod mesh;
pub mod peers;
pub mod transport;

use anyhow::{Context, Result};
use tokio::sync::mpsc;
use tracing::info;

pub use config::{AgentArgs, AgentConfig};

/// Runs the agent until SIGINT or SIGTERM.
pub fn run(config: AgentConfig) -> Result<()> {
    std::fs::create_dir_all(&config.state_dir).with_context(|| {
        format!(
            "cannot create state directory {}",
            config.state_dir.display()
        )
    })?;
    let key = identity::load_or_create(&config.state_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let socket = control::socket_path(&config.state_dir);
        let listener = control::bind(&socket)?;
        let mesh = mesh::Mesh::new(&config, key)?;
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(control::serve(listener, tx));
        info!(socket = %socket.display(), "control socket ready");
        mesh.run(rx, shutdown_signal()).await;
        let _ = std::fs::remove_file(&socket);
        Ok(())
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
