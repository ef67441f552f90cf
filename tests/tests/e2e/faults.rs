//! The fault matrix (issue 7): Lua built with `make -j6` through a five-host lab mesh of real
//! agents, once clean and once per fault, every object compared with a local gcc build's.
//!
//! One lab serves every fault, so gcc is packaged and fetched once and each fault costs one
//! build: host 0 submits and compiles nothing itself (`--slots 0`), hosts 1–3 are workers, host
//! 4 is a worker whose disk is full, started only for that fault. Each fault prints a row
//! `FAULT-MATRIX | fault | what happened | time lost s | identical` (run with `--nocapture`),
//! and the whole table again at the end. Time lost is against the clean build and is printed,
//! not asserted: on a loaded machine builds vary by tens of seconds. What is asserted: every
//! build succeeds, every object equals the local build's, no build hangs, a lost worker's jobs
//! fail over within a minute (not when TCP gives up), the healed host gets jobs again, the
//! submitter says the worker ran out of memory, and the full-disk worker tells the mesh so.
//! `lab_build.rs` kills a worker too, in its own lab; here it is one row of the matrix.

use std::ffi::OsString;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use meshcc_simulations::lab::{AgentOptions, Lab, LabConfig};

use crate::lab_build::{compare_builds, lua_make, lua_sources, make, remote_jobs};
use crate::util::{bin, needs_root, wait_for};

const SUBMITTER: usize = 0;
const KILLED: usize = 1;
const CUT: usize = 2;
const SLOW: usize = 3;
const DISK_FULL: usize = 4;
const WORKERS: [usize; 3] = [KILLED, CUT, SLOW];

/// Address space of each job on the workers, MiB: Lua's largest TU (lvm.c) needs under 100,
/// [`MEMORY_HOG`] well over 160.
const JOB_MEMORY_MB: &str = "160";
/// A translation unit that needs far more compiler memory than its size suggests: the macros
/// expand to a 1.5-million-element initializer, which gcc holds as a tree per element (about
/// 190 MiB). It fails within seconds under [`JOB_MEMORY_MB`].
const MEMORY_HOG: &str = "\
#define E1 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
#define E2 E1, E1, E1, E1, E1, E1, E1, E1, E1, E1
#define E3 E2, E2, E2, E2, E2, E2, E2, E2, E2, E2
#define E4 E3, E3, E3, E3, E3, E3, E3, E3, E3, E3
#define E5 E4, E4, E4, E4, E4, E4, E4, E4, E4, E4
#define E6 E5, E5, E5, E5, E5, E5, E5, E5, E5, E5
const int big_table[] = { E6, E5, E5, E5, E5, E5 };
";
/// Longer than any build may take: past it the test calls the build hung.
const BUILD_LIMIT: Duration = Duration::from_secs(420);

/// The lab, a writable copy of Lua, and the rows so far.
struct Matrix {
    lab: Lab,
    meshcc: PathBuf,
    tmp: tempfile::TempDir,
    lua: PathBuf,
    /// The wrappers' log (`MESHCC_LOG`) of the current build.
    log: PathBuf,
    /// Seconds the clean mesh build took.
    clean_secs: f64,
    rows: Vec<String>,
}

/// What one mesh build did.
struct Build {
    secs: f64,
    /// The wrappers' log.
    wrapper_log: String,
    /// What the submitting agent logged during the build.
    submitter_log: String,
}

impl Build {
    fn remote(&self) -> usize {
        self.wrapper_log.matches("compiled remotely").count()
    }

    fn local(&self) -> usize {
        self.wrapper_log.matches("compiling locally").count()
    }

    /// Compiles that `worker` (a peer id) returned.
    fn on(&self, worker: &str) -> usize {
        let short = format!("worker={}", &worker[worker.len() - 6..]);
        self.wrapper_log
            .lines()
            .filter(|l| l.contains("compiled remotely") && l.contains(&short))
            .count()
    }

