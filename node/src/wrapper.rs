//! The compiler wrapper: `meshcc gcc -c x.c -o x.o`, or `gcc …` through a masquerade link.
//!
//! Whatever happens inside meshcc, the compile behaves as if the compiler had been run
//! directly. Anything meshcc does not send to the mesh ends in an `exec` of the real compiler,
//! so exit status, signals and output are the compiler's own. A remote compile that succeeds
//! writes the worker's outputs and prints its stdout and stderr; one that fails is compiled
//! again locally, so a failing build fails with the local compiler's own words. meshcc's own
//! messages go to the log (`MESHCC_LOG`) only.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use meshcc_wire::control::{
    Checked, Compiled, ControlRequest, ControlResponse, Finished, Plan, PlanRequest,
};
use meshcc_wire::job::{Compile, Exit, JobResult};
use serde_bytes::ByteBuf;
use tracing::{debug, info, warn};

use crate::args::{self, Invocation};
use crate::client::Client;
use crate::locate::{self, Located, DEPTH_ENV, FOUND_DIR_ENV};
use crate::safepath::absolute_lexical;

/// Environment variables sent with a job: they change what the compiler reads or prints.
const JOB_ENV: &[&str] = crate::agent::worker::ALLOWED_ENV;
/// Environment variables that make a compile local: they write files or change how the
/// compiler finds its own parts, which a worker cannot reproduce.
const LOCAL_ENV: &[&str] = &[
    "COMPILER_PATH",
    "DEPENDENCIES_OUTPUT",
    "GCC_COMPARE_DEBUG",
    "GCC_EXEC_PREFIX",
    "SUNPRO_DEPENDENCIES",
    "CCC_OVERRIDE_OPTIONS",
];
/// The longest a remote compile (with retries) may keep the wrapper waiting for the agent.
const SUBMIT_TIMEOUT: Duration = Duration::from_secs(900);

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
        return exec_local(&located, &args);
    }
    match try_mesh(&located, &args) {
        Ok(code) => code,
        Err(reason) => {
            info!(compiler = %located.path.display(), "compiling locally: {reason}");
            exec_local(&located, &args)
        }
    }
}

