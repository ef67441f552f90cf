//! `mesh-lab`: many meshcc hosts on one Linux machine, as network namespaces. Needs root.
//! The work is done by `meshcc_simulations::lab`; this is its command line.

use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use meshcc_simulations::bench::{self, plot, report, shim, BenchConfig, Profile};
use meshcc_simulations::lab::{self, probe, AgentOptions, Lab, LabConfig};

/// Many meshcc hosts on one Linux machine: network namespaces on an emulated LAN, each with its
/// own address, CPU quota and agent. Needs root.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Which lab; labs with different names coexist.
    #[arg(long, env = "MESHCC_LAB", default_value = "lab", global = true)]
    lab: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the hosts and the wire between them.
    Up {
        /// Number of hosts.
        #[arg(long)]
        hosts: usize,
        /// One-way delay between any two hosts, ms (uses a VDE user-space wire).
        #[arg(long, default_value_t = 0)]
        delay_ms: u32,
        /// Delay variation, ± ms (uses a VDE wire).
        #[arg(long, default_value_t = 0)]
        jitter_ms: u32,
        /// Packet loss from one host to another, percent, each way (uses a VDE wire).
        #[arg(long, default_value_t = 0.0)]
        loss: f64,
        /// Each host's link capacity, each way, kbit/s.
        #[arg(long)]
        bandwidth_kbit: Option<u64>,
        /// Each host's CPU quota, in cores (e.g. 0.5).
        #[arg(long)]
        cpu: Option<f64>,
    },
    /// Stop agents and remove everything the lab made (safe to repeat).
    Down,
    /// Show hosts, addresses, namespaces and agents.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Print host I's address.
    Ip { host: usize },
    /// Run a command on host I (its namespace and cgroup; MESHCC_SOCKET set to its agent).
    Exec {
        host: usize,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<OsString>,
    },
    /// Take host I off the wire.
    Cut { host: usize },
    /// Put host I back on the wire.
    Heal { host: usize },
    /// Start `meshcc agent` on each host (or those given), daemonized.
    Agents {
        /// Only these hosts (comma-separated).
        #[arg(long, value_delimiter = ',')]
        hosts: Option<Vec<usize>>,
        /// The meshcc binary (default: next to mesh-lab, else in PATH).
        #[arg(long)]
        meshcc: Option<PathBuf>,
        /// Extra agent options, after `--`.
        #[arg(last = true)]
        agent_args: Vec<OsString>,
    },
    /// Stop the agents (SIGTERM, then SIGKILL).
    StopAgents {
        /// Only these hosts (comma-separated).
        #[arg(long, value_delimiter = ',')]
        hosts: Option<Vec<usize>>,
    },
    /// Ping host TO from host FROM and print the round-trip times.
    Ping {
        from: usize,
        to: usize,
        #[arg(long, default_value_t = 10)]
        count: u32,
    },
    /// Benchmark: build real projects locally and through meshcc, icecc and distcc in a lab of
    /// hosts with a CPU quota each; print the table, write CSV and PNG (installs icecc and
    /// distcc from Debian's packages if missing).
    Bench(BenchArgs),
    /// Network probes run inside hosts (used by the tests).
    #[command(hide = true, subcommand)]
    Probe(Probe),
}

