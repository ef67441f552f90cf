//! `meshcc agent`: the process every machine runs.
//!
//! It joins the mesh (discovery, gossip, liveness: [`mesh`]), answers the local `meshcc`
//! command on its control socket ([`control`]), sends its clients' compiles to workers
//! ([`jobs`], choosing them with [`planner`]), serves peers' compiles ([`worker`],
//! [`execute`]) and the blobs they need ([`blobs`]), and shows all that on a local web page
//! ([`monitor`], from the [`history`] of jobs and the [`progress`] of transfers).

pub mod blobs;
pub mod codec;
pub mod config;
pub mod control;
pub mod discovery;
pub mod dispatch;
pub mod execute;
pub mod failures;
pub mod history;
pub mod identity;
pub mod jobs;
pub mod load;
pub mod mesh;
pub mod monitor;
pub mod peers;
pub mod planner;
pub mod progress;
pub mod shared;
pub mod transport;
pub mod verify;
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
            "cannot create the state directory {} (choose a writable one with --state-dir or \
             MESHCC_STATE_DIR)",
            config.state_dir.display()
        )
    })?;
    let key = identity::load_or_create(&config.state_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let web = monitor::bind(config.monitor).await?;
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
        let mut shared =
            shared::Shared::new(&config.state_dir, store, slots, config.accepts_remote);
        shared.check = verify::ResultCheck::new(config.verify);
        let shared = Arc::new(shared);
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
        let jobs_in = control
            .accept(jobs::JOB)
            .context("cannot register the job protocol twice in one agent")?;
        let blobs_in = control
            .accept(blobs::BLOB)
            .context("cannot register the blob protocol twice in one agent")?;
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
            limits: job_limits(&config),
        };
        if let Some(web) = web {
            let url = monitor::url(&web)?;
            info!(%url, "web monitor ready");
            let _ = shared.monitor_url.set(url);
            tokio::spawn(monitor::serve(web, shared.clone(), submitter.mesh.clone()));
        }
        tokio::spawn(control::serve(listener, submitter));
        tokio::spawn(worker.serve(jobs_in));
        tokio::spawn(blobs::serve(blobs_in, shared));
        info!(socket = %socket.display(), "control socket ready");
        mesh.run(rx, shutdown_signal()).await;
        let _ = std::fs::remove_file(&socket);
        Ok(())
    })
}

/// The sandbox limits of every job this agent serves.
fn job_limits(config: &AgentConfig) -> meshcc_sandbox::Limits {
    let mut limits = meshcc_sandbox::Limits::default();
    if let Some(mb) = config.job_memory_mb {
        limits.memory_bytes = mb << 20;
    }
    limits
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
