//! Can this machine's compilers be packaged for peers, and can this machine run peers' jobs:
//! namespaces, the sandbox helper, limits. Checked by packaging each compiler found and
//! compiling a probe file in the real sandbox from the packaged tree.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use meshcc_sandbox::{Input, JailPath, JobSpec, Limits, OutputFile};
use meshcc_wire::job::EntryKind;
use serde_bytes::ByteBuf;

use super::mesh::AgentView;
use super::{probe_source, Check};
use crate::store::Store;
use crate::toolchain::package::{package, Packaged};

/// The compilers whose packaging is tried, when this machine has them.
const COMPILERS: &[&str] = &["gcc", "g++", "clang", "clang++"];
/// Below this much free memory, a worker's jobs risk the memory limit.
const LOW_MEMORY_MB: u64 = 1024;

/// Adds the toolchain and sandbox checks.
pub fn checks(out: &mut Vec<Check>, agent: Option<&AgentView>) {
    if let Some(view) = agent {
        let own = &view.peers.local.status;
        if !own.accepts_remote {
            out.push(Check::info(
                "sandbox",
                "The agent was started with --no-remote: it takes no jobs from peers.",
            ));
        } else if own.slots == 0 {
            out.push(Check::info(
                "sandbox",
                "The agent has --slots 0: it runs no jobs, its own or peers'.",
            ));
        }
        if own.mem_free_mb < LOW_MEMORY_MB {
            out.push(Check::warn(
                "sandbox",
                format!("Only {} MiB of memory is available: large compiles sent here may hit the memory limit and go elsewhere.", own.mem_free_mb),
                "Free memory, or start the agent with fewer --slots.",
            ));
        }
    }
    namespaces(out);
    let Ok(scratch) = tempfile::tempdir() else {
        out.push(Check::warn(
            "toolchain",
            "Cannot make a temporary directory, so packaging was not tried.",
            "Check that TMPDIR (or /tmp) is writable and has free space.",
        ));
        return;
    };
    let store = match Store::open(&scratch.path().join("store"), u64::MAX) {
        Ok(s) => s,
        Err(e) => {
            out.push(Check::warn(
                "toolchain",
                format!("Cannot open a scratch store for packaging: {e}."),
                "Check that TMPDIR (or /tmp) is writable and has free space.",
            ));
            return;
        }
    };
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    let me = std::env::current_exe()
        .ok()
        .and_then(|p| p.canonicalize().ok());
    let mut seen = BTreeSet::new();
    let mut sandboxed = false;
    for name in COMPILERS {
        let Some(path) = me
            .as_deref()
            .and_then(|me| super::wrapping::real_compiler(name, &path_var, me))
        else {
            continue;
        };
        if !seen.insert(path.canonicalize().unwrap_or(path.clone())) {
            continue;
        }
        let started = Instant::now();
        match package(&path, &store) {
            Ok(packaged) => {
                out.push(packaged_check(name, &path, &packaged, started));
                // One compile in the sandbox shows the machine can run jobs; one is enough.
                if !sandboxed && !name.contains("++") {
                    sandboxed = true;
                    out.push(sandbox_check(&path, &packaged, &store, scratch.path()));
                }
            }
            Err(e) => out.push(Check::fail(
                "toolchain",
                format!(
                    "{} (`{name}`) cannot be packaged for peers: {e}. Its compiles will always run on this machine.",
                    path.display()
                ),
                "Fix what the message names (a missing helper program, an unreadable file), then run `meshcc doctor` again.",
            )),
        }
    }
    if seen.is_empty() {
        out.push(Check::warn(
            "toolchain",
            format!(
                "None of {} is in PATH, so packaging was not tried.",
                COMPILERS.join(", ")
            ),
            "Install a compiler (e.g. `apt-get install gcc g++`), or add its directory to PATH.",
        ));
    }
}

fn packaged_check(name: &str, path: &Path, p: &Packaged, started: Instant) -> Check {
    let (files, bytes) = p
        .manifest
        .entries
        .iter()
        .filter_map(|e| match &e.kind {
            EntryKind::File { size, .. } => Some(*size),
            _ => None,
        })
        .fold((0u64, 0u64), |(n, b), size| (n + 1, b + size));
    Check::ok(
        "toolchain",
        format!(
            "{} (`{name}`, {}) packages for peers: {files} files, {} MiB, toolchain {}, in {} ms.",
            path.display(),
            p.manifest.version,
            bytes >> 20,
            p.id.short(),
            started.elapsed().as_millis()
        ),
    )
}

/// User namespaces are what the sandbox is made of.
fn namespaces(out: &mut Vec<Check>) {
    let read = |p: &str| std::fs::read_to_string(p).ok().map(|s| s.trim().to_owned());
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        out.push(Check::fail(
            "sandbox",
            "User namespaces are disabled (/proc/sys/user/max_user_namespaces is 0): this machine cannot run peers' jobs.",
            "Enable them: `sysctl -w user.max_user_namespaces=15000` (and in /etc/sysctl.d to keep it), or start the agent with --no-remote.",
        ));
    }
    let root = nix::unistd::geteuid().is_root();
    if !root && read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        out.push(Check::fail(
            "sandbox",
            "Unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone is 0), so an agent running as this user cannot sandbox peers' jobs.",
            "Run the agent as root (the systemd unit does), or `sysctl -w kernel.unprivileged_userns_clone=1`.",
        ));
    }
}

