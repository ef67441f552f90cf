//! A real project (Lua, from the crates.io package lua-src) built with `make -j` through a
//! three-host lab mesh: most jobs run remotely, every object and the library are identical to
//! a local build, and the build still succeeds and stays identical when a worker is killed in
//! the middle of it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use meshcc_simulations::lab::{AgentOptions, Lab, LabConfig};

use crate::util::{bin, needs_root, wait_for};

const LUA_MK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/demo/lua.mk");
const DEMO_MANIFEST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/demo/Cargo.toml");

/// Lua's C sources, from the lua-src package (`cargo metadata` fetches it if needed).
pub(crate) fn lua_sources() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "-q",
            "--format-version",
            "1",
            "--manifest-path",
            DEMO_MANIFEST,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "lua-src")
        .and_then(|p| p["manifest_path"].as_str())
        .unwrap()
        .to_owned();
    let dir = Path::new(&manifest).parent().unwrap().join("lua-5.4.9");
    assert!(
        dir.join("lapi.c").exists(),
        "{} has no Lua sources",
        dir.display()
    );
    dir
}

/// Fills `cmd`, a `make` here or on a lab host, to build Lua's library in `dir` with `cc`.
pub(crate) fn lua_make<'c>(
    cmd: &'c mut Command,
    dir: &Path,
    lua: &Path,
    cc: &str,
    jobs: u32,
) -> &'c mut Command {
    cmd.args(["-s", "-C"])
        .arg(dir)
        .args(["-f", LUA_MK])
        .arg(format!("LUA_DIR={}", lua.display()))
        .arg(format!("CC={cc}"))
        .arg(format!("-j{jobs}"))
}

/// A local `make` of Lua (the reference builds).
pub(crate) fn make(dir: &Path, lua: &Path, cc: &str, jobs: u32) -> Command {
    let mut cmd = Command::new("make");
    lua_make(&mut cmd, dir, lua, cc, jobs);
    cmd
}

/// Every `.o` and the library in `built` equal those in `local`.
pub(crate) fn assert_identical(local: &Path, built: &Path) -> usize {
    let (n, differ) = compare_builds(local, built);
    assert!(differ.is_empty(), "{differ:?} differ from the local build");
    n
}

/// Compares every `.o`, `.d` and `.a` of `local` with the same file in `built`: returns how
/// many were compared, and the names of those that differ or are missing.
pub(crate) fn compare_builds(local: &Path, built: &Path) -> (usize, Vec<String>) {
    let mut n = 0;
    let mut differ = Vec::new();
    for entry in std::fs::read_dir(local).unwrap().flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".o") || name.ends_with(".a") || name.ends_with(".d") {
            let want = std::fs::read(entry.path()).unwrap();
            if std::fs::read(built.join(&*name)).ok() != Some(want) {
                differ.push(name.into_owned());
            }
            n += 1;
        }
    }
    (n, differ)
}

pub(crate) fn remote_jobs(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .matches("compiled remotely")
        .count()
}

#[test]
fn lua_builds_through_a_lab_mesh_identical_to_local_even_when_a_worker_dies() {
    if !needs_root("lab hosts are network namespaces") {
        return;
    }
    let lua = lua_sources();
    let tmp = tempfile::tempdir().unwrap();
    let mut lab = Lab::up(LabConfig::new(
        &format!("e2eb{}", std::process::id() % 100_000),
        3,
    ))
    .unwrap();
    let meshcc = bin("meshcc");
    let agents = |hosts: Vec<usize>, slots: &str| AgentOptions {
        meshcc: meshcc.clone(),
        args: vec!["--slots".into(), slots.into()],
        hosts: Some(hosts),
    };
    // Host 0 compiles nothing itself, so every distributable job goes to the mesh.
    lab.start_agents(&agents(vec![0], "0")).unwrap();
    lab.start_agents(&agents(vec![1, 2], "2")).unwrap();
    let peers_of_0 = || {
        let out = lab
            .output_on(
                0,
                &[meshcc.as_os_str(), "peers".as_ref(), "--json".as_ref()],
            )
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .map(|v| v["peers"].as_array().map_or(0, Vec::len))
            .unwrap_or(0)
    };
    wait_for(
        Duration::from_secs(15),
        || peers_of_0() == 2,
        "host 0 to find both peers by mDNS",
    );

    // The reference: plain gcc.
    let local = tmp.path().join("build");
    std::fs::create_dir(&local).unwrap();
    assert!(make(&local, &lua, "gcc", 2).status().unwrap().success());
    std::fs::rename(&local, tmp.path().join("local")).unwrap();
    let reference = tmp.path().join("local");

    let cc = format!("{} gcc", meshcc.display());
    let log = tmp.path().join("wrapper.log");
    let mesh_build = |lab: &Lab| {
        let dir = tmp.path().join("build");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let mut cmd = lab.command_on(0, "make").unwrap();
        lua_make(&mut cmd, &dir, &lua, &cc, 6).env("MESHCC_LOG", &log);
        (dir, cmd)
    };

    // A first build packages gcc on host 0 and fetches it to the workers.
    let (dir, mut cmd) = mesh_build(&lab);
    assert!(cmd.status().unwrap().success());
    let files = assert_identical(&reference, &dir);
    let first_remote = remote_jobs(&log);
    eprintln!("first build: {files} files identical, {first_remote} of 32 compiles remote");

    // Again, killing worker 1 once jobs are flowing.
    std::fs::remove_file(&log).unwrap();
    let (dir, mut cmd) = mesh_build(&lab);
    let mut child = cmd.spawn().unwrap();
    wait_for(
        Duration::from_secs(60),
        || remote_jobs(&log) >= 2,
        "remote jobs to start flowing",
    );
    let victim = lab.state().hosts[1].agent.expect("host 1 runs an agent");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(victim.pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "the build failed after a worker died");
    let files = assert_identical(&reference, &dir);
    let second_remote = remote_jobs(&log);
    eprintln!("second build, worker killed: {files} files identical, {second_remote} of 32 compiles remote");
    assert!(
        // The first build's first wave runs locally while host 0 packages gcc.
        first_remote >= 16 && second_remote >= 24,
        "most jobs should run remotely, only {first_remote} and {second_remote} of 32 did; log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}
