//! The lab against the real kernel: namespaces, bridge, VDE, cgroups. Needs root; each test has
//! a lab of its own, so they run concurrently (with each other and with other test binaries).

mod util;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use meshcc_simulations::lab::{self, Lab, LabConfig, LabError, ProcRef, Wire};
use util::{have_root, lab_name, mesh_lab};

/// Sends a multicast datagram from host `from` to the mDNS group and checks that every host in
/// `to` receives it, with host `from`'s lab address as sender.
fn assert_multicast_crosses(lab: &Lab, from: usize, to: &[usize]) {
    let receivers: Vec<_> = to
        .iter()
        .map(|&i| {
            let mut cmd = lab.command_on(i, mesh_lab()).unwrap();
            cmd.args(["probe", "mcast-recv", "--timeout-ms", "4000"])
                .stdout(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    // Repeated, because the receivers need a moment to join the group.
    let payload = format!("hello from {from}");
    let sent = lab
        .output_on(
            from,
            &[
                mesh_lab().to_str().unwrap(),
                "probe",
                "mcast-send",
                "--count",
                "30",
                "--interval-ms",
                "100",
                &payload,
            ],
        )
        .unwrap();
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    for (receiver, &i) in receivers.into_iter().zip(to) {
        let out = receiver.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "host {i} received no multicast from host {from}"
        );
        assert_eq!(
            text.trim(),
            format!("{} {payload}", lab.ip(from).unwrap()),
            "host {i}"
        );
    }
}

#[test]
fn bridge_lab_connects_hosts_and_nothing_else() {
    if !have_root("bridge_lab_connects_hosts_and_nothing_else") {
        return;
    }
    let mut lab = Lab::up(LabConfig::new(&lab_name("bridge"), 3)).unwrap();
    assert!(matches!(lab.state().wire, Wire::Bridge { .. }));
    for (from, to) in [(0, 1), (0, 2), (1, 2), (2, 0)] {
        let rtt = lab.ping(from, to, 2).unwrap();
        assert_eq!(rtt.received, 2, "{from} -> {to}");
    }
    assert_multicast_crosses(&lab, 0, &[1, 2]);

    // No default route: the outside is unreachable, and no packet is sent trying.
    let route = lab
        .output_on(1, &["ip", "route", "get", "1.1.1.1"])
        .unwrap();
    assert!(
        !route.status.success(),
        "host 1 has a route out: {}",
        String::from_utf8_lossy(&route.stdout)
    );
    assert!(String::from_utf8_lossy(&route.stderr).contains("unreachable"));

    lab.cut(2).unwrap();
    assert!(
        matches!(lab.ping(0, 2, 2), Err(LabError::NoReply { .. })),
        "cut host 2 still answers"
    );
    assert!(lab.ping(0, 1, 1).is_ok(), "cutting host 2 cut host 1 too");
    assert!(lab.status().hosts[2].cut);
    lab.heal(2).unwrap();
    assert_eq!(
        lab.ping(0, 2, 2).unwrap().received,
        2,
        "healed host 2 does not answer"
    );
    lab.down().unwrap();
}

#[test]
fn vde_delay_5ms_gives_10ms_round_trips() {
    if !have_root("vde_delay_5ms_gives_10ms_round_trips") {
        return;
    }
    let mut lab = Lab::up(LabConfig {
        delay_ms: 5,
        ..LabConfig::new(&lab_name("vde"), 3)
    })
    .unwrap();
    assert!(matches!(lab.state().wire, Wire::Vde { .. }));
    let rtt = lab.ping(0, 1, 5).unwrap();
    // 5 ms each way; VDE adds a little of its own, and a busy machine more.
    assert!(rtt.min >= 8.0 && rtt.avg < 40.0, "{rtt:?}");
    assert_multicast_crosses(&lab, 1, &[0, 2]);

    lab.cut(2).unwrap();
    assert!(lab.ping(0, 2, 2).is_err(), "cut host 2 still answers");
    lab.heal(2).unwrap();
    assert_eq!(
        lab.ping(0, 2, 2).unwrap().received,
        2,
        "healed host 2 does not answer"
    );
}

#[test]
fn cpu_quota_applies_to_processes_on_the_host() {
    if !have_root("cpu_quota_applies_to_processes_on_the_host") {
        return;
    }
    let lab = Lab::up(LabConfig {
        cpu: Some(0.5),
        ..LabConfig::new(&lab_name("cpu"), 2)
    })
    .unwrap();
    let cgroups = &lab.host(1).unwrap().cgroups;
    let cpu_dir = &cgroups[0];
    let v2 = cpu_dir.join("cpu.max").exists();
    if v2 {
        assert_eq!(
            fs::read_to_string(cpu_dir.join("cpu.max")).unwrap().trim(),
            "50000 100000"
        );
    } else {
        assert_eq!(
            fs::read_to_string(cpu_dir.join("cpu.cfs_quota_us"))
                .unwrap()
                .trim(),
            "50000"
        );
    }

    // Seen from inside the host: its own cgroup, named and readable (not hidden by a remounted
    // /sys, as under `ip netns exec`).
    let usage_file = if v2 {
        cpu_dir.join("cpu.stat")
    } else {
        cgroups.last().unwrap().join("cpuacct.usage")
    };
    let script = format!("cat /proc/self/cgroup; cat {}", usage_file.display());
    let out = lab.output_on(1, &["sh", "-c", &script]).unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let relative = format!("/meshcc-lab/{}/h1", lab.name());
    assert!(
        text.lines().any(|l| l.ends_with(&relative)),
        "not in the host's cgroup:\n{text}"
    );

    // Two busy loops for a second share half a core: well under the 2 s they would use free.
    let before = cpu_usage_ns(&usage_file);
    let busy =
        "timeout 1 sh -c 'while :; do :; done' & timeout 1 sh -c 'while :; do :; done'; wait";
    lab.output_on(1, &["sh", "-c", busy]).unwrap();
    let used = (cpu_usage_ns(&usage_file) - before) as f64 / 1e9;
    assert!(
        used < 0.8,
        "host with 0.5 core used {used:.2} s of CPU in 1 s"
    );
}

fn cpu_usage_ns(file: &Path) -> u64 {
    let text = fs::read_to_string(file).unwrap();
    match text.lines().find_map(|l| l.strip_prefix("usage_usec ")) {
        Some(usec) => usec.trim().parse::<u64>().unwrap() * 1000,
        None => text.trim().parse().unwrap(),
    }
}

#[test]
fn cli_down_leaves_nothing_behind() {
    if !have_root("cli_down_leaves_nothing_behind") {
        return;
    }
    let name = lab_name("cli");
    // The lab is made by another process: if an assertion fails, still take it down.
    struct DownOnDrop<'a>(&'a str);
    impl Drop for DownOnDrop<'_> {
        fn drop(&mut self) {
            let _ = lab::down(self.0);
        }
    }
    let _guard = DownOnDrop(&name);
    let tmp = std::env::temp_dir().join(format!("mesh-lab-{name}"));
    fs::create_dir_all(&tmp).unwrap();
    // A stand-in agent: records its arguments and environment, then idles.
    let fake = tmp.join("meshcc");
    fs::write(
        &fake,
        "#!/bin/sh\necho \"args: $*\"\necho \"socket: $MESHCC_SOCKET\"\nexec sleep 600\n",
    )
    .unwrap();
    fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let cli = |args: &[&str]| {
        let out = Command::new(mesh_lab())
            .arg("--lab")
            .arg(&name)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mesh-lab {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    cli(&["up", "--hosts", "2", "--delay-ms", "1", "--cpu", "1"]);
    assert!(matches!(
        Lab::up(LabConfig::new(&name, 1)),
        Err(LabError::AlreadyUp { .. })
    ));
    let ip1 = cli(&["ip", "1"]);
    let peer = format!("/ip4/{}/tcp/7070", ip1.trim());
    cli(&[
        "agents",
        "--meshcc",
        fake.to_str().unwrap(),
        "--",
        "--no-mdns",
        "--peer",
        &peer,
    ]);
    let lab = Lab::open(&name).unwrap();
    let state = lab.state().clone();
    let agents: Vec<ProcRef> = state
        .hosts
        .iter()
        .map(|h| h.agent.expect("agent started"))
        .collect();
    assert!(agents.iter().all(ProcRef::alive));
    let status = Command::new(mesh_lab())
        .args(["--lab", &name, "exec", "0", "--", "sh", "-c", "exit 3"])
        .status()
        .unwrap();
    assert_eq!(
        status.code(),
        Some(3),
        "exec must pass the command's exit status through"
    );
    // A process left running on a host must not survive `down` either.
    let straggler = ProcRef::of(lab.spawn_on(0, &["sleep", "600"]).unwrap().id() as i32).unwrap();

    let log = fs::read_to_string(state.hosts[0].dir.join("agent.log")).unwrap();
    let expected = format!(
        "args: agent --state-dir {} --listen /ip4/{}/tcp/7070 --no-mdns --peer {peer}",
        state.hosts[0].dir.display(),
        state.hosts[0].addr
    );
    assert!(log.contains(&expected), "agent log:\n{log}");

    cli(&["down"]);
    assert!(
        cli(&["down"]).contains("was not up"),
        "down is not idempotent"
    );
    for proc in agents.iter().chain([&straggler]) {
        assert!(!proc.alive(), "pid {} survived down", proc.pid);
    }
    let Wire::Vde { dir } = &state.wire else {
        panic!("delay must use VDE")
    };
    assert!(
        !dir.exists() && !Path::new(lab::LAB_ROOT).join(&name).exists(),
        "state left behind"
    );
    for host in &state.hosts {
        assert!(
            !Path::new("/run/netns").join(&host.netns).exists(),
            "{} left behind",
            host.netns
        );
        for cg in &host.cgroups {
            assert!(!cg.exists(), "{} left behind", cg.display());
        }
    }
    let vde_left: Vec<String> = fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| fs::read_to_string(e.path().join("cmdline")).ok())
        .filter(|cmdline| cmdline.contains(dir.to_str().unwrap()))
        .collect();
    assert!(
        vde_left.is_empty(),
        "VDE processes left behind: {vde_left:?}"
    );
    fs::remove_dir_all(&tmp).unwrap();
}
