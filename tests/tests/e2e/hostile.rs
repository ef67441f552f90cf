//! Hostile peers against real agents on loopback: `mesh-hostile` joins as a real libp2p peer
//! and misbehaves; the agent must refuse with a logged reason and keep serving everyone else,
//! which a real compile through it (byte-identical to a local one) shows after every attack.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{bin, needs_root, succeeded, wait_for, worker_and_submitter, Agent};

mod faults;

const SOURCE: &str = "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 6 * 7); return 0; }\n";

/// A worker, a submitter that compiles nothing itself, a source and its local object.
struct Mesh {
    _tmp: tempfile::TempDir,
    work: PathBuf,
    worker: Agent,
    submitter: Agent,
    local_object: Vec<u8>,
}

impl Mesh {
    fn start() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let work = tmp.path().join("src");
        std::fs::create_dir(&work).unwrap();
        std::fs::write(work.join("hello.c"), SOURCE).unwrap();
        let status = Command::new("gcc")
            .args(["-O2", "-c", "hello.c", "-o", "local.o"])
            .current_dir(&work)
            .status()
            .unwrap();
        assert!(status.success());
        let local_object = std::fs::read(work.join("local.o")).unwrap();
        let (worker, submitter) = worker_and_submitter(tmp.path(), 2);
        let mesh = Self {
            _tmp: tmp,
            work,
            worker,
            submitter,
            local_object,
        };
        // The first compiles run locally while the submitter packages gcc.
        // Generous: the machine may be busy with other builds and labs.
        wait_for(
            Duration::from_secs(240),
            || {
                mesh.compile();
                served(&mesh.worker) >= 1
            },
            "a first remote compile",
        );
        mesh
    }

    /// Compiles through the submitter and returns how long it took.
    fn compile(&self) -> Duration {
        let _ = std::fs::remove_file(self.work.join("remote.o"));
        let started = Instant::now();
        let out = Command::new(bin("meshcc"))
            .args(["gcc", "-O2", "-c", "hello.c", "-o", "remote.o"])
            .current_dir(&self.work)
            .env("MESHCC_SOCKET", self.submitter.socket())
            .env_remove("MESHCC_DISABLE")
            .output()
            .unwrap();
        succeeded(&out);
        started.elapsed()
    }

    /// A compile that the worker serves, identical to the local one: the worker still works.
    fn assert_worker_still_serves(&self) {
        let before = served(&self.worker);
        self.compile();
        assert_eq!(
            served(&self.worker),
            before + 1,
            "the worker did not serve the compile; submitter log:\n{}",
            self.submitter.log()
        );
        assert!(
            std::fs::read(self.work.join("remote.o")).unwrap() == self.local_object,
            "the remote object differs from the local one"
        );
    }

    /// Runs a one-shot attack against the worker; the attack must have been turned away.
    fn attack(&self, args: &[&str]) -> String {
        let out = hostile(&self.worker, args).wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "mesh-hostile {args:?} was not turned away (exit {:?}):\n{stdout}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        eprint!("{stdout}");
        stdout
    }
}

fn served(agent: &Agent) -> u64 {
    let stats: serde_json::Value =
        serde_json::from_slice(&agent.meshcc(&["stats", "--json"]).stdout).unwrap();
    stats["jobs_served"].as_u64().unwrap()
}

