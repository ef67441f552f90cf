//! What this agent reports about itself: capacity, speed, memory, and a load figure that stays
//! meaningful when hosts share a kernel.
//!
//! icecc's daemons read the machine-wide `/proc/stat`; in a lab or in containers every daemon
//! then sees the whole machine busy and the scheduler stops sending anything out. meshcc reads
//! the CPU use of its **own cgroup** against its **own quota** instead (cgroup v2 `cpu.stat` and
//! `cpu.max`, or v1 `cpuacct.usage` and `cpu.cfs_quota_us`); in the root cgroup of an ordinary
//! machine that is the machine's use, which is right there too.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where this process's CPU accounting lives, found once at start.
#[derive(Debug, Clone)]
pub enum CpuAccounting {
    /// cgroup v2: `cpu.stat` (`usage_usec`) and `cpu.max` in one directory.
    V2(PathBuf),
    /// cgroup v1: `cpuacct.usage` (ns) in one hierarchy, the quota in the `cpu` one.
    V1 {
        /// Directory holding `cpuacct.usage`.
        cpuacct: PathBuf,
        /// Directory holding `cpu.cfs_quota_us` and `cpu.cfs_period_us`, if mounted.
        cpu: Option<PathBuf>,
    },
    /// No readable cgroup: the load figure is the agent's own jobs only.
    None,
}

impl CpuAccounting {
    /// Finds this process's cgroup directories from `/proc/self/cgroup` and the mount table.
    pub fn detect() -> Self {
        let cgroups = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        Self::from_tables(&cgroups, &mounts, Path::new("/"))
    }

    /// [`detect`](Self::detect) on given file contents; `root` prefixes the paths (tests).
    pub fn from_tables(cgroups: &str, mountinfo: &str, root: &Path) -> Self {
        let mut v2 = None;
        let (mut cpuacct, mut cpu) = (None, None);
        for line in cgroups.lines() {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = match (parts.next(), parts.next(), parts.next()) {
                (Some(id), Some(c), Some(p)) => (id, c, p.trim_start_matches('/')),
                _ => continue,
            };
            if controllers.is_empty() {
                v2 = mount_point(mountinfo, None).map(|m| root_join(root, &m).join(path));
                continue;
            }
            for c in controllers.split(',') {
                let dir =
                    || mount_point(mountinfo, Some(c)).map(|m| root_join(root, &m).join(path));
                match c {
                    "cpuacct" => cpuacct = dir(),
                    "cpu" => cpu = dir(),
                    _ => {}
                }
            }
        }
        if let Some(acct) = cpuacct.filter(|d| d.join("cpuacct.usage").exists()) {
            return Self::V1 { cpuacct: acct, cpu };
        }
        match v2.filter(|d| d.join("cpu.stat").exists()) {
            Some(dir) => Self::V2(dir),
            None => Self::None,
        }
    }

    /// CPU time used by the cgroup so far.
    pub fn usage(&self) -> Option<Duration> {
        match self {
            Self::V2(dir) => {
                let stat = fs::read_to_string(dir.join("cpu.stat")).ok()?;
                let usec = stat
                    .lines()
                    .find_map(|l| l.strip_prefix("usage_usec "))?
                    .trim()
                    .parse()
                    .ok()?;
                Some(Duration::from_micros(usec))
            }
            Self::V1 { cpuacct, .. } => {
                let ns = fs::read_to_string(cpuacct.join("cpuacct.usage")).ok()?;
                Some(Duration::from_nanos(ns.trim().parse().ok()?))
            }
            Self::None => None,
        }
    }

    /// The cgroup's CPU quota in cores, if it has one.
    pub fn quota_cores(&self) -> Option<f64> {
        match self {
            Self::V2(dir) => {
                let max = fs::read_to_string(dir.join("cpu.max")).ok()?;
                let mut it = max.split_whitespace();
                let (quota, period) = (it.next()?, it.next()?);
                Some(quota.parse::<f64>().ok()? / period.parse::<f64>().ok()?)
            }
            Self::V1 { cpu: Some(dir), .. } => {
                let read = |f: &str| -> Option<f64> {
                    fs::read_to_string(dir.join(f)).ok()?.trim().parse().ok()
                };
                let quota = read("cpu.cfs_quota_us")?;
                (quota > 0.0).then_some(quota / read("cpu.cfs_period_us")?)
            }
            _ => None,
        }
    }
}

fn root_join(root: &Path, abs: &str) -> PathBuf {
    root.join(abs.trim_start_matches('/'))
}

/// The mount point of the cgroup v1 hierarchy holding `controller`, or of cgroup2 if `None`.
fn mount_point(mountinfo: &str, controller: Option<&str>) -> Option<String> {
    mountinfo.lines().find_map(|line| {
        // "36 35 0:30 / /sys/fs/cgroup/cpu rw,... shared:1 - cgroup cgroup rw,cpu"
        let (left, right) = line.split_once(" - ")?;
        let mut right = right.split_whitespace();
        let fstype = right.next()?;
        let super_opts = right.nth(1).unwrap_or("");
        let mount = left.split_whitespace().nth(4)?.to_owned();
        match controller {
            None => (fstype == "cgroup2").then_some(mount),
            Some(c) => {
                (fstype == "cgroup" && super_opts.split(',').any(|o| o == c)).then_some(mount)
            }
        }
    })
}

/// Turns successive cgroup usage readings into a busy fraction of the allowance.
#[derive(Debug)]
pub struct LoadMeter {
    accounting: CpuAccounting,
    capacity_cores: f64,
    last: Option<(Instant, Duration)>,
    permille: u32,
}

