//! meshcc: the agent every machine runs, and the `meshcc` command (compiler wrapper and CLI).
//!
//! - [`wrapper`], [`args`] and [`locate`]: the compile entry point, what a command line means,
//!   and finding the real compiler.
//! - [`agent`]: discovery, gossip, the peer table and the control socket.
//! - [`client`], [`report`], [`cli`]: the command-line side.

pub mod agent;
pub mod args;
pub mod choice;
pub mod cli;
pub mod client;
pub mod doctor;
pub mod hermetic;
pub mod locate;
pub mod logging;
pub mod masquerade;
pub mod paths;
pub mod report;
pub mod safepath;
pub mod store;
pub mod toolchain;
pub mod wrapper;
