//! Every message meshcc sends across a process boundary, and how it is framed.
//!
//! - [`frame`]: length-prefixed, versioned CBOR frames with a size limit checked before
//!   allocation; sync and async readers and writers.
//! - [`control`]: the `meshcc` command talking to its local agent over a unix socket.
//! - [`mesh`]: agents telling each other their status over libp2p.
//! - [`job`]: agents compiling for each other, and fetching blobs by hash.
//! - [`ids`]: content-hash identifiers.
//!
//! Byte fields are CBOR byte strings (`serde_bytes`), never arrays of integers. Messages do not
//! deny unknown fields: a newer peer may add fields, and the version in every frame explains
//! what cannot be decoded.
#![deny(missing_docs)]

pub mod control;
pub mod frame;
pub mod ids;
pub mod job;
pub mod mesh;

pub use frame::{
    decode_body, encode, read_msg, write_msg, FrameError, MAX_MESSAGE_SIZE, PROTOCOL_VERSION,
};
#[cfg(feature = "async")]
pub use frame::{read_msg_async, write_msg_async};
