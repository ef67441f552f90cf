//! The result check against a lying worker: a real worker whose materialised toolchain has been
//! tampered with (its assembler replaced by a program that runs the real one, then appends
//! bytes to the object) returns wrong objects. Unchecked, the wrong object would be delivered;
//! with the check on, the submitter compiles again locally, delivers the local object, flags the
//! worker (log line with its peer id, `meshcc peers`, `meshcc stats`) and sends it no more jobs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{bin, needs_root, succeeded, wait_for, Agent};

pub(crate) fn stats(agent: &Agent) -> serde_json::Value {
    serde_json::from_slice(&agent.meshcc(&["stats", "--json"]).stdout).unwrap()
}

/// Compiles `src` to `obj` in `dir` with `meshcc gcc` through `agent`, with `env` set.
fn mesh_gcc(dir: &Path, agent: &Agent, src: &str, obj: &str, env: &[(&str, &str)]) {
    let out = Command::new(bin("meshcc"))
        .args(["gcc", "-O2", "-g", "-c", src, "-o", obj])
        .current_dir(dir)
        .env("MESHCC_SOCKET", agent.socket())
        .env("MESHCC_LOG", dir.join("wrapper.log"))
        .envs(env.iter().copied())
        .output()
        .unwrap();
    succeeded(&out);
}

/// The object plain gcc makes of `src`.
fn local_object(dir: &Path, src: &str) -> Vec<u8> {
    let out = dir.join(format!("{src}.local.o"));
    let status = Command::new("gcc")
        .args(["-O2", "-g", "-c", src, "-o"])
        .arg(&out)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(out).unwrap()
}

/// The assembler gcc runs, as the real file behind any links.
fn assembler() -> PathBuf {
    let out = Command::new("gcc")
        .arg("-print-prog-name=as")
        .output()
        .unwrap();
    let name = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let path = if name.starts_with('/') {
        PathBuf::from(name)
    } else {
        let which = Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .unwrap();
        PathBuf::from(String::from_utf8(which.stdout).unwrap().trim())
    };
    std::fs::canonicalize(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Replaces the assembler in each of a worker's materialised toolchains with a liar: it runs
/// the real assembler (kept beside it), then does `what_to_do` (C statements with the object's
/// path in `out`).
pub(crate) fn tamper_with_assembler(worker_dir: &Path, scratch: &Path, what_to_do: &str) {
    let real = assembler();
    let trees: Vec<PathBuf> = std::fs::read_dir(worker_dir.join("toolchains"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join(real.strip_prefix("/").unwrap()))
        .filter(|p| p.is_file())
        .collect();
    assert!(
        !trees.is_empty(),
        "the worker holds no toolchain with {}",
        real.display()
    );
    let source = scratch.join("lying-assembler.c");
    std::fs::write(
        &source,
        format!(
            r#"#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {{
    const char *out = "a.out";
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "-o") == 0) out = argv[i + 1];
    pid_t pid = fork();
    if (pid == 0) {{ execv("{kept}", argv); _exit(127); }}
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
    {what_to_do}
}}
"#,
            kept = real.with_extension("real").display(),
        ),
    )
    .unwrap();
    let liar = scratch.join("lying-assembler");
    let status = Command::new("gcc")
        .arg(&source)
        .arg("-o")
        .arg(&liar)
        .status()
        .unwrap();
    assert!(status.success());
    for in_tree in trees {
        // Renamed, not rewritten: the tree's files are hard links into the worker's blob store.
        std::fs::rename(&in_tree, in_tree.with_extension("real")).unwrap();
        std::fs::copy(&liar, &in_tree).unwrap();
    }
}

/// The liar's last words: append to the object and claim success.
pub(crate) const APPEND_AND_SUCCEED: &str =
    r#"FILE *f = fopen(out, "ab"); if (!f) return 1; fputs("a lie", f); fclose(f); return 0;"#;

