//! The hostile peer's libp2p side: the agent's own transport (TCP + Noise + Yamux, the mesh key
//! when given), identify as a meshcc agent, ping, status gossip through a codec that moves raw
//! frames (so any bytes can be pushed), and libp2p-stream for the job and blob protocols.

use std::collections::{BTreeSet, HashSet};
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;
use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use futures::StreamExt;
use libp2p::identity::Keypair;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{identify, ping, request_response, Multiaddr, PeerId, StreamProtocol, Swarm};
use meshcc::agent::mesh::IDENTIFY_PROTOCOL;
use meshcc_wire::ids::ToolchainId;
use meshcc_wire::mesh::{NodeStatus, STATUS_PROTOCOL};
use tokio::sync::{mpsc, oneshot, watch};

/// What the peer pretends to be in status gossip: a status frame to push every second (given
/// the toolchains heard from others and a sequence number), and the answer to peers' pushes.
pub struct Persona {
    pub status: Option<StatusFrame>,
    pub ack: Vec<u8>,
}

/// A status push: to whom, the bytes, and where the outcome goes.
pub type Push = (PeerId, Vec<u8>, oneshot::Sender<String>);

/// Builds the status frame pushed to peers.
pub type StatusFrame = Box<dyn Fn(&[ToolchainId], u64) -> Vec<u8> + Send>;

/// A handle on the running peer.
pub struct Peer {
    /// Opens and accepts job and blob streams.
    pub control: libp2p_stream::Control,
    /// Peers connected now.
    pub connected: watch::Receiver<HashSet<PeerId>>,
    /// Raw status frames to push (peer, bytes as they go on the stream), and where to say
    /// what became of each.
    pub pushes: mpsc::Sender<Push>,
}

impl Peer {
    /// Joins: dials `peers`, answers and pushes status as `persona` says, until the process ends.
    pub fn start(
        peers: &[Multiaddr],
        listen: &Multiaddr,
        mesh_key: Option<&Path>,
        persona: Persona,
    ) -> Result<Self> {
        let key = Keypair::generate_ed25519();
        let psk = mesh_key
            .map(meshcc::agent::identity::mesh_psk)
            .transpose()?;
        let transport = meshcc::agent::transport::build(&key, psk)?;
        let local = key.public().to_peer_id();
        let stream = libp2p_stream::Behaviour::new();
        let control = stream.new_control();
        let behaviour = Behaviour {
            identify: identify::Behaviour::new(
                identify::Config::new(IDENTIFY_PROTOCOL.to_owned(), key.public())
                    .with_agent_version("meshcc-hostile".to_owned()),
            ),
            ping: ping::Behaviour::new(ping::Config::new().with_interval(Duration::from_secs(1))),
            status: request_response::Behaviour::with_codec(
                RawFrames,
                [(
                    StreamProtocol::new(STATUS_PROTOCOL),
                    request_response::ProtocolSupport::Full,
                )],
                request_response::Config::default(),
            ),
            stream,
        };
        let config = libp2p::swarm::Config::with_tokio_executor()
            .with_idle_connection_timeout(Duration::from_secs(3600));
        let mut swarm = Swarm::new(transport, behaviour, local, config);
        swarm
            .listen_on(listen.clone())
            .with_context(|| format!("cannot listen on {listen}"))?;
        for addr in peers {
            swarm
                .dial(addr.clone())
                .with_context(|| format!("cannot dial {addr}"))?;
        }
        eprintln!("mesh-hostile: peer id {local}");
        let (connected_tx, connected) = watch::channel(HashSet::new());
        let (pushes, pushes_rx) = mpsc::channel(64);
        tokio::spawn(run(swarm, persona, connected_tx, pushes_rx));
        Ok(Self {
            control,
            connected,
            pushes,
        })
    }

    /// The first peer to connect, waiting up to `limit`.
    pub async fn first_connected(&mut self, limit: Duration) -> Result<PeerId> {
        let wait = self.connected.wait_for(|set| !set.is_empty());
        let set = tokio::time::timeout(limit, wait)
            .await
            .context("no agent connected in time: check the --peer address and the mesh key")?
            .context("the swarm stopped")?;
        Ok(*set.iter().next().expect("waited for one"))
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    status: request_response::Behaviour<RawFrames>,
    stream: libp2p_stream::Behaviour,
}

async fn run(
    mut swarm: Swarm<Behaviour>,
    persona: Persona,
    connected: watch::Sender<HashSet<PeerId>>,
    mut pushes: mpsc::Receiver<Push>,
) {
    let mut outcomes: std::collections::HashMap<_, oneshot::Sender<String>> = Default::default();
    let heard: Arc<Mutex<BTreeSet<ToolchainId>>> = Default::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut seq = 0;
    loop {
        tokio::select! {
            event = swarm.select_next_some() => match event {
                SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                    eprintln!("mesh-hostile: connected to {peer_id}");
                    connected.send_modify(|set| { set.insert(peer_id); });
                }
                SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                    connected.send_modify(|set| { set.remove(&peer_id); });
                }
                SwarmEvent::Behaviour(BehaviourEvent::Status(request_response::Event::Message {
                    message: request_response::Message::Request { request, channel, .. }, ..
                })) => {
                    // Remember what toolchains the mesh holds, to claim them too.
                    if let Ok(status) = meshcc_wire::decode_body::<NodeStatus>(&request) {
                        heard.lock().unwrap().extend(status.toolchains);
                    }
                    let _ = swarm.behaviour_mut().status.send_response(channel, persona.ack.clone());
                }
                SwarmEvent::Behaviour(BehaviourEvent::Status(request_response::Event::Message {
                    message: request_response::Message::Response { request_id, response }, ..
                })) => {
                    if let Some(tell) = outcomes.remove(&request_id) {
                        let _ = tell.send(format!("answered {} bytes", response.len()));
                    }
                }
                SwarmEvent::Behaviour(BehaviourEvent::Status(request_response::Event::OutboundFailure {
                    request_id, error, ..
                })) => {
                    if let Some(tell) = outcomes.remove(&request_id) {
                        let _ = tell.send(format!("not answered ({error})"));
                    }
                }
                _ => {}
            },
            Some((peer, frame, tell)) = pushes.recv() => {
                let id = swarm.behaviour_mut().status.send_request(&peer, frame);
                outcomes.insert(id, tell);
            }
            _ = tick.tick() => {
                if let Some(status) = &persona.status {
                    seq += 1;
                    let toolchains: Vec<ToolchainId> = heard.lock().unwrap().iter().copied().collect();
                    let frame = status(&toolchains, seq);
                    for peer in connected.borrow().iter() {
                        swarm.behaviour_mut().status.send_request(peer, frame.clone());
                    }
                }
            }
        }
    }
}

/// A request-response codec that writes whatever bytes it is given, unframed, and reads one
/// frame's body (within the wire crate's size limit). The hostile peer builds its frames itself.
#[derive(Clone, Default)]
struct RawFrames;

#[async_trait]
impl request_response::Codec for RawFrames {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_body(io).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_body(io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        bytes: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&bytes).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        bytes: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&bytes).await?;
        io.close().await
    }
}

/// One frame's body, raw.
pub async fn read_body<R: AsyncRead + Unpin>(io: &mut R) -> io::Result<Vec<u8>> {
    let mut prefix = [0u8; 4];
    io.read_exact(&mut prefix).await?;
    let len = meshcc_wire::frame::check_len(prefix)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let mut body = Vec::new();
    io.take(len as u64).read_to_end(&mut body).await?;
    Ok(body)
}
