//! meshcc wire protocol.
