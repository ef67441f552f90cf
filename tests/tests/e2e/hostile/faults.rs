//! Fault-matrix rows that need a misbehaving peer: a real `make -j` build of Lua through a
//! lab mesh (a submitter that compiles nothing itself, two workers) while `mesh-hostile`, on a
//! lab host of its own, is a silent worker, a source of corrupted toolchain chunks, or an agent
//! of another protocol version. The build must succeed and every object equal the local
//! build's; each test prints its row of the matrix.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use meshcc_simulations::lab::{AgentOptions, Lab, LabConfig};

use super::Standing;
use crate::lab_build::{assert_identical, lua_make, lua_sources, make, remote_jobs};
use crate::util::{bin, needs_root, wait_for};

const SUBMITTER: usize = 0;
const WORKERS: [usize; 2] = [1, 2];
const HOSTILE: usize = 3;

/// A four-host lab: the submitter, two workers, and a host for the hostile peer.
struct Row {
    lab: Lab,
    tmp: tempfile::TempDir,
    lua: PathBuf,
    reference: PathBuf,
    log: PathBuf,
    meshcc: PathBuf,
}

impl Row {
    fn start(name: &str) -> Self {
        let lab = Lab::up(LabConfig::new(
            &format!("hostile{name}{}", std::process::id() % 1000),
            4,
        ))
        .unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let lua = lua_sources();
        // Built where the mesh builds will be, then moved: debug info records the directory.
        let build = tmp.path().join("build");
        std::fs::create_dir(&build).unwrap();
        assert!(make(&build, &lua, "gcc", 2).status().unwrap().success());
        let reference = tmp.path().join("local");
        std::fs::rename(&build, &reference).unwrap();
        let mut row = Self {
            lab,
            log: tmp.path().join("wrapper.log"),
            tmp,
            lua,
            reference,
            meshcc: bin("meshcc"),
        };
        row.start_agents(&[SUBMITTER], "0");
        row.start_agents(&WORKERS, "2");
        wait_for(
            Duration::from_secs(20),
            || row.peers_of_submitter() == 2,
            "the submitter to find both workers",
        );
        row
    }

    fn start_agents(&mut self, hosts: &[usize], slots: &str) {
        self.lab
            .start_agents(&AgentOptions {
                meshcc: self.meshcc.clone(),
                args: vec!["--slots".into(), slots.into()],
                hosts: Some(hosts.to_vec()),
            })
            .unwrap();
    }

    fn peers_of_submitter(&self) -> usize {
        let meshcc = self.meshcc.as_os_str();
        let out = self
            .lab
            .output_on(SUBMITTER, &[meshcc, "peers".as_ref(), "--json".as_ref()])
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .map(|v| v["peers"].as_array().map_or(0, Vec::len))
            .unwrap_or(0)
    }

    /// Builds Lua through the mesh from host 0; returns how long it took, after checking that
    /// it succeeded and that every object equals the local build's.
    fn build(&self) -> Duration {
        let dir = self.tmp.path().join("build");
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_file(&self.log);
        std::fs::create_dir(&dir).unwrap();
        let mut cmd = self.lab.command_on(SUBMITTER, "make").unwrap();
        let cc = format!("{} gcc", self.meshcc.display());
        lua_make(&mut cmd, &dir, &self.lua, &cc, 6).env("MESHCC_LOG", &self.log);
        let started = Instant::now();
        assert!(cmd.status().unwrap().success(), "the build failed");
        let took = started.elapsed();
        let files = assert_identical(&self.reference, &dir);
        eprintln!(
            "build: {took:.1?}, {files} files identical, {} of 32 compiles remote",
            remote_jobs(&self.log)
        );
        took
    }

    /// Restarts the workers with empty stores, so the next build fetches the toolchain again.
    fn forget_toolchains(&mut self) {
        self.lab.stop_agents(Some(&WORKERS)).unwrap();
        for w in WORKERS {
            let dir = self.lab.host_dir(w).unwrap().to_owned();
            for sub in ["store", "toolchains"] {
                let _ = std::fs::remove_dir_all(dir.join(sub));
            }
        }
        self.start_agents(&WORKERS, "2");
        wait_for(
            Duration::from_secs(20),
            || self.peers_of_submitter() >= 2,
            "the submitter to find the restarted workers",
        );
    }

    /// Starts `mesh-hostile ARGS` on its host, connected to every agent.
    fn hostile(&self, args: &[&str]) -> Standing {
        let mut argv = vec![bin("mesh-hostile").display().to_string()];
        for host in [SUBMITTER, WORKERS[0], WORKERS[1]] {
            argv.push("--peer".into());
            argv.push(format!("/ip4/{}/tcp/7070", self.lab.ip(host).unwrap()));
        }
        argv.extend(["--listen".into(), "/ip4/0.0.0.0/tcp/0".into()]);
        argv.extend(args.iter().map(|a| a.to_string()));
        let mut cmd = self.lab.command_on(HOSTILE, &argv[0]).unwrap();
        cmd.args(&argv[1..]).stdout(std::process::Stdio::piped());
        Standing(Some(cmd.spawn().unwrap()))
    }

