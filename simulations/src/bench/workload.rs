//! What the benchmark builds: C and C++ libraries whose sources come from crates.io packages
//! that bundle them (so the benchmark compiles code nobody here wrote), each with a small
//! Makefile in `scripts/` that compiles one object per source with fixed flags.
//!
//! | workload | language | crate | Makefile | sources |
//! |---|---|---|---|---|
//! | `lua` | C | `lua-src` | `scripts/demo/lua.mk` | 32 |
//! | `zstd` | C | `zstd-sys` | `scripts/bench/zstd.mk` | 30 |
//! | `leveldb` | C++ | `leveldb-sys` | `scripts/bench/leveldb.mk` | 38 |
//!
//! `cargo metadata` on `scripts/bench/Cargo.toml` downloads the crates (only these) into cargo's
//! registry cache and says where they are.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::BenchError;

/// One project to build.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Short name (`lua`, `zstd`, `leveldb`).
    pub name: &'static str,
    /// `C` or `C++`.
    pub language: &'static str,
    /// The compiler it is built with (`gcc` or `g++`); the Makefile variable is `CC` or `CXX`.
    pub compiler: &'static str,
    /// The Makefile.
    pub makefile: PathBuf,
    /// `VAR=DIR` telling the Makefile where the sources are.
    pub source_var: (&'static str, PathBuf),
    /// One small translation unit (with the project's usual headers) and its flags, for the
    /// single-file measurements: small, so that the overhead is not lost in the noise of a
    /// compile's own duration on a shared machine.
    pub sample: Vec<String>,
}

impl Workload {
    /// `CC` or `CXX`.
    pub fn compiler_var(&self) -> &'static str {
        if self.language == "C++" {
            "CXX"
        } else {
            "CC"
        }
    }
}

/// Known workload names, in the order `--workload all` runs them.
pub const NAMES: [&str; 3] = ["lua", "leveldb", "zstd"];

/// Workloads named in `names`, with their sources fetched. `scripts` is the repository's
/// `scripts/` directory.
pub fn resolve(names: &[String], scripts: &Path) -> Result<Vec<Workload>, BenchError> {
    let manifest = scripts.join("bench/Cargo.toml");
    let packages = cargo_packages(&manifest)?;
    let crate_dir = |krate: &str, workload: &str| {
        packages
            .iter()
            .find(|(name, _)| name == krate)
            .map(|(_, dir)| dir.clone())
            .ok_or_else(|| BenchError::Sources {
                workload: workload.to_owned(),
                detail: format!("{} does not depend on {krate}", manifest.display()),
            })
    };
    names
        .iter()
        .map(|name| match name.as_str() {
            "lua" => {
                let dir = only_subdir(&crate_dir("lua-src", name)?, "lua-5.4", name)?;
                Ok(Workload {
                    name: "lua",
                    language: "C",
                    compiler: "gcc",
                    makefile: scripts.join("demo/lua.mk"),
                    sample: sample_args(
                        "-O2 -g -Wall -Wextra -DLUA_USE_LINUX -c",
                        &dir.join("lzio.c"),
                        "lzio.o",
                    ),
                    source_var: ("LUA_DIR", dir),
                })
            }
            "zstd" => {
                let dir = crate_dir("zstd-sys", name)?.join("zstd/lib");
                Ok(Workload {
                    name: "zstd",
                    language: "C",
                    compiler: "gcc",
                    makefile: scripts.join("bench/zstd.mk"),
                    sample: sample_args(
                        &format!("-O2 -g -Wall -I{} -c", dir.display()),
                        &dir.join("common/error_private.c"),
                        "error_private.o",
                    ),
                    source_var: ("ZSTD_DIR", dir),
                })
            }
            "leveldb" => {
                let deps = crate_dir("leveldb-sys", name)?.join("deps");
                let dir = only_subdir(&deps, "leveldb-", name)?;
                Ok(Workload {
                    name: "leveldb",
                    language: "C++",
                    compiler: "g++",
                    makefile: scripts.join("bench/leveldb.mk"),
                    sample: sample_args(
                        &format!(
                            "-O2 -g -Wall -std=c++11 -DLEVELDB_PLATFORM_POSIX=1 -DLEVELDB_IS_BIG_ENDIAN=0 -I{0} -I{0}/include -c",
                            dir.display()
                        ),
                        &dir.join("util/hash.cc"),
                        "hash.o",
                    ),
                    source_var: ("LEVELDB_DIR", dir),
                })
            }
            other => Err(BenchError::Sources {
                workload: other.to_owned(),
                detail: format!("unknown workload; known: {}", NAMES.join(", ")),
            }),
        })
        .collect()
}

fn sample_args(flags: &str, source: &Path, output: &str) -> Vec<String> {
    let mut args: Vec<String> = flags.split_whitespace().map(str::to_owned).collect();
    args.push(source.display().to_string());
    args.push("-o".to_owned());
    args.push(output.to_owned());
    args
}

/// `(name, directory)` of every package in the manifest's dependency graph.
fn cargo_packages(manifest: &Path) -> Result<Vec<(String, PathBuf)>, BenchError> {
    let out = Command::new("cargo")
        .args(["metadata", "-q", "--format-version", "1", "--manifest-path"])
        .arg(manifest)
        .output()
        .map_err(|e| BenchError::Sources {
            workload: "all".to_owned(),
            detail: format!("cannot run cargo: {e}"),
        })?;
    if !out.status.success() {
        return Err(BenchError::Command {
            cmd: format!("cargo metadata --manifest-path {}", manifest.display()),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| BenchError::Sources {
            workload: "all".to_owned(),
            detail: format!("cargo metadata printed something else than JSON: {e}"),
        })?;
    Ok(meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let name = p["name"].as_str()?.to_owned();
            let dir = Path::new(p["manifest_path"].as_str()?).parent()?.to_owned();
            Some((name, dir))
        })
        .collect())
}

/// The one subdirectory of `dir` whose name starts with `prefix` (`lua-5.4.7`, `leveldb-1.22`).
fn only_subdir(dir: &Path, prefix: &str, workload: &str) -> Result<PathBuf, BenchError> {
    let entries = std::fs::read_dir(dir).map_err(|e| BenchError::io("read", dir, e))?;
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .collect();
    found.sort();
    found.pop().ok_or_else(|| BenchError::Sources {
        workload: workload.to_owned(),
        detail: format!("no {prefix}* directory in {}", dir.display()),
    })
}
