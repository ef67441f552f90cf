//! icecc: a scheduler (on the last host) and an `iceccd` on every host, run as LAB-NOTES says:
//! each daemon drops to the `icecc` user, so its environment directory belongs to `icecc`; each
//! has its own `/var/run/icecc` and a static `/proc/stat` bind-mounted in a mount namespace of
//! its own (it reads machine-wide CPU counters, and on one busy machine every daemon would report
//! full load and the scheduler would send nothing out); `-m SLOTS` per host (it counts the
//! machine's CPUs, not the quota). The daemons find the scheduler after a few seconds: start-up
//! waits until the scheduler has logged every daemon in.
//!
//! Where each job ran comes from the scheduler's `-vvv` log (`NEW <id> … <source>`, then
//! `BEGIN: <id> client=h0 server=hN`), which also proves jobs really went remote.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::chown;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::{BuildSetup, JobHow, Placement};
use crate::bench::BenchError;
use crate::lab::Lab;

const NETNAME: &str = "meshbench";
const RUN_DIR: &str = "/var/run/icecc";

/// An icecc scheduler and daemons running in a lab.
pub struct Icecc {
    hosts: usize,
    slots: usize,
    scheduler: Option<Child>,
    daemons: Vec<Option<Child>>,
    scheduler_log: PathBuf,
    scheduler_host: usize,
}

/// Per-host icecc paths.
struct HostPaths {
    dir: PathBuf,
    run: PathBuf,
    env: PathBuf,
    stat: PathBuf,
    log: PathBuf,
}

fn paths(lab: &Lab, i: usize) -> Result<HostPaths, BenchError> {
    let dir = lab.host_dir(i)?.join("icecc");
    Ok(HostPaths {
        run: dir.join("run"),
        env: dir.join("env"),
        stat: dir.join("proc-stat"),
        log: dir.join("iceccd.log"),
        dir,
    })
}

fn icecc_ids() -> Result<(nix::unistd::Uid, nix::unistd::Gid), BenchError> {
    let user = nix::unistd::User::from_name("icecc")
        .ok()
        .flatten()
        .ok_or_else(|| BenchError::NotReady {
            system: "icecc",
            what: "no icecc user (is the icecc package installed?)".to_owned(),
            log: PathBuf::from("/etc/passwd"),
        })?;
    Ok((user.uid, user.gid))
}

fn owned_by_icecc(path: &Path, dir: bool) -> Result<(), BenchError> {
    if dir {
        fs::create_dir_all(path).map_err(|e| BenchError::io("create", path, e))?;
    } else if !path.exists() {
        fs::write(path, "").map_err(|e| BenchError::io("create", path, e))?;
    }
    let (uid, gid) = icecc_ids()?;
    chown(path, Some(uid.as_raw()), Some(gid.as_raw()))
        .map_err(|e| BenchError::io("chown", path, e))
}

/// A `/proc/stat` that never changes: iceccd computes its load from the counters' deltas, so
/// a frozen file reads as an idle machine, whatever the other labs and builds are doing.
fn write_static_stat(path: &Path) -> Result<(), BenchError> {
    let stat =
        fs::read_to_string("/proc/stat").map_err(|e| BenchError::io("read", "/proc/stat", e))?;
    fs::write(path, stat).map_err(|e| BenchError::io("write", path, e))
}