    /// Jobs the submitter had to take away from a worker (refused or lost).
    fn retried(&self) -> usize {
        self.submitter_log.matches("worker refused the job").count()
            + self.submitter_log.matches("remote compile failed").count()
    }
}

impl Matrix {
    fn up() -> Self {
        let lab = Lab::up(LabConfig::new(
            &format!("faults{}", std::process::id() % 100_000),
            5,
        ))
        .unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let lua = tmp.path().join("lua");
        let copied = std::process::Command::new("cp")
            .arg("-a")
            .arg(lua_sources())
            .arg(&lua)
            .status()
            .unwrap();
        assert!(copied.success(), "cannot copy the Lua sources");
        let mut m = Matrix {
            lab,
            meshcc: bin("meshcc"),
            log: tmp.path().join("wrapper.log"),
            tmp,
            lua,
            clean_secs: 0.0,
            rows: Vec::new(),
        };
        m.start(&[SUBMITTER]);
        m.start(&WORKERS);
        m.wait_for_workers(WORKERS.len());
        m
    }

    /// Starts the agents of `hosts` (again, after a stop or a kill).
    fn start(&mut self, hosts: &[usize]) {
        for &i in hosts {
            let slots = if i == SUBMITTER { "0" } else { "2" };
            let args = ["--slots", slots, "--job-memory-mb", JOB_MEMORY_MB];
            self.lab
                .start_agents(&AgentOptions {
                    meshcc: self.meshcc.clone(),
                    args: args.iter().map(OsString::from).collect(),
                    hosts: Some(vec![i]),
                })
                .unwrap();
        }
    }

    fn restart(&mut self, host: usize) {
        self.lab.stop_agents(Some(&[host])).unwrap();
        self.start(&[host]);
    }

    /// Host `i`'s `meshcc peers --json`, or `None` while its agent does not answer.
    fn peers_json(&self, i: usize) -> Option<serde_json::Value> {
        let argv = [self.meshcc.as_os_str(), "peers".as_ref(), "--json".as_ref()];
        let out = self.lab.output_on(i, &argv).unwrap();
        serde_json::from_slice(&out.stdout).ok()
    }

    /// The peers the submitter sees, as JSON objects.
    fn submitters_peers(&self) -> Vec<serde_json::Value> {
        self.peers_json(SUBMITTER)
            .and_then(|v| v["peers"].as_array().cloned())
            .unwrap_or_default()
    }

    fn wait_for_workers(&self, n: usize) -> Duration {
        wait_for(
            Duration::from_secs(60),
            || self.submitters_peers().len() == n,
            &format!("the submitter to see {n} workers"),
        )
    }

    /// Host `i`'s peer id.
    fn id(&self, i: usize) -> String {
        let mut id = None;
        wait_for(
            Duration::from_secs(20),
            || {
                id = self
                    .peers_json(i)
                    .and_then(|v| v["local"]["peer_id"].as_str().map(str::to_owned));
                id.is_some()
            },
            &format!("host {i}'s agent to answer"),
        );
        id.unwrap()
    }

    /// Waits until host `i`'s agent says it is running or fetching a job.
    fn wait_busy(&self, i: usize) {
        wait_for(
            Duration::from_secs(120),
            || {
                self.peers_json(i).is_some_and(|v| {
                    let local = &v["local"];
                    local["running"].as_u64().unwrap_or(0) + local["queued"].as_u64().unwrap_or(0)
                        > 0
                })
            },
            &format!("host {i} to be given a job"),
        );
    }

    fn wait_remote_jobs(&self, n: usize) {
        wait_for(
            Duration::from_secs(120),
            || remote_jobs(&self.log) >= n,
            "remote jobs to flow",
        );
    }

    fn build_dir(&self) -> PathBuf {
        self.tmp.path().join("build")
    }

