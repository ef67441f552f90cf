//! distcc: a `distccd` on every host, the client listing them all (and `localhost`, or the
//! submitter's own CPU is wasted) in `DISTCC_HOSTS`. Debian has no `distcc` user, so the
//! daemons run as `nobody`; pump mode is not used (it is broken with Debian 12's Python 3.11).

use std::fs;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::{host_of_addr, BuildSetup, JobHow, Placement};
use crate::bench::BenchError;
use crate::lab::Lab;

/// distccd's port.
pub const PORT: u16 = 3632;

/// distccd running on every host of a lab.
pub struct Distcc {
    addrs: Vec<Ipv4Addr>,
    slots: usize,
    daemons: Vec<Child>,
    logs: Vec<PathBuf>,
}

impl Distcc {
    /// Starts one `distccd` per host, each taking `slots` jobs at once.
    pub fn start(lab: &Lab, slots: usize) -> Result<Distcc, BenchError> {
        let subnet = lab.status().subnet;
        let mut distcc = Distcc {
            addrs: Vec::new(),
            slots,
            daemons: Vec::new(),
            logs: Vec::new(),
        };
        for i in 0..lab.hosts() {
            let addr = lab.ip(i)?;
            let dir = lab.host_dir(i)?.join("distcc");
            fs::create_dir_all(&dir).map_err(|e| BenchError::io("create", &dir, e))?;
            let log = dir.join("distccd.log");
            // distccd opens its log after dropping to `nobody`.
            fs::write(&log, "").map_err(|e| BenchError::io("create", &log, e))?;
            chmod(&log, 0o666)?;
            let mut cmd = lab.daemon_on(i, "distccd")?;
            cmd.args(["--daemon", "--no-detach", "--user", "nobody", "--allow"])
                .arg(&subnet)
                .arg("--listen")
                .arg(addr.to_string())
                .args(["--port", &PORT.to_string(), "--jobs", &slots.to_string()])
                .args(["--log-level", "info", "--log-file"])
                .arg(&log)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            distcc.daemons.push(cmd.spawn()?);
            distcc.addrs.push(addr);
            distcc.logs.push(log);
        }
        distcc.wait_listening()?;
        Ok(distcc)
    }

    /// distccd logs nothing when it starts listening; it is ready once its pid is in the
    /// listening socket table, which `ss` in the host shows.
    fn wait_listening(&mut self) -> Result<(), BenchError> {
        let deadline = Instant::now() + Duration::from_secs(10);
        for (i, daemon) in self.daemons.iter_mut().enumerate() {
            loop {
                if let Ok(Some(status)) = daemon.try_wait() {
                    return Err(BenchError::NotReady {
                        system: "distcc",
                        what: format!("distccd on host {i} exited ({status})"),
                        log: self.logs[i].clone(),
                    });
                }
                let log = fs::read_to_string(&self.logs[i]).unwrap_or_default();
                if log.contains("listening on") || log.contains("waiting to accept") {
                    break;
                }
                if Instant::now() > deadline {
                    // Some builds log nothing at info level; a live daemon after 10 s is ready.
                    break;
                }
                thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }

    /// The build: `distcc gcc`, `DISTCC_HOSTS` = localhost and every other host, `-j jobs`.
    pub fn setup(&self, jobs: usize) -> BuildSetup {
        BuildSetup {
            jobs,
            prefix: vec!["distcc".into()],
            env: vec![
                ("DISTCC_HOSTS".to_owned(), self.hosts_spec(None)),
                ("DISTCC_VERBOSE".to_owned(), "1".to_owned()),
            ],
            mounts: Vec::new(),
        }
    }

    /// Forced remote: only host `worker` in `DISTCC_HOSTS`, and no local fallback.
    pub fn setup_forced(&self, worker: usize) -> BuildSetup {
        BuildSetup {
            jobs: 1,
            prefix: vec!["distcc".into()],
            env: vec![
                ("DISTCC_HOSTS".to_owned(), self.hosts_spec(Some(worker))),
                ("DISTCC_VERBOSE".to_owned(), "1".to_owned()),
                ("DISTCC_FALLBACK".to_owned(), "0".to_owned()),
            ],
            mounts: Vec::new(),
        }
    }

    fn hosts_spec(&self, only: Option<usize>) -> String {
        let remote = |i: usize| format!("{}:{PORT}/{}", self.addrs[i], self.slots);
        match only {
            Some(i) => remote(i),
            None => std::iter::once(format!("localhost/{}", self.slots))
                .chain((1..self.addrs.len()).map(remote))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    /// Where a job ran, from its `DISTCC_LOG` (with `DISTCC_VERBOSE=1`).
    pub fn classify(&self, log: &str) -> Placement {
        classify(&self.addrs, log)
    }

    /// Stops the daemons (the lab's teardown would too).
    pub fn stop(mut self) {
        for d in &mut self.daemons {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(d.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = d.wait();
        }
    }
}

fn classify(addrs: &[Ipv4Addr], log: &str) -> Placement {
    // "failed to distribute ... running locally instead" and "fallback to local" are the
    // client's words for a job it meant to send.
    if log.contains("running locally instead") || log.contains("fallback to local") {
        return Placement::local(JobHow::Fallback);
    }
    // "exec on 10.199.0.3:3632/1: ..." names the chosen host (`localhost` for a local job).
    let host = log.lines().find_map(|l| {
        let rest = l.split("exec on ").nth(1)?;
        let name = rest.split([':', '/', ' ']).next()?;
        Some(name.to_owned())
    });
    match host.as_deref() {
        None | Some("localhost") => Placement::local(JobHow::Local),
        Some(addr) => Placement {
            how: JobHow::Remote,
            host: host_of_addr(addrs, addr),
        },
    }
}

fn chmod(path: &std::path::Path, mode: u32) -> Result<(), BenchError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| BenchError::io("chmod", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_from_client_log() {
        let addrs: Vec<Ipv4Addr> =
            vec!["10.199.3.2".parse().unwrap(), "10.199.3.3".parse().unwrap()];
        let remote = "distcc[9] (dcc_build_somewhere) exec on 10.199.3.3:3632/1: gcc -c x.c\n";
        assert_eq!(
            classify(&addrs, remote),
            Placement {
                how: JobHow::Remote,
                host: Some(1)
            }
        );
        let local = "distcc[9] exec on localhost: gcc -c x.c\n";
        assert_eq!(classify(&addrs, local), Placement::local(JobHow::Local));
        let fell = "distcc[9] exec on 10.199.3.3:3632/1\ndistcc[9] (dcc_build_somewhere) Warning: failed to distribute x.c to 10.199.3.3, running locally instead\n";
        assert_eq!(classify(&addrs, fell), Placement::local(JobHow::Fallback));
    }
}
