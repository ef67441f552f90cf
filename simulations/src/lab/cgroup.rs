//! One cgroup per lab host, so each host can have a CPU quota and its agent can read its own CPU
//! use (the load figure must stay meaningful on a shared kernel). cgroup v2 where the machine
//! mounts it unified with the `cpu` controller, else v1: the `cpu` hierarchy for the quota plus
//! `cpuacct` for the counters — on many v1 machines a separate hierarchy, which a process must
//! join too, or its CPU time is not counted.

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::LabError;

const ROOT: &str = "/sys/fs/cgroup";
/// CFS period used with every quota: 100 ms, the kernel's default.
const PERIOD_US: u64 = 100_000;

/// Which cgroup layout the machine has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Unified hierarchy at `/sys/fs/cgroup` with the `cpu` controller available.
    V2,
    /// Legacy hierarchies: `cpu` (quota) and `cpuacct` (counters), possibly the same directory.
    V1 { cpu: PathBuf, cpuacct: PathBuf },
    /// No usable CPU controller.
    None,
}

impl Layout {
    /// Looks at what is mounted.
    pub fn detect() -> Layout {
        let root = Path::new(ROOT);
        if let Ok(controllers) = fs::read_to_string(root.join("cgroup.controllers")) {
            if controllers.split_whitespace().any(|c| c == "cpu") {
                return Layout::V2;
            }
        }
        let cpu = root.join("cpu");
        if cpu.join("cpu.cfs_quota_us").exists() {
            // On many systems `cpu` and `cpuacct` are one hierarchy reached by two symlinks.
            let cpu = fs::canonicalize(&cpu).unwrap_or(cpu);
            let acct = root.join("cpuacct");
            let cpuacct = fs::canonicalize(&acct).unwrap_or(acct);
            return Layout::V1 { cpu, cpuacct };
        }
        Layout::None
    }

    /// The hierarchies a host's processes join, in order: the `cpu` one first.
    fn hierarchies(&self) -> Vec<PathBuf> {
        match self {
            Layout::V2 => vec![PathBuf::from(ROOT)],
            Layout::V1 { cpu, cpuacct } if cpu == cpuacct => vec![cpu.clone()],
            Layout::V1 { cpu, cpuacct } => vec![cpu.clone(), cpuacct.clone()],
            Layout::None => Vec::new(),
        }
    }
}

/// Directories to create for a lab: returns (lab-level parents, per-host dirs).
pub fn plan(layout: &Layout, lab: &str, hosts: usize) -> (Vec<PathBuf>, Vec<Vec<PathBuf>>) {
    let roots = layout.hierarchies();
    let mut parents = Vec::new();
    for root in &roots {
        parents.push(root.join("meshcc-lab"));
        parents.push(root.join("meshcc-lab").join(lab));
    }
    let per_host = (0..hosts)
        .map(|i| {
            roots
                .iter()
                .map(|r| r.join("meshcc-lab").join(lab).join(format!("h{i}")))
                .collect()
        })
        .collect();
    (parents, per_host)
}

/// Creates a host's cgroup directories (and their parents) and sets its CPU quota, in cores
/// (`None`: unlimited).
pub fn create(layout: &Layout, dirs: &[PathBuf], cpu: Option<f64>) -> Result<(), LabError> {
    for dir in dirs {
        if *layout == Layout::V2 {
            enable_cpu_controller(dir)?;
        }
        fs::create_dir_all(dir).map_err(|e| LabError::io("create cgroup", dir, e))?;
    }
    match cpu {
        Some(_) => set_quota(layout, dirs, cpu),
        None => Ok(()),
    }
}

/// Sets (or, with `None`, lifts) the CPU quota of an existing host cgroup, in cores.
pub fn set_quota(layout: &Layout, dirs: &[PathBuf], cpu: Option<f64>) -> Result<(), LabError> {
    let quota = cpu.map(|cores| ((cores * PERIOD_US as f64).round() as u64).max(1000));
    let cpu_dir = dirs.first().ok_or(LabError::NoCpuController)?;
    match layout {
        Layout::V2 => {
            let quota = quota.map_or("max".to_owned(), |q| q.to_string());
            write(&cpu_dir.join("cpu.max"), &format!("{quota} {PERIOD_US}"))
        }
        Layout::V1 { .. } => {
            write(&cpu_dir.join("cpu.cfs_period_us"), &PERIOD_US.to_string())?;
            let quota = quota.map_or("-1".to_owned(), |q| q.to_string());
            write(&cpu_dir.join("cpu.cfs_quota_us"), &quota)
        }
        Layout::None => Err(LabError::NoCpuController),
    }
}

