//! meshcc: one agent per host (mDNS inside the lab), the build on host 0 with
//! `make -j$(meshcc jobs)`. Each job's wrapper log says where it ran: `compiled remotely
//! worker=XXXXXX` (the last six characters of the worker's peer id), `compiling locally: …`,
//! or `the mesh could not compile it` / `the remote compile failed` for a fallback.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use super::{BuildSetup, JobHow, Placement};
use crate::bench::BenchError;
use crate::lab::{AgentOptions, Lab};

/// meshcc agents running in a lab.
pub struct Meshcc {
    meshcc: PathBuf,
    /// Each host's peer id's short form (last six characters), by host.
    shorts: Vec<String>,
    /// `make -j` to use instead of `meshcc jobs`.
    pub jobs_override: Option<usize>,
}

/// Counters of host 0's agent (`meshcc stats --json`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Jobs compiled locally.
    pub jobs_local: u64,
    /// Jobs compiled remotely.
    pub jobs_remote: u64,
    /// Fallbacks, all reasons.
    pub fallbacks: u64,
}

impl Meshcc {
    /// Starts an agent on every host (host 0 with `first_args` added) and waits until host 0
    /// sees every other host as a peer.
    pub fn start(lab: &mut Lab, meshcc: &Path, first_args: &[&str]) -> Result<Meshcc, BenchError> {
        let all: Vec<usize> = (0..lab.hosts()).collect();
        let args: Vec<OsString> = first_args.iter().map(OsString::from).collect();
        lab.start_agents(&AgentOptions {
            meshcc: meshcc.to_owned(),
            args,
            hosts: Some(vec![0]),
        })?;
        if lab.hosts() > 1 {
            lab.start_agents(&AgentOptions {
                meshcc: meshcc.to_owned(),
                args: Vec::new(),
                hosts: Some(all[1..].to_vec()),
            })?;
        }
        let mut m = Meshcc {
            meshcc: meshcc.to_owned(),
            shorts: Vec::new(),
            jobs_override: None,
        };
        m.wait_peers(lab)?;
        Ok(m)
    }

    /// Stops every agent; with `fresh`, empties their stores (the cold-start case); starts
    /// them again.
    pub fn restart(
        &mut self,
        lab: &mut Lab,
        first_args: &[&str],
        fresh: bool,
    ) -> Result<(), BenchError> {
        lab.stop_agents(None)?;
        if fresh {
            for i in 0..lab.hosts() {
                let dir = lab.host_dir(i)?.to_owned();
                for entry in fs::read_dir(&dir)
                    .map_err(|e| BenchError::io("read", &dir, e))?
                    .flatten()
                {
                    let name = entry.file_name();
                    // Keep the identity and the logs; everything else is store and caches.
                    let keep = ["identity.key", "agent.log", "icecc", "distcc", "bench"]
                        .iter()
                        .any(|k| name == *k);
                    if !keep {
                        let path = entry.path();
                        let _ = if path.is_dir() {
                            fs::remove_dir_all(&path)
                        } else {
                            fs::remove_file(&path)
                        };
                    }
                }
            }
        }
        let jobs_override = self.jobs_override;
        *self = Meshcc::start(lab, &self.meshcc.clone(), first_args)?;
        self.jobs_override = jobs_override;
        Ok(())
    }