#[derive(clap::Args)]
struct BenchArgs {
    /// Number of hosts.
    #[arg(long, default_value_t = 4)]
    hosts: usize,
    /// Each host's CPU quota, in cores.
    #[arg(long, default_value_t = 0.5)]
    cpu: f64,
    /// Link profiles: lan (no added delay), wifi (3 ms ± 1 ms, 54 Mbit/s), office (15 ms).
    #[arg(long, value_delimiter = ',', default_value = "lan")]
    profile: Vec<String>,
    /// Systems besides the local baseline (always run).
    #[arg(long, value_delimiter = ',', default_value = "meshcc,icecc,distcc")]
    systems: Vec<String>,
    /// Workloads: lua (C), leveldb (C++), zstd (C) [default: lua,leveldb; --quick: lua].
    #[arg(long, value_delimiter = ',')]
    workload: Option<Vec<String>>,
    /// Timed runs per system and workload [default: 3; --quick: 1].
    #[arg(long)]
    runs: Option<usize>,
    /// Runs of the single-file (forced remote) measurement; 0 skips it [default: 20; --quick: 5].
    #[arg(long)]
    single_runs: Option<usize>,
    /// Skip the cold-start measurement.
    #[arg(long)]
    no_cold: bool,
    /// Skip the build with a worker cut off mid-build.
    #[arg(long)]
    no_cut: bool,
    /// A small workload, one run each: a few minutes in all.
    #[arg(long)]
    quick: bool,
    /// Where the CSV files, the PNGs and report.txt go.
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
    /// Where builds happen (not under /tmp, see the report).
    #[arg(long, default_value = "/var/tmp/meshcc-bench")]
    work: PathBuf,
    /// The meshcc binary (default: next to mesh-lab, else in PATH).
    #[arg(long)]
    meshcc: Option<PathBuf>,
    /// The repository's scripts/ directory (Makefiles and the sources' Cargo.toml).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts"))]
    scripts: PathBuf,
    /// make -j for the local build [default: the quota rounded up].
    #[arg(long)]
    local_jobs: Option<usize>,
    /// make -j for icecc and distcc [default: 2 per host].
    #[arg(long)]
    remote_jobs: Option<usize>,
    /// make -j for meshcc [default: what `meshcc jobs` says].
    #[arg(long)]
    meshcc_jobs: Option<usize>,
}

#[derive(Subcommand)]
enum Probe {
    /// Wait for one multicast datagram; print its sender and payload.
    McastRecv {
        #[arg(long, default_value_t = probe::MDNS_GROUP)]
        group: Ipv4Addr,
        #[arg(long, default_value_t = probe::MDNS_PORT)]
        port: u16,
        #[arg(long, default_value_t = 3000)]
        timeout_ms: u64,
    },
    /// Send a multicast datagram COUNT times.
    McastSend {
        #[arg(long, default_value_t = probe::MDNS_GROUP)]
        group: Ipv4Addr,
        #[arg(long, default_value_t = probe::MDNS_PORT)]
        port: u16,
        #[arg(long, default_value_t = 20)]
        count: u32,
        #[arg(long, default_value_t = 100)]
        interval_ms: u64,
        payload: String,
    },
}