impl LoadMeter {
    /// Measures against the cgroup's quota, or all of `cores` where it has none.
    pub fn new(accounting: CpuAccounting, cores: usize) -> Self {
        let capacity_cores = accounting
            .quota_cores()
            .unwrap_or(cores as f64)
            .min(cores as f64);
        Self {
            accounting,
            capacity_cores,
            last: None,
            permille: 0,
        }
    }

    /// Cores this agent may use.
    pub fn capacity_cores(&self) -> f64 {
        self.capacity_cores
    }

    /// Takes a reading; returns the busy fraction in thousandths since the previous one.
    pub fn sample(&mut self) -> u32 {
        let Some(now_used) = self.accounting.usage() else {
            return 0;
        };
        let now = Instant::now();
        if let Some((then, used)) = self.last {
            let wall = now.duration_since(then).as_secs_f64();
            if wall > 0.05 {
                let busy =
                    now_used.saturating_sub(used).as_secs_f64() / (wall * self.capacity_cores);
                self.permille = (busy * 1000.0).round().clamp(0.0, 1000.0) as u32;
            }
        }
        self.last = Some((now, now_used));
        self.permille
    }
}

/// Memory available for new work, in MiB (`MemAvailable`).
pub fn mem_available_mb() -> u64 {
    fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

/// Single-core speed relative to a reference machine (1000), from short hashing runs.
///
/// The best of several 20 ms runs: other work on the machine (a build, another agent) only
/// ever slows a run down, so the fastest one is the machine's own speed, and equal machines
/// report equal speeds. Scaled down where the quota gives each slot less than a whole core, so
/// that a half-core lab host does not claim the speed of a full one.
pub fn measure_speed(capacity_cores: f64, slots: u32) -> u32 {
    const REFERENCE_MB_PER_SEC: f64 = 1000.0;
    let data = vec![0x5au8; 1 << 20];
    let mut best: f64 = 0.0;
    for _ in 0..5 {
        let start = Instant::now();
        let mut rounds = 0u32;
        while start.elapsed() < Duration::from_millis(20) {
            std::hint::black_box(blake3::hash(&data));
            rounds += 1;
        }
        best = best.max(f64::from(rounds) / start.elapsed().as_secs_f64());
    }
    let share = (capacity_cores / f64::from(slots.max(1))).min(1.0);
    (1000.0 * best / REFERENCE_MB_PER_SEC * share)
        .round()
        .max(1.0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_MOUNTS: &str = "\
30 24 0:26 / /sys/fs/cgroup/unified rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate
33 24 0:29 / /sys/fs/cgroup/cpu rw,nosuid shared:12 - cgroup cgroup rw,cpu
34 24 0:30 / /sys/fs/cgroup/cpuacct rw,nosuid shared:13 - cgroup cgroup rw,cpuacct
";

    #[test]
    fn v1_with_separate_cpu_and_cpuacct_hierarchies() {
        let root = tempfile::tempdir().unwrap();
        let acct = root.path().join("sys/fs/cgroup/cpuacct/lab/h0");
        let cpu = root.path().join("sys/fs/cgroup/cpu/lab/h0");
        fs::create_dir_all(&acct).unwrap();
        fs::create_dir_all(&cpu).unwrap();
        fs::write(acct.join("cpuacct.usage"), "1500000000\n").unwrap();
        fs::write(cpu.join("cpu.cfs_quota_us"), "50000\n").unwrap();
        fs::write(cpu.join("cpu.cfs_period_us"), "100000\n").unwrap();
        let cgroups = "5:cpuacct:/lab/h0\n4:cpu:/lab/h0\n0::/\n";
        let acc = CpuAccounting::from_tables(cgroups, V1_MOUNTS, root.path());
        assert_eq!(acc.usage(), Some(Duration::from_millis(1500)));
        assert_eq!(acc.quota_cores(), Some(0.5));
    }

    #[test]
    fn v2_quota_and_usage() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("sys/fs/cgroup/lab/h1");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("cpu.stat"), "usage_usec 2000\nuser_usec 1000\n").unwrap();
        fs::write(dir.join("cpu.max"), "25000 100000\n").unwrap();
        let mounts = "30 24 0:26 / /sys/fs/cgroup rw shared:9 - cgroup2 cgroup2 rw\n";
        let acc = CpuAccounting::from_tables("0::/lab/h1\n", mounts, root.path());
        assert_eq!(acc.usage(), Some(Duration::from_micros(2000)));
        assert_eq!(acc.quota_cores(), Some(0.25));
    }

    #[test]
    fn unlimited_v2_has_no_quota() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("sys/fs/cgroup");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("cpu.stat"), "usage_usec 1\n").unwrap();
        fs::write(dir.join("cpu.max"), "max 100000\n").unwrap();
        let mounts = "30 24 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let acc = CpuAccounting::from_tables("0::/\n", mounts, root.path());
        assert_eq!(acc.quota_cores(), None);
    }

    #[test]
    fn no_cgroup_means_no_reading() {
        let acc = CpuAccounting::from_tables("", "", Path::new("/nonexistent"));
        assert!(matches!(acc, CpuAccounting::None));
        let mut meter = LoadMeter::new(acc, 4);
        assert_eq!(meter.sample(), 0);
        assert_eq!(meter.capacity_cores(), 4.0);
    }

    #[test]
    fn this_machine_has_some_accounting() {
        // On Linux with cgroups mounted (CI included) the detection finds a readable counter.
        let acc = CpuAccounting::detect();
        assert!(
            acc.usage().is_some(),
            "no readable cgroup CPU counter: {acc:?}"
        );
    }
}
