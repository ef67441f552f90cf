//! Frames: how one message is laid out on a byte stream.
//!
//! ```text
//! +----------------+--------------------------------------------+
//! | length: u32 BE | CBOR array [protocol version: u32, message] |
//! +----------------+--------------------------------------------+
//! ```
//!
//! The length counts the CBOR bytes only and is checked against [`MAX_MESSAGE_SIZE`] before
//! anything is allocated; the body buffer then grows only as bytes really arrive, so a peer that
//! announces a large frame and sends nothing costs us nothing.
//!
//! The version travels in every frame. A receiver decodes the message whatever the version says
//! (fields are added compatibly, and unknown fields are ignored); only when decoding fails does
//! the version decide the error, so that a mesh of mixed versions either keeps working or says
//! clearly which versions disagree.

use std::io::{self, Read, Write};

use serde::{de::DeserializeOwned, de::IgnoredAny, Serialize};

/// The protocol version this build speaks, carried in every frame.
pub const PROTOCOL_VERSION: u32 = 1;

/// The largest frame body accepted or sent, in bytes.
///
/// Large enough for a toolchain chunk or a compiled object with its debug info; anything larger
/// is refused before it is read.
pub const MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;

/// Bytes read ahead of the data actually received; bounds what a lying length prefix can make
/// us allocate.
const READ_STEP: usize = 64 * 1024;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The stream failed, or ended in the middle of a frame.
    #[error("i/o error on a meshcc stream: {0}")]
    Io(#[from] io::Error),
    /// The length prefix announced more than [`MAX_MESSAGE_SIZE`].
    #[error("frame of {len} bytes exceeds the {max} byte limit")]
    TooLarge {
        /// The announced or attempted length.
        len: usize,
        /// The limit, [`MAX_MESSAGE_SIZE`].
        max: usize,
    },
    /// The peer speaks another protocol version and the message did not decode.
    #[error("peer speaks meshcc protocol version {theirs}, this agent speaks {ours}: upgrade the older one")]
    VersionMismatch {
        /// Our [`PROTOCOL_VERSION`].
        ours: u32,
        /// The version in the frame.
        theirs: u32,
    },
    /// The body is not a valid message of the expected kind.
    #[error("malformed message: {0}")]
    Malformed(String),
}

/// Encodes `msg` as a complete frame: length prefix, version and message.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let mut buf = vec![0u8; 4];
    ciborium::into_writer(&(PROTOCOL_VERSION, msg), &mut buf)
        .map_err(|e| FrameError::Malformed(e.to_string()))?;
    let len = buf.len() - 4;
    if len > MAX_MESSAGE_SIZE {
        return Err(FrameError::TooLarge {
            len,
            max: MAX_MESSAGE_SIZE,
        });
    }
    buf[..4].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(buf)
}

/// Decodes a frame body (the bytes after the length prefix).
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    match ciborium::from_reader::<(u32, T), _>(body) {
        Ok((_, msg)) => Ok(msg),
        Err(err) => match ciborium::from_reader::<(u32, IgnoredAny), _>(body) {
            Ok((theirs, _)) if theirs != PROTOCOL_VERSION => Err(FrameError::VersionMismatch {
                ours: PROTOCOL_VERSION,
                theirs,
            }),
            _ => Err(FrameError::Malformed(err.to_string())),
        },
    }
}

/// Checks a length prefix against the limit.
pub fn check_len(prefix: [u8; 4]) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_MESSAGE_SIZE {
        return Err(FrameError::TooLarge {
            len,
            max: MAX_MESSAGE_SIZE,
        });
    }
    Ok(len)
}

/// Writes one message as a frame.
pub fn write_msg<W: Write, T: Serialize>(w: &mut W, msg: &T) -> Result<(), FrameError> {
    w.write_all(&encode(msg)?)?;
    w.flush()?;
    Ok(())
}

/// Reads one message. `Ok(None)` is a clean end of stream before any byte of a frame.
pub fn read_msg<R: Read, T: DeserializeOwned>(r: &mut R) -> Result<Option<T>, FrameError> {
    let mut prefix = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut prefix[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let len = check_len(prefix)?;
    let mut body = Vec::with_capacity(len.min(READ_STEP));
    let read = r.take(len as u64).read_to_end(&mut body)?;
    if read < len {
        return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
    }
    decode_body(&body).map(Some)
}

#[cfg(feature = "async")]
mod nonblocking {
    use super::*;
    use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

    /// Writes one message as a frame to an async stream.
    pub async fn write_msg_async<W, T>(w: &mut W, msg: &T) -> Result<(), FrameError>
    where
        W: AsyncWrite + Unpin,
        T: Serialize,
    {
        w.write_all(&encode(msg)?).await?;
        w.flush().await?;
        Ok(())
    }

    /// Reads one message from an async stream; `Ok(None)` is a clean end of stream.
    pub async fn read_msg_async<R, T>(r: &mut R) -> Result<Option<T>, FrameError>
    where
        R: AsyncRead + Unpin,
        T: DeserializeOwned,
    {
        let mut prefix = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            match r.read(&mut prefix[got..]).await? {
                0 if got == 0 => return Ok(None),
                0 => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
                n => got += n,
            }
        }
        let len = check_len(prefix)?;
        let mut body = Vec::with_capacity(len.min(READ_STEP));
        let read = r.take(len as u64).read_to_end(&mut body).await?;
        if read < len {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
        decode_body(&body).map(Some)
    }
}

#[cfg(feature = "async")]
pub use nonblocking::{read_msg_async, write_msg_async};