/// Runs the compile through the agent if it can; `Err` says why it should run locally.
fn try_mesh(located: &Located, args: &[OsString]) -> Result<ExitCode, String> {
    let cwd = std::env::current_dir().map_err(|e| format!("no working directory: {e}"))?;
    let expanded = args::expand_response_files(args, &cwd).map_err(|e| e.to_string())?;
    let name = Path::new(&located.arg0)
        .file_name()
        .unwrap_or(located.arg0.as_os_str());
    let inv = args::parse(&name.to_string_lossy(), &expanded).map_err(|r| r.to_string())?;
    let env = job_env()?;
    let mut client = Client::connect(&crate::paths::socket(), Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    let program = absolute_lexical(&cwd, &located.path);
    let plan = client
        .ask(&ControlRequest::Plan(PlanRequest {
            compiler: bytes(program.as_os_str()),
            cwd: bytes(cwd.as_os_str()),
        }))
        .map_err(|e| e.to_string())?;
    match plan {
        ControlResponse::Plan(Plan::Local { reason }) => {
            info!("compiling locally: {reason}");
            Ok(run_local_leased(located, args, client))
        }
        ControlResponse::Plan(Plan::Remote { worker }) => {
            let started = Instant::now();
            let prepared = crate::hermetic::prepare(&located.path, &located.arg0, &inv, &cwd)
                .map_err(|e| e.to_string())?;
            let preprocess_ms = started.elapsed().as_millis();
            let outputs: Vec<PathBuf> = inv
                .outputs
                .iter()
                .map(|o| absolute_lexical(&cwd, &o.path))
                .collect();
            let mut argv = vec![bytes(&located.arg0)];
            argv.extend(expanded.iter().map(|a| bytes(a)));
            let submit = Compile {
                program: bytes(program.as_os_str()),
                argv,
                tu_hash: prepared.tu_hash,
                cwd: bytes(cwd.as_os_str()),
                env,
                inputs: prepared.inputs,
                outputs: outputs.iter().map(|o| bytes(o.as_os_str())).collect(),
                tu_size: prepared.tu_size,
            };
            client.set_timeout(SUBMIT_TIMEOUT);
            match client
                .ask(&ControlRequest::Submit(submit))
                .map_err(|e| e.to_string())?
            {
                ControlResponse::Compiled(done) => {
                    info!(
                        worker = %done.worker.short(),
                        preprocess_ms,
                        total_ms = started.elapsed().as_millis(),
                        "compiled remotely"
                    );
                    let check = match verify_fraction() {
                        Some(fraction) => fraction > 0.0 && rand::random::<f64>() < fraction,
                        None => done.verify,
                    };
                    if check && done.result.exit == Exit::Code(0) {
                        return Ok(check_locally(located, args, &outputs, done, client));
                    }
                    deliver(&inv, &outputs, done.result)
                }
                // A slot here came free before any worker: the agent counts it on this host.
                ControlResponse::Plan(Plan::Local { reason }) => {
                    info!("compiling locally: {reason}");
                    Ok(run_local_leased(located, args, client))
                }
                ControlResponse::Fallback(why) => Err(format!(
                    "the mesh could not compile it ({why}; worker {worker})"
                )),
                other => Err(unexpected(&other)),
            }
        }
        other => Err(unexpected(&other)),
    }
}

/// For the log: an answer the wrapper did not expect (a release mismatch with the agent).
fn unexpected(response: &ControlResponse) -> String {
    format!(
        "unexpected answer from the agent (a {} message); compiling locally. Run the same meshcc \
         release as the agent",
        crate::report::response_name(response)
    )
}

/// Writes a successful remote result as the compiler would have; a failed one is compiled
/// again locally (so the error message is the local compiler's).
fn deliver(inv: &Invocation, outputs: &[PathBuf], result: JobResult) -> Result<ExitCode, String> {
    if result.exit != Exit::Code(0) {
        debug!(stderr = %String::from_utf8_lossy(&result.stderr), "remote compile failed");
        let how = match result.exit {
            Exit::Code(code) => format!("exit status {code}"),
            Exit::Signal(signal) => format!("signal {signal}"),
        };
        return Err(format!("the remote compile failed ({how}); compiling again locally for the compiler's own words"));
    }
    for file in &result.outputs {
        let path = PathBuf::from(OsStr::from_bytes(&file.path));
        if !outputs.contains(&path) {
            return Err(format!(
                "the worker returned an output that was not asked for: {}",
                path.display()
            ));
        }
        write_atomically(&path, &file.data)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    debug!(outputs = inv.outputs.len(), "outputs written");
    let _ = std::io::stdout().write_all(&result.stdout);
    let _ = std::io::stderr().write_all(&result.stderr);
    Ok(ExitCode::SUCCESS)
}

/// `MESHCC_VERIFY` in the build's environment: the fraction of remote results to check (`1`:
/// all, `0`: none), over the agent's own setting. Not a number from 0 to 1: not set.
fn verify_fraction() -> Option<f64> {
    let value = std::env::var("MESHCC_VERIFY").ok()?;
    match value.trim().parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Some(f),
        _ => {
            warn!(
                "MESHCC_VERIFY={value:?} is not a fraction from 0 to 1; using the agent's setting"
            );
            None
        }
    }
}

/// The result check: compiles again locally, writing the real outputs, and tells the agent
/// whether the worker's result was the same bytes. The build always gets the local result, so a
/// sampled job can never deliver a wrong object.
fn check_locally(
    located: &Located,
    args: &[OsString],
    outputs: &[PathBuf],
    done: Compiled,
    mut client: Client,
) -> ExitCode {
    let local = match local_command(located, args).output() {
        Ok(out) => out,
        Err(e) => return cannot_run(located, &e),
    };
    let remote = &done.result;
    let mut differences = Vec::new();
    if !local.status.success() {
        differences.push(format!("the local compile failed ({})", local.status));
    }
    if local.stdout != remote.stdout.as_slice() || local.stderr != remote.stderr.as_slice() {
        differences.push("stdout or stderr differ".to_owned());
    }
    for path in outputs {
        let theirs = remote
            .outputs
            .iter()
            .find(|f| Path::new(OsStr::from_bytes(&f.path)) == path);
        let ours = std::fs::read(path).ok();
        if theirs.map(|f| f.data.as_slice()) != ours.as_deref() {
            differences.push(format!("{} differs", path.display()));
        }
    }
    if differences.is_empty() {
        info!(worker = %done.worker.short(), "result check: same bytes as the local compile");
    } else {
        warn!(
            worker = %done.worker,
            "result check: the worker's result is not the local compile's ({}); the build uses the local result",
            differences.join("; ")
        );
    }
    let checked = ControlRequest::Checked(Checked {
        worker: done.worker,
        same: differences.is_empty(),
    });
    if let Err(e) = client.ask(&checked) {
        warn!("could not tell the agent the result check's outcome: {e}");
    }
    let _ = std::io::stdout().write_all(&local.stdout);
    let _ = std::io::stderr().write_all(&local.stderr);
    exit_like(local.status)
}

fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".meshcc-")
        .tempfile_in(dir)?;
    tmp.write_all(data)?;
    // Same mode as a file the compiler creates: 0666 less the umask.
    let umask = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    nix::sys::stat::umask(umask);
    let mode = 0o666 & !umask.bits();
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(mode),
    )?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The job's environment, or why this compile must stay local.
