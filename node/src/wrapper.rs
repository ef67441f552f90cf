//! The compiler wrapper: `meshcc gcc -c x.c -o x.o`, or `gcc …` through a masquerade link.
//!
//! Whatever happens inside meshcc, the compile behaves as if the compiler had been run
//! directly: meshcc ends by `exec`ing the real compiler for every compile it does not send to
//! the mesh, so the exit status, signals, stdout and stderr are the compiler's own, byte for
//! byte. meshcc's messages go to the log (`MESHCC_LOG`) only.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use tracing::{debug, info};

use crate::locate::{self, Located, DEPTH_ENV, FOUND_DIR_ENV};

/// Runs one compiler invocation. Returns only if the compiler could not be started.
pub fn run(compiler: OsString, args: Vec<OsString>) -> ExitCode {
    let located = match locate::locate(&compiler) {
        Ok(found) => found,
        Err(e) => {
            // No compiler means no compile: this is the one message meshcc must print, as a
            // shell would for a missing command.
            eprintln!("{e}");
            return ExitCode::from(127);
        }
    };
    if std::env::var_os("MESHCC_DISABLE").is_some_and(|v| v == "1") {
        debug!("MESHCC_DISABLE=1: compiling locally");
    }
    info!(compiler = %located.path.display(), "compiling locally");
    exec_local(&located, &args)
}

/// Replaces this process with the real compiler.
pub fn exec_local(located: &Located, args: &[OsString]) -> ExitCode {
    let depth: u32 = std::env::var(DEPTH_ENV)
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0);
    let mut cmd = Command::new(&located.path);
    cmd.arg0(&located.arg0).args(args);
    cmd.env(DEPTH_ENV, (depth + 1).to_string());
    match &located.dir {
        Some(dir) => cmd.env(FOUND_DIR_ENV, dir),
        None => cmd.env_remove(FOUND_DIR_ENV),
    };
    let err = cmd.exec();
    eprintln!("meshcc: cannot run {}: {err}", located.path.display());
    ExitCode::from(127)
}
