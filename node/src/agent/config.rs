//! The agent's settings: command-line options, and the same keys in a TOML file.
//!
//! Options given on the command line win over the file; the file wins over defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use libp2p::{Multiaddr, PeerId};
use serde::Deserialize;

/// `meshcc agent` options.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AgentArgs {
    /// A TOML file with any of the options below (keys as the long option names, with `_`
    /// for `-`; `peer` and `listen` are lists).
    #[arg(long, env = "MESHCC_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the identity key, the store and the control socket (`agent.sock`) live.
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Address to listen on (repeatable), e.g. `/ip4/0.0.0.0/tcp/7070`.
    #[arg(long)]
    pub listen: Vec<Multiaddr>,
    /// A peer to connect to without discovery (repeatable), e.g. `/ip4/10.0.0.2/tcp/7070`;
    /// for networks without multicast.
    #[arg(long)]
    pub peer: Vec<Multiaddr>,
    /// Jobs to run at once for the mesh (default: the CPU cores this agent may use).
    /// `--slots 0` runs nothing locally: every distributable job goes to the mesh.
    #[arg(long)]
    pub slots: Option<u32>,
    /// Submit jobs to the mesh but accept none from it.
    #[arg(long)]
    pub no_remote: bool,
    /// Join only agents holding the same key file: a private mesh strangers cannot join or read.
    #[arg(long)]
    pub mesh_key: Option<PathBuf>,
    /// Do not discover peers by mDNS; use `--peer` only.
    #[arg(long)]
    pub no_mdns: bool,
    /// Size limit of the blob store (toolchains, inputs), MiB; least recently used go first.
    #[arg(long)]
    pub store_limit_mb: Option<u64>,
    /// Only this peer id may connect to us or be dialled (repeatable): others can neither
    /// submit jobs here nor run ours. Without any, every agent holding the mesh key may.
    #[arg(long, value_name = "PEER_ID")]
    pub allow_peer: Vec<PeerId>,
    /// Fraction (0 to 1) of our clients' remote compiles to compile again locally and compare
    /// byte for byte; a worker whose result differs gets no more jobs. `1` checks every one.
    #[arg(long, env = "MESHCC_VERIFY", value_name = "FRACTION")]
    pub verify: Option<f64>,
    /// Where the web monitor listens (default 127.0.0.1:7071, or another free port on
    /// loopback if that one is taken); `meshcc peers` prints its URL.
    #[arg(long, value_name = "IP:PORT")]
    pub monitor: Option<SocketAddr>,
    /// Serve no web monitor.
    #[arg(long, conflicts_with = "monitor")]
    pub no_monitor: bool,
    /// Address space each compile from the mesh may use, MiB (default 4096); a job that needs
    /// more is refused as "out of memory", and its submitter compiles it itself.
    #[arg(long)]
    pub job_memory_mb: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    state_dir: Option<PathBuf>,
    #[serde(default)]
    listen: Vec<String>,
    #[serde(default)]
    peer: Vec<String>,
    slots: Option<u32>,
    #[serde(default)]
    no_remote: bool,
    mesh_key: Option<PathBuf>,
    #[serde(default)]
    no_mdns: bool,
    store_limit_mb: Option<u64>,
    #[serde(default)]
    allow_peer: Vec<String>,
    verify: Option<f64>,
    monitor: Option<SocketAddr>,
    #[serde(default)]
    no_monitor: bool,
    job_memory_mb: Option<u64>,
}

/// Where the web monitor listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitorListen {
    /// No monitor.
    Off,
    /// The default address, or any free loopback port if it is taken.
    Default,
    /// Exactly this address; the agent does not start if it cannot listen there.
    At(SocketAddr),
}

/// Settings after merging options, file and defaults.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// State directory (created if missing).
    pub state_dir: PathBuf,
    /// Listen addresses.
    pub listen: Vec<Multiaddr>,
    /// Static peers.
    pub peers: Vec<Multiaddr>,
    /// Job slots; `None` means one per usable core.
    pub slots: Option<u32>,
    /// Accept jobs from others.
    pub accepts_remote: bool,
    /// Mesh key file.
    pub mesh_key: Option<PathBuf>,
    /// Discover peers by mDNS.
    pub mdns: bool,
    /// Blob store size limit, MiB.
    pub store_limit_mb: u64,
    /// The only peers allowed, if any are named.
    pub allow_peers: Vec<PeerId>,
    /// Fraction of remote results checked by a local compile.
    pub verify: f64,
    /// The web monitor's address.
    pub monitor: MonitorListen,
    /// Address-space limit of each job served, MiB; `None` keeps the sandbox's default.
    pub job_memory_mb: Option<u64>,
}

