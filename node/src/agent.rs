//! `meshcc agent`: the process every machine runs.
//!
//! It joins the mesh (discovery, gossip, liveness: [`mesh`]), answers the local `meshcc`
//! command on its control socket ([`control`]), sends its clients' compiles to workers
//! ([`jobs`], choosing them with [`planner`]), serves peers' compiles ([`worker`],
//! [`execute`]) and the blobs they need ([`blobs`]).

pub mod blobs;
pub mod codec;
pub mod config;
pub mod control;
pub mod discovery;
pub mod execute;
pub mod identity;
pub mod jobs;
pub mod load;
pub mod mesh;
pub mod peers;
pub mod planner;
pub mod shared;
pub mod transport;
pub mod worker;

use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::sync::{mpsc, Semaphore};
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
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let load = load::LoadMeter::new(load::CpuAccounting::detect(), cores);
        let slots = config
            .slots
            .unwrap_or_else(|| load.capacity_cores().ceil().max(1.0) as u32);
        let speed = load::measure_speed(load.capacity_cores(), slots.max(1));
        let store = crate::store::Store::open(
            &config.state_dir.join("store"),
            config.store_limit_mb << 20,
        )?;
        let shared = Arc::new(shared::Shared::new(
            &config.state_dir,
            store,
            slots,
            config.accepts_remote,
        ));
        for held in std::fs::read_dir(&shared.toolchains_dir)
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Ok(id) = held.file_name().to_string_lossy().parse() {
                shared.hold_toolchain(id);
            }
        }
        let _ = std::fs::remove_dir_all(&shared.jobs_dir); // job roots a crash left behind

        let stream = libp2p_stream::Behaviour::new();
        let mut control = stream.new_control();
        let jobs_in = control.accept(jobs::JOB).context("job protocol")?;
        let blobs_in = control.accept(blobs::BLOB).context("blob protocol")?;
        let (tx, rx) = mpsc::channel(256);
        let mesh = mesh::Mesh::new(
            &config,
            key,
            shared.clone(),
            stream,
            load,
            speed,
            tx.clone(),
        )?;

        let submitter = jobs::Submitter {
            control: control.clone(),
            shared: shared.clone(),
            mesh: tx.clone(),
            typical: Default::default(),
        };
        let worker = worker::Worker {
            control,
            shared: shared.clone(),
            mesh: tx,
            slots: Arc::new(Semaphore::new(slots as usize)),
            helper: execute::Helper::current_exe(),
            toolchain_locks: Default::default(),
        };
        tokio::spawn(control::serve(listener, submitter));
        tokio::spawn(worker.serve(jobs_in));
        tokio::spawn(blobs::serve(blobs_in, shared));
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
