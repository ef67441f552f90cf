//! The lab: N "hosts" on one Linux machine, each a network namespace with its own address,
//! cgroup and (optionally) agent, joined by an emulated LAN that can add delay, jitter, loss and
//! a bandwidth cap, and from which a host can be cut and healed.
//!
//! Rules it keeps: lab traffic never leaves the lab — hosts have addresses in `10.199.<lab>.0/24`
//! and no default route, and the bridge lives in a namespace of its own; everything it creates is
//! recorded in `/run/meshcc-lab/<lab>/state.json` first, so [`Lab::down`] (or `mesh-lab down` from
//! another process) removes it even after a crash half-way through [`Lab::up`].
//!
//! ```no_run
//! use meshcc_simulations::lab::{Lab, LabConfig};
//! let lab = Lab::up(LabConfig { delay_ms: 5, ..LabConfig::new("demo", 3) })?;
//! let rtt = lab.ping(0, 2, 5)?;
//! lab.down()?; // or let it drop
//! # Ok::<(), meshcc_simulations::lab::LabError>(())
//! ```

mod agents;
mod cgroup;
mod cmd;
mod error;
pub mod probe;
mod spawn;
mod state;
mod wire;

use std::ffi::OsStr;
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use std::thread;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use agents::{default_meshcc, AgentOptions, AGENT_PORT};
pub use cgroup::Layout as CgroupLayout;
pub use error::LabError;
pub use probe::Rtt;
pub use spawn::HostCommand;
pub use state::{HostState, ProcRef, State, Wire, LAB_ROOT, MAX_HOSTS};

/// What to build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabConfig {
    /// The lab's name: labs with different names coexist.
    pub name: String,
    /// Number of hosts.
    pub hosts: usize,
    /// One-way delay between any two hosts, in milliseconds (VDE wire when non-zero).
    pub delay_ms: u32,
    /// Random variation of that delay, ± milliseconds (uniform).
    pub jitter_ms: u32,
    /// Packet loss from one host to another, percent, each way (a round trip sees about twice).
    pub loss_pct: f64,
    /// Each host's link capacity, each way, in kbit/s.
    pub bandwidth_kbit: Option<u64>,
    /// Each host's CPU quota, in cores (0.5 = half a core).
    pub cpu: Option<f64>,
}

impl LabConfig {
    /// `hosts` hosts on a plain LAN, no quota.
    pub fn new(name: &str, hosts: usize) -> LabConfig {
        LabConfig {
            name: name.to_owned(),
            hosts,
            delay_ms: 0,
            jitter_ms: 0,
            loss_pct: 0.0,
            bandwidth_kbit: None,
            cpu: None,
        }
    }

    /// Whether the wire must be VDE: the kernel's bridge cannot delay or drop.
    pub fn needs_vde(&self) -> bool {
        self.delay_ms > 0 || self.jitter_ms > 0 || self.loss_pct > 0.0
    }

    fn check(&self) -> Result<(), LabError> {
        state::check_name(&self.name)?;
        let bad = |why: String| Err(LabError::BadConfig(why));
        if self.hosts == 0 || self.hosts > MAX_HOSTS {
            return bad(format!(
                "--hosts must be 1 to {MAX_HOSTS}, not {}",
                self.hosts
            ));
        }
        if !(0.0..=100.0).contains(&self.loss_pct) {
            return bad(format!("--loss is a percentage, not {}", self.loss_pct));
        }
        if self.cpu.is_some_and(|c| !(c > 0.0 && c.is_finite())) {
            return bad("--cpu must be a positive number of cores".to_owned());
        }
        if self.bandwidth_kbit == Some(0) {
            return bad("--bandwidth-kbit must be positive".to_owned());
        }
        Ok(())
    }
}

/// A lab that is up. One made by [`Lab::up`] is torn down when dropped, unless
/// [`Lab::persist`]ed; one reached with [`Lab::open`] is not.
pub struct Lab {
    state: State,
    teardown_on_drop: bool,
}

/// Fails with [`LabError::NotRoot`] unless the effective user is root.
pub fn require_root() -> Result<(), LabError> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(LabError::NotRoot)
    }
}

impl Lab {
    /// Builds the lab. On failure, removes whatever it had built.
    pub fn up(config: LabConfig) -> Result<Lab, LabError> {
        require_root()?;
        config.check()?;
        let layout = cgroup::Layout::detect();
        if config.cpu.is_some() && layout == cgroup::Layout::None {
            return Err(LabError::NoCpuController);
        }
        let state = Self::reserve(&config, &layout)?;
        if let Err(e) = Self::build(&state, &layout) {
            if let Err(teardown) = teardown(&state) {
                eprintln!("mesh-lab: {teardown}");
            }
            return Err(e);
        }
        Ok(Lab {
            state,
            teardown_on_drop: true,
        })
    }

