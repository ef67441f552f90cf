//! meshcc's own messages: to the file named by `MESHCC_LOG`, never into a compile's output.
//!
//! `MESHCC_LOG=/path/to/file` appends there; `MESHCC_LOG_LEVEL` (`error`, `warn`, `info`,
//! `debug`, `trace`, or a `tracing` filter) sets the detail, `info` by default. The wrapper logs
//! nothing unless `MESHCC_LOG` is set; the agent logs to standard error unless it is.

use std::fs::OpenOptions;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

/// Who is logging: decides where messages go when `MESHCC_LOG` is not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The compiler wrapper and the CLI: silent unless asked.
    Client,
    /// The agent: standard error unless asked otherwise.
    Agent,
}

/// Sets up logging for this process. Failing to open the log file is not fatal for a compile:
/// the message is dropped, never written to the compile's stderr.
pub fn init(role: Role) {
    let filter =
        EnvFilter::try_new(std::env::var("MESHCC_LOG_LEVEL").unwrap_or_else(|_| "info".into()))
            .unwrap_or_else(|_| EnvFilter::new("info"));
    let file = std::env::var_os("MESHCC_LOG")
        .filter(|p| !p.is_empty())
        .and_then(|path| OpenOptions::new().create(true).append(true).open(path).ok());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = match (file, role) {
        (Some(file), _) => builder
            .with_ansi(false)
            .with_writer(Mutex::new(file))
            .try_init(),
        (None, Role::Agent) => {
            use std::io::IsTerminal;
            let ansi = std::io::stderr().is_terminal();
            builder
                .with_ansi(ansi)
                .with_writer(std::io::stderr)
                .try_init()
        }
        (None, Role::Client) => Ok(()),
    };
}
