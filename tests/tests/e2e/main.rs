//! End-to-end tests: real `meshcc` binaries, real agents, real libp2p connections.

mod hostile;
mod lab_build;
mod mesh_lab;
mod mesh_loopback;
mod remote;
mod util;
