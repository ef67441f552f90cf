//! The libp2p transport: TCP with Noise and Yamux, behind the mesh key when there is one, and
//! QUIC beside it when there is not (a pre-shared key cannot protect QUIC, so a private mesh
//! is TCP only).

use std::time::Duration;

use anyhow::Result;
use futures::future::Either;
use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::Boxed;
use libp2p::core::upgrade::Version;
use libp2p::identity::Keypair;
use libp2p::pnet::{PnetConfig, PreSharedKey};
use libp2p::{noise, quic, tcp, yamux, PeerId, Transport};

/// How long a connection may take to come up before the dial counts as failed.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds the transport for `key`, private to holders of `psk` if given.
pub fn build(key: &Keypair, psk: Option<PreSharedKey>) -> Result<Boxed<(PeerId, StreamMuxerBox)>> {
    let noise = noise::Config::new(key)?;
    let tcp = tcp::tokio::Transport::new(tcp::Config::new().nodelay(true));
    Ok(match psk {
        Some(psk) => tcp
            .and_then(move |socket, _| PnetConfig::new(psk).handshake(socket))
            .upgrade(Version::V1Lazy)
            .authenticate(noise)
            .multiplex(yamux::Config::default())
            .timeout(HANDSHAKE_TIMEOUT)
            .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)))
            .boxed(),
        None => {
            let tcp = tcp
                .upgrade(Version::V1Lazy)
                .authenticate(noise)
                .multiplex(yamux::Config::default())
                .timeout(HANDSHAKE_TIMEOUT);
            let quic = quic::tokio::Transport::new(quic::Config::new(key));
            tcp.or_transport(quic)
                .map(|either, _| match either {
                    Either::Left((peer, muxer)) => (peer, StreamMuxerBox::new(muxer)),
                    Either::Right((peer, muxer)) => (peer, StreamMuxerBox::new(muxer)),
                })
                .boxed()
        }
    })
}
