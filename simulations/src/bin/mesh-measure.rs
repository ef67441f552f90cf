//! `mesh-measure`: the mesh's figures for the record, from real agents in a lab of their own.
//!
//! Prints (does not judge) the time from agents started to full peer tables, the gossip and
//! on-wire traffic per node while idle, each agent's idle CPU and resident memory, the time for a
//! cut host to leave every table, and for it to return after a heal. Needs root; the lab is
//! torn down at the end, or on failure.
//!
//! Sources: peer tables and gossip counters from each agent's control socket (the same answers
//! `meshcc peers --json` and `meshcc stats --json` print); wire bytes from the host's `eth0` in
//! `/proc/PID/net/dev` of its agent (procfs shows the process's own network namespace, where
//! `/sys/class/net` would show the machine's); CPU from `/proc/PID/stat` (utime + stime); memory
//! from `VmRSS` in `/proc/PID/status`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use meshcc::client::Client;
use meshcc_simulations::lab::{self, AgentOptions, Lab, LabConfig};
use meshcc_wire::control::{ControlRequest, ControlResponse, PeersReport, StatsReport};

/// Measures an idle mesh of real agents in a lab: discovery time, traffic, CPU, memory, and how
/// fast a cut host leaves and returns. Needs root.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Number of hosts.
    #[arg(long, default_value_t = 5)]
    hosts: usize,
    /// Length of the idle window for traffic and CPU, seconds.
    #[arg(long, default_value_t = 20)]
    idle_secs: u64,
    /// Lab name (default: `measure-PID`).
    #[arg(long)]
    lab: Option<String>,
    /// The meshcc binary (default: next to this one, else in PATH).
    #[arg(long)]
    meshcc: Option<PathBuf>,
    /// Leave the lab up afterwards (agents stopped, logs kept), to read the agents' logs.
    #[arg(long)]
    keep: bool,
    /// Extra agent options, after `--` (e.g. `--mesh-key FILE`).
    #[arg(last = true)]
    agent_args: Vec<std::ffi::OsString>,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mesh-measure: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    lab::require_root()?;
    if cli.hosts < 2 {
        bail!("--hosts must be at least 2");
    }
    let name = cli
        .lab
        .unwrap_or_else(|| format!("measure-{}", std::process::id()));
    let n = cli.hosts;
    let mut lab = Lab::up(LabConfig::new(&name, n)).context("bringing the lab up")?;
    let meshcc = match cli.meshcc {
        Some(path) => path,
        None => lab::default_meshcc()?,
    };
    println!(
        "lab {name:?}: {n} hosts on a bridge, agents {}",
        meshcc.display()
    );
    let sockets: Vec<PathBuf> = (0..n).map(|i| lab.socket(i)).collect::<Result<_, _>>()?;

    let started = Instant::now();
    let agents = lab.start_agents(&AgentOptions {
        meshcc,
        args: cli.agent_args,
        hosts: None,
    })?;
    let pids: Vec<i32> = agents.iter().map(|(_, p)| p.pid).collect();
    let full = wait_each(&sockets, started, Duration::from_secs(30), |_, r| {
        r.peers.len() == n - 1
    })
    .context("waiting for full peer tables")?;
    report_times("start to full table", &full);

    // Let the start-up pushes and the first mDNS rounds pass before calling the mesh idle.
    thread::sleep(Duration::from_secs(3));
    let window = Duration::from_secs(cli.idle_secs);
    let before = Sample::take(&sockets, &pids)?;
    thread::sleep(window);
    let after = Sample::take(&sockets, &pids)?;
    report_idle(&before, &after);
    println!(
        "connections: {} open between {} pairs of hosts",
        connections(&sockets)?,
        n * (n - 1) / 2
    );

    let victim = n - 1;
    let victim_id = peers(&sockets[victim])?.local.peer.0;
    let others: Vec<PathBuf> = sockets[..victim].to_vec();
    let cut_at = Instant::now();
    lab.cut(victim)?;
    let gone = wait_each(&others, cut_at, Duration::from_secs(30), |_, r| {
        !r.peers.iter().any(|p| p.peer.0 == victim_id)
    })
    .context("waiting for the cut host to leave the tables")?;
    report_times(&format!("host {victim} cut to gone from a table"), &gone);
    // A short cut (shorter than the mDNS record's 30 s life) is the harder case for redialling.
    thread::sleep(Duration::from_secs(5).saturating_sub(cut_at.elapsed()));
    let healed_at = Instant::now();
    lab.heal(victim)?;
    let back = wait_each(&sockets, healed_at, Duration::from_secs(60), |_, r| {
        r.peers.len() == n - 1
    })
    .context("waiting for the healed host to return")?;
    report_times(&format!("host {victim} healed to full tables again"), &back);
    println!(
        "connections after the heal: {} open between {} pairs",
        connections(&sockets)?,
        n * (n - 1) / 2
    );
    println!("(measured {:.0} s in all)", started.elapsed().as_secs_f64());
    if cli.keep {
        lab.stop_agents(None)?;
        println!(
            "lab kept; logs in {}; remove with `mesh-lab --lab {name} down`",
            lab::State::dir_of(&name).display()
        );
        lab.persist();
    } else {
        lab.down()?;
    }
    Ok(())
}

fn ask(socket: &Path, request: ControlRequest) -> Result<ControlResponse> {
    let mut client = Client::connect(socket, Duration::from_secs(2))?;
    Ok(client.ask(&request)?)
}

fn peers(socket: &Path) -> Result<PeersReport> {
    match ask(socket, ControlRequest::Peers)? {
        ControlResponse::Peers(r) => Ok(r),
        other => bail!("unexpected answer to Peers: {other:?}"),
    }
}