    /// A local gcc build of the Lua copy as it is now, kept as `name` (built in the same
    /// directory as the mesh builds: debug info records it).
    fn local_build(&self, name: &str) -> PathBuf {
        let dir = self.build_dir();
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        assert!(make(&dir, &self.lua, "gcc", 2).status().unwrap().success());
        let kept = self.tmp.path().join(name);
        std::fs::rename(&dir, &kept).unwrap();
        kept
    }

    /// A mesh build from a clean directory on the submitter; `during` runs while it does.
    fn build(&mut self, during: impl FnOnce(&mut Self)) -> Build {
        let dir = self.build_dir();
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let _ = std::fs::remove_file(&self.log);
        let agent_log = self.lab.host_dir(SUBMITTER).unwrap().join("agent.log");
        let logged_before = std::fs::metadata(&agent_log).map_or(0, |m| m.len());
        let mut cmd = self.lab.command_on(SUBMITTER, "make").unwrap();
        let cc = format!("{} gcc", self.meshcc.display());
        lua_make(&mut cmd, &dir, &self.lua, &cc, 6).env("MESHCC_LOG", &self.log);
        let started = Instant::now();
        let mut child = cmd.spawn().unwrap();
        during(self);
        let ok = wait_bounded(&mut child, BUILD_LIMIT);
        let secs = started.elapsed().as_secs_f64();
        let wrapper_log = std::fs::read_to_string(&self.log).unwrap_or_default();
        assert!(ok, "the build failed; wrapper log:\n{wrapper_log}");
        let submitter_log = std::fs::read(&agent_log)
            .map(|all| String::from_utf8_lossy(&all[logged_before as usize..]).into_owned())
            .unwrap_or_default();
        Build {
            secs,
            wrapper_log,
            submitter_log,
        }
    }

    /// Compares the build with `reference`, prints and keeps the row, then fails if any
    /// object differs.
    fn row(&mut self, fault: &str, happened: &str, build: &Build, reference: &Path) {
        let (files, differ) = compare_builds(reference, &self.build_dir());
        let row = format!(
            "FAULT-MATRIX | {fault} | {happened}; {} remote, {} local | {:+.1} | {}",
            build.remote(),
            build.local(),
            build.secs - self.clean_secs,
            if differ.is_empty() { "yes" } else { "no" }
        );
        eprintln!("{row}");
        self.rows.push(row);
        assert!(
            differ.is_empty(),
            "{fault}: {differ:?} of {files} files differ from the local build"
        );
    }

    /// Waits from now until the submitter gives up on a job of `worker` (a peer id), which
    /// must come within seconds (liveness is 3.5 s), not when TCP gives up on a dead
    /// connection (minutes); returns how long that took.
    fn wait_failover(&self, worker: &str) -> Duration {
        let log = self.lab.host_dir(SUBMITTER).unwrap().join("agent.log");
        let from = std::fs::metadata(&log).map_or(0, |m| m.len()) as usize;
        wait_for(
            Duration::from_secs(60),
            || {
                std::fs::read(&log).is_ok_and(|all| {
                    String::from_utf8_lossy(&all[from.min(all.len())..])
                        .lines()
                        .any(|l| l.contains("remote compile failed") && l.contains(worker))
                })
            },
            "the submitter to give up on the lost worker's jobs",
        )
    }

    /// Host `i` as the submitter's table shows it.
    fn seen(&self, i: usize) -> Option<serde_json::Value> {
        let id = self.id(i);
        self.submitters_peers()
            .into_iter()
            .find(|p| p["peer_id"] == id.as_str())
    }
}

