//! A private mesh: what a mesh key hides on the wire, and an allow list of peer ids.
//!
//! The capture test records the TCP traffic of a lab host (tcpdump in its network namespace)
//! while it serves a remote compile of a source holding a distinctive string, once with a mesh
//! key and once without. libp2p's Noise encrypts every connection in both cases, so the source
//! never shows; what the key adds is that nothing at all is readable: without it, the
//! multistream-select negotiation (`/multistream/1.0.0`, `/noise`) crosses in clear text before
//! Noise starts, and a stranger can complete a handshake and learn the peer's identity.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use meshcc_simulations::lab::{AgentOptions, Lab, LabConfig, AGENT_PORT};

use crate::util::{bin, needs_root, succeeded, wait_for, Agent};

/// The string the captured compile's source holds.
const SECRET: &str = "meshcc-private-mesh-distinctive-string-4711";
/// Bytes that only a readable protocol would put on the wire.
const PROTOCOL_NAMES: &[&str] = &["/multistream/1.0.0", "/noise", "/yamux", "/meshcc/"];

/// `haystack` contains `needle`.
fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// `meshcc stats --json` of host `i`'s agent.
fn lab_stats(lab: &Lab, i: usize) -> serde_json::Value {
    let out = lab
        .output_on(
            i,
            &[
                bin("meshcc").as_os_str(),
                "stats".as_ref(),
                "--json".as_ref(),
            ],
        )
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// Runs a two-host lab (host 0 submits, host 1 works, static peers, no mDNS), captures host
/// 1's TCP traffic while host 0 compiles `secret.c` until one compile has gone remote, and
/// returns the capture.
fn capture_remote_compile(name: &str, agent_args: &[String], work: &Path) -> Vec<u8> {
    let mut lab = Lab::up(LabConfig::new(name, 2)).unwrap();
    let meshcc = bin("meshcc");
    let start = |lab: &mut Lab, host: usize, extra: &[String]| {
        let mut args: Vec<OsString> = agent_args.iter().map(OsString::from).collect();
        args.extend(["--no-mdns".into()]);
        args.extend(extra.iter().map(OsString::from));
        lab.start_agents(&AgentOptions {
            meshcc: meshcc.clone(),
            args,
            hosts: Some(vec![host]),
        })
        .unwrap();
    };
    let pcap = work.join(format!("{name}.pcap"));
    let mut tcpdump = lab
        .command_on(1, "tcpdump")
        .unwrap()
        .args(["-i", "eth0", "-n", "-U", "-Z", "root", "-s", "0", "-w"])
        .arg(&pcap)
        .arg("tcp")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for(
        Duration::from_secs(10),
        || pcap.exists(),
        "tcpdump to start",
    );
    std::thread::sleep(Duration::from_millis(500));

    start(&mut lab, 1, &["--slots".into(), "2".into()]);
    let worker = format!("/ip4/{}/tcp/{AGENT_PORT}", lab.ip(1).unwrap());
    start(
        &mut lab,
        0,
        &["--slots".into(), "0".into(), "--peer".into(), worker],
    );
    // The first compiles run locally while host 0 packages gcc; the first remote one waits
    // for the worker to fetch it. Generous: on a loaded machine a job can be lost and retried.
    let started = Instant::now();
    while lab_stats(&lab, 0)["jobs_remote"].as_u64().unwrap_or(0) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "no compile went remote in 240 s: {}\n--- submitter's log\n{}\n--- worker's log\n{}",
            lab_stats(&lab, 0),
            std::fs::read_to_string(lab.host_dir(0).unwrap().join("agent.log")).unwrap_or_default(),
            std::fs::read_to_string(lab.host_dir(1).unwrap().join("agent.log")).unwrap_or_default(),
        );
        let mut cc = lab.command_on(0, &meshcc).unwrap();
        let out = cc
            .args(["gcc", "-c", "secret.c", "-o", "secret.o"])
            .current_dir(work)
            .output()
            .unwrap();
        succeeded(&out);
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        contains(&std::fs::read(work.join("secret.o")).unwrap(), SECRET),
        "the object holds the string, so the worker's result carried it"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(tcpdump.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    tcpdump.wait().unwrap();
    drop(lab);
    std::fs::read(&pcap).unwrap()
}

#[test]
fn mesh_key_leaves_nothing_readable_on_the_wire() {
    if !needs_root("lab hosts are network namespaces; tcpdump captures in one") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    std::fs::write(
        work.join("secret.c"),
        format!("const char *message(void) {{ return \"{SECRET}\"; }}\n"),
    )
    .unwrap();
    let key = work.join("mesh.key");
    std::fs::write(&key, "the capture test's secret mesh key").unwrap();
    let pid = std::process::id() % 100_000;

    let keyed = capture_remote_compile(
        &format!("verifypk{pid}"),
        &["--mesh-key".into(), key.display().to_string()],
        work,
    );
    let open = capture_remote_compile(&format!("verifypo{pid}"), &[], work);
    eprintln!(
        "captured {} bytes with a mesh key, {} without",
        keyed.len(),
        open.len()
    );
    // A toolchain went across in each: megabytes, so the capture saw the job's traffic.
    for (what, capture) in [("keyed", &keyed), ("open", &open)] {
        assert!(
            capture.len() > 1 << 20,
            "{what} capture is only {} bytes",
            capture.len()
        );
        assert!(
            !contains(capture, SECRET),
            "{what} capture shows the source's string"
        );
    }
    for name in PROTOCOL_NAMES {
        assert!(!contains(&keyed, name), "keyed capture shows {name:?}");
    }
    // The control case: the same capture without a key reads the negotiation before Noise.
    for name in ["/multistream/1.0.0", "/noise"] {
        assert!(
            contains(&open, name),
            "open capture lacks {name:?}: the capture is blind"
        );
    }
}

/// Starts agents once in `dirs` to create their identity keys, and returns their peer ids.
fn peer_ids(dirs: &[&Path]) -> Vec<String> {
    dirs.iter().map(|d| Agent::start(d, &[]).id()).collect()
}

fn stats(agent: &Agent) -> serde_json::Value {
    serde_json::from_slice(&agent.meshcc(&["stats", "--json"]).stdout).unwrap()
}

#[test]
fn allow_list_keeps_a_third_agent_out_of_jobs_both_ways() {
    if !needs_root("remote compiles run jobs in a sandbox") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (dir_a, dir_b, dir_c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    let ids = peer_ids(&[&dir_a, &dir_b, &dir_c]);
    let (id_a, id_b, id_c) = (&ids[0], &ids[1], &ids[2]);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir_a.join("identity.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the identity key is readable by others"
    );

    // a submits only (no slots), b works; each allows only the other. c, on neither list,
    // tries to join both and would both serve and submit.
    let a = Agent::start(
        &dir_a,
        &[
            "--slots".into(),
            "0".into(),
            "--allow-peer".into(),
            id_b.clone(),
        ],
    );
    let b = Agent::start(
        &dir_b,
        &[
            "--slots".into(),
            "2".into(),
            "--allow-peer".into(),
            id_a.clone(),
            "--peer".into(),
            a.addr(),
        ],
    );
    let c = Agent::start(
        &dir_c,
        &[
            "--slots".into(),
            "2".into(),
            "--peer".into(),
            a.addr(),
            "--peer".into(),
            b.addr(),
        ],
    );
    wait_for(
        Duration::from_secs(15),
        || a.peer_ids() == vec![id_b.clone()],
        "a to see b",
    );
    wait_for(
        Duration::from_secs(15),
        || {
            a.log()
                .contains(&format!("refused a connection with {id_c}"))
                && b.log()
                    .contains(&format!("refused a connection with {id_c}"))
        },
        "a and b to log refusing c",
    );
    // Several of c's redials later, still nobody lets it in.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(a.peer_ids(), vec![id_b.clone()]);
    assert_eq!(b.peer_ids(), vec![id_a.clone()]);
    assert!(
        c.peer_ids().is_empty(),
        "c is in a table: {:?}",
        c.peer_ids()
    );

    let work = tmp.path().join("src");
    std::fs::create_dir(&work).unwrap();
    std::fs::write(work.join("x.c"), "int x(int a) { return a * 7; }\n").unwrap();
    let compile = |agent: &Agent| {
        let out = Command::new(bin("meshcc"))
            .args(["gcc", "-O2", "-c", "x.c", "-o", "x.o"])
            .current_dir(&work)
            .env("MESHCC_SOCKET", agent.socket())
            .output()
            .unwrap();
        succeeded(&out);
    };
    // a's jobs go to b only (the first ones stay local while a packages gcc).
    let started = Instant::now();
    while stats(&a)["jobs_remote"].as_u64() < Some(3) {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "a's jobs never went to b"
        );
        compile(&a);
    }
    // c packages gcc and then has no worker but itself.
    for _ in 0..6 {
        compile(&c);
        std::thread::sleep(Duration::from_millis(300));
    }
    let (sa, sb, sc) = (stats(&a), stats(&b), stats(&c));
    eprintln!("a: {sa}\nb: {sb}\nc: {sc}");
    assert_eq!(
        sb["jobs_served"], sa["jobs_remote"],
        "b served exactly a's remote jobs"
    );
    assert_eq!(sc["jobs_served"].as_u64(), Some(0), "c served a job");
    assert_eq!(sc["jobs_remote"].as_u64(), Some(0), "c had a job served");
    assert!(sc["jobs_local"].as_u64() >= Some(6));
}
