//! The lab's wire: how hosts' `eth0`s are joined, cut and healed.
//!
//! Without delay, jitter or loss: veth pairs on a Linux bridge living in a namespace of its own,
//! with multicast snooping off so mDNS floods to every port. With them: this kernel has no netem
//! qdisc, so the wire is user-space VDE — a TAP `eth0` per host, `vde_plug2tap` (running in the
//! host's namespace) plugging it into a per-host `vde_switch`, and a `wirefilter` joining that
//! switch to a core switch. Each filter delays only the host's outgoing direction, so a packet
//! between any two hosts crosses exactly one delay: `--delay-ms D` is the one-way delay between
//! hosts (round trip 2·D) and `--loss P` the loss between them. A bandwidth cap is a `tbf` qdisc
//! on the host's egress, plus the bridge port's egress (veth) or the filter's host-bound
//! direction (VDE) for its ingress.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use super::cmd::{ip_in, run};
use super::spawn::HostCommand;
use super::state::{HostState, ProcRef, Wire};
use super::{LabConfig, LabError};

/// Creates the bridge namespace and its bridge.
pub fn bridge_up(netns: &str) -> Result<(), LabError> {
    run("ip", ["netns", "add", netns])?;
    ip_in(netns, &["link", "set", "lo", "up"])?;
    ip_in(
        netns,
        &[
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ],
    )?;
    ip_in(netns, &["link", "set", "br0", "up"])?;
    Ok(())
}

/// Creates a host's namespace with loopback up.
pub fn host_netns_up(host: &HostState) -> Result<(), LabError> {
    run("ip", ["netns", "add", &host.netns])?;
    ip_in(&host.netns, &["link", "set", "lo", "up"])?;
    Ok(())
}

/// Plugs a host into the bridge with a veth pair: `eth0` in the host, `h<i>` on the bridge.
/// Both ends are created directly in their namespaces, so no name is ever taken in the
/// machine's own namespace (where another lab could collide).
pub fn veth_up(bridge_ns: &str, host: &HostState, config: &LabConfig) -> Result<(), LabError> {
    let port = format!("h{}", host.index);
    ip_in(
        bridge_ns,
        &[
            "link",
            "add",
            &port,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &host.netns,
        ],
    )?;
    ip_in(bridge_ns, &["link", "set", &port, "master", "br0"])?;
    ip_in(bridge_ns, &["link", "set", &port, "up"])?;
    if let Some(kbit) = config.bandwidth_kbit {
        tbf(bridge_ns, &port, kbit)?;
    }
    configure_eth0(host, config)
}

/// Address, link up, the multicast route (mDNS), and the egress cap. No default route: a lab
/// host can reach nothing but the lab.
fn configure_eth0(host: &HostState, config: &LabConfig) -> Result<(), LabError> {
    let ns = &host.netns;
    ip_in(
        ns,
        &["addr", "add", &format!("{}/24", host.addr), "dev", "eth0"],
    )?;
    ip_in(ns, &["link", "set", "eth0", "up"])?;
    ip_in(ns, &["route", "add", "224.0.0.0/4", "dev", "eth0"])?;
    if let Some(kbit) = config.bandwidth_kbit {
        tbf(ns, "eth0", kbit)?;
    }
    Ok(())
}

fn tbf(netns: &str, dev: &str, kbit: u64) -> Result<(), LabError> {
    // Burst: 10 ms worth of traffic, but at least a few full frames or tbf stalls.
    let burst = (kbit * 1000 / 8 / 100).max(4 * 1514);
    run(
        "tc",
        [
            "-n",
            netns,
            "qdisc",
            "add",
            "dev",
            dev,
            "root",
            "tbf",
            "rate",
            &format!("{kbit}kbit"),
            "burst",
            &burst.to_string(),
            "latency",
            "50ms",
        ],
    )?;
    Ok(())
}

/// Paths of the VDE pieces for host `i`.
fn vde_paths(dir: &Path, i: usize) -> (PathBuf, PathBuf, PathBuf) {
    (
        dir.join(format!("sw{i}")),
        dir.join(format!("wf{i}.mgmt")),
        dir.join(format!("plug{i}.pid")),
    )
}

/// Starts the core switch.
pub fn vde_core_up(dir: &Path) -> Result<(), LabError> {
    fs::create_dir_all(dir).map_err(|e| LabError::io("create", dir, e))?;
    vde_switch(&dir.join("core"), &dir.join("core.pid"))
}

fn vde_switch(sock: &Path, pidfile: &Path) -> Result<(), LabError> {
    let (s, p) = (sock.to_string_lossy(), pidfile.to_string_lossy());
    run("vde_switch", ["-s", &*s, "-d", "-p", &*p])?;
    wait_for(&sock.join("ctl"), "vde_switch's control socket")
}

