//! What users touch around the core: `scripts/install.sh` (install, compile through the
//! installed masquerade directory, uninstall leaving nothing), `meshcc doctor` against real
//! agents (loopback with static peers, and a lab host with another mesh key found by mDNS),
//! and the completions, man pages and `--help` text.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use meshcc_simulations::lab::{AgentOptions, Lab, LabConfig};

use crate::util::{bin, free_port, needs_root, wait_for, Agent};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every file (not directory) under `root`.
fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn install_compiles_through_the_masquerade_dir_and_uninstall_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let (prefix, etc) = (root.join("usr"), root.join("etc"));
    let install = |extra: &[&str]| {
        let out = Command::new("bash")
            .arg(repo().join("scripts/install.sh"))
            .arg("--prefix")
            .arg(&prefix)
            .arg("--sysconfdir")
            .arg(&etc)
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "install.sh {extra:?}: {}", text(&out));
        text(&out)
    };
    // Twice: a reinstall over an install must still uninstall to nothing.
    for _ in 0..2 {
        install(&["--binary", bin("meshcc").to_str().unwrap(), "--no-start"]);
    }

    let meshcc = prefix.join("bin/meshcc");
    let masq = prefix.join("lib/meshcc/masquerade");
    let unit = etc.join("systemd/system/meshcc-agent.service");
    for file in [
        &meshcc,
        &unit,
        &etc.join("meshcc/agent.toml"),
        &prefix.join("share/man/man1/meshcc.1"),
        &prefix.join("share/man/man1/meshcc-doctor.1"),
        &prefix.join("share/bash-completion/completions/meshcc"),
    ] {
        assert!(file.is_file(), "{} was not installed", file.display());
    }
    for name in ["gcc", "g++", "cc", "c++", "clang", "clang++"] {
        assert_eq!(std::fs::read_link(masq.join(name)).unwrap(), meshcc);
    }

    // The unit, checked by systemd's own parser where it is installed.
    let unit_text = std::fs::read_to_string(&unit).unwrap();
    assert!(unit_text.contains(&format!("ExecStart={} agent", meshcc.display())));
    if Path::new("/usr/bin/systemd-analyze").exists() {
        let out = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&unit)
            .output()
            .unwrap();
        let said = text(&out);
        // Outside a booted systemd, verify cannot load the targets the unit is ordered after;
        // anything about the unit itself is a failure.
        let complaints: Vec<&str> = said
            .lines()
            .filter(|l| !l.contains(".target") && !l.trim().is_empty())
            .collect();
        assert!(complaints.is_empty(), "systemd-analyze verify: {said}");
        eprintln!("systemd-analyze verify: exit {}, {said:?}", out.status);
    }
    // The config file, all comments, is read by the agent as valid.
    // A worker, and a submitter that runs nothing itself, reading the installed config file
    // (all comments: the agent must take it as valid).
    let worker = Agent::start(&root.join("worker"), &["--slots".into(), "2".into()]);
    let agent = Agent::start(
        &root.join("state"),
        &[
            "--config".into(),
            etc.join("meshcc/agent.toml").to_str().unwrap().into(),
            "--slots".into(),
            "0".into(),
            "--peer".into(),
            worker.addr(),
        ],
    );
    wait_for(
        Duration::from_secs(10),
        || agent.peer_ids().len() == 1,
        "the submitter to see the worker",
    );

    // A build that calls `gcc` and `g++` by name, with the masquerade directory first in PATH.
    let src = root.join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(
        src.join("a.c"),
        "#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n",
    )
    .unwrap();
    std::fs::write(
        src.join("b.cc"),
        "#include <vector>\nint f() { std::vector<int> v{1, 2}; return v.size(); }\n",
    )
    .unwrap();
    let path = std::env::join_paths(
        std::iter::once(masq.clone())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let log = root.join("client.log");
    let jobs_remote = || -> u64 {
        let out = agent.meshcc(&["stats", "--json"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["jobs_remote"]
            .as_u64()
            .unwrap()
    };
    let build = |round: &str| {
        for (compiler, file, real) in [
            ("gcc", "a.c", "/usr/bin/gcc"),
            ("g++", "b.cc", "/usr/bin/g++"),
        ] {
            let run = |program: &str, object: &str, via_meshcc: bool| {
                let mut cmd = Command::new(program);
                cmd.current_dir(&src)
                    .args(["-O2", "-g", "-c", file, "-o", object]);
                if via_meshcc {
                    cmd.env("PATH", &path)
                        .env("MESHCC_SOCKET", agent.socket())
                        .env("MESHCC_LOG", &log)
                        .env("MESHCC_LOG_LEVEL", "debug");
                }
                let out = cmd.output().unwrap();
                assert!(out.status.success(), "{program}: {}", text(&out));
                std::fs::read(src.join(object)).unwrap()
            };
            let wrapped = run(compiler, &format!("{file}.{round}.o"), true);
            let local = run(real, &format!("{file}.local.o"), false);
            assert!(
                wrapped == local,
                "{compiler} through the masquerade directory ({round}) differs from {real}"
            );
        }
    };
    // The first sight of a compiler packages it in the background; the compile runs locally,
    // or (no slot free here) waits for the packaging and runs remotely.
    build("first");
    let client_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        client_log.contains("compiling locally") || client_log.contains("compiled remotely"),
        "the compiles did not go through meshcc: {client_log}"
    );
    if needs_root("remote compiles run jobs in a sandbox") {
        wait_for(
            Duration::from_secs(60),
            || {
                let out = agent.meshcc(&["stats", "--json"]);
                serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
                    ["toolchains_packaged"]
                    .as_u64()
                    >= Some(2)
            },
            "the submitter to package gcc and g++",
        );
        let before = jobs_remote();
        build("remote");
        assert_eq!(
            jobs_remote() - before,
            2,
            "both compiles should have run on the worker: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    drop(agent);
    drop(worker);

    let said = install(&["--uninstall"]);
    assert!(said.contains("uninstalled"), "{said}");
    let left: Vec<PathBuf> = [&prefix, &etc]
        .iter()
        .filter(|d| d.exists())
        .flat_map(|d| files_under(d))
        .collect();
    assert!(left.is_empty(), "uninstall left {left:?}");
    assert!(
        !prefix.exists() && !etc.exists(),
        "uninstall left directories"
    );
}

/// `meshcc doctor` against `agent`, with a masquerade-free PATH; (exit success, text).
fn doctor(socket: &Path, json: bool) -> (bool, String) {
    let mut cmd = Command::new(bin("meshcc"));
    cmd.arg("doctor").env("MESHCC_SOCKET", socket);
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().unwrap();
    (out.status.success(), text(&out))
}

#[test]
fn doctor_without_an_agent_says_to_start_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, said) = doctor(&tmp.path().join("agent.sock"), false);
    assert!(!ok, "doctor passed with no agent: {said}");
    assert!(said.contains("No agent is running at"), "{said}");
    assert!(said.contains("fix: Start the agent"), "{said}");
}

#[test]
fn doctor_reports_peers_latency_and_a_peer_with_another_mesh_key() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path();
    std::fs::write(keys.join("ours.key"), "the loopback mesh's secret, 32 b").unwrap();
    std::fs::write(keys.join("theirs.key"), "another mesh's secret, 32 bytes!").unwrap();
    let key = |k: &str| {
        vec![
            "--mesh-key".to_string(),
            keys.join(k).to_str().unwrap().into(),
        ]
    };
    let b = Agent::start(&tmp.path().join("b"), &key("ours.key"));
    let stranger = Agent::start(&tmp.path().join("s"), &key("theirs.key"));
    let mut a_args = key("ours.key");
    // A static peer where nothing listens, besides.
    let nobody = format!("/ip4/127.0.0.1/tcp/{}", free_port());
    a_args.extend([
        "--peer".into(),
        b.addr(),
        "--peer".into(),
        stranger.addr(),
        "--peer".into(),
        nobody.clone(),
    ]);
    let a = Agent::start(&tmp.path().join("a"), &a_args);
    wait_for(
        Duration::from_secs(10),
        || a.peer_ids() == vec![b.id()],
        "a to see b",
    );
    let mut said = String::new();
    // Each doctor run packages the compilers (seconds on a loaded machine): a generous limit.
    wait_for(
        Duration::from_secs(90),
        || {
            said = doctor(&a.socket(), false).1;
            said.contains("Round trip to peer")
                && said.contains("fail during the handshake")
                && said.contains("Nothing listens at")
        },
        "doctor to report b's latency and the stranger's handshake",
    );
    eprintln!("{said}");
    assert!(said.contains("The agent sees 1 peer(s)"), "{said}");
    assert!(
        said.contains(&format!(
            "Connections with {} fail during the handshake",
            stranger.addr()
        )) && said.contains("another mesh key"),
        "{said}"
    );
    assert!(said.contains("same --mesh-key file"), "{said}");
    assert!(
        said.contains(&format!("Nothing listens at {nobody} (connection refused")),
        "{said}"
    );
    assert!(said.contains("packages for peers"), "{said}");
    if nix::unistd::geteuid().is_root() {
        assert!(said.contains("This machine can run peers' jobs"), "{said}");
    }

    let (ok, json) = doctor(&a.socket(), true);
    assert!(!ok, "a failed check must fail the command");
    let v: serde_json::Value = serde_json::from_str(&json).expect("doctor --json is JSON");
    assert_eq!(v["schema"], "meshcc.doctor/1");
    assert_eq!(v["ok"], false);
    let handshake = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["area"] == "connections" && c["status"] == "fail")
        .expect("a failed connections check");
    assert!(handshake["fix"].as_str().unwrap().contains("--mesh-key"));
}

