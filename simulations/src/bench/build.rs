//! One timed build of one workload through one system, from a clean tree, with everything
//! measured around it: wall time, each host's CPU time (its cgroup's counter), bytes on the
//! wire (each host's `eth0` counters), every job's start, end and placement, and whether the
//! objects are byte-identical to the local build's.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::shim::{self, RecordedJob};
use super::systems::{BuildSetup, JobHow, Placement, SystemKind};
use super::workload::Workload;
use super::BenchError;
use crate::lab::Lab;

/// One job of a build, as the report and the Gantt chart use it.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Seconds from the build's start.
    pub start: f64,
    /// Seconds from the build's start.
    pub end: f64,
    /// The object it made.
    pub output: String,
    /// Remote, local or fallback.
    pub how: JobHow,
    /// The host that compiled it, if known.
    pub host: Option<usize>,
}

/// What one build measured.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildRun {
    /// Link profile.
    pub profile: String,
    /// Workload name.
    pub workload: String,
    /// System.
    pub system: SystemKind,
    /// Run number, from 0.
    pub run: usize,
    /// The `-j` given to make.
    pub jobs_flag: usize,
    /// Wall time, seconds.
    pub wall: f64,
    /// CPU seconds used on each host during the build.
    pub cpu: Vec<f64>,
    /// Bytes sent on the lab's wire by all hosts together.
    pub wire_bytes: u64,
    /// Every compile.
    pub jobs: Vec<Job>,
    /// Objects byte-identical to the local build's.
    pub identical: usize,
    /// Objects compared.
    pub compared: usize,
}

impl BuildRun {
    /// How many jobs went remote, stayed local, fell back.
    pub fn counts(&self) -> (usize, usize, usize) {
        let n = |h: JobHow| self.jobs.iter().filter(|j| j.how == h).count();
        (n(JobHow::Remote), n(JobHow::Local), n(JobHow::Fallback))
    }
}

/// A worker taken off the wire during a build, and put back later: the "host cut mid-build"
/// measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cut {
    /// The host cut.
    pub host: usize,
    /// How long after the build started.
    pub at: Duration,
    /// How long the host stays cut (or until the build ends, if sooner).
    pub heal_after: Duration,
}

/// Where builds happen and what they are compared with.
pub struct Builder<'a> {
    /// The lab.
    pub lab: &'a Lab,
    /// `mesh-lab` itself (the shim).
    pub shim: PathBuf,
    /// Working directory for builds (not under `/tmp`: see the report on meshcc).
    pub work: PathBuf,
    /// Link profile name, for the records.
    pub profile: String,
}