#[test]
fn lying_worker_is_caught_flagged_and_excluded_and_every_object_equals_local() {
    if !needs_root("remote compiles run jobs in a sandbox") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("src");
    std::fs::create_dir(&work).unwrap();
    for i in 0..6 {
        std::fs::write(
            work.join(format!("f{i}.c")),
            format!("int f{i}(int x) {{ return x * {i} + {}; }}\n", i * i),
        )
        .unwrap();
    }
    let liar = Agent::start(&tmp.path().join("liar"), &["--slots".into(), "2".into()]);
    // The agent checks every remote result (`--verify 1`); MESHCC_VERIFY=0 in a build's
    // environment turns that off for it.
    let submitter = Agent::start(
        &tmp.path().join("submitter"),
        &[
            "--slots".into(),
            "0".into(),
            "--verify".into(),
            "1".into(),
            "--peer".into(),
            liar.addr(),
        ],
    );
    wait_for(
        Duration::from_secs(15),
        || submitter.peer_ids().len() == 1,
        "the submitter to see the worker",
    );
    let liar_id = liar.id();

    // Until the liar has run one job (and so materialised gcc), checks off.
    let started = Instant::now();
    while stats(&liar)["jobs_served"].as_u64() < Some(1) {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "no job reached the worker"
        );
        mesh_gcc(&work, &submitter, "f0.c", "f0.o", &[("MESHCC_VERIFY", "0")]);
        std::thread::sleep(Duration::from_millis(300));
    }
    tamper_with_assembler(&liar.dir, tmp.path(), APPEND_AND_SUCCEED);

    // Unchecked, the lie reaches the build: the tampering works.
    let served = stats(&liar)["jobs_served"].as_u64().unwrap();
    mesh_gcc(&work, &submitter, "f1.c", "f1.o", &[("MESHCC_VERIFY", "0")]);
    assert_eq!(stats(&liar)["jobs_served"].as_u64(), Some(served + 1));
    let lie = std::fs::read(work.join("f1.o")).unwrap();
    assert!(lie.ends_with(b"a lie"), "the tampered worker did not lie");
    assert_ne!(lie, local_object(&work, "f1.c"));

    // Checked (the agent's setting): the local object is delivered and the liar flagged.
    mesh_gcc(&work, &submitter, "f2.c", "f2.o", &[]);
    assert_eq!(stats(&liar)["jobs_served"].as_u64(), Some(served + 2));
    assert!(std::fs::read(work.join("f2.o")).unwrap() == local_object(&work, "f2.c"));
    let s = stats(&submitter);
    assert_eq!(
        (s["verified"].as_u64(), s["verify_mismatches"].as_u64()),
        (Some(1), Some(1)),
        "{s}"
    );
    assert!(
        submitter.log().contains(&format!(
            "result check: peer {liar_id} returned a result different"
        )),
        "no log line naming the liar:\n{}",
        submitter.log()
    );
    let peers = submitter.peers();
    assert_eq!(peers["peers"][0]["peer_id"], liar_id.as_str());
    assert_eq!(peers["peers"][0]["untrusted"], true, "{peers}");
    let table = String::from_utf8(submitter.meshcc(&["peers"]).stdout).unwrap();
    assert!(table.contains("UNTRUSTED"), "{table}");

    // An honest worker joins; from now on every job goes to it, none to the liar.
    let honest = Agent::start(
        &tmp.path().join("honest"),
        &[
            "--slots".into(),
            "2".into(),
            "--peer".into(),
            submitter.addr(),
        ],
    );
    wait_for(
        Duration::from_secs(15),
        || submitter.peer_ids().len() == 2,
        "the submitter to see the honest worker",
    );
    for i in 3..6 {
        mesh_gcc(
            &work,
            &submitter,
            &format!("f{i}.c"),
            &format!("f{i}.o"),
            &[],
        );
    }
    assert_eq!(
        stats(&liar)["jobs_served"].as_u64(),
        Some(served + 2),
        "the liar got another job"
    );
    assert_eq!(
        stats(&honest)["jobs_served"].as_u64(),
        Some(3),
        "the honest worker ran {}",
        stats(&honest)
    );
    let s = stats(&submitter);
    assert_eq!(
        (s["verified"].as_u64(), s["verify_mismatches"].as_u64()),
        (Some(4), Some(1)),
        "{s}"
    );
    for i in 2..6 {
        let src = format!("f{i}.c");
        assert!(
            std::fs::read(work.join(format!("f{i}.o"))).unwrap() == local_object(&work, &src),
            "f{i}.o differs from the local object"
        );
    }
}
