//! End-to-end tests: real `meshcc` binaries, real agents, real libp2p connections.

mod dispatch;
mod faults;
mod hostile;
mod integrations;
mod lab_build;
mod mesh_lab;
mod mesh_loopback;
mod monitor;
mod private_mesh;
mod remote;
mod result_check;
mod util;
mod ux;
