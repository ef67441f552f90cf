//! `mesh-hostile`: a real libp2p peer that joins a meshcc mesh (the agent's own transport,
//! identity protocol and mesh key) and misbehaves in one chosen way, for the hostile-peer and
//! fault tests.
//!
//! One-shot attacks (`wire`, `forbidden-jobs`, `bad-toolchains`, `corrupt-input`) print one
//! `ATTACK <name>: <what the agent did>` line each and exit 0 when every attack was turned
//! away, 2 when the agent accepted one. Standing roles (`silent-worker`, `corrupt-blobs`,
//! `other-version`) run until killed, printing what they did to whom.

mod attacks;
mod peer;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use futures::io::{AsyncReadExt, AsyncWriteExt};
use futures::StreamExt;
use libp2p::{Multiaddr, PeerId, StreamProtocol};
use meshcc::agent::{blobs::BLOB, jobs::JOB};
use meshcc_wire::ids::BlobHash;
use meshcc_wire::job::{Blob, BlobRequest, BlobResponse, JobRequest, JobResponse};
use meshcc_wire::mesh::StatusAck;
use meshcc_wire::PROTOCOL_VERSION;
use serde_bytes::ByteBuf;

use attacks::{Protocol, WireAttack};
use peer::{Peer, Persona};

/// A misbehaving meshcc peer, for tests. Never point it at a mesh you care about.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// An agent to connect to (repeatable).
    #[arg(long = "peer", required = true)]
    peers: Vec<Multiaddr>,
    /// Where to listen (peers open streams back to us).
    #[arg(long, default_value = "/ip4/127.0.0.1/tcp/0")]
    listen: Multiaddr,
    /// The mesh key file, as the agents have it.
    #[arg(long)]
    mesh_key: Option<PathBuf>,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Send one malformed frame on a protocol.
    Wire {
        #[arg(long = "on", value_enum)]
        protocol: Protocol,
        #[arg(long, value_enum)]
        attack: WireAttack,
    },
    /// Submit jobs with forbidden flags, paths, environment or working directory.
    ForbiddenJobs,
    /// Submit valid jobs whose toolchain manifests try to escape their tree.
    BadToolchains,
    /// Submit a valid job and serve its input file corrupted.
    CorruptInput,
    /// Gossip free slots and every toolchain the mesh holds, accept jobs, never answer.
    SilentWorker {
        #[arg(long, default_value_t = 8)]
        slots: u32,
    },
    /// Gossip holding every toolchain the mesh holds (taking no jobs), and answer every blob
    /// request with data that does not match its hash.
    CorruptBlobs,
    /// Speak protocol version N: statuses, job and blob requests of another shape.
    OtherVersion {
        #[arg(long, default_value_t = PROTOCOL_VERSION + 1)]
        version: u32,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("mesh-hostile: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the mode; `Ok(false)` when the agent accepted an attack.
async fn run(cli: Cli) -> Result<bool> {
    let ack = meshcc_wire::encode(&StatusAck {})?;
    let persona = match &cli.mode {
        Mode::SilentWorker { slots } => {
            let slots = *slots;
            Persona {
                status: Some(Box::new(move |tc: &[_], seq| {
                    attacks::frame(
                        PROTOCOL_VERSION,
                        &attacks::status(seq, tc.to_vec(), slots, true),
                    )
                })),
                ack,
            }
        }
        Mode::CorruptBlobs => Persona {
            status: Some(Box::new(|tc: &[_], seq| {
                attacks::frame(
                    PROTOCOL_VERSION,
                    &attacks::status(seq, tc.to_vec(), 0, false),
                )
            })),
            ack,
        },
        Mode::OtherVersion { version } => {
            let version = *version;
            Persona {
                status: Some(Box::new(move |_: &[_], seq| future_frame(version, seq))),
                ack: future_frame(version, 0),
            }
        }
        _ => Persona { status: None, ack },
    };
    let mut peer = Peer::start(&cli.peers, &cli.listen, cli.mesh_key.as_deref(), persona)?;
    let target = peer.first_connected(Duration::from_secs(20)).await?;
    // Let identify finish, so the agent knows us as a meshcc peer before we misbehave.
    tokio::time::sleep(Duration::from_secs(1)).await;
    match cli.mode {
        Mode::Wire { protocol, attack } => wire(&mut peer, target, protocol, attack).await,
        Mode::ForbiddenJobs => {
            let mut all_refused = true;
            for (name, job) in attacks::forbidden_jobs() {
                all_refused &= submit(&peer, target, name, &job).await?;
            }
            Ok(all_refused)
        }
        Mode::BadToolchains => bad_toolchains(&mut peer, target).await,
        Mode::CorruptInput => corrupt_input(&mut peer, target).await,
        Mode::SilentWorker { .. } => silent_worker(&mut peer).await,
        Mode::CorruptBlobs => {
            serve_blobs(&mut peer, Arc::new(HashMap::new()), true)?;
            std::future::pending().await
        }
        Mode::OtherVersion { version } => other_version(&mut peer, version).await,
    }
}

fn future_frame(version: u32, seq: u64) -> Vec<u8> {
    attacks::frame(
        version,
        &attacks::FutureMessage {
            seq,
            protocol_version: version,
            capabilities: vec!["zstd-dictionaries".into()],
        },
    )
}

/// Sends `bytes` on a fresh stream of `protocol` and reports what came back.
async fn send_raw(
    peer: &Peer,
    target: PeerId,
    protocol: StreamProtocol,
    bytes: &[u8],
) -> Result<String> {
    let mut control = peer.control.clone();
    let mut stream = control
        .open_stream(target, protocol)
        .await
        .context("the agent would not open a stream")?;
    // The agent may stop reading before we finish writing: that is a refusal, not our error.
    let _ = stream.write_all(bytes).await;
    let _ = stream.close().await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer)).await;
    Ok(match read {
        Err(_) => "no answer within 30 s".into(),
        Ok(Err(e)) => format!("stream closed ({e})"),
        Ok(Ok(0)) => "stream closed without an answer".into(),
        Ok(Ok(n)) => match meshcc_wire::decode_body::<JobResponse>(&answer[4.min(n)..]) {
            Ok(response) => format!("answered {response:?}"),
            Err(_) => format!("answered {n} bytes"),
        },
    })
}