fn main() -> ExitCode {
    // The per-job shim of `bench` runs once per compile: no argument parsing on that path.
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == shim::SUBCOMMAND) {
        return shim::run(&args[2..]);
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mesh-lab: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    if let Command::Probe(p) = cli.command {
        return run_probe(p);
    }
    lab::require_root()?;
    let name = cli.lab;
    match cli.command {
        Command::Up {
            hosts,
            delay_ms,
            jitter_ms,
            loss,
            bandwidth_kbit,
            cpu,
        } => {
            let start = Instant::now();
            let config = LabConfig {
                delay_ms,
                jitter_ms,
                loss_pct: loss,
                bandwidth_kbit,
                cpu,
                ..LabConfig::new(&name, hosts)
            };
            let lab = Lab::up(config).with_context(|| format!("bringing lab {name:?} up"))?;
            let wire = if lab.state().config.needs_vde() {
                "VDE"
            } else {
                "bridge"
            };
            println!(
                "lab {name:?} up: {hosts} hosts on a {wire} wire in {:.0} ms",
                start.elapsed().as_secs_f64() * 1e3
            );
            for host in &lab.state().hosts {
                println!("  host {}: {}  netns {}", host.index, host.addr, host.netns);
            }
            lab.persist();
        }
        Command::Down => {
            let start = Instant::now();
            if lab::down(&name).with_context(|| format!("tearing lab {name:?} down"))? {
                println!(
                    "lab {name:?} down in {:.0} ms",
                    start.elapsed().as_secs_f64() * 1e3
                );
            } else {
                println!("lab {name:?} was not up");
            }
        }
        Command::Status { json } => status(&Lab::open(&name)?, json)?,
        Command::Ip { host } => println!("{}", Lab::open(&name)?.ip(host)?),
        Command::Exec { host, command } => {
            let lab = Lab::open(&name)?;
            let mut cmd = lab.command_on(host, &command[0])?;
            cmd.args(&command[1..]);
            let status = cmd
                .status()
                .with_context(|| format!("running {:?} on host {host}", command[0]))?;
            let code = status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
            return Ok(ExitCode::from(code as u8));
        }
        Command::Cut { host } => Lab::open(&name)?.cut(host)?,
        Command::Heal { host } => Lab::open(&name)?.heal(host)?,
        Command::Agents {
            hosts,
            meshcc,
            agent_args,
        } => {
            let mut lab = Lab::open(&name)?;
            let meshcc = match meshcc {
                Some(path) => path,
                None => lab::default_meshcc()?,
            };
            let opts = AgentOptions {
                meshcc,
                args: agent_args,
                hosts,
            };
            for (i, proc) in lab.start_agents(&opts)? {
                println!(
                    "host {i}: agent pid {} (log {})",
                    proc.pid,
                    lab.host_dir(i)?.join("agent.log").display()
                );
            }
        }
        Command::StopAgents { hosts } => Lab::open(&name)?.stop_agents(hosts.as_deref())?,
        Command::Ping { from, to, count } => {
            let rtt = Lab::open(&name)?.ping(from, to, count)?;
            println!(
                "host {from} -> host {to}: rtt min/avg/max = {:.3}/{:.3}/{:.3} ms, {}/{count} replies",
                rtt.min, rtt.avg, rtt.max, rtt.received
            );
        }
        Command::Bench(args) => bench(&name, args)?,
        Command::Probe(_) => unreachable!("handled above"),
    }
    Ok(ExitCode::SUCCESS)
}

fn bench(name: &str, a: BenchArgs) -> Result<()> {
    let profiles = a
        .profile
        .iter()
        .map(|p| {
            Profile::named(p).with_context(|| format!("unknown profile {p:?} (lan, wifi, office)"))
        })
        .collect::<Result<Vec<_>>>()?;
    let systems = a
        .systems
        .iter()
        .map(|s| s.parse().map_err(anyhow::Error::msg))
        .collect::<Result<Vec<_>>>()?;
    let default_workloads = if a.quick {
        vec!["lua".to_owned()]
    } else {
        vec!["lua".to_owned(), "leveldb".to_owned()]
    };
    let cfg = BenchConfig {
        lab: name.to_owned(),
        hosts: a.hosts,
        cpu: a.cpu,
        profiles,
        systems,
        workloads: a.workload.unwrap_or(default_workloads),
        runs: a.runs.unwrap_or(if a.quick { 1 } else { 3 }),
        single_runs: a.single_runs.unwrap_or(if a.quick { 5 } else { 20 }),
        cold: !a.no_cold,
        cut: !a.no_cut,
        meshcc: match a.meshcc {
            Some(m) => m,
            None => lab::default_meshcc()?,
        },
        shim: std::env::current_exe().context("finding mesh-lab itself")?,
        scripts: a.scripts,
        work: a.work,
        local_jobs: a.local_jobs,
        remote_jobs: a.remote_jobs,
        meshcc_jobs: a.meshcc_jobs,
    };
    let started = Instant::now();
    let results = bench::run(&cfg, &mut |line| eprintln!("{line}"))?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let rows = report::summarise(&results.runs, cfg.hosts);
    let mut text = format!(
        "mesh-lab bench: {} hosts x {} core each (ideal speed-up {}x), {} timed run(s), {:.0} s in all\n\n",
        cfg.hosts,
        cfg.cpu,
        cfg.hosts,
        cfg.runs,
        started.elapsed().as_secs_f64()
    );
    text += &report::table(&rows);
    text += "\nSingle file (one TU forced remote, warm toolchain) and cold start:\n";
    text += &report::single_table(&results.single);
    if !results.cuts.is_empty() {
        text += "\nA worker cut off the wire mid-build (healed 30 s later), against the uncut median:\n";
        text += &report::cut_table(&results.cuts);
    }
    text += "\n";
    text += &report::targets(&rows, &results.single, &results.cuts, cfg.hosts);
    for note in &results.notes {
        text += &format!("Note: {note}\n");
    }
    for e in &results.errors {
        text += &format!("NOT FINISHED: {e}\n");
    }
    print!("{text}");
    std::fs::write(a.out.join("report.txt"), &text)?;
    report::write_csv(&a.out, &results.runs, &rows, &results.single, &results.cuts)?;
    for p in &cfg.profiles {
        // The Gantt chart shows the last workload's last timed run of each system.
        let Some(last) = cfg.workloads.last() else {
            continue;
        };
        let gantt: Vec<_> = bench::systems::SystemKind::ALL
            .iter()
            .filter_map(|s| {
                results
                    .runs
                    .iter()
                    .rev()
                    .find(|r| r.profile == p.name && &r.workload == last && r.system == *s)
            })
            .collect();
        let mine: Vec<_> = rows.iter().filter(|r| r.profile == p.name).collect();
        let png = a.out.join(format!("bench-{}.png", p.name));
        match plot::draw(&png, p.name, cfg.hosts, &gantt, &mine) {
            Ok(()) => println!("wrote {}", png.display()),
            Err(e) => eprintln!("mesh-lab: no PNG: {e}"),
        }
    }
    println!("CSV and report in {}", a.out.display());
    if !results.errors.is_empty() {
        bail!("{} profile(s) not finished", results.errors.len());
    }
    Ok(())
}

