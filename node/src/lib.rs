//! meshcc: the agent and the compiler wrapper.

pub mod choice;
