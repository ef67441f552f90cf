//! meshcc: the agent and the compiler wrapper.