fn status(lab: &Lab, json: bool) -> Result<()> {
    let status = lab.status();
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    let c = &status.config;
    println!(
        "lab {:?} (index {}, subnet {})",
        status.name, status.index, status.subnet
    );
    println!(
        "wire: {}; delay {} ms ± {} ms, loss {} %, bandwidth {}, cpu {}",
        match status.wire {
            lab::Wire::Bridge { .. } => "bridge",
            lab::Wire::Vde { .. } => "VDE",
        },
        c.delay_ms,
        c.jitter_ms,
        c.loss_pct,
        c.bandwidth_kbit
            .map_or("unlimited".to_owned(), |k| format!("{k} kbit/s")),
        c.cpu
            .map_or("unlimited".to_owned(), |f| format!("{f} cores")),
    );
    println!("HOST  ADDRESS         NETNS      WIRE   AGENT");
    for h in &status.hosts {
        let agent = match (h.agent_pid, h.agent_alive) {
            (Some(pid), true) => format!("pid {pid}, running"),
            (Some(pid), false) => format!("pid {pid}, exited"),
            (None, _) => "-".to_owned(),
        };
        let wire = if h.cut { "cut" } else { "up" };
        println!(
            "{:<5} {:<15} {:<10} {:<6} {}",
            h.index,
            h.addr.to_string(),
            h.netns,
            wire,
            agent
        );
    }
    Ok(())
}

fn run_probe(p: Probe) -> Result<ExitCode> {
    match p {
        Probe::McastRecv {
            group,
            port,
            timeout_ms,
        } => {
            let (from, payload) =
                probe::multicast_recv(group, port, Duration::from_millis(timeout_ms))
                    .with_context(|| format!("receiving from {group}:{port}"))?;
            println!("{} {}", from.ip(), String::from_utf8_lossy(&payload));
        }
        Probe::McastSend {
            group,
            port,
            count,
            interval_ms,
            payload,
        } => {
            if count == 0 {
                bail!("--count must be at least 1");
            }
            probe::multicast_send(
                group,
                port,
                payload.as_bytes(),
                count,
                Duration::from_millis(interval_ms),
            )
            .with_context(|| format!("sending to {group}:{port}"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
