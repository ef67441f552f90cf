//! Timing every compile of a build, whatever system runs it.
//!
//! The build's `CC` is `mesh-lab __bench-job SYSTEM-CC…`: this shim notes when the compile
//! started and ended and its output, and points each system's client log (`MESHCC_LOG`,
//! `DISTCC_LOG`, `ICECC_LOGFILE`) at a file of its own, so that afterwards each job can be told
//! apart: where it ran, and whether it went remote, stayed local, or fell back. It costs one
//! extra `exec` per job, the same for every system including the local baseline.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The hidden `mesh-lab` subcommand that is the shim.
pub const SUBCOMMAND: &str = "__bench-job";
/// The environment variable naming the directory jobs are recorded in.
pub const JOBS_DIR_ENV: &str = "MESHCC_BENCH_JOBS";

/// What the shim writes for one compile (`DIR/<id>.json`; its client log is `DIR/<id>.log`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobFile {
    /// Start, in nanoseconds since the Unix epoch.
    pub start_ns: u128,
    /// End, likewise.
    pub end_ns: u128,
    /// Exit code (128 + signal for a signal).
    pub exit: i32,
    /// The output file (after `-o`), if any.
    pub output: Option<String>,
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Runs `args` (a compiler command, possibly behind a distributing client) and records it.
pub fn run(args: &[OsString]) -> ExitCode {
    let Some((program, rest)) = args.split_first() else {
        eprintln!("{SUBCOMMAND}: no command");
        return ExitCode::from(2);
    };
    let dir = std::env::var_os(JOBS_DIR_ENV).map(PathBuf::from);
    let start_ns = now_ns();
    let id = format!("{start_ns}-{}", std::process::id());
    let mut cmd = Command::new(program);
    cmd.args(rest);
    if let Some(dir) = &dir {
        let log = dir.join(format!("{id}.log"));
        cmd.env("MESHCC_LOG", &log)
            .env("DISTCC_LOG", &log)
            .env("ICECC_LOGFILE", &log);
    }
    let exit = match cmd.status() {
        Ok(status) => {
            use std::os::unix::process::ExitStatusExt;
            status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
        }
        Err(e) => {
            eprintln!(
                "{SUBCOMMAND}: cannot run {}: {e}",
                program.to_string_lossy()
            );
            127
        }
    };
    if let Some(dir) = dir {
        let output = rest
            .iter()
            .position(|a| a == "-o")
            .and_then(|i| rest.get(i + 1))
            .map(|o| o.to_string_lossy().into_owned());
        let record = JobFile {
            start_ns,
            end_ns: now_ns(),
            exit,
            output,
        };
        if let Ok(json) = serde_json::to_vec(&record) {
            let _ = fs::write(dir.join(format!("{id}.json")), json);
        }
    }
    ExitCode::from(exit.clamp(0, 255) as u8)
}

/// One recorded job with its client log, as read back after a build.
#[derive(Debug, Clone)]
pub struct RecordedJob {
    /// What the shim wrote.
    pub file: JobFile,
    /// The system client's log for this job (empty if it wrote none).
    pub log: String,
}

/// Every job recorded in `dir`, by start time.
pub fn read_all(dir: &Path) -> Vec<RecordedJob> {
    let mut jobs: Vec<RecordedJob> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter_map(|p| {
            let file: JobFile = serde_json::from_slice(&fs::read(&p).ok()?).ok()?;
            let log = fs::read_to_string(p.with_extension("log")).unwrap_or_default();
            Some(RecordedJob { file, log })
        })
        .collect();
    jobs.sort_by_key(|j| j.file.start_ns);
    jobs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_in_start_order_with_their_logs() {
        let dir = tempfile::tempdir().unwrap();
        for (id, start) in [("b", 20u128), ("a", 10)] {
            let f = JobFile {
                start_ns: start,
                end_ns: start + 5,
                exit: 0,
                output: Some(format!("{id}.o")),
            };
            fs::write(
                dir.path().join(format!("{id}.json")),
                serde_json::to_vec(&f).unwrap(),
            )
            .unwrap();
        }
        fs::write(dir.path().join("a.log"), "compiled remotely worker=abcdef").unwrap();
        let jobs = read_all(dir.path());
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[0].file.output.as_deref(), Some("a.o"));
        assert!(jobs[0].log.contains("worker=abcdef"));
        assert_eq!(jobs[1].log, "");
    }
}