/// Plugs a host into the core switch through its own switch and filter.
pub fn vde_host_up(dir: &Path, host: &HostState, config: &LabConfig) -> Result<(), LabError> {
    let i = host.index;
    let (sw, mgmt, plug_pid) = vde_paths(dir, i);
    vde_switch(&sw, &dir.join(format!("sw{i}.pid")))?;

    let mut filter = vec![
        "-v".to_owned(),
        format!("{}:{}", sw.display(), dir.join("core").display()),
        "-M".to_owned(),
        mgmt.display().to_string(),
        "--daemon".to_owned(),
        "--pidfile".to_owned(),
        dir.join(format!("wf{i}.pid")).display().to_string(),
    ];
    // L is the host's side: LR is what the host sends.
    if config.delay_ms > 0 || config.jitter_ms > 0 {
        filter.push("-d".to_owned());
        filter.push(format!("LR{}+{}", config.delay_ms, config.jitter_ms));
    }
    if config.loss_pct > 0.0 {
        filter.push("-l".to_owned());
        filter.push(format!("LR{}", config.loss_pct));
    }
    if let Some(kbit) = config.bandwidth_kbit {
        // The host's ingress; its egress is capped by tbf on the TAP device.
        filter.push("-b".to_owned());
        filter.push(format!("RL{}", kbit * 1000 / 8));
    }
    run("wirefilter", &filter)?;
    wait_for(&mgmt, "wirefilter's management socket")?;

    ip_in(
        &host.netns,
        &["tuntap", "add", "dev", "eth0", "mode", "tap"],
    )?;
    // vde_plug2tap must open the TAP device from inside the host's namespace.
    let mut plug = HostCommand::new(
        &HostState {
            cgroups: Vec::new(),
            ..host.clone()
        },
        "vde_plug2tap",
        true,
    )?;
    plug.args([
        "-s",
        &sw.to_string_lossy(),
        "-d",
        "-P",
        &plug_pid.to_string_lossy(),
        "eth0",
    ]);
    super::cmd::run_command(&mut plug)?;
    wait_for(&plug_pid, "vde_plug2tap's pidfile")?;
    configure_eth0(host, config)
}

/// Every VDE daemon of the lab, by pidfile, checked against its command name so that a reused
/// pid is left alone.
pub fn vde_down(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut daemons = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "pid") {
            let pid = fs::read_to_string(&path)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok());
            let comm = pid.and_then(|p| fs::read_to_string(format!("/proc/{p}/comm")).ok());
            let ours = comm
                .is_some_and(|c| ["vde_switch", "wirefilter", "vde_plug2tap"].contains(&c.trim()));
            if let (true, Some(proc)) = (ours, pid.and_then(ProcRef::of)) {
                daemons.push(proc);
            }
        }
    }
    // Plugs and filters before switches, so nothing logs a lost switch; SIGTERM lets them go.
    super::spawn::stop_all(&daemons, Duration::from_secs(2));
    let _ = fs::remove_dir_all(dir);
}

/// Takes a host off the wire (`up == false`) or puts it back. The host's own `eth0` stays up:
/// like a pulled cable, not an administratively downed interface (which would drop its routes).
pub fn set_link(
    wire: &Wire,
    host: &HostState,
    config: &LabConfig,
    up: bool,
) -> Result<(), LabError> {
    match wire {
        Wire::Bridge { netns } => {
            let port = format!("h{}", host.index);
            ip_in(
                netns,
                &["link", "set", &port, if up { "up" } else { "down" }],
            )?;
        }
        Wire::Vde { dir } => {
            let (_, mgmt, _) = vde_paths(dir, host.index);
            if up {
                wirefilter_cmd(&mgmt, "loss 0")?;
                if config.loss_pct > 0.0 {
                    wirefilter_cmd(&mgmt, &format!("loss LR{}", config.loss_pct))?;
                }
            } else {
                wirefilter_cmd(&mgmt, "loss 100")?;
            }
        }
    }
    Ok(())
}

/// Sends one command to a wirefilter's management socket and checks its `1000 Success` reply.
fn wirefilter_cmd(mgmt: &Path, line: &str) -> Result<(), LabError> {
    let fail = |detail: String| LabError::Command {
        cmd: format!("wirefilter management {}: {line}", mgmt.display()),
        status: "failed".to_owned(),
        stderr: detail,
    };
    let mut sock = UnixStream::connect(mgmt).map_err(|e| LabError::io("connect", mgmt, e))?;
    sock.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| LabError::io("configure", mgmt, e))?;
    let mut reply = Vec::new();
    read_until_prompt(&mut sock, &mut reply).map_err(|e| fail(e.to_string()))?;
    reply.clear();
    sock.write_all(format!("{line}\n").as_bytes())
        .map_err(|e| LabError::io("write", mgmt, e))?;
    read_until_prompt(&mut sock, &mut reply).map_err(|e| fail(e.to_string()))?;
    let text = String::from_utf8_lossy(&reply);
    if text.contains("1000 Success") {
        Ok(())
    } else {
        Err(fail(text.trim().to_owned()))
    }
}

fn read_until_prompt(sock: &mut UnixStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 1024];
    while !buf.ends_with(b"$ ") {
        let n = sock.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(())
}

/// Bytes `eth0` of `host` has sent and received (`ip -s -j link`: the kernel's counters, read
/// from outside, since `/sys/class/net` inside a namespace is not visible from here).
pub fn counters(host: &HostState) -> Result<(u64, u64), LabError> {
    let out = ip_in(&host.netns, &["-s", "-j", "link", "show", "eth0"])?;
    let parse_err = || LabError::Command {
        cmd: format!("ip -n {} -s -j link show eth0", host.netns),
        status: "unexpected output".to_owned(),
        stderr: out.chars().take(200).collect(),
    };
    let json: serde_json::Value = serde_json::from_str(&out).map_err(|_| parse_err())?;
    let stats = &json[0]["stats64"];
    let tx = stats["tx"]["bytes"].as_u64().ok_or_else(parse_err)?;
    let rx = stats["rx"]["bytes"].as_u64().ok_or_else(parse_err)?;
    Ok((tx, rx))
}

/// Daemons report readiness by creating a file; wait for it (briefly).
fn wait_for(path: &Path, what: &str) -> Result<(), LabError> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !path.exists() {
        if Instant::now() > deadline {
            return Err(LabError::Timeout(format!("{what} {}", path.display())));
        }
        thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}