/// `mesh-hostile --peer <agent> ARGS`, its output captured.
fn hostile(agent: &Agent, args: &[&str]) -> Child {
    Command::new(bin("mesh-hostile"))
        .arg("--peer")
        .arg(agent.addr())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A standing hostile peer, killed when dropped (also when a test fails).
pub(crate) struct Standing(pub(crate) Option<Child>);

impl Standing {
    /// Kills it and returns what it printed.
    pub(crate) fn stop(mut self) -> String {
        let mut child = self.0.take().expect("running");
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Standing {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until `agent`'s log holds `line` more often than `before` times.
fn wait_for_log(agent: &Agent, line: &str, before: usize) {
    wait_for(
        Duration::from_secs(20),
        || agent.log().matches(line).count() > before,
        &format!("the log line {line:?}"),
    );
}

#[test]
fn malformed_frames_on_every_protocol_are_refused_and_the_worker_keeps_serving() {
    if !needs_root("the compiles after each attack run in the sandbox") {
        return;
    }
    let mesh = Mesh::start();
    for (protocol, malformed, absurd_count) in [
        (
            "status",
            "bad message on /meshcc/status/1 from peer",
            "status claims an absurd number of toolchains",
        ),
        (
            "job",
            "bad job request",
            "job refused: the command line or the input list has an absurd length",
        ),
        (
            "blob",
            "bad blob request",
            "blob request for too many hashes; refused",
        ),
    ] {
        for attack in [
            "garbage",
            "truncated",
            "oversized",
            "absurd-length",
            "absurd-count",
        ] {
            let line = if attack == "absurd-count" {
                absurd_count
            } else {
                malformed
            };
            let before = mesh.worker.log().matches(line).count();
            mesh.attack(&["wire", "--on", protocol, "--attack", attack]);
            wait_for_log(&mesh.worker, line, before);
        }
        mesh.assert_worker_still_serves();
    }
}

#[test]
fn forbidden_flags_paths_and_environment_are_refused_with_a_reason() {
    if !needs_root("the compile after the attack runs in the sandbox") {
        return;
    }
    let mesh = Mesh::start();
    let before = mesh.worker.log().matches("job refused:").count();
    let out = mesh.attack(&["forbidden-jobs"]);
    assert_eq!(out.matches("Refused").count(), 11, "{out}");
    assert_eq!(out.matches("Forbidden").count(), 11, "{out}");
    let log = mesh.worker.log();
    assert_eq!(log.matches("job refused:").count() - before, 11, "{log}");
    for reason in [
        "`-fplugin=/tmp/evil.so` loads a compiler plugin",
        "`-specs=/tmp/evil.specs` changes where the driver finds its programs",
        "`-B/tmp/evil/` changes where the driver finds its programs",
        "`-wrapper /bin/sh,-c,id` changes where the driver finds its programs",
        "`@/tmp/evil.rsp` is a response file that meshcc has not expanded",
        r#"input "/tmp/meshcc-hostile/../../etc/passwd" is refused: it has a `.` or `..` component"#,
        "the outputs listed differ from the ones the command writes",
        r#"output "/" is refused: it names a directory, not a file"#,
        r#"output "obj/" is refused: it names a directory, not a file"#,
        r#"environment variable "LD_PRELOAD" is not allowed"#,
        r#"working directory "tmp/relative" is refused: it is not absolute"#,
    ] {
        assert!(
            log.contains(reason),
            "no refusal mentions {reason:?}:\n{log}"
        );
    }
    mesh.assert_worker_still_serves();
}

#[test]
fn toolchains_escaping_their_tree_are_refused_and_nothing_is_written_outside() {
    if !needs_root("the compile after the attack runs in the sandbox") {
        return;
    }
    let mesh = Mesh::start();
    let out = mesh.attack(&["bad-toolchains"]);
    assert_eq!(out.matches("Toolchain").count(), 5, "{out}");
    let log = mesh.worker.log();
    for reason in [
        "it has a `.` or `..` component",
        "it is not absolute",
        "it has an empty component",
        "its parent is not a directory listed before it",
        "it is a symlink whose target climbs out of the toolchain's root",
    ] {
        assert!(
            log.contains(&format!("is refused: {reason}")),
            "no toolchain refusal says {reason:?}:\n{log}"
        );
    }
    assert!(!Path::new("/tmp/meshcc-escaped").exists());
    mesh.assert_worker_still_serves();
}

#[test]
fn a_corrupted_input_is_caught_by_its_hash() {
    if !needs_root("the compile after the attack runs in the sandbox") {
        return;
    }
    let mesh = Mesh::start();
    let out = mesh.attack(&["corrupt-input"]);
    assert!(out.contains("Inputs"), "{out}");
    let log = mesh.worker.log();
    assert!(log.contains("corrupt blob discarded"), "{log}");
    assert!(
        log.contains("job refused: no peer could supply 1 blob(s)"),
        "{log}"
    );
    mesh.assert_worker_still_serves();
}

#[test]
fn a_peer_of_another_protocol_version_is_named_and_never_chosen() {
    if !needs_root("the compile runs in the sandbox") {
        return;
    }
    let mesh = Mesh::start();
    let other = Standing(Some(hostile(
        &mesh.worker,
        &["other-version", "--version", "2"],
    )));
    let says = "peer speaks meshcc protocol version 2, this agent speaks 1";
    wait_for(
        Duration::from_secs(20),
        || {
            let log = mesh.worker.log();
            log.contains(&format!(
                "bad message on /meshcc/status/1 from peer: {says}"
            )) && log.contains(&format!("bad job request: {says}"))
                && log.contains(&format!("bad blob request: {says}"))
        },
        "the worker to name the other version for status, job and blob",
    );
    assert_eq!(
        mesh.worker.peer_ids(),
        vec![mesh.submitter.id()],
        "the other version has no status in the table"
    );
    mesh.assert_worker_still_serves();
    other.stop();
}

/// A peer that gossips free slots and every toolchain, takes jobs and never answers: each job
/// it holds is sent to the real worker as well after a few seconds, and it is not chosen
/// again for a while.
#[test]
fn a_silent_worker_costs_seconds_not_the_job_timeout() {
    if !needs_root("the compiles run in the sandbox") {
        return;
    }
    let mesh = Mesh::start();
    let clean = mesh.compile();
    let silent = Standing(Some(hostile(&mesh.submitter, &["silent-worker"])));
    // Both peers in the table, each claiming a toolchain: the silent one echoes the
    // submitter's, so it looks like a worker ready to compile at once.
    wait_for(
        Duration::from_secs(30),
        || {
            let peers = mesh.submitter.peers();
            let peers = peers["peers"].as_array().unwrap();
            peers.len() == 2
                && peers
                    .iter()
                    .all(|p| p["toolchains"].as_array().is_some_and(|t| !t.is_empty()))
        },
        "the submitter to take the silent worker's status, claiming the toolchain",
    );
    let served_before = served(&mesh.worker);
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        slowest = slowest.max(mesh.compile());
        assert!(
            std::fs::read(mesh.work.join("remote.o")).unwrap() == mesh.local_object,
            "the object differs from the local one"
        );
    }
    let log = mesh.submitter.log();
    assert_eq!(
        served(&mesh.worker) - served_before,
        5,
        "the real worker did not serve every compile:\n{log}"
    );
    assert!(
        log.contains("no result yet; asking another worker as well"),
        "{log}"
    );
    assert!(log.contains("peer held a job without answering"), "{log}");
    let held = silent.stop().matches("HELD job").count();
    eprintln!(
        "clean compile {clean:?}, slowest with a silent worker {slowest:?}, jobs it held {held}"
    );
    assert!(held >= 1, "the silent worker was never chosen");
    assert!(
        slowest < Duration::from_secs(20),
        "a compile waited {slowest:?} on the silent worker"
    );
}