/// In v2 a controller is usable in a cgroup only if every ancestor delegates it.
fn enable_cpu_controller(dir: &Path) -> Result<(), LabError> {
    let mut ancestors: Vec<&Path> = dir
        .ancestors()
        .skip(1)
        .take_while(|p| p.starts_with(ROOT))
        .collect();
    ancestors.reverse();
    for parent in ancestors {
        if !parent.exists() {
            fs::create_dir(parent).map_err(|e| LabError::io("create cgroup", parent, e))?;
        }
        let control = parent.join("cgroup.subtree_control");
        let enabled = fs::read_to_string(&control).unwrap_or_default();
        if !enabled.split_whitespace().any(|c| c == "cpu") {
            write(&control, "+cpu")?;
        }
    }
    Ok(())
}

/// Pids currently in a cgroup.
pub fn procs(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Kills every process in the host's cgroups, then removes the directories (a cgroup can be
/// removed only once empty, which takes a moment after SIGKILL).
pub fn remove(dirs: &[PathBuf]) -> Result<(), LabError> {
    for dir in dirs.iter().filter(|d| d.exists()) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            for pid in procs(dir) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            match fs::remove_dir(dir) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) if Instant::now() > deadline => {
                    return Err(LabError::io("remove cgroup", dir, e))
                }
                Err(_) => thread::sleep(Duration::from_millis(20)),
            }
        }
    }
    Ok(())
}

/// Removes lab-level cgroup directories, deepest first; a shared parent still in use by another
/// lab stays.
pub fn remove_parents(dirs: &[PathBuf]) {
    let mut dirs = dirs.to_vec();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for dir in dirs {
        let _ = fs::remove_dir(dir);
    }
}

/// CPU time used by a host's cgroup: cgroup v2 `cpu.stat` `usage_usec`, or v1 `cpuacct.usage`
/// (nanoseconds) from whichever of the host's directories has it.
pub fn cpu_used(dirs: &[PathBuf]) -> Result<Duration, LabError> {
    for dir in dirs {
        let v1 = dir.join("cpuacct.usage");
        if let Ok(text) = fs::read_to_string(&v1) {
            if let Ok(ns) = text.trim().parse::<u64>() {
                return Ok(Duration::from_nanos(ns));
            }
        }
        let v2 = dir.join("cpu.stat");
        if let Ok(text) = fs::read_to_string(&v2) {
            let usec = text
                .lines()
                .find_map(|l| l.strip_prefix("usage_usec "))
                .and_then(|v| v.trim().parse::<u64>().ok());
            if let Some(usec) = usec {
                return Ok(Duration::from_micros(usec));
            }
        }
    }
    Err(LabError::NoCpuController)
}

fn write(path: &Path, value: &str) -> Result<(), LabError> {
    fs::write(path, value).map_err(|e| LabError::io(&format!("write {value:?} to"), path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_with_separate_cpuacct_joins_both() {
        let layout = Layout::V1 {
            cpu: "/sys/fs/cgroup/cpu".into(),
            cpuacct: "/sys/fs/cgroup/cpuacct".into(),
        };
        let (parents, hosts) = plan(&layout, "t", 2);
        assert_eq!(parents.len(), 4);
        assert_eq!(
            hosts[1],
            vec![
                PathBuf::from("/sys/fs/cgroup/cpu/meshcc-lab/t/h1"),
                PathBuf::from("/sys/fs/cgroup/cpuacct/meshcc-lab/t/h1"),
            ]
        );
    }

    #[test]
    fn v2_and_merged_v1_join_one() {
        let (_, hosts) = plan(&Layout::V2, "t", 1);
        assert_eq!(
            hosts[0],
            vec![PathBuf::from("/sys/fs/cgroup/meshcc-lab/t/h0")]
        );
        let merged = Layout::V1 {
            cpu: "/sys/fs/cgroup/cpu,cpuacct".into(),
            cpuacct: "/sys/fs/cgroup/cpu,cpuacct".into(),
        };
        assert_eq!(plan(&merged, "t", 1).1[0].len(), 1);
    }
}