impl Builder<'_> {
    /// The build directory of `workload`: the same path for every system, so that debug
    /// information (which records it) can be identical.
    pub fn build_dir(&self, workload: &Workload) -> PathBuf {
        self.work.join(workload.name).join("build")
    }

    fn reference_dir(&self, workload: &Workload) -> PathBuf {
        self.work.join(workload.name).join("reference")
    }

    /// Builds `workload` once through `system` as `setup` says, from a clean tree; with `cut`,
    /// a host is cut off the wire during the build and healed afterwards.
    pub fn build(
        &self,
        workload: &Workload,
        system: SystemKind,
        setup: &BuildSetup,
        run: usize,
        classify: &dyn Fn(&RecordedJob) -> Placement,
        cut: Option<Cut>,
    ) -> Result<BuildRun, BenchError> {
        let lab = self.lab;
        let dir = self.build_dir(workload);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| BenchError::io("create", &dir, e))?;
        let jobs_dir = self.work.join(format!(
            "jobs/{}-{}-{}-{run}",
            self.profile, workload.name, system
        ));
        let _ = fs::remove_dir_all(&jobs_dir);
        fs::create_dir_all(&jobs_dir).map_err(|e| BenchError::io("create", &jobs_dir, e))?;
        let make_log = jobs_dir.join("make.log");
        let log_file =
            fs::File::create(&make_log).map_err(|e| BenchError::io("create", &make_log, e))?;
        let err_file = log_file
            .try_clone()
            .map_err(|e| BenchError::io("open", &make_log, e))?;

        let compiler_line = |compiler: &str| {
            let mut words: Vec<String> =
                vec![self.shim.display().to_string(), shim::SUBCOMMAND.to_owned()];
            words.extend(
                setup
                    .prefix
                    .iter()
                    .map(|p| p.to_string_lossy().into_owned()),
            );
            words.push(compiler.to_owned());
            words.join(" ")
        };
        let mut cmd = lab.command_on(0, "make")?;
        if !setup.mounts.is_empty() {
            cmd.private_mounts(&setup.mounts)?;
        }
        cmd.arg("-s")
            .arg("-f")
            .arg(&workload.makefile)
            .arg("-C")
            .arg(&dir)
            .arg(format!("-j{}", setup.jobs))
            .arg(format!(
                "{}={}",
                workload.source_var.0,
                workload.source_var.1.display()
            ))
            .arg(format!("CC={}", compiler_line("gcc")))
            .arg(format!("CXX={}", compiler_line("g++")))
            .env(shim::JOBS_DIR_ENV, &jobs_dir)
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(err_file);
        for (k, v) in &setup.env {
            cmd.env(k, v);
        }

        let hosts = lab.hosts();
        let cpu_before = (0..hosts)
            .map(|i| lab.cpu_used(i))
            .collect::<Result<Vec<_>, _>>()?;
        let wire_before = wire_sent(lab)?;
        let started = Instant::now();
        let started_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let status = thread::scope(|scope| {
            let (done, finished) = mpsc::channel::<()>();
            if let Some(cut) = cut {
                scope.spawn(move || cut_during(lab.name(), cut, &finished));
            }
            let status = cmd.status();
            drop(done);
            status
        })
        .map_err(|e| BenchError::io("run make in", &dir, e))?;
        let wall = started.elapsed().as_secs_f64();
        let cpu_after = (0..hosts)
            .map(|i| lab.cpu_used(i))
            .collect::<Result<Vec<_>, _>>()?;
        let wire_bytes = wire_sent(lab)?.saturating_sub(wire_before);
        if !status.success() {
            return Err(BenchError::Build {
                system: system.to_string(),
                workload: workload.name.to_owned(),
                status: status.to_string(),
                log: make_log,
            });
        }
        let secs = |ns: u128| ns.saturating_sub(started_ns) as f64 / 1e9;
        let jobs = shim::read_all(&jobs_dir)
            .iter()
            .map(|j| {
                let placement = classify(j);
                Job {
                    start: secs(j.file.start_ns),
                    end: secs(j.file.end_ns),
                    output: j.file.output.clone().unwrap_or_default(),
                    how: placement.how,
                    host: placement.host,
                }
            })
            .collect();
        let (identical, compared) = self.compare(workload, system)?;
        Ok(BuildRun {
            profile: self.profile.clone(),
            workload: workload.name.to_owned(),
            system,
            run,
            jobs_flag: setup.jobs,
            wall,
            cpu: cpu_before
                .iter()
                .zip(&cpu_after)
                .map(|(b, a)| a.saturating_sub(*b).as_secs_f64())
                .collect(),
            wire_bytes,
            jobs,
            identical,
            compared,
        })
    }

    /// Compares the objects with the reference (the first local build, kept aside; a local
    /// build when there is none yet becomes it).
    fn compare(
        &self,
        workload: &Workload,
        system: SystemKind,
    ) -> Result<(usize, usize), BenchError> {
        let dir = self.build_dir(workload);
        let reference = self.reference_dir(workload);
        let objects = objects(&dir)?;
        if system == SystemKind::Local && !reference.exists() {
            fs::create_dir_all(&reference).map_err(|e| BenchError::io("create", &reference, e))?;
            for o in &objects {
                let name = o.file_name().unwrap_or_default();
                fs::copy(o, reference.join(name)).map_err(|e| BenchError::io("copy", o, e))?;
            }
        }
        if !reference.exists() {
            return Ok((0, 0));
        }
        let mut identical = 0;
        for o in &objects {
            let name = o.file_name().unwrap_or_default();
            let a = fs::read(o).map_err(|e| BenchError::io("read", o, e))?;
            if fs::read(reference.join(name)).is_ok_and(|b| a == b) {
                identical += 1;
            }
        }
        Ok((identical, objects.len()))
    }

    /// Forgets the reference objects (a new profile starts from a new local build).
    pub fn reset_reference(&self, workload: &Workload) {
        let _ = fs::remove_dir_all(self.reference_dir(workload));
    }

    /// Runs one compile on host 0 in `dir` and returns its wall time and client log: `prefix`
    /// then the workload's compiler and sample arguments (for the single-file measurements).
    pub fn compile_once(
        &self,
        workload: &Workload,
        setup: &BuildSetup,
        dir: &Path,
        log: &Path,
    ) -> Result<(f64, String), BenchError> {
        let _ = fs::remove_file(log);
        let mut argv: Vec<OsString> = setup.prefix.clone();
        argv.push(workload.compiler.into());
        argv.extend(workload.sample.iter().map(OsString::from));
        let mut cmd = self.lab.command_on(0, &argv[0])?;
        if !setup.mounts.is_empty() {
            cmd.private_mounts(&setup.mounts)?;
        }
        cmd.args(&argv[1..])
            .current_dir(dir)
            .env("MESHCC_LOG", log)
            .env("DISTCC_LOG", log)
            .env("ICECC_LOGFILE", log)
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in &setup.env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let status = cmd
            .status()
            .map_err(|e| BenchError::io("compile in", dir, e))?;
        let secs = started.elapsed().as_secs_f64();
        if !status.success() {
            return Err(BenchError::Command {
                cmd: argv
                    .iter()
                    .map(|a| a.to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(" "),
                status: status.to_string(),
                stderr: fs::read_to_string(log)
                    .unwrap_or_default()
                    .chars()
                    .take(500)
                    .collect(),
            });
        }
        Ok((secs, fs::read_to_string(log).unwrap_or_default()))
    }
}