fn job_env() -> Result<Vec<(ByteBuf, ByteBuf)>, String> {
    if let Some(var) = LOCAL_ENV.iter().find(|v| std::env::var_os(v).is_some()) {
        return Err(format!("{var} is set"));
    }
    for var in ["LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"] {
        let Some(value) = std::env::var_os(var) else {
            continue;
        };
        let v = value.to_string_lossy();
        // Message catalogs are not shipped: only English diagnostics come out the same.
        let english =
            v.is_empty() || v == "C" || v == "POSIX" || v.starts_with("C.") || v.starts_with("en");
        if !english {
            return Err(format!("{var}={v} asks for translated diagnostics"));
        }
        if var != "LANGUAGE" {
            break; // the first one set decides, as in setlocale
        }
    }
    Ok(JOB_ENV
        .iter()
        .filter_map(|name| Some((bytes(OsStr::new(name)), bytes(&std::env::var_os(name)?))))
        .collect())
}

fn bytes(s: &OsStr) -> ByteBuf {
    ByteBuf::from(s.as_bytes().to_vec())
}

/// The real compiler with the user's arguments, as a direct run would start it.
fn local_command(located: &Located, args: &[OsString]) -> Command {
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
    cmd
}

/// Replaces this process with the real compiler.
pub fn exec_local(located: &Located, args: &[OsString]) -> ExitCode {
    let err = local_command(located, args).exec();
    cannot_run(located, &err)
}

/// The compiler could not be started: says so, and ends as a shell does for a missing command.
fn cannot_run(located: &Located, err: &std::io::Error) -> ExitCode {
    eprintln!(
        "meshcc: cannot run {}: {err}; check that it is an executable compiler",
        located.path.display()
    );
    ExitCode::from(127)
}

/// Runs the compiler as a child while holding the agent's local-slot lease, then ends the way
/// the compiler ended.
fn run_local_leased(located: &Located, args: &[OsString], mut client: Client) -> ExitCode {
    let status = match local_command(located, args).status() {
        Ok(status) => status,
        Err(e) => return cannot_run(located, &e),
    };
    let finished = ControlRequest::Finished(Finished {
        success: status.success(),
    });
    if let Err(e) = client.ask(&finished) {
        warn!("could not tell the agent the compile ended: {e}");
    }
    exit_like(status)
}

/// Ends the way a child ended: its exit code, or dying of its signal.
fn exit_like(status: std::process::ExitStatus) -> ExitCode {
    if let Some(signal) = status.signal() {
        // Die of the same signal, as the compiler did.
        if let Ok(sig) = nix::sys::signal::Signal::try_from(signal) {
            let _ = unsafe { nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigDfl) };
            let _ = nix::sys::signal::raise(sig);
        }
        return ExitCode::from(128 + signal as u8);
    }
    ExitCode::from(status.code().unwrap_or(1) as u8)
}
