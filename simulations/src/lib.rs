//! The lab and the scale model.
//!
//! - [`bench`]: real builds side by side in the lab — local, meshcc, icecc, distcc
//!   (`mesh-lab bench`).
//! - [`lab`]: real agents in network namespaces on one machine (`mesh-lab`).
//! - [`sim`]: a discrete-event model of the mesh at thousands of nodes (`mesh-sim`), calling
//!   the agent's own worker-choice code.

pub mod bench;
pub mod lab;
pub mod sim;
