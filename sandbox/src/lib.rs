//! The job sandbox: runs one compile in fresh namespaces with only its toolchain and inputs.
//!
//! Built by the remote-compile issue; this crate has no tokio and no networking.
#![deny(missing_docs)]