#[test]
fn doctor_in_a_lab_names_the_host_with_another_mesh_key() {
    if !needs_root("lab namespaces") {
        return;
    }
    let mut lab = Lab::up(LabConfig::new(
        &format!("ux-doctor-{}", std::process::id()),
        2,
    ))
    .unwrap();
    let keys = tempfile::tempdir().unwrap();
    let (ours, theirs) = (keys.path().join("ours.key"), keys.path().join("theirs.key"));
    std::fs::write(&ours, "the lab mesh's secret, 32 bytes.").unwrap();
    std::fs::write(&theirs, "somebody else's secret, 32 bytes").unwrap();
    for (host, key) in [(0, &ours), (1, &theirs)] {
        lab.start_agents(&AgentOptions {
            meshcc: bin("meshcc"),
            args: vec![OsString::from("--mesh-key"), key.into()],
            hosts: Some(vec![host]),
        })
        .unwrap();
    }
    let stranger_ip = lab.ip(1).unwrap().to_string();
    let socket = lab.socket(0).unwrap();
    let mut said = String::new();
    wait_for(
        Duration::from_secs(90),
        || {
            let out = lab
                .output_on(
                    0,
                    &[
                        OsString::from("env"),
                        format!("MESHCC_SOCKET={}", socket.display()).into(),
                        bin("meshcc").into(),
                        "doctor".into(),
                    ],
                )
                .unwrap();
            said = text(&out);
            said.contains("fail during the handshake") && said.contains(&stranger_ip)
        },
        "doctor on host 0 to name host 1's handshake failures",
    );
    eprintln!("{said}");
    assert!(
        said.contains("mDNS works: it has reported 1 agent(s)"),
        "{said}"
    );
    assert!(said.contains("The agent sees no peers"), "{said}");
    assert!(said.contains("another mesh key"), "{said}");
}

