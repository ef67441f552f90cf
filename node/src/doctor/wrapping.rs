//! Is the compiler wrapped right: masquerade directories in PATH before the real compilers,
//! every version-suffixed name covered, and the chain (with ccache, if any) compiling a file
//! without looping — checked by compiling a probe file through PATH, as a build would.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{probe_source, Check};
use crate::locate::locate_in;
use crate::masquerade;

/// Adds the wrapping checks.
pub fn checks(out: &mut Vec<Check>) {
    let Some(me) = std::env::current_exe()
        .ok()
        .and_then(|p| p.canonicalize().ok())
    else {
        out.push(Check::warn(
            "wrapping",
            "Cannot tell where this meshcc is, so masquerade directories cannot be checked.",
            "Run meshcc by its path (e.g. /usr/local/bin/meshcc doctor).",
        ));
        return;
    };
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    for var in ["CC", "CXX"] {
        if let Some(value) = std::env::var_os(var) {
            out.push(Check::info(
                "wrapping",
                format!("{var} is `{}`.", value.to_string_lossy()),
            ));
        }
    }
    let dirs = masquerade::dirs_in_path(&path_var, &me);
    if dirs.is_empty() {
        out.push(Check::info(
            "wrapping",
            "No masquerade directory is in PATH: compiles go through meshcc only where the \
             build names it (CC=\"meshcc gcc\", CMAKE_C_COMPILER_LAUNCHER=meshcc, \
             CCACHE_PREFIX=meshcc). `meshcc setup-masquerade DIR` makes one; put DIR first in PATH.",
        ));
    }
    for dir in &dirs {
        masquerade_dir(out, dir, &me, &path_var);
    }
    ccache_prefix(out, &dirs, &path_var);
}

fn masquerade_dir(out: &mut Vec<Check>, dir: &Path, me: &Path, path_var: &OsString) {
    let mut linked: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| masquerade::is_compiler_name(n) && masquerade::points_to(&dir.join(n), me))
        .collect();
    linked.sort();
    let mut wrapped = Vec::new();
    for name in &linked {
        let first = std::env::split_paths(path_var)
            .map(|d| d.join(name))
            .find(|p| p.is_file());
        // ccache's masquerade directory first is a chain that works (ccache, then meshcc, then
        // the compiler); the probe below checks it does.
        let behind_ccache = first.as_deref().is_some_and(is_ccache);
        if first.as_deref() != Some(dir.join(name).as_path()) && !behind_ccache {
            let shadow = first.map_or_else(|| "nothing".into(), |p| p.display().to_string());
            out.push(Check::fail(
                "wrapping",
                format!(
                    "`{name}` in PATH runs {shadow}, not meshcc: the masquerade directory {} \
                     comes after it in PATH.",
                    dir.display()
                ),
                format!(
                    "Put the masquerade directory first: export PATH={}:$PATH",
                    dir.display()
                ),
            ));
            continue;
        }
        // A link for a compiler this machine does not have (setup-masquerade always makes the
        // base names) is harmless until a build calls it.
        let Some(real) = real_compiler(name, path_var, me) else {
            continue;
        };
        match probe(name, &real) {
            Ok(()) => wrapped.push(format!("{name} → {}", real.display())),
            // One failure says what is wrong with the chain; the other names would repeat it.
            Err(why) => {
                out.push(Check::fail(
                    "wrapping",
                    format!(
                        "Compiling through `{name}` in PATH (meshcc, then {}) fails: {why}",
                        real.display()
                    ),
                    "Fix what the message names; `MESHCC_LOG=/dev/stderr MESHCC_LOG_LEVEL=debug` \
                     shows each step meshcc takes.",
                ));
                break;
            }
        }
    }
    if !wrapped.is_empty() {
        out.push(Check::ok(
            "wrapping",
            format!(
                "{} comes before the real compilers in PATH and wraps {}: each compiled a \
                 probe file through PATH into the same object as the real compiler.",
                dir.display(),
                wrapped.join(", ")
            ),
        ));
    }
    let missing: Vec<String> = masquerade::names_to_link(path_var, me)
        .into_iter()
        .filter(|n| !linked.contains(n))
        .filter(|n| real_compiler(n, path_var, me).is_some())
        .collect();
    if !missing.is_empty() {
        out.push(Check::warn(
            "wrapping",
            format!(
                "{} is in PATH but not in the masquerade directory {}: builds that call {} by \
                 that name compile without meshcc.",
                missing.join(", "),
                dir.display(),
                if missing.len() == 1 { "it" } else { "them" }
            ),
            format!("meshcc setup-masquerade {}", dir.display()),
        ));
    }
}