    /// Waits until host 0's agent sees every other host (at start, and after a cut).
    pub fn wait_peers(&mut self, lab: &Lab) -> Result<(), BenchError> {
        let want = lab.hosts() - 1;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let seen = self
                .peers_json(lab, 0)
                .map_or(0, |v| v["peers"].as_array().map_or(0, |p| p.len()));
            if seen >= want {
                break;
            }
            if Instant::now() > deadline {
                return Err(BenchError::NotReady {
                    system: "meshcc",
                    what: format!("host 0's agent sees {seen} of {want} peers after 30 s"),
                    log: lab.host_dir(0)?.join("agent.log"),
                });
            }
            thread::sleep(Duration::from_millis(200));
        }
        self.shorts = (0..lab.hosts())
            .map(|i| {
                let id = self
                    .peers_json(lab, i)
                    .ok()
                    .and_then(|v| v["local"]["peer_id"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                id[id.len().saturating_sub(6)..].to_owned()
            })
            .collect();
        Ok(())
    }

    fn peers_json(&self, lab: &Lab, i: usize) -> Result<serde_json::Value, BenchError> {
        self.json(lab, i, &["peers", "--json"])
    }

    fn json(&self, lab: &Lab, i: usize, args: &[&str]) -> Result<serde_json::Value, BenchError> {
        let mut argv: Vec<OsString> = vec![self.meshcc.clone().into()];
        argv.extend(args.iter().map(OsString::from));
        let out = lab.output_on(i, &argv)?;
        serde_json::from_slice(&out.stdout).map_err(|e| BenchError::Command {
            cmd: format!("meshcc {}", args.join(" ")),
            status: out.status.to_string(),
            stderr: format!(
                "not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
    }

    /// `meshcc jobs` on host 0.
    pub fn jobs(&self, lab: &Lab) -> Result<usize, BenchError> {
        let v = self.json(lab, 0, &["jobs", "--json"])?;
        Ok(v["jobs"].as_u64().unwrap_or(1).max(1) as usize)
    }

    /// What each agent says of itself (`meshcc peers --json` `local`): slots and speed, one
    /// line per host: the planner weighs peers by these.
    pub fn describe(&self, lab: &Lab) -> String {
        (0..lab.hosts())
            .map(|i| match self.peers_json(lab, i) {
                Ok(v) => format!(
                    "host {i}: {} slots, speed {}",
                    v["local"]["slots"], v["local"]["speed"]
                ),
                Err(e) => format!("host {i}: {e}"),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Host 0's agent counters.
    pub fn stats(&self, lab: &Lab) -> Result<Stats, BenchError> {
        let v = self.json(lab, 0, &["stats", "--json"])?;
        let n = |k: &str| v[k].as_u64().unwrap_or(0);
        let fallbacks = v["fallbacks"]
            .as_object()
            .map_or(0, |m| m.values().filter_map(|x| x.as_u64()).sum());
        Ok(Stats {
            jobs_local: n("jobs_local"),
            jobs_remote: n("jobs_remote"),
            fallbacks,
        })
    }

    /// The build: `meshcc gcc`, `-j` from `meshcc jobs`.
    pub fn setup(&self, lab: &Lab) -> Result<BuildSetup, BenchError> {
        Ok(BuildSetup {
            jobs: match self.jobs_override {
                Some(j) => j,
                None => self.jobs(lab)?,
            },
            prefix: vec![self.meshcc.clone().into()],
            env: vec![("MESHCC_LOG_LEVEL".to_owned(), "info".to_owned())],
            mounts: Vec::new(),
        })
    }

    /// Where a job ran, from its wrapper log.
    pub fn classify(&self, log: &str) -> Placement {
        classify(&self.shorts, log)
    }
}

fn classify(shorts: &[String], log: &str) -> Placement {
    if log.contains("compiled remotely") {
        let worker = log
            .split_whitespace()
            .find_map(|w| w.strip_prefix("worker="))
            .unwrap_or("");
        let host = shorts.iter().position(|s| !s.is_empty() && s == worker);
        // A remote result that failed is compiled again locally: a fallback after all.
        if log.contains("the remote compile failed") {
            return Placement::local(JobHow::Fallback);
        }
        return Placement {
            how: JobHow::Remote,
            host,
        };
    }
    if log.contains("the mesh could not compile it") || log.contains("unexpected answer") {
        return Placement::local(JobHow::Fallback);
    }
    Placement::local(JobHow::Local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_from_wrapper_log() {
        let shorts: Vec<String> = ["iTYhTV", "Tuv7fv", "AydgWW"].map(String::from).to_vec();
        let remote = "2026-11-25T22:24:40Z  INFO compiled remotely worker=AydgWW preprocess_ms=51 total_ms=2515\n";
        assert_eq!(
            classify(&shorts, remote),
            Placement {
                how: JobHow::Remote,
                host: Some(2)
            }
        );
        let fell =
            "INFO compiling locally: the mesh could not compile it (worker 12D… refused: …)\n";
        assert_eq!(classify(&shorts, fell), Placement::local(JobHow::Fallback));
        let local = "INFO compiling locally: packaging the toolchain of /usr/bin/gcc\n";
        assert_eq!(classify(&shorts, local), Placement::local(JobHow::Local));
        assert_eq!(classify(&shorts, ""), Placement::local(JobHow::Local));
        let failed = "INFO compiled remotely worker=AydgWW total_ms=1923\nINFO compiling locally: the remote compile failed (Code(1)); …\n";
        assert_eq!(
            classify(&shorts, failed),
            Placement::local(JobHow::Fallback)
        );
    }
}