fn stats(socket: &Path) -> Result<StatsReport> {
    match ask(socket, ControlRequest::Stats)? {
        ControlResponse::Stats(r) => Ok(r),
        other => bail!("unexpected answer to Stats: {other:?}"),
    }
}

/// Open connections over all tables, halved (each is seen from both ends): more than the number
/// of pairs means duplicate connections.
fn connections(sockets: &[PathBuf]) -> Result<usize> {
    let mut ends = 0;
    for s in sockets {
        ends += peers(s)?
            .peers
            .iter()
            .map(|p| p.addresses.len())
            .sum::<usize>();
    }
    Ok(ends / 2)
}

/// Polls every socket each 20 ms until `done` holds for it; returns when each first held,
/// counted from `start`.
fn wait_each(
    sockets: &[PathBuf],
    start: Instant,
    limit: Duration,
    done: impl Fn(usize, &PeersReport) -> bool,
) -> Result<Vec<Duration>> {
    let mut when: Vec<Option<Duration>> = vec![None; sockets.len()];
    while when.iter().any(Option::is_none) {
        if start.elapsed() > limit {
            bail!("not done after {limit:?}: {when:?}");
        }
        for (i, s) in sockets.iter().enumerate() {
            if when[i].is_none() {
                // The socket appears a little after the agent starts: not an error yet.
                if let Ok(report) = peers(s) {
                    if done(i, &report) {
                        when[i] = Some(start.elapsed());
                    }
                }
            }
        }
        thread::sleep(Duration::from_millis(20));
    }
    Ok(when.into_iter().flatten().collect())
}

fn report_times(what: &str, times: &[Duration]) {
    let ms: Vec<String> = times
        .iter()
        .map(|t| format!("{:.0}", t.as_secs_f64() * 1e3))
        .collect();
    let max = times.iter().max().copied().unwrap_or_default();
    println!(
        "{what}: max {:.2} s (per host, ms: {})",
        max.as_secs_f64(),
        ms.join(" ")
    );
}

/// Counters of every host at one moment.
struct Sample {
    at: Instant,
    hosts: Vec<HostSample>,
}

struct HostSample {
    gossip_sent: u64,
    gossip_received: u64,
    wire_tx: u64,
    wire_rx: u64,
    cpu_ticks: u64,
    rss_kb: u64,
}

impl Sample {
    fn take(sockets: &[PathBuf], pids: &[i32]) -> Result<Sample> {
        let hosts = sockets
            .iter()
            .zip(pids)
            .map(|(s, &pid)| {
                let st = stats(s)?;
                let (wire_rx, wire_tx) = eth0_bytes(pid)?;
                Ok(HostSample {
                    gossip_sent: st.gossip_bytes_sent,
                    gossip_received: st.gossip_bytes_received,
                    wire_tx,
                    wire_rx,
                    cpu_ticks: cpu_ticks(pid)?,
                    rss_kb: rss_kb(pid)?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Sample {
            at: Instant::now(),
            hosts,
        })
    }
}

fn report_idle(before: &Sample, after: &Sample) {
    let secs = after.at.duration_since(before.at).as_secs_f64();
    let ticks_per_sec = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    println!("idle {secs:.1} s, per node (mean; min–max over hosts):");
    let rate = |f: &dyn Fn(&HostSample) -> u64| -> Vec<f64> {
        before
            .hosts
            .iter()
            .zip(&after.hosts)
            .map(|(b, a)| f(a).saturating_sub(f(b)) as f64 / secs)
            .collect()
    };
    let line = |what: &str, unit: &str, v: Vec<f64>| {
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = v.iter().copied().fold(0.0, f64::max);
        println!("  {what:<34} {mean:8.1} {unit}  ({min:.1}–{max:.1})");
    };
    line("gossip frames sent", "B/s", rate(&|h| h.gossip_sent));
    line(
        "gossip frames received",
        "B/s",
        rate(&|h| h.gossip_received),
    );
    line("on the wire, eth0 sent", "B/s", rate(&|h| h.wire_tx));
    line("on the wire, eth0 received", "B/s", rate(&|h| h.wire_rx));
    let cpu: Vec<f64> = rate(&|h| h.cpu_ticks)
        .into_iter()
        .map(|t| 100.0 * t / ticks_per_sec)
        .collect();
    line("agent CPU", "% of a core", cpu);
    line(
        "agent resident memory (VmRSS)",
        "MB",
        after
            .hosts
            .iter()
            .map(|h| h.rss_kb as f64 / 1024.0)
            .collect(),
    );
}

/// Bytes received and sent on `eth0` in the network namespace of process `pid`.
fn eth0_bytes(pid: i32) -> Result<(u64, u64)> {
    let path = format!("/proc/{pid}/net/dev");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let line = text
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("eth0:"))
        .with_context(|| format!("no eth0 in {path}"))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // Receive: bytes packets errs drop fifo frame compressed multicast; then transmit.
    Ok((fields[0], fields[8]))
}

/// CPU time of process `pid` so far, in clock ticks (utime + stime).
fn cpu_ticks(pid: i32) -> Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let stat = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // Field 2 (the name) is parenthesized and may hold spaces: count from after it.
    let rest = stat
        .rfind(')')
        .map(|i| &stat[i + 2..])
        .context("unreadable stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    let field = |n: usize| -> Result<u64> { Ok(fields[n - 3].parse()?) };
    Ok(field(14)? + field(15)?)
}

/// Resident memory of process `pid`, in kB.
fn rss_kb(pid: i32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no VmRSS in {path}"))
}