/// Compiles the probe through `name` as found in PATH (so through meshcc and whatever chain
/// of wrappers PATH makes), and with `real` directly; the objects must be the same bytes.
fn probe(name: &str, real: &Path) -> Result<(), String> {
    let tmp = tempfile::tempdir().map_err(|e| format!("cannot make a temporary directory: {e}"))?;
    let cxx = name.contains("++");
    let source = tmp.path().join(if cxx { "probe.cc" } else { "probe.c" });
    std::fs::write(&source, probe_source())
        .map_err(|e| format!("cannot write the probe file: {e}"))?;
    let compile = |program: &Path, object: &str| -> Result<Vec<u8>, String> {
        let output = Command::new(program)
            .current_dir(tmp.path())
            .args([
                "-c",
                source.file_name().unwrap().to_str().unwrap(),
                "-o",
                object,
            ])
            .output()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(format!(
                "{} exited with {}: {}",
                program.display(),
                output.status,
                stderr.trim()
            ));
        }
        std::fs::read(tmp.path().join(object)).map_err(|e| format!("no object file: {e}"))
    };
    let wrapped = compile(Path::new(name), "wrapped.o")?;
    let direct = compile(real, "direct.o")?;
    if wrapped != direct {
        return Err("the object differs from the real compiler's".into());
    }
    Ok(())
}

/// The compiler `name` finally runs: the first in PATH that is neither meshcc nor ccache.
pub(super) fn real_compiler(name: &str, path_var: &OsString, me: &Path) -> Option<PathBuf> {
    let mut after: Option<PathBuf> = None;
    loop {
        let found = locate_in(name.as_ref(), path_var, Some(me), after.as_deref()).ok()?;
        if !is_ccache(&found.path) {
            return Some(found.path);
        }
        after = Some(found.dir?);
    }
}

/// Whether `path` is one of ccache's masquerade links.
fn is_ccache(path: &Path) -> bool {
    path.canonicalize()
        .is_ok_and(|p| p.file_name().is_some_and(|n| n == "ccache"))
}

/// `CCACHE_PREFIX=meshcc` sends ccache's compiles through meshcc. With a masquerade directory
/// in PATH as well, ccache may find meshcc's link as "the compiler" and run `meshcc LINK …`;
/// meshcc resolves the link to the compiler it stands for, so this works, but is one wrapper
/// too many to reason about.
fn ccache_prefix(out: &mut Vec<Check>, masquerade_dirs: &[PathBuf], path_var: &OsString) {
    let Some(prefix) = std::env::var_os("CCACHE_PREFIX") else {
        return;
    };
    if !prefix.to_string_lossy().contains("meshcc") {
        return;
    }
    let ccache_dirs = std::env::split_paths(path_var).any(|d| is_ccache(&d.join("gcc")));
    let message = if masquerade_dirs.is_empty() || !ccache_dirs {
        "CCACHE_PREFIX names meshcc: ccache stays the entry point, and what it does not find in its cache goes through meshcc.".to_owned()
    } else {
        format!(
            "CCACHE_PREFIX names meshcc and a meshcc masquerade directory ({}) is in PATH as well: \
             ccache runs meshcc with that directory's link, which meshcc resolves to the real \
             compiler. It works; either one alone is enough.",
            masquerade_dirs[0].display()
        )
    };
    out.push(Check::info("wrapping", message));
}
