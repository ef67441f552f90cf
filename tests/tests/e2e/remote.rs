//! Remote compiles against local ones, byte for byte: a corpus of command lines run directly
//! and through a submitter agent that compiles nothing itself (`--slots 0`) and a worker, on
//! loopback. Exit code, stdout, stderr and every output file must be identical, and the
//! worker must really have served the jobs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::util::{bin, needs_root, succeeded, wait_for, worker_and_submitter, Agent};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/corpus");

/// One command line of the corpus: compiler, arguments, files it writes.
struct Case {
    cc: &'static str,
    args: Vec<String>,
    outputs: Vec<String>,
}

fn case(cc: &'static str, args: &str, outputs: &[&str]) -> Case {
    Case {
        cc,
        args: args.split_whitespace().map(str::to_owned).collect(),
        outputs: outputs.iter().map(|s| s.to_string()).collect(),
    }
}

fn corpus() -> Vec<Case> {
    let mut cases = Vec::new();
    for cc in ["gcc", "clang"] {
        for opt in ["-O0", "-O1", "-O2", "-O3", "-Os"] {
            cases.push(case(
                cc,
                &format!("{opt} -g -Wall -c main.c -o main.o"),
                &["main.o"],
            ));
        }
        cases.push(case(
            cc,
            "-O2 -g -gsplit-dwarf -c main.c -o split.o",
            &["split.o", "split.dwo"],
        ));
        cases.push(case(
            cc,
            "-O1 -MD -MF deps.d -c main.c -o deps.o",
            &["deps.o", "deps.d"],
        ));
        cases.push(case(
            cc,
            "-O1 -Wp,-MD,wp.d -c main.c -o wp.o",
            &["wp.o", "wp.d"],
        ));
        cases.push(case(
            cc,
            "-include forced.h -c plain.c -o forced.o",
            &["forced.o"],
        ));
        cases.push(case(
            cc,
            "-DVERSION_STRING=\"1.2\" -UNDEBUG -DNDEBUG=1 -c main.c -o defs.o",
            &["defs.o"],
        ));
        cases.push(case(cc, "-x c++ -O1 -c main.c -o asxx.o", &["asxx.o"]));
        cases.push(case(cc, "-O2 -S main.c -o main.s", &["main.s"]));
        cases.push(case(
            cc,
            "-Wall -Wextra -I. -c warn.c -o warn.o",
            &["warn.o"],
        ));
        cases.push(case(cc, "-Wall -Werror -I. -c warn.c -o werror.o", &[]));
        cases.push(case(cc, "-c error.c -o error.o", &[]));
        cases.push(case(cc, "-Inext1 -Inext2 -c next.c -o next.o", &["next.o"]));
        cases.push(case(
            cc,
            "-O2 -fstack-usage -c main.c -o stack.o",
            &["stack.o", "stack.su"],
        ));
        cases.push(case(cc, "-g3 -O2 -fPIC -c main.c -o pic.o", &["pic.o"]));
    }
    for cxx in ["g++", "clang++"] {
        cases.push(case(cxx, "-O2 -g -c cxx.cc -o cxx.o", &["cxx.o"]));
        cases.push(case(
            cxx,
            "-std=c++17 -O1 -c cxx.cc -o cxx17.o",
            &["cxx17.o"],
        ));
        cases.push(case(
            cxx,
            "-std=c++20 -Wall -c cxx.cc -o cxx20.o",
            &["cxx20.o"],
        ));
    }
    cases
}

fn run(dir: &Path, mut cmd: Command) -> Output {
    cmd.current_dir(dir)
        .env_remove("MESHCC_DISABLE")
        .output()
        .unwrap()
}

