//! The job sandbox: runs one compile in fresh namespaces with only its toolchain and inputs.
//!
//! The agent is multi-threaded and cannot create namespaces itself, so it calls [`run`] with a
//! command that starts a helper process (its own executable with a hidden subcommand whose
//! `main` calls [`helper_main`]); the helper builds the jail, runs the job and replies with a
//! [`JobOutcome`] — or a [`JailError`] when the jail could not be built, which is never the
//! job's own fault. See `helper` for the protocol and the process tree, and `jail` for the
//! jail itself.
//!
//! ```no_run
//! # fn demo(spec: meshcc_sandbox::JobSpec) -> Result<(), meshcc_sandbox::SandboxError> {
//! let mut helper = std::process::Command::new("/usr/bin/meshcc");
//! helper.arg("__sandbox");
//! let outcome = meshcc_sandbox::run(helper, &spec)?;
//! if let Some(limit) = outcome.stopped_by {
//!     eprintln!("{limit}"); // "the job ran out of memory (limit 4096 MiB)"
//! }
//! # Ok(()) }
//! ```
//!
//! This crate has no tokio and no networking.
#![deny(missing_docs)]

pub mod helper;
pub mod jail;
pub mod limits;
pub mod outcome;
pub mod path;
mod run;
pub mod spec;
pub mod syscalls;

pub use helper::{helper_main, Reply};
pub use jail::JailError;
pub use limits::{LimitHit, Limits};
pub use outcome::{Captured, JobOutcome, OutputFile, Stream, Termination, Usage};
pub use path::{JailPath, PathError};
pub use run::{run, SandboxError, SETUP_GRACE};
pub use spec::{Identity, Input, JobSpec, SpecError};