async fn wire(
    peer: &mut Peer,
    target: PeerId,
    protocol: Protocol,
    attack: WireAttack,
) -> Result<bool> {
    let bytes = attacks::malformed(protocol, attack);
    let outcome = match protocol {
        Protocol::Status => {
            // Wait for the outcome: exiting earlier could cut a large frame short.
            let (tell, outcome) = tokio::sync::oneshot::channel();
            peer.pushes.send((target, bytes, tell)).await?;
            match tokio::time::timeout(Duration::from_secs(60), outcome).await {
                Ok(Ok(outcome)) => outcome,
                _ => "no outcome within 60 s".to_owned(),
            }
        }
        Protocol::Job => send_raw(peer, target, JOB, &bytes).await?,
        Protocol::Blob => send_raw(peer, target, BLOB, &bytes).await?,
    };
    println!("ATTACK {attack:?} on {protocol:?}: {outcome}");
    // A job of absurd size must be refused, never run; anything else must get no answer.
    Ok(!outcome.contains("Done"))
}

/// Submits `job` and reports whether it was refused as forbidden.
async fn submit(peer: &Peer, target: PeerId, name: &str, job: &JobRequest) -> Result<bool> {
    let bytes = meshcc_wire::encode(job)?;
    let outcome = send_raw(peer, target, JOB, &bytes).await?;
    println!("ATTACK {name}: {outcome}");
    Ok(outcome.contains("Refused"))
}

async fn bad_toolchains(peer: &mut Peer, target: PeerId) -> Result<bool> {
    let chunk = BlobHash::of(attacks::SOURCE);
    let mut blobs = HashMap::from([(chunk, attacks::SOURCE.to_vec())]);
    let mut jobs = Vec::new();
    for (name, manifest) in attacks::hostile_manifests(chunk) {
        let (id, bytes) = meshcc::toolchain::encode_manifest(&manifest);
        blobs.insert(meshcc::toolchain::manifest_blob(&id), bytes);
        jobs.push((name, attacks::base_job(id)));
    }
    blobs.insert(BlobHash::of(attacks::SOURCE), attacks::SOURCE.to_vec());
    serve_blobs(peer, Arc::new(blobs), false)?;
    let mut all_refused = true;
    for (name, job) in jobs {
        all_refused &= submit(peer, target, name, &job).await?;
    }
    Ok(all_refused)
}