    /// Chooses the lab's index and records the plan, before anything is created.
    fn reserve(config: &LabConfig, layout: &cgroup::Layout) -> Result<State, LabError> {
        let _lock = state::Lock::take()?;
        let dir = State::dir_of(&config.name);
        if State::load(&config.name)?.is_some() {
            return Err(LabError::AlreadyUp {
                name: config.name.clone(),
                dir,
            });
        }
        let index = state::free_index()?;
        let (cgroup_parents, host_cgroups) = cgroup::plan(layout, &config.name, config.hosts);
        let wire = if config.needs_vde() {
            Wire::Vde {
                dir: dir.join("vde"),
            }
        } else {
            Wire::Bridge {
                netns: state::bridge_netns(index),
            }
        };
        let hosts = host_cgroups
            .into_iter()
            .enumerate()
            .map(|(i, cgroups)| HostState {
                index: i,
                netns: state::host_netns(index, i),
                addr: State::addr_of(index, i),
                dir: dir.join(format!("h{i}")),
                cgroups,
                agent: None,
                cut: false,
            })
            .collect();
        let state = State {
            version: State::VERSION,
            name: config.name.clone(),
            index,
            config: config.clone(),
            wire,
            hosts,
            cgroup_parents,
        };
        fs::create_dir_all(&dir).map_err(|e| LabError::io("create", &dir, e))?;
        state.save()?;
        Ok(state)
    }

    fn build(state: &State, layout: &cgroup::Layout) -> Result<(), LabError> {
        let config = &state.config;
        match &state.wire {
            Wire::Bridge { netns } => wire::bridge_up(netns)?,
            Wire::Vde { dir } => wire::vde_core_up(dir)?,
        }
        for host in &state.hosts {
            fs::create_dir_all(&host.dir).map_err(|e| LabError::io("create", &host.dir, e))?;
            cgroup::create(layout, &host.cgroups, config.cpu)?;
            wire::host_netns_up(host)?;
            match &state.wire {
                Wire::Bridge { netns } => wire::veth_up(netns, host, config)?,
                Wire::Vde { dir } => wire::vde_host_up(dir, host, config)?,
            }
        }
        Ok(())
    }

    /// A lab that is up, built by this or another process. Dropping it leaves it up.
    pub fn open(name: &str) -> Result<Lab, LabError> {
        state::check_name(name)?;
        let state = State::load(name)?.ok_or_else(|| LabError::NotUp(name.to_owned()))?;
        Ok(Lab {
            state,
            teardown_on_drop: false,
        })
    }

    /// Keeps the lab up after this value is dropped (what `mesh-lab up` does).
    pub fn persist(mut self) {
        self.teardown_on_drop = false;
    }

    /// What the lab is made of.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The lab's name.
    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// Number of hosts.
    pub fn hosts(&self) -> usize {
        self.state.hosts.len()
    }

    /// Host `i`, or [`LabError::NoSuchHost`].
    pub fn host(&self, i: usize) -> Result<&HostState, LabError> {
        self.state.hosts.get(i).ok_or(LabError::NoSuchHost {
            host: i,
            hosts: self.hosts(),
        })
    }

    /// Host `i`'s lab address.
    pub fn ip(&self, i: usize) -> Result<Ipv4Addr, LabError> {
        Ok(self.host(i)?.addr)
    }

    /// Host `i`'s state directory (its agent's `--state-dir`).
    pub fn host_dir(&self, i: usize) -> Result<&Path, LabError> {
        Ok(&self.host(i)?.dir)
    }

    /// Host `i`'s agent control socket.
    pub fn socket(&self, i: usize) -> Result<PathBuf, LabError> {
        Ok(self.host(i)?.dir.join("agent.sock"))
    }

    /// A command to run on host `i`, in its namespace and cgroup, with `MESHCC_SOCKET` set to
    /// its agent's socket.
    pub fn command_on(
        &self,
        i: usize,
        program: impl AsRef<OsStr>,
    ) -> Result<HostCommand, LabError> {
        let host = self.host(i)?;
        let mut cmd = HostCommand::new(host, program, false)?;
        cmd.env("MESHCC_SOCKET", host.dir.join("agent.sock"));
        Ok(cmd)
    }

    /// Like [`Lab::command_on`], for a daemon: in a session of its own, so that it outlives
    /// the caller's terminal. The lab's teardown kills it with the host.
    pub fn daemon_on(&self, i: usize, program: impl AsRef<OsStr>) -> Result<HostCommand, LabError> {
        HostCommand::new(self.host(i)?, program, true)
    }