impl AgentArgs {
    /// Merges the options with the config file, if any.
    pub fn resolve(self) -> Result<AgentConfig> {
        let file = match &self.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let parse = |addrs: Vec<String>| -> Result<Vec<Multiaddr>> {
            addrs
                .iter()
                .map(|a| {
                    a.parse()
                        .with_context(|| format!("the address {a:?} in the config file is not a multiaddr like /ip4/192.0.2.10/tcp/7070"))
                })
                .collect()
        };
        let listen = if self.listen.is_empty() {
            parse(file.listen)?
        } else {
            self.listen
        };
        let mut peers = parse(file.peer)?;
        peers.extend(self.peer);
        let mut allow_peers = file
            .allow_peer
            .iter()
            .map(|p| {
                p.parse().with_context(|| {
                    format!("allow_peer {p:?} in the config file is not a peer id (12D3KooW…)")
                })
            })
            .collect::<Result<Vec<PeerId>>>()?;
        allow_peers.extend(self.allow_peer);
        let verify = self.verify.or(file.verify).unwrap_or(0.0);
        if !(0.0..=1.0).contains(&verify) {
            anyhow::bail!(
                "verify must be a fraction from 0 to 1 (got {verify}); use 1 to check every remote compile"
            );
        }
        Ok(AgentConfig {
            state_dir: self
                .state_dir
                .or(file.state_dir)
                .unwrap_or_else(crate::paths::default_state_dir),
            listen: if listen.is_empty() {
                vec!["/ip4/0.0.0.0/tcp/0".parse().expect("valid multiaddr")]
            } else {
                listen
            },
            peers,
            slots: self.slots.or(file.slots),
            accepts_remote: !(self.no_remote || file.no_remote),
            mesh_key: self.mesh_key.or(file.mesh_key),
            mdns: !(self.no_mdns || file.no_mdns),
            store_limit_mb: self
                .store_limit_mb
                .or(file.store_limit_mb)
                .unwrap_or(10 * 1024),
            allow_peers,
            verify,
            // The command line wins over the file, as for every other key.
            monitor: match (self.no_monitor, self.monitor, file.no_monitor, file.monitor) {
                (true, ..) => MonitorListen::Off,
                (_, Some(addr), ..) => MonitorListen::At(addr),
                (_, _, true, _) => MonitorListen::Off,
                (_, _, _, Some(addr)) => MonitorListen::At(addr),
                _ => MonitorListen::Default,
            },
            job_memory_mb: self.job_memory_mb.or(file.job_memory_mb),
        })
    }
}

fn read_file(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the config file {} (check the path given to --config or MESHCC_CONFIG)",
            path.display()
        )
    })?;
    toml::from_str(&text).with_context(|| {
        format!(
            "the config file {} is not valid: it must be TOML with the long options of \
             `meshcc agent --help` as keys",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_fills_what_options_leave_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        std::fs::write(
            &path,
            "state_dir = \"/tmp/x\"\npeer = [\"/ip4/10.1.0.2/tcp/7070\"]\nslots = 3\nno_mdns = true\n",
        )
        .unwrap();
        let args = AgentArgs {
            config: Some(path),
            slots: Some(5),
            ..Default::default()
        };
        let cfg = args.resolve().unwrap();
        assert_eq!(cfg.state_dir, PathBuf::from("/tmp/x"));
        assert_eq!(cfg.slots, Some(5), "the option wins over the file");
        assert_eq!(cfg.peers.len(), 1);
        assert!(!cfg.mdns);
        assert!(cfg.accepts_remote);
        assert_eq!(cfg.monitor, MonitorListen::Default);
    }

    #[test]
    fn monitor_address_comes_from_the_file_or_is_turned_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        std::fs::write(&path, "monitor = \"0.0.0.0:8080\"\n").unwrap();
        let with_file = |no_monitor| AgentArgs {
            config: Some(path.clone()),
            no_monitor,
            ..Default::default()
        };
        let cfg = with_file(false).resolve().unwrap();
        assert_eq!(
            cfg.monitor,
            MonitorListen::At("0.0.0.0:8080".parse().unwrap())
        );
        assert_eq!(
            with_file(true).resolve().unwrap().monitor,
            MonitorListen::Off
        );
    }

    #[test]
    fn allow_list_and_verify_come_from_file_and_options() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        let (a, b) = (PeerId::random(), PeerId::random());
        std::fs::write(&path, format!("allow_peer = [\"{a}\"]\nverify = 0.1\n")).unwrap();
        let cfg = AgentArgs {
            config: Some(path.clone()),
            allow_peer: vec![b],
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(cfg.allow_peers, vec![a, b]);
        assert_eq!(cfg.verify, 0.1);

        std::fs::write(&path, "verify = 2.0\n").unwrap();
        let err = AgentArgs {
            config: Some(path.clone()),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert!(format!("{err:#}").contains("from 0 to 1"), "{err:#}");

        std::fs::write(&path, "allow_peer = [\"nobody\"]\n").unwrap();
        let err = AgentArgs {
            config: Some(path),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert!(format!("{err:#}").contains("not a peer id"), "{err:#}");
    }

    #[test]
    fn unknown_key_in_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        std::fs::write(&path, "slot = 3\n").unwrap();
        let err = AgentArgs {
            config: Some(path),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert!(format!("{err:#}").contains("slot"), "{err:#}");
    }
}