fn copy_corpus(to: &Path) {
    let status = Command::new("cp")
        .arg("-r")
        .arg(format!("{CORPUS}/."))
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

fn stats(agent: &Agent) -> serde_json::Value {
    serde_json::from_slice(&agent.meshcc(&["stats", "--json"]).stdout).unwrap()
}

/// Compiles once with each compiler and waits until the submitter has packaged them all.
fn warm_up(dir: &Path, submitter: &Agent) {
    for cc in ["gcc", "g++", "clang", "clang++"] {
        let mut cmd = Command::new(bin("meshcc"));
        cmd.args([cc, "-c", "plain.c", "-include", "forced.h", "-o", "warm.o"])
            .env("MESHCC_SOCKET", submitter.socket());
        assert!(run(dir, cmd).status.success());
    }
    wait_for(
        Duration::from_secs(60),
        || stats(submitter)["toolchains_packaged"].as_u64() >= Some(4),
        "the submitter to package gcc, g++, clang and clang++",
    );
}

#[test]
fn corpus_compiles_remotely_byte_identical_to_local() {
    if !needs_root("remote compiles run jobs in a sandbox") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let work: PathBuf = tmp.path().join("src");
    std::fs::create_dir(&work).unwrap();
    copy_corpus(&work);
    let (worker, submitter) = worker_and_submitter(tmp.path(), 2);
    warm_up(&work, &submitter);

    let cases = corpus();
    assert!(
        cases.len() >= 40,
        "the corpus has {} command lines",
        cases.len()
    );
    let mut failures = Vec::new();
    for c in &cases {
        let direct = run(&work, {
            let mut cmd = Command::new(c.cc);
            cmd.args(&c.args);
            cmd
        });
        let want: Vec<Vec<u8>> = c
            .outputs
            .iter()
            .map(|o| std::fs::read(work.join(o)).unwrap())
            .collect();
        for o in &c.outputs {
            std::fs::remove_file(work.join(o)).unwrap();
        }
        let wrapped = run(&work, {
            let mut cmd = Command::new(bin("meshcc"));
            cmd.arg(c.cc)
                .args(&c.args)
                .env("MESHCC_SOCKET", submitter.socket());
            cmd
        });
        let line = format!("{} {}", c.cc, c.args.join(" "));
        if direct.status.code() != wrapped.status.code() {
            failures.push(format!(
                "{line}: exit {:?} vs {:?}",
                direct.status.code(),
                wrapped.status.code()
            ));
        }
        if direct.stdout != wrapped.stdout || direct.stderr != wrapped.stderr {
            failures.push(format!(
                "{line}: output differs\n--- direct stderr\n{}\n--- meshcc stderr\n{}",
                String::from_utf8_lossy(&direct.stderr),
                String::from_utf8_lossy(&wrapped.stderr)
            ));
        }
        for (o, want) in c.outputs.iter().zip(&want) {
            match std::fs::read(work.join(o)) {
                Ok(got) if &got == want => {}
                Ok(_) => failures.push(format!("{line}: {o} differs")),
                Err(e) => failures.push(format!("{line}: {o} missing: {e}")),
            }
        }
    }
    let served = stats(&worker)["jobs_served"].as_u64().unwrap();
    let s = stats(&submitter);
    eprintln!("worker served {served}; submitter stats: {s}");
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(
        served as usize >= cases.len() - 2,
        "only {served} of {} compiles ran on the worker; submitter log:\n{}",
        cases.len(),
        submitter.log()
    );
}

/// A gcc installed in a private prefix that only the submitter's mount namespace can see (its
/// driver and its `cc1` both) still compiles remotely, identically to a local compile with it:
/// the worker got the compiler by hash, not from its own disk.
#[test]
fn compiler_only_the_submitter_can_see_compiles_remotely() {
    if !needs_root("a private mount namespace and the sandbox") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("src");
    std::fs::create_dir(&work).unwrap();
    copy_corpus(&work);
    let worker = Agent::start(&tmp.path().join("worker"), &["--slots".into(), "2".into()]);
    let private = format!("/opt/meshcc-private-{}", std::process::id());
    let gcc_lib = "/usr/lib/gcc/x86_64-linux-gnu/12";
    // In a mount namespace of its own: a tmpfs at the private prefix holding gcc-12's driver,
    // cc1 and headers (the driver finds them relative to itself), the submitter's agent, a
    // local compile with that compiler for reference, and compiles through meshcc until one
    // goes remote (the first runs locally while the agent packages the compiler).
    let script = format!(
        r#"set -e
mkdir -p {private} && mount -t tmpfs none {private}
mkdir -p {private}/bin {private}/lib/gcc/x86_64-linux-gnu/12
cp /usr/bin/x86_64-linux-gnu-gcc-12 {private}/bin/gcc
cp -r {gcc_lib}/cc1 {gcc_lib}/include {private}/lib/gcc/x86_64-linux-gnu/12/
{private}/bin/gcc -O2 -g -c main.c -o local.o
{meshcc} agent --state-dir {state} --listen /ip4/127.0.0.1/tcp/{port} --no-mdns --slots 0 --peer {peer} >{state}.log 2>&1 &
agent=$!
trap 'kill $agent' EXIT
while [ ! -S {state}/agent.sock ]; do sleep 0.1; done
sleep 1
for i in 1 2 3 4 5 6; do
  MESHCC_SOCKET={state}/agent.sock {meshcc} {private}/bin/gcc -O2 -g -c main.c -o private.o
  MESHCC_SOCKET={state}/agent.sock {meshcc} stats --json > stats.json
  grep -q '"jobs_remote": [1-9]' stats.json && break
  sleep 1
done
"#,
        meshcc = bin("meshcc").display(),
        state = tmp.path().join("submitter").display(),
        port = crate::util::free_port(),
        peer = worker.addr(),
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .current_dir(&work)
        .output()
        .unwrap();
    succeeded(&out);
    assert!(
        !Path::new(&private).join("bin").exists(),
        "the private prefix is visible outside its namespace"
    );
    let submitted: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join("stats.json")).unwrap()).unwrap();
    assert!(
        submitted["jobs_remote"].as_u64() >= Some(1),
        "no remote compile: {submitted}"
    );
    let served = stats(&worker);
    assert!(served["toolchains_fetched"].as_u64() >= Some(1), "{served}");
    let remote = std::fs::read(work.join("private.o")).unwrap();
    assert!(
        remote == std::fs::read(work.join("local.o")).unwrap(),
        "objects differ"
    );
}