async fn corrupt_input(peer: &mut Peer, target: PeerId) -> Result<bool> {
    let (id, manifest) = meshcc::toolchain::encode_manifest(&attacks::harmless_manifest());
    let manifest_hash = meshcc::toolchain::manifest_blob(&id);
    let mut blobs = HashMap::from([(manifest_hash, manifest)]);
    // The input, served as other bytes than its hash says.
    blobs.insert(
        BlobHash::of(attacks::SOURCE),
        b"int main(void) { return 1; }\n".to_vec(),
    );
    serve_blobs(peer, Arc::new(blobs), false)?;
    submit(peer, target, "corrupt input", &attacks::base_job(id)).await
}

/// Answers blob requests from `blobs` (or, `corrupt`, with random bytes for every hash).
fn serve_blobs(
    peer: &mut Peer,
    blobs: Arc<HashMap<BlobHash, Vec<u8>>>,
    corrupt: bool,
) -> Result<()> {
    let mut incoming = peer.control.accept(BLOB).context("blob protocol")?;
    tokio::spawn(async move {
        while let Some((from, mut stream)) = incoming.next().await {
            let blobs = blobs.clone();
            tokio::spawn(async move {
                let Ok(Some(request)) =
                    meshcc_wire::read_msg_async::<_, BlobRequest>(&mut stream).await
                else {
                    return;
                };
                let mut response = BlobResponse {
                    blobs: Vec::new(),
                    missing: Vec::new(),
                };
                for hash in request.hashes {
                    let data = if corrupt {
                        Some((0..64 * 1024).map(|_| rand::random::<u8>()).collect())
                    } else {
                        blobs.get(&hash).cloned()
                    };
                    match data {
                        Some(data) => response.blobs.push(Blob {
                            hash,
                            zstd: ByteBuf::from(zstd::bulk::compress(&data, 1).expect("in memory")),
                        }),
                        None => response.missing.push(hash),
                    }
                }
                if corrupt {
                    println!("CORRUPTED {} blob(s) for {from}", response.blobs.len());
                }
                let _ = meshcc_wire::write_msg_async(&mut stream, &response).await;
            });
        }
    });
    Ok(())
}

async fn silent_worker(peer: &mut Peer) -> Result<bool> {
    let mut incoming = peer.control.accept(JOB).context("job protocol")?;
    let mut held = Vec::new();
    while let Some((from, mut stream)) = incoming.next().await {
        match meshcc_wire::read_msg_async::<_, JobRequest>(&mut stream).await {
            Ok(Some(job)) => println!("HELD job {} from {from}", job.job_id),
            other => println!("HELD a stream from {from} ({other:?})"),
        }
        held.push(stream); // never answered, never closed
    }
    Ok(true)
}

async fn other_version(peer: &mut Peer, version: u32) -> Result<bool> {
    // Jobs sent to us get an answer in the other version's words.
    let mut incoming = peer.control.accept(JOB).context("job protocol")?;
    tokio::spawn(async move {
        while let Some((from, mut stream)) = incoming.next().await {
            println!("ANSWERED a job from {from} in version {version}");
            let _ = stream.write_all(&future_frame(version, 0)).await;
            let _ = stream.close().await;
        }
    });
    // And every agent we meet gets one job and one blob request in the other version.
    let mut asked = HashSet::new();
    loop {
        let connected: Vec<PeerId> = peer.connected.borrow().iter().copied().collect();
        for target in connected {
            if asked.insert(target) {
                let frame = future_frame(version, 1);
                let job = send_raw(peer, target, JOB, &frame).await?;
                let blob = send_raw(peer, target, BLOB, &frame).await?;
                println!("ATTACK version {version} job to {target}: {job}; blob: {blob}");
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
