//! The agent's settings: command-line options, and the same keys in a TOML file.
//!
//! Options given on the command line win over the file; the file wins over defaults.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use libp2p::Multiaddr;
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
    job_memory_mb: Option<u64>,
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
                        .with_context(|| format!("bad address {a:?} in config file"))
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
            job_memory_mb: self.job_memory_mb.or(file.job_memory_mb),
        })
    }
}

fn read_file(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {} is not valid", path.display()))
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
