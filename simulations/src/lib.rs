//! The lab and the scale model.
//!
//! - [`lab`]: real agents in network namespaces on one machine (`mesh-lab`).
//! - [`sim`]: a discrete-event model of the mesh at thousands of nodes (`mesh-sim`), calling
//!   the agent's own worker-choice code.

pub mod lab;
pub mod sim;
