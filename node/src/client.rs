//! The client side of the control socket, for the wrapper and the CLI. Blocking: a compile
//! wrapper has one question to ask and should not start a runtime for it.

use std::io;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use meshcc_wire::control::{ControlRequest, ControlResponse};
use meshcc_wire::{read_msg, write_msg, FrameError};

/// Why the agent could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens on the socket.
    #[error(
        "no meshcc agent answers at {path} ({source}); start one with `meshcc agent`, or set MESHCC_SOCKET to a running agent's socket"
    )]
    NoAgent {
        /// The socket tried.
        path: PathBuf,
        /// Why connecting failed.
        source: io::Error,
    },
    /// The agent answered with something unreadable, or not at all.
    #[error("the meshcc agent at {path} did not answer properly ({source}); restart it, and run the same meshcc release as it")]
    Protocol {
        /// The socket.
        path: PathBuf,
        /// What went wrong.
        source: FrameError,
    },
    /// The agent answered with an error.
    #[error("the meshcc agent said: {0}")]
    Agent(String),
}

/// A connection to a local agent.
pub struct Client {
    stream: UnixStream,
    path: PathBuf,
}

impl Client {
    /// Connects to the agent at `path`, waiting at most `timeout` for each answer.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Self, ClientError> {
        let stream = UnixStream::connect(path).map_err(|source| ClientError::NoAgent {
            path: path.to_owned(),
            source,
        })?;
        stream.set_read_timeout(Some(timeout)).ok();
        stream.set_write_timeout(Some(timeout)).ok();
        Ok(Self {
            stream,
            path: path.to_owned(),
        })
    }

    /// Changes how long to wait for each answer.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.stream.set_read_timeout(Some(timeout)).ok();
    }

    /// Sends `request` and waits for the answer.
    pub fn ask(&mut self, request: &ControlRequest) -> Result<ControlResponse, ClientError> {
        let protocol = |source| ClientError::Protocol {
            path: self.path.clone(),
            source,
        };
        write_msg(&mut self.stream, request).map_err(protocol)?;
        match read_msg(&mut self.stream).map_err(protocol)? {
            Some(ControlResponse::Error(message)) => Err(ClientError::Agent(message)),
            Some(response) => Ok(response),
            None => Err(protocol(FrameError::Io(
                io::ErrorKind::UnexpectedEof.into(),
            ))),
        }
    }
}