    /// CPU time used so far by every process that ran on host `i` (its cgroup's counter).
    pub fn cpu_used(&self, i: usize) -> Result<Duration, LabError> {
        cgroup::cpu_used(&self.host(i)?.cgroups)
    }

    /// Bytes host `i` has sent and received on its lab interface so far.
    pub fn wire_bytes(&self, i: usize) -> Result<(u64, u64), LabError> {
        wire::counters(self.host(i)?)
    }

    /// Starts `argv` on host `i`, inheriting stdio.
    pub fn spawn_on<S: AsRef<OsStr>>(&self, i: usize, argv: &[S]) -> Result<Child, LabError> {
        let (program, args) = argv
            .split_first()
            .ok_or(LabError::BadConfig("empty command".to_owned()))?;
        let mut cmd = self.command_on(i, program)?;
        cmd.args(args);
        cmd.spawn()
    }

    /// Runs `argv` on host `i` to completion, capturing its output (whatever its exit status).
    pub fn output_on<S: AsRef<OsStr>>(&self, i: usize, argv: &[S]) -> Result<Output, LabError> {
        let (program, args) = argv
            .split_first()
            .ok_or(LabError::BadConfig("empty command".to_owned()))?;
        let mut cmd = self.command_on(i, program)?;
        cmd.args(args);
        cmd.output().map_err(|source| LabError::Spawn {
            cmd: cmd::display(&cmd),
            source,
        })
    }

    /// Pings host `to` from host `from` `count` times, 0.2 s apart.
    pub fn ping(&self, from: usize, to: usize, count: u32) -> Result<Rtt, LabError> {
        let target = self.ip(to)?.to_string();
        let count = count.to_string();
        let out = self.output_on(
            from,
            &[
                "ping", "-n", "-q", "-c", &count, "-i", "0.2", "-W", "1", &target,
            ],
        )?;
        probe::parse_ping(&String::from_utf8_lossy(&out.stdout))
            .ok_or(LabError::NoReply { from, to })
    }

    /// Takes host `i` off the wire.
    pub fn cut(&mut self, i: usize) -> Result<(), LabError> {
        self.set_link(i, false)
    }

    /// Puts host `i` back on the wire.
    pub fn heal(&mut self, i: usize) -> Result<(), LabError> {
        self.set_link(i, true)
    }

    fn set_link(&mut self, i: usize, up: bool) -> Result<(), LabError> {
        self.update(|state| {
            let host = state.hosts.get(i).ok_or(LabError::NoSuchHost {
                host: i,
                hosts: state.hosts.len(),
            })?;
            wire::set_link(&state.wire, host, &state.config, up)?;
            state.hosts[i].cut = !up;
            Ok(())
        })
    }

    /// Sets host `i`'s CPU quota to `cores` (`None`: no quota), whatever the lab's `--cpu`:
    /// one slow host among fast ones. Processes running there feel it at once.
    pub fn set_cpu(&mut self, i: usize, cores: Option<f64>) -> Result<(), LabError> {
        if cores.is_some_and(|c| !(c > 0.0 && c.is_finite())) {
            return Err(LabError::BadConfig(
                "a CPU quota must be a positive number of cores".to_owned(),
            ));
        }
        cgroup::set_quota(&cgroup::Layout::detect(), &self.host(i)?.cgroups, cores)
    }

    /// Starts an agent on each chosen host; returns their processes.
    pub fn start_agents(&mut self, opts: &AgentOptions) -> Result<Vec<(usize, ProcRef)>, LabError> {
        let chosen = self.chosen(opts.hosts.as_deref())?;
        self.update(|state| {
            let mut started = Vec::new();
            for i in chosen {
                let proc = agents::start(&state.hosts[i], opts)?;
                state.hosts[i].agent = Some(proc);
                started.push((i, proc));
            }
            // An agent that rejects its options exits at once: say so now, not in a later test.
            thread::sleep(Duration::from_millis(200));
            if let Some((i, _)) = started.iter().find(|(_, p)| !p.alive()) {
                let log = state.hosts[*i].dir.join("agent.log");
                return Err(LabError::AgentDied { host: *i, log });
            }
            Ok(started)
        })
    }

    /// Stops the agents on the chosen hosts (all when `None`): SIGTERM, then SIGKILL after 5 s.
    pub fn stop_agents(&mut self, hosts: Option<&[usize]>) -> Result<(), LabError> {
        let chosen = self.chosen(hosts)?;
        self.update(|state| {
            let procs: Vec<ProcRef> = chosen
                .iter()
                .filter_map(|&i| state.hosts[i].agent)
                .collect();
            spawn::stop_all(&procs, Duration::from_secs(5));
            for &i in &chosen {
                state.hosts[i].agent = None;
            }
            Ok(())
        })
    }