    fn agent_log(&self, host: usize) -> String {
        std::fs::read_to_string(self.lab.host_dir(host).unwrap().join("agent.log"))
            .unwrap_or_default()
    }

    /// How many peers host `i` has a status from that claims a toolchain.
    fn toolchain_holders_seen_by(&self, i: usize) -> usize {
        let meshcc = self.meshcc.as_os_str();
        let out = self
            .lab
            .output_on(i, &[meshcc, "peers".as_ref(), "--json".as_ref()])
            .unwrap();
        let peers = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_default();
        peers["peers"].as_array().map_or(0, |list| {
            list.iter()
                .filter(|p| p["toolchains"].as_array().is_some_and(|t| !t.is_empty()))
                .count()
        })
    }

    /// Builds until most compiles go remote (the first packages gcc, the next may still
    /// fetch it to the workers), so that the clean build measured next is a steady one.
    fn warm_up(&self) {
        for _ in 0..3 {
            self.build();
            if remote_jobs(&self.log) >= 24 {
                return;
            }
        }
    }
}

fn matrix_row(fault: &str, what: &str, clean: Duration, faulty: Duration) {
    println!(
        "FAULT-MATRIX | {fault} | {what} | {:+.1} | identical yes",
        faulty.as_secs_f64() - clean.as_secs_f64()
    );
}

fn count(log: &str, line: &str) -> usize {
    log.matches(line).count()
}

#[test]
fn silent_worker_during_a_lua_build() {
    if !needs_root("lab hosts are network namespaces") {
        return;
    }
    let row = Row::start("s");
    row.warm_up();
    let clean = row.build();
    let hostile = row.hostile(&["silent-worker", "--slots", "8"]);
    wait_for(
        Duration::from_secs(20),
        || row.peers_of_submitter() == 3,
        "the submitter to take the silent worker's status",
    );
    std::thread::sleep(Duration::from_secs(2)); // it now claims the submitter's toolchain
    let faulty = row.build();
    let log = row.agent_log(SUBMITTER);
    let hedged = count(&log, "no result yet; asking another worker as well");
    let held = hostile.stop().matches("HELD job").count();
    assert!(
        held >= 1 && count(&log, "peer held a job without answering") >= 1,
        "the silent worker got no job:\n{log}"
    );
    assert!(
        faulty < clean + Duration::from_secs(30),
        "the silent worker cost {:?}",
        faulty.saturating_sub(clean)
    );
    matrix_row(
        "peer accepts jobs and never answers",
        &format!(
            "it held {held} job(s), each sent to another worker after the submitter's patience \
             (5 s or more; {hedged} jobs hedged in all), then was not chosen for 60 s"
        ),
        clean,
        faulty,
    );
    row.lab.down().unwrap();
}

#[test]
fn corrupted_toolchain_chunks_during_a_lua_build() {
    if !needs_root("lab hosts are network namespaces") {
        return;
    }
    let mut row = Row::start("c");
    row.warm_up();
    row.forget_toolchains();
    let clean = row.build(); // the workers fetch gcc again, from the submitter
    row.forget_toolchains();
    let hostile = row.hostile(&["corrupt-blobs"]);
    wait_for(
        Duration::from_secs(30),
        || {
            WORKERS
                .iter()
                .all(|w| row.toolchain_holders_seen_by(*w) >= 2)
        },
        "the workers to see the hostile peer claim the submitter's toolchain",
    );
    let faulty = row.build(); // and again, with the hostile peer as a source
    let caught: usize = WORKERS
        .iter()
        .map(|w| count(&row.agent_log(*w), "corrupt blob discarded"))
        .sum();
    let answers = hostile.stop().matches("CORRUPTED").count();
    assert!(
        caught >= 1 && answers >= 1,
        "no worker fetched from the corrupting peer ({answers} answers, {caught} caught)"
    );
    matrix_row(
        "toolchain chunks arrive corrupted",
        &format!("{caught} chunk(s) failed BLAKE3, were logged and fetched from another peer"),
        clean,
        faulty,
    );
    row.lab.down().unwrap();
}

#[test]
fn an_agent_of_another_protocol_version_during_a_lua_build() {
    if !needs_root("lab hosts are network namespaces") {
        return;
    }
    let row = Row::start("v");
    row.warm_up();
    let clean = row.build();
    let hostile = row.hostile(&["other-version", "--version", "2"]);
    let says = "peer speaks meshcc protocol version 2, this agent speaks 1";
    wait_for(
        Duration::from_secs(20),
        || row.agent_log(SUBMITTER).contains(says),
        "the submitter to name the other version",
    );
    let faulty = row.build();
    assert_eq!(
        row.peers_of_submitter(),
        2,
        "the other version is never a candidate"
    );
    matrix_row(
        "agent of another protocol version in the mesh",
        "its messages refused, the log naming both versions; never chosen",
        clean,
        faulty,
    );
    drop(hostile);
    row.lab.down().unwrap();
}
