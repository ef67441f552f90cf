//! A libp2p request-response codec for `meshcc_wire` messages: one framed CBOR request and one
//! framed CBOR response per stream, with the wire crate's size limit and version check.

use std::io;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use futures::io::{AsyncRead, AsyncWrite};
use libp2p::request_response;
use libp2p::StreamProtocol;
use meshcc_wire::{read_msg_async, FrameError};
use serde::{de::DeserializeOwned, Serialize};
use tracing::warn;

/// Frames and bytes that crossed a codec, for `meshcc stats`.
#[derive(Debug, Default)]
pub struct Traffic {
    /// Messages written.
    pub sent: AtomicU64,
    /// Messages read.
    pub received: AtomicU64,
    /// Bytes written (frames, without transport overhead).
    pub bytes_sent: AtomicU64,
    /// Bytes read.
    pub bytes_received: AtomicU64,
}

/// Codec for requests `Req` answered by `Resp`.
pub struct CborCodec<Req, Resp> {
    traffic: Arc<Traffic>,
    _types: PhantomData<fn() -> (Req, Resp)>,
}

impl<Req, Resp> CborCodec<Req, Resp> {
    /// A codec counting into `traffic`.
    pub fn new(traffic: Arc<Traffic>) -> Self {
        Self {
            traffic,
            _types: PhantomData,
        }
    }

    async fn read<T: DeserializeOwned, R: AsyncRead + Unpin + Send>(
        &self,
        io: &mut R,
    ) -> io::Result<T> {
        let mut counted = CountingReader {
            inner: io,
            count: 0,
        };
        let msg = read_msg_async(&mut counted).await.map_err(frame_to_io)?;
        self.traffic.received.fetch_add(1, Ordering::Relaxed);
        self.traffic
            .bytes_received
            .fetch_add(counted.count, Ordering::Relaxed);
        msg.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "stream closed before a message",
            )
        })
    }

    /// Encodes before any await, so that the future does not hold the message.
    fn frame<T: Serialize>(&self, msg: &T) -> io::Result<Vec<u8>> {
        let frame = meshcc_wire::encode(msg).map_err(frame_to_io)?;
        self.traffic.sent.fetch_add(1, Ordering::Relaxed);
        self.traffic
            .bytes_sent
            .fetch_add(frame.len() as u64, Ordering::Relaxed);
        Ok(frame)
    }

    async fn send<W: AsyncWrite + Unpin + Send>(io: &mut W, frame: Vec<u8>) -> io::Result<()> {
        futures::AsyncWriteExt::write_all(io, &frame).await?;
        futures::AsyncWriteExt::close(io).await
    }
}

// Written by hand: a derive would demand `Req: Clone` and `Resp: Clone`.
impl<Req, Resp> Clone for CborCodec<Req, Resp> {
    fn clone(&self) -> Self {
        Self::new(self.traffic.clone())
    }
}

fn frame_to_io(e: FrameError) -> io::Error {
    match e {
        FrameError::Io(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, other),
    }
}

struct CountingReader<'a, R> {
    inner: &'a mut R,
    count: u64,
}

impl<R: AsyncRead + Unpin> AsyncRead for CountingReader<'_, R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<io::Result<usize>> {
        let this = &mut *self;
        let poll = std::pin::Pin::new(&mut *this.inner).poll_read(cx, buf);
        if let std::task::Poll::Ready(Ok(n)) = poll {
            this.count += n as u64;
        }
        poll
    }
}

#[async_trait]
impl<Req, Resp> request_response::Codec for CborCodec<Req, Resp>
where
    Req: Serialize + DeserializeOwned + Send + 'static,
    Resp: Serialize + DeserializeOwned + Send + 'static,
{
    type Protocol = StreamProtocol;
    type Request = Req;
    type Response = Resp;

    async fn read_request<T>(&mut self, protocol: &StreamProtocol, io: &mut T) -> io::Result<Req>
    where
        T: AsyncRead + Unpin + Send,
    {
        // libp2p's request-response drops a request that fails to read without telling the
        // behaviour, so this is the one place to say why. The connection's span names the peer.
        self.read(io)
            .await
            .inspect_err(|e| warn!("bad message on {protocol} from peer: {e}"))
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Resp>
    where
        T: AsyncRead + Unpin + Send,
    {
        self.read(io).await
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Req) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let frame = self.frame(&req)?;
        Self::send(io, frame).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        resp: Resp,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let frame = self.frame(&resp)?;
        Self::send(io, frame).await
    }
}