/// Builds the packaged tree and compiles the probe in the real sandbox, as a worker would;
/// the object must match a local compile.
fn sandbox_check(compiler: &Path, packaged: &Packaged, store: &Store, scratch: &Path) -> Check {
    match sandbox_probe(compiler, packaged, store, scratch) {
        Ok(ms) => {
            let l = Limits::default();
            Check::ok(
                "sandbox",
                format!(
                    "This machine can run peers' jobs: {} compiled a probe file in the sandbox \
                     (namespaces, read-only toolchain root) from its packaged tree, in {ms} ms, \
                     into the same object as a local compile. Each job may use {} s of CPU, \
                     {} MiB of memory, {} processes and {} s of wall clock.",
                    compiler.display(),
                    l.cpu_secs,
                    l.memory_bytes >> 20,
                    l.processes,
                    l.wall_ms / 1000
                ),
            )
        }

        Err(why) => Check::fail(
            "sandbox",
            format!("The sandbox cannot run a compile here: {why}. Peers' jobs sent here would be refused and compiled elsewhere."),
            "Run the agent as root (the systemd unit does) on a kernel with user, mount and pid namespaces, or start it with --no-remote.",
        ),
    }
}

fn sandbox_probe(
    compiler: &Path,
    packaged: &Packaged,
    store: &Store,
    scratch: &Path,
) -> Result<u128, String> {
    use std::os::unix::fs::PermissionsExt;
    // The job runs as an unprivileged user, who must be able to reach the tree.
    let _ = std::fs::set_permissions(scratch, std::fs::Permissions::from_mode(0o755));
    let tree = crate::toolchain::materialize::materialize(
        store,
        &packaged.manifest,
        &packaged.id,
        &scratch.join("toolchains"),
    )
    .map_err(|e| format!("the toolchain tree could not be built: {e}"))?;
    let probe = probe_source();
    let source = store
        .put(probe.as_bytes())
        .map_err(|e| format!("cannot store the probe file: {e}"))?;
    let jail = |p: &str| JailPath::new(p).map_err(|e| e.to_string());
    let argv: Vec<ByteBuf> = [
        compiler.to_string_lossy().as_ref(),
        // The probe includes nothing; without this, gcc reads stdc-predef.h, an input a
        // real job ships and this probe does not.
        "-nostdinc",
        "-c",
        "probe.c",
        "-o",
        "probe.o",
    ]
    .iter()
    .map(|a| ByteBuf::from(a.as_bytes().to_vec()))
    .collect();
    let spec = JobSpec {
        toolchain: tree,
        job_dir: scratch.join("job"),
        inputs: vec![Input {
            path: jail("/tmp/probe.c")?,
            source: store.path(&source),
        }],
        cwd: jail("/tmp")?,
        writable: Vec::new(),
        program: JailPath::new(compiler).map_err(|e| e.to_string())?,
        argv,
        env: vec![(
            ByteBuf::from(b"PATH".to_vec()),
            ByteBuf::from(b"/usr/bin:/bin".to_vec()),
        )],
        outputs: vec![jail("/tmp/probe.o")?],
        limits: Limits::default(),
        identity: Default::default(),
    };
    let mut helper = std::process::Command::new(
        std::env::current_exe().unwrap_or_else(|_| PathBuf::from("meshcc")),
    );
    helper.arg(crate::cli::SANDBOX_SUBCOMMAND);
    let started = Instant::now();
    let outcome = meshcc_sandbox::run(helper, &spec).map_err(|e| e.to_string())?;
    let ms = started.elapsed().as_millis();
    if let Some(limit) = outcome.stopped_by {
        return Err(limit.to_string());
    }
    let object = match outcome.outputs.first() {
        Some((_, OutputFile::Present(bytes))) => bytes.clone(),
        _ => {
            return Err(format!(
                "the compiler produced no object ({}): {}",
                outcome.termination,
                String::from_utf8_lossy(&outcome.stderr.bytes).trim()
            ))
        }
    };
    let local_dir = scratch.join("local");
    std::fs::create_dir_all(&local_dir).map_err(|e| e.to_string())?;
    std::fs::write(local_dir.join("probe.c"), &probe).map_err(|e| e.to_string())?;
    let local = std::process::Command::new(compiler)
        .current_dir(&local_dir)
        .args(["-nostdinc", "-c", "probe.c", "-o", "probe.o"])
        .status()
        .map_err(|e| format!("cannot run {} locally: {e}", compiler.display()))?;
    let expected = std::fs::read(local_dir.join("probe.o"))
        .ok()
        .filter(|_| local.success())
        .ok_or_else(|| format!("{} failed to compile the probe locally", compiler.display()))?;
    if object != expected {
        return Err("the object compiled in the sandbox differs from a local compile".into());
    }
    Ok(ms)
}