impl Icecc {
    /// Starts the scheduler on the last host and one daemon per host with `slots` slots
    /// (host 0 gets `first_slots`, so that the single-file test can force jobs away from it),
    /// and waits until the scheduler knows them all.
    pub fn start(lab: &Lab, slots: usize) -> Result<Icecc, BenchError> {
        fs::create_dir_all(RUN_DIR).map_err(|e| BenchError::io("create", RUN_DIR, e))?;
        let scheduler_host = lab.hosts() - 1;
        let sdir = lab.host_dir(scheduler_host)?.join("icecc");
        fs::create_dir_all(&sdir).map_err(|e| BenchError::io("create", &sdir, e))?;
        let scheduler_log = sdir.join("scheduler.log");
        let _ = fs::remove_file(&scheduler_log);
        owned_by_icecc(&scheduler_log, false)?;
        let mut cmd = lab.daemon_on(scheduler_host, "icecc-scheduler")?;
        cmd.args(["-n", NETNAME, "-vvv", "-l"])
            .arg(&scheduler_log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let scheduler = cmd.spawn()?;
        let mut icecc = Icecc {
            hosts: lab.hosts(),
            slots,
            scheduler: Some(scheduler),
            daemons: (0..lab.hosts()).map(|_| None).collect(),
            scheduler_log,
            scheduler_host,
        };
        for i in 0..lab.hosts() {
            icecc.start_daemon(lab, i, slots, false)?;
        }
        icecc.wait_logged_in(&(0..lab.hosts()).collect::<Vec<_>>())?;
        Ok(icecc)
    }

    fn start_daemon(
        &mut self,
        lab: &Lab,
        i: usize,
        slots: usize,
        fresh: bool,
    ) -> Result<(), BenchError> {
        let p = paths(lab, i)?;
        fs::create_dir_all(&p.dir).map_err(|e| BenchError::io("create", &p.dir, e))?;
        if fresh {
            let _ = fs::remove_dir_all(&p.env);
        }
        owned_by_icecc(&p.run, true)?;
        owned_by_icecc(&p.env, true)?;
        owned_by_icecc(&p.log, false)?;
        write_static_stat(&p.stat)?;
        let sched_ip = lab.ip(self.scheduler_host)?.to_string();
        let mut cmd = lab.daemon_on(i, "iceccd")?;
        cmd.private_mounts(&[
            (p.run.clone(), PathBuf::from(RUN_DIR)),
            (p.stat.clone(), PathBuf::from("/proc/stat")),
        ])?;
        cmd.args(["-n", NETNAME, "-s", &sched_ip, "-m", &slots.to_string()])
            .args(["-N", &format!("h{i}"), "-u", "icecc", "-vv", "-b"])
            .arg(&p.env)
            .arg("-l")
            .arg(&p.log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.daemons[i] = Some(cmd.spawn()?);
        Ok(())
    }

    /// Waits until the scheduler's log shows `login hI` for each of `hosts` (after its current
    /// end when restarting daemons).
    fn wait_logged_in(&mut self, hosts: &[usize]) -> Result<(), BenchError> {
        self.wait_logged_in_after(hosts, 0)
    }

    fn wait_logged_in_after(&mut self, hosts: &[usize], offset: u64) -> Result<(), BenchError> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = read_from(&self.scheduler_log, offset);
            let missing: Vec<usize> = hosts
                .iter()
                .copied()
                .filter(|i| !log.contains(&format!("login h{i} ")))
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(BenchError::NotReady {
                    system: "icecc",
                    what: format!(
                        "the scheduler has not seen the daemons of hosts {missing:?} after 30 s"
                    ),
                    log: self.scheduler_log.clone(),
                });
            }
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// Restarts host `i`'s daemon with `slots` slots (`fresh`: with an empty environment
    /// directory, as a worker that has never seen the compiler).
    pub fn restart_daemon(
        &mut self,
        lab: &Lab,
        i: usize,
        slots: usize,
        fresh: bool,
    ) -> Result<(), BenchError> {
        if let Some(mut d) = self.daemons[i].take() {
            stop(&mut d);
        }
        let offset = self.scheduler_log_len();
        self.start_daemon(lab, i, slots, fresh)?;
        self.wait_logged_in_after(&[i], offset)
    }

    /// Restarts every daemon with empty environment directories (the cold-start case), host 0
    /// with `first_slots`.
    pub fn restart_all_fresh(&mut self, lab: &Lab, first_slots: usize) -> Result<(), BenchError> {
        for d in self.daemons.iter_mut().flatten() {
            stop(d);
        }
        let offset = self.scheduler_log_len();
        for i in 0..self.hosts {
            let slots = if i == 0 { first_slots } else { self.slots };
            self.start_daemon(lab, i, slots, true)?;
        }
        self.wait_logged_in_after(&(0..self.hosts).collect::<Vec<_>>(), offset)
    }

    /// The scheduler log's current length, to read one build's part of it afterwards.
    pub fn scheduler_log_len(&self) -> u64 {
        fs::metadata(&self.scheduler_log).map_or(0, |m| m.len())
    }

    /// The build: `icecc gcc` in host 0's mount namespace view (its own `/var/run/icecc`).
    pub fn setup(&self, lab: &Lab, jobs: usize) -> Result<BuildSetup, BenchError> {
        let p = paths(lab, 0)?;
        Ok(BuildSetup {
            jobs,
            prefix: vec!["icecc".into()],
            env: vec![("ICECC_DEBUG".to_owned(), "warnings".to_owned())],
            mounts: vec![(p.run, PathBuf::from(RUN_DIR))],
        })
    }

    /// Forced remote: the scheduler is asked for host `worker` (and host 0's daemon should have
    /// been restarted with no slots).
    pub fn setup_forced(&self, lab: &Lab, worker: usize) -> Result<BuildSetup, BenchError> {
        let mut setup = self.setup(lab, 1)?;
        setup
            .env
            .push(("ICECC_PREFERRED_HOST".to_owned(), format!("h{worker}")));
        Ok(setup)
    }

    /// Where each job of one build ran, by object name (`lapi.o`), from the scheduler log written
    /// since `offset`: (placements, jobs the scheduler saw go to another host).
    pub fn placements(&self, offset: u64) -> HashMap<String, Placement> {
        parse_scheduler_log(&read_from(&self.scheduler_log, offset))
    }

    /// How many jobs the scheduler sent to a host other than their client since `offset`.
    pub fn remote_jobs_since(&self, offset: u64) -> usize {
        count_remote(&read_from(&self.scheduler_log, offset))
    }

    /// The scheduler's log.
    pub fn scheduler_log(&self) -> &Path {
        &self.scheduler_log
    }

    /// Stops the daemons and the scheduler.
    pub fn stop(mut self) {
        for d in self.daemons.iter_mut().flatten() {
            stop(d);
        }
        if let Some(mut s) = self.scheduler.take() {
            stop(&mut s);
        }
    }
}

fn stop(child: &mut Child) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn read_from(path: &Path, offset: u64) -> String {
    let mut text = String::new();
    if let Ok(mut f) = fs::File::open(path) {
        if f.seek(SeekFrom::Start(offset)).is_ok() {
            let mut bytes = Vec::new();
            let _ = f.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
    }
    text
}

/// `NEW 4 client=h0 versions=[…] …/lapi.c C 0` names the source of job 4;
/// `BEGIN: 4 client=h0(x86_64) server=h1(x86_64)` where it runs. Keyed by object name.
fn parse_scheduler_log(log: &str) -> HashMap<String, Placement> {
    let mut source_of: HashMap<&str, String> = HashMap::new();
    let mut out = HashMap::new();
    for line in log.lines() {
        if let Some(rest) = line.split("NEW ").nth(1) {
            let mut words = rest.split_whitespace();
            let (Some(id), Some(_client), Some(_versions), Some(file)) =
                (words.next(), words.next(), words.next(), words.next())
            else {
                continue;
            };
            let stem = Path::new(file)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned());
            if let Some(stem) = stem {
                source_of.insert(id, format!("{stem}.o"));
            }
        } else if let Some(rest) = line.split("BEGIN: ").nth(1) {
            let mut words = rest.split_whitespace();
            let Some(id) = words.next() else { continue };
            let host = |key: &str| {
                rest.split_whitespace()
                    .find_map(|w| w.strip_prefix(key))
                    .and_then(|w| w.split('(').next())
                    .and_then(|h| h.strip_prefix('h'))
                    .and_then(|n| n.parse::<usize>().ok())
            };
            let (client, server) = (host("client="), host("server="));
            if let Some(object) = source_of.get(id) {
                let how = if client.is_some() && client == server {
                    JobHow::Local
                } else {
                    JobHow::Remote
                };
                out.insert(object.clone(), Placement { how, host: server });
            }
        }
    }
    out
}

fn count_remote(log: &str) -> usize {
    log.lines()
        .filter_map(|l| l.split("BEGIN: ").nth(1))
        .filter(|rest| {
            let host = |key: &str| {
                rest.split_whitespace()
                    .find_map(|w| w.strip_prefix(key))
                    .and_then(|w| w.split('(').next())
            };
            host("client=") != host("server=")
        })
        .count()
}

/// Where a job ran: the scheduler's word if it saw the job, else on the submitter; a client
/// log that says it gave up on a remote host makes it a fallback.
pub fn classify(
    placements: &HashMap<String, Placement>,
    output: Option<&str>,
    log: &str,
) -> Placement {
    if log.contains("local build forced") || log.contains("building myself") {
        return Placement::local(JobHow::Fallback);
    }
    output
        .and_then(|o| Path::new(o).file_name())
        .and_then(|o| placements.get(&*o.to_string_lossy()))
        .copied()
        .unwrap_or(Placement::local(JobHow::Local))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_log_names_the_server_of_each_object() {
        let log = "\
[1] 2026-11-25 22:23:16: NEW 3 client=h0 versions=[8b59(x86_64)] lua-5.4.9/lapi.c C 0
[1] 2026-11-25 22:23:16: put 3 in joblist of h1
[1] 2026-11-25 22:23:16: BEGIN: 3 client=h0(x86_64) server=h1(x86_64)
[1] 2026-11-25 22:23:16: NEW 4 client=h0 versions=[8b59(x86_64)] lua-5.4.9/lvm.c C 0
[1] 2026-11-25 22:23:16: BEGIN: 4 client=h0(x86_64) server=h0(x86_64)
";
        let p = parse_scheduler_log(log);
        assert_eq!(
            p["lapi.o"],
            Placement {
                how: JobHow::Remote,
                host: Some(1)
            }
        );
        assert_eq!(
            p["lvm.o"],
            Placement {
                how: JobHow::Local,
                host: Some(0)
            }
        );
        assert_eq!(classify(&p, Some("lapi.o"), ""), p["lapi.o"]);
        assert_eq!(
            classify(&p, Some("lcode.o"), ""),
            Placement::local(JobHow::Local)
        );
        assert_eq!(count_remote(log), 1);
    }
}