/// Cuts `cut.host` at `cut.at` and heals it `cut.heal_after` later, unless the build (the
/// sender of `finished`) ends first; the host is healed in every case.
fn cut_during(lab: &str, cut: Cut, finished: &mpsc::Receiver<()>) {
    let build_ended = |wait: Duration| {
        !matches!(
            finished.recv_timeout(wait),
            Err(mpsc::RecvTimeoutError::Timeout)
        )
    };
    if build_ended(cut.at) {
        return;
    }
    // A second handle on the same lab: the builder holds the first one shared.
    let mut handle = match Lab::open(lab) {
        Ok(h) => h,
        Err(e) => return eprintln!("mesh-lab bench: cannot cut host {}: {e}", cut.host),
    };
    if let Err(e) = handle.cut(cut.host) {
        return eprintln!("mesh-lab bench: cannot cut host {}: {e}", cut.host);
    }
    build_ended(cut.heal_after);
    if let Err(e) = handle.heal(cut.host) {
        eprintln!("mesh-lab bench: cannot heal host {}: {e}", cut.host);
    }
}

fn wire_sent(lab: &Lab) -> Result<u64, BenchError> {
    let mut total = 0;
    for i in 0..lab.hosts() {
        total += lab.wire_bytes(i)?.0;
    }
    Ok(total)
}

fn objects(dir: &Path) -> Result<Vec<PathBuf>, BenchError> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| BenchError::io("read", dir, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "o"))
        .collect();
    found.sort();
    Ok(found)
}