    fn chosen(&self, hosts: Option<&[usize]>) -> Result<Vec<usize>, LabError> {
        match hosts {
            None => Ok((0..self.hosts()).collect()),
            Some(list) => list.iter().map(|&i| self.host(i).map(|_| i)).collect(),
        }
    }

    /// Applies a change to the state on disk (re-read under the lock: another `mesh-lab` may
    /// have changed it), then keeps the result.
    fn update<T>(
        &mut self,
        change: impl FnOnce(&mut State) -> Result<T, LabError>,
    ) -> Result<T, LabError> {
        let _lock = state::Lock::take()?;
        let mut state = State::load(&self.state.name)?
            .ok_or_else(|| LabError::NotUp(self.state.name.clone()))?;
        let result = change(&mut state);
        // Save even on error: agents started before a failure must stay recorded.
        state.save()?;
        self.state = state;
        result
    }

    /// The lab as `mesh-lab status` shows it.
    pub fn status(&self) -> Status {
        let s = &self.state;
        Status {
            name: s.name.clone(),
            index: s.index,
            subnet: format!("10.199.{}.0/24", s.index),
            wire: s.wire.clone(),
            config: s.config.clone(),
            hosts: s
                .hosts
                .iter()
                .map(|h| HostStatus {
                    index: h.index,
                    addr: h.addr,
                    netns: h.netns.clone(),
                    dir: h.dir.clone(),
                    cgroups: h.cgroups.clone(),
                    cut: h.cut,
                    agent_pid: h.agent.map(|a| a.pid),
                    agent_alive: h.agent.is_some_and(|a| a.alive()),
                })
                .collect(),
        }
    }

    /// Stops agents and removes everything the lab made.
    pub fn down(mut self) -> Result<(), LabError> {
        self.teardown_on_drop = false;
        down(&self.state.name).map(|_| ())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.teardown_on_drop {
            if let Err(e) = down(&self.state.name) {
                eprintln!("mesh-lab: tearing down lab {:?}: {e}", self.state.name);
            }
        }
    }
}

/// Removes the lab named `name` if it is up; `Ok(false)` if there was nothing to remove.
/// Safe on a half-built lab; safe to repeat.
pub fn down(name: &str) -> Result<bool, LabError> {
    require_root()?;
    state::check_name(name)?;
    let Some(state) = State::load(name)? else {
        return Ok(false);
    };
    teardown(&state)?;
    Ok(true)
}

fn teardown(state: &State) -> Result<(), LabError> {
    let mut failures = Vec::new();
    let agents: Vec<ProcRef> = state.hosts.iter().filter_map(|h| h.agent).collect();
    spawn::stop_all(&agents, Duration::from_secs(5));
    for host in &state.hosts {
        if let Err(e) = cgroup::remove(&host.cgroups) {
            failures.push(e.to_string());
        }
    }
    if let Wire::Vde { dir } = &state.wire {
        wire::vde_down(dir);
    }
    let mut namespaces: Vec<&str> = state.hosts.iter().map(|h| h.netns.as_str()).collect();
    if let Wire::Bridge { netns } = &state.wire {
        namespaces.push(netns);
    }
    for ns in namespaces {
        if Path::new(state::NETNS_DIR).join(ns).exists() {
            spawn::kill_netns_members(ns);
            if let Err(e) = cmd::run("ip", ["netns", "del", ns]) {
                failures.push(e.to_string());
            }
        }
    }
    cgroup::remove_parents(&state.cgroup_parents);
    if !failures.is_empty() {
        // The state file stays, so that `down` can be run again.
        return Err(LabError::Teardown(failures));
    }
    let _lock = state::Lock::take()?;
    let dir = State::dir_of(&state.name);
    fs::remove_dir_all(&dir).map_err(|e| LabError::io("remove", &dir, e))
}

/// One host in [`Status`].
#[derive(Debug, Clone, Serialize)]
pub struct HostStatus {
    /// Host number.
    pub index: usize,
    /// Lab address.
    pub addr: Ipv4Addr,
    /// Network namespace.
    pub netns: String,
    /// State directory.
    pub dir: PathBuf,
    /// Cgroup directories.
    pub cgroups: Vec<PathBuf>,
    /// Off the wire.
    pub cut: bool,
    /// The agent's pid, if one was started.
    pub agent_pid: Option<i32>,
    /// Whether that agent still runs.
    pub agent_alive: bool,
}

/// What `mesh-lab status` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Lab name.
    pub name: String,
    /// Lab index.
    pub index: u8,
    /// The hosts' subnet.
    pub subnet: String,
    /// How hosts are wired.
    pub wire: Wire,
    /// What was asked for.
    pub config: LabConfig,
    /// The hosts.
    pub hosts: Vec<HostStatus>,
}