/// Waits for the build; kills it and returns false if it runs past `limit`.
fn wait_bounded(child: &mut Child, limit: Duration) -> bool {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.success();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("the build hung: still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A size-capped tmpfs mounted over a directory, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Self {
        nix::mount::mount(
            Some("tmpfs"),
            dir,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some(format!("size={size}").as_str()),
        )
        .unwrap();
        Tmpfs(dir.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Writes zeros into `dir` until its file system is full.
fn fill(dir: &Path) {
    let mut filler = std::fs::File::create(dir.join("filler")).unwrap();
    let block = vec![0u8; 1 << 20];
    while std::io::Write::write_all(&mut filler, &block).is_ok() {}
}

/// Rewrites a few bytes of `path` in place (same inode, same size) and puts its modification
/// time back: nothing but the content tells the old file from the new.
fn edit_keeping_size_and_mtime(path: &Path, from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let text = std::fs::read_to_string(path).unwrap();
    let at = text.find(from).expect("the text to edit is there");
    let modified = std::fs::metadata(path).unwrap().modified().unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(to.as_bytes(), at as u64).unwrap();
    file.set_modified(modified).unwrap();
}

#[test]
fn lua_builds_stay_identical_through_every_fault() {
    if !needs_root("lab hosts are network namespaces") {
        return;
    }
    let mut m = Matrix::up();
    let ids: Vec<String> = (0..DISK_FULL).map(|i| m.id(i)).collect();
    let reference = m.local_build("local");

    // The first build packages gcc on the submitter and fetches it to the workers; the second
    // is the clean build every fault is measured against.
    m.build(|_| {});
    let clean = m.build(|_| {});
    m.clean_secs = clean.secs;
    let happened = format!("the build took {:.1} s", clean.secs);
    m.row("none (clean build)", &happened, &clean, &reference);

    let mut failover = Duration::ZERO;
    let b = m.build(|m| {
        m.wait_busy(KILLED);
        let agent = m.lab.state().hosts[KILLED]
            .agent
            .expect("host 1 runs an agent");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(agent.pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        failover = m.wait_failover(&ids[KILLED]);
    });
    let happened = format!(
        "its jobs failed over {:.1} s after the kill ({} retried elsewhere)",
        failover.as_secs_f64(),
        b.retried()
    );
    m.row(
        "worker process killed mid-job (SIGKILL)",
        &happened,
        &b,
        &reference,
    );
    m.start(&[KILLED]);
    m.wait_for_workers(WORKERS.len());

    let b = m.build(|m| {
        m.wait_busy(CUT);
        m.lab.cut(CUT).unwrap();
        failover = m.wait_failover(&ids[CUT]);
    });
    let cut_failover = failover;
    m.lab.heal(CUT).unwrap();
    let rejoined = m.wait_for_workers(WORKERS.len());
    let cut_build = b;

    // One host at a twentieth of a core: the others share two cores among three agents and
    // the submitter's wrappers, so it is about ten times slower.
    m.lab.set_cpu(SLOW, Some(0.05)).unwrap();
    m.restart(SLOW);
    m.wait_for_workers(WORKERS.len());
    let speeds = |m: &Matrix, i: usize| m.seen(i).map_or(0, |p| p["speed"].as_u64().unwrap_or(0));
    let (slow_speed, fast_speed) = (speeds(&m, SLOW), speeds(&m, KILLED));
    let b = m.build(|_| {});
    let healed_jobs = b.on(&ids[CUT]);
    let happened = format!(
        "its jobs failed over {:.1} s after the cut ({} retried elsewhere); healed, it was back in {:.1} s and ran {healed_jobs} jobs of the next build",
        cut_failover.as_secs_f64(),
        cut_build.retried(),
        rejoined.as_secs_f64()
    );
    m.row(
        "worker host cut off mid-job, healed after the build",
        &happened,
        &cut_build,
        &reference,
    );
    assert!(healed_jobs > 0, "the healed host got no jobs");
    let happened = format!(
        "it gossiped speed {slow_speed} (the others {fast_speed}) and ran {} jobs",
        b.on(&ids[SLOW])
    );
    m.row("a worker 10x slower (0.05 core)", &happened, &b, &reference);
    m.lab.set_cpu(SLOW, None).unwrap();
    m.restart(SLOW);
    m.wait_for_workers(WORKERS.len());

    // A TU that exhausts the workers' memory limit, beside Lua's; the reference compiles just
    // it, locally, into a copy of the reference build.
    let hog = m.lua.join("memhog.c");
    std::fs::write(&hog, MEMORY_HOG).unwrap();
    let dir = m.build_dir();
    let _ = std::fs::remove_dir_all(&dir);
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(&reference)
        .arg(&dir)
        .status()
        .unwrap();
    assert!(copied.success());
    std::fs::remove_file(dir.join("liblua.a")).unwrap();
    assert!(make(&dir, &m.lua, "gcc", 2).status().unwrap().success());
    let with_hog = m.tmp.path().join("local-hog");
    std::fs::rename(&dir, &with_hog).unwrap();
    let b = m.build(|_| {});
    let said = b
        .submitter_log
        .lines()
        .filter(|l| l.contains("ran out of memory"))
        .count();
    let happened = format!(
        "the submitter logged \"the worker ran out of memory\" ({said}x) and compiled it locally"
    );
    m.row(
        "a job exhausting the worker's memory limit (160 MiB)",
        &happened,
        &b,
        &with_hog,
    );
    assert!(
        said > 0,
        "the submitter did not say the worker ran out of memory"
    );
    std::fs::remove_file(&hog).unwrap();

    // A worker whose disk fills up once it is running: nothing it must store fits.
    let disk = m.lab.host_dir(DISK_FULL).unwrap().to_owned();
    let tmpfs = Tmpfs::mount(&disk, "256m");
    m.start(&[DISK_FULL]);
    let full_id = m.id(DISK_FULL);
    m.wait_for_workers(WORKERS.len() + 1);
    fill(&disk);
    let told = wait_for(
        Duration::from_secs(20),
        || {
            m.seen(DISK_FULL)
                .is_some_and(|p| p["accepts_remote"] == false)
        },
        "the worker with a full disk to tell the mesh it takes no jobs",
    );
    let b = m.build(|_| {});
    let happened = format!(
        "{:.1} s after its disk filled it told the mesh it takes no jobs; {} sent there and refused, {} done there",
        told.as_secs_f64(),
        b.submitter_log
            .lines()
            .filter(|l| l.contains(&full_id) && l.contains("refused"))
            .count(),
        b.on(&full_id)
    );
    m.row(
        "worker disk full (its state on a 256 MiB tmpfs, filled)",
        &happened,
        &b,
        &reference,
    );
    m.lab.stop_agents(Some(&[DISK_FULL])).unwrap();
    drop(tmpfs);
    m.wait_for_workers(WORKERS.len());

    let b = m.build(|m| {
        m.wait_remote_jobs(2);
        m.restart(SUBMITTER);
    });
    m.row(
        "the submitter's own agent restarted mid-build",
        "wrappers whose agent went away compiled locally",
        &b,
        &reference,
    );
    m.wait_for_workers(WORKERS.len());

    // lua.h edited between two builds, keeping its size, inode and mtime: only the content
    // tells, so any cache keyed on file metadata would hand out the old header.
    edit_keeping_size_and_mtime(&m.lua.join("lua.h"), "R. Ierusalimschy", "R. IERUSALIMSCHY");
    let edited = m.local_build("local-edited");
    assert_ne!(
        std::fs::read(reference.join("lapi.o")).unwrap(),
        std::fs::read(edited.join("lapi.o")).unwrap(),
        "the edit should change lapi.o"
    );
    let b = m.build(|_| {});
    m.row(
        "a header edited on the submitter between two builds",
        "the new header was used",
        &b,
        &edited,
    );

    eprintln!("\nFAULT-MATRIX | fault | what happened | time lost s | identical");
    for row in &m.rows {
        eprintln!("{row}");
    }
}