#[test]
fn completions_and_man_pages_generate() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = Command::new(bin("meshcc"))
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}: {}", text(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            script.contains("setup-masquerade") && script.contains("doctor"),
            "{shell}: {script}"
        );
    }
    // bash must accept its script.
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source <({} completions bash) && complete -p meshcc",
            bin("meshcc").display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "bash: {}", text(&out));
    let out = Command::new(bin("meshcc")).arg("man").output().unwrap();
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && page.starts_with(".ie"), "{page}");
    assert!(
        page.contains("MESHCC_SOCKET"),
        "the man page lacks the environment: {page}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin("meshcc"))
        .args(["man", "--out-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    for page in [
        "meshcc.1",
        "meshcc-agent.1",
        "meshcc-doctor.1",
        "meshcc-setup-masquerade.1",
    ] {
        assert!(dir.path().join(page).is_file(), "{page} missing");
    }
}

/// Every `MESHCC_*` variable the code reads, found in the source rather than listed here.
fn environment_variables_read() -> std::collections::BTreeSet<String> {
    let mut vars = std::collections::BTreeSet::new();
    for file in files_under(&repo().join("node/src")) {
        let source = std::fs::read_to_string(&file).unwrap();
        for (i, _) in source.match_indices("\"MESHCC_") {
            let name: String = source[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect();
            vars.insert(name);
        }
    }
    vars
}

#[test]
fn help_mentions_every_environment_variable_the_code_reads() {
    let vars = environment_variables_read();
    assert!(vars.len() >= 6, "too few variables found: {vars:?}");
    let out = Command::new(bin("meshcc")).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for var in &vars {
        assert!(
            help.contains(var.as_str()),
            "--help does not mention {var}:\n{help}"
        );
    }
    for topic in ["setup-masquerade", "Config file", "CCACHE_PREFIX", "doctor"] {
        assert!(help.contains(topic), "--help does not mention {topic}");
    }
}

#[test]
fn setup_masquerade_and_doctor_on_wrapping_order_and_missing_names() {
    let tmp = tempfile::tempdir().unwrap();
    let masq = tmp.path().canonicalize().unwrap().join("masq");
    let out = Command::new(bin("meshcc"))
        .arg("setup-masquerade")
        .arg(&masq)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let me = bin("meshcc").canonicalize().unwrap();
    for name in ["gcc", "g++", "cc", "c++", "clang", "clang++"] {
        assert_eq!(std::fs::read_link(masq.join(name)).unwrap(), me, "{name}");
    }
    // Every version-suffixed compiler of this machine got a link too.
    let suffixed: Vec<String> = std::fs::read_dir("/usr/bin")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("gcc-") && n[4..].chars().all(|c| c.is_ascii_digit()))
        .collect();
    for name in &suffixed {
        assert!(masq.join(name).exists(), "no link for {name}");
    }
    let system_path = std::env::var_os("PATH").unwrap();
    let doctor_with = |path: OsString| {
        let out = Command::new(bin("meshcc"))
            .arg("doctor")
            .env("PATH", path)
            .env("MESHCC_SOCKET", tmp.path().join("no-agent.sock"))
            .output()
            .unwrap();
        text(&out)
    };
    let first = std::env::join_paths(
        std::iter::once(masq.clone()).chain(std::env::split_paths(&system_path)),
    )
    .unwrap();
    let last = std::env::join_paths(
        std::env::split_paths(&system_path).chain(std::iter::once(masq.clone())),
    )
    .unwrap();

    let said = doctor_with(first.clone());
    assert!(
        said.contains(&format!(
            "{} comes before the real compilers in PATH and wraps",
            masq.display()
        )) && said.contains("gcc → /usr/bin/gcc"),
        "{said}"
    );
    let said = doctor_with(last);
    assert!(
        said.contains("`gcc` in PATH runs /usr/bin/gcc, not meshcc")
            && said.contains("fix: Put the masquerade directory first"),
        "{said}"
    );
    if let Some(name) = suffixed.first() {
        std::fs::remove_file(masq.join(name)).unwrap();
        let said = doctor_with(first);
        assert!(
            said.contains(&format!(
                "{name} is in PATH but not in the masquerade directory"
            )) && said.contains(&format!("fix: meshcc setup-masquerade {}", masq.display())),
            "{said}"
        );
    }
}
