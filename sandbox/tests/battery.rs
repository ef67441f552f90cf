//! The sandbox battery (issue 7, item 3): the probe, run as the job, tries to get out and to
//! exceed each limit. Every test states its pass condition.

use std::time::Instant;

use meshcc_sandbox::{run, JobOutcome, JobSpec, LimitHit, Stream, Termination};

use crate::util::{can_jail, helper, report, Fixture};

const MIB: u64 = 1024 * 1024;

fn run_probe(spec: &JobSpec) -> JobOutcome {
    let outcome = run(helper(), spec).unwrap_or_else(|e| panic!("sandbox error: {e}"));
    report(&format!(
        "probe {:?}: {}, stopped by: {}",
        String::from_utf8_lossy(&spec.argv[1]),
        outcome.termination,
        outcome
            .stopped_by
            .map(|l| l.to_string())
            .unwrap_or("-".into())
    ));
    outcome
}

/// Pass: every containment check of the probe prints "ok" (network, host files, writes,
/// processes, privileges, fds) and it exits 0.
#[test]
fn the_job_cannot_get_out() {
    if !can_jail("the_job_cannot_get_out") {
        return;
    }
    let fx = Fixture::new();
    let secret = fx.path().join("secret.txt");
    std::fs::write(&secret, "host secret").unwrap();
    let host_pid = std::process::id().to_string();
    let spec = fx.probe_spec(&["escape", secret.to_str().unwrap(), &host_pid]);
    let outcome = run_probe(&spec);
    let lines = String::from_utf8_lossy(&outcome.stdout.bytes).into_owned();
    report(&lines);
    for check in [
        "net_tcp_loopback",
        "net_udp_route_other",
        "net_only_lo",
        "net_lo_down",
        "read_etc_passwd",
        "read_host_secret",
        "read_proc1_environ",
        "write_usr",
        "write_root",
        "write_cwd",
        "write_tmp",
        "proc_only_own_namespace",
        "kill_host_pid",
        "kill_everyone",
        "mount_tmpfs",
        "unshare_user",
        "no_capabilities",
        "no_inherited_fds",
    ] {
        assert!(
            lines.contains(&format!("ok {check}")),
            "{check} missing in:\n{lines}"
        );
    }
    assert!(!lines.contains("FAIL"), "{lines}");
    assert_eq!(outcome.termination, Termination::Exited(0), "{lines}");
    assert!(!secret.with_file_name("cwd-was-writable").exists());
}

/// Pass: a busy loop under a 1 s CPU limit dies of SIGXCPU, reported as CPU time.
#[test]
fn cpu_time_limit() {
    if !can_jail("cpu_time_limit") {
        return;
    }
    let fx = Fixture::new();
    let mut spec = fx.probe_spec(&["cpu"]);
    spec.limits.cpu_secs = 1;
    let outcome = run_probe(&spec);
    assert_eq!(outcome.termination, Termination::Signaled(libc::SIGXCPU));
    assert_eq!(
        outcome.stopped_by,
        Some(LimitHit::CpuTime { limit_secs: 1 })
    );
    assert!(outcome.usage.cpu_ms() >= 900, "{:?}", outcome.usage);
}

/// Pass: allocating without end under a 256 MiB limit ends with the reason "ran out of
/// memory (limit 256 MiB)", the words the agent must be able to say.
#[test]
fn memory_limit() {
    if !can_jail("memory_limit") {
        return;
    }
    let fx = Fixture::new();
    let mut spec = fx.probe_spec(&["mem"]);
    spec.limits.memory_bytes = 256 * MIB;
    let outcome = run_probe(&spec);
    let limit = outcome.stopped_by.expect("a limit");
    assert_eq!(
        limit,
        LimitHit::Memory {
            limit_bytes: 256 * MIB
        }
    );
    assert_eq!(
        limit.to_string(),
        "the job ran out of memory (limit 256 MiB)"
    );
}

/// Pass: writing 64 MiB under a 1 MiB file-size limit dies of SIGXFSZ, reported as file size.
#[test]
fn file_size_limit() {
    if !can_jail("file_size_limit") {
        return;
    }
    let fx = Fixture::new();
    let mut spec = fx.probe_spec(&["fsize"]);
    spec.limits.file_size_bytes = MIB;
    let outcome = run_probe(&spec);
    assert_eq!(outcome.termination, Termination::Signaled(libc::SIGXFSZ));
    assert_eq!(
        outcome.stopped_by,
        Some(LimitHit::FileSize { limit_bytes: MIB })
    );
}

/// Pass: a fork loop under a 16-process limit fails to fork well before its own cap of 500,
/// is reported as the process limit, and leaves no process behind on the host.
#[test]
fn process_limit() {
    if !can_jail("process_limit") {
        return;
    }
    let fx = Fixture::new();
    let mut spec = fx.probe_spec(&["fork"]);
    spec.limits.processes = 16;
    let outcome = run_probe(&spec);
    let stderr = String::from_utf8_lossy(&outcome.stderr.bytes);
    assert!(
        stderr.contains("Resource temporarily unavailable"),
        "{stderr}"
    );
    assert_eq!(outcome.stopped_by, Some(LimitHit::Processes { limit: 16 }));
    let children: usize = stderr
        .split("after ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("count");
    assert!(children <= 16, "{children} children forked");
    // Everything the bomb made died with its namespace.
    let left = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("cmdline")).ok())
        .filter(|c| c.starts_with("probe\0fork"))
        .count();
    assert_eq!(left, 0, "probe processes left on the host");
}

/// Pass: `sleep 60` under a 1 s wall clock is killed within 5 s, reported as the wall clock.
#[test]
fn wall_clock_limit() {
    if !can_jail("wall_clock_limit") {
        return;
    }
    let fx = Fixture::new();
    let mut spec = fx.probe_spec(&["sleep"]);
    spec.limits.wall_ms = 1000;
    let started = Instant::now();
    let outcome = run_probe(&spec);
    assert!(
        started.elapsed().as_secs_f64() < 5.0,
        "{:?}",
        started.elapsed()
    );
    assert_eq!(outcome.termination, Termination::Signaled(libc::SIGKILL));
    assert_eq!(
        outcome.stopped_by,
        Some(LimitHit::WallClock { limit_ms: 1000 })
    );
    assert!(outcome.usage.wall_ms >= 1000);
}

/// Pass: endless stdout under a 64 KiB stream cap is killed, keeps exactly 64 KiB, is flagged
/// truncated and reported as the output limit.
#[test]
fn output_limit() {
    if !can_jail("output_limit") {
        return;
    }
    let fx = Fixture::new();
    let mut spec = fx.probe_spec(&["spew"]);
    spec.limits.stream_bytes = 64 * 1024;
    let outcome = run_probe(&spec);
    assert_eq!(outcome.stdout.bytes.len(), 64 * 1024);
    assert!(outcome.stdout.truncated);
    assert_eq!(
        outcome.stopped_by,
        Some(LimitHit::Output {
            stream: Stream::Stdout,
            limit_bytes: 64 * 1024
        })
    );
}

/// Pass: filling /tmp under an 8 MiB scratch limit fails with ENOSPC, reported as scratch.
#[test]
fn scratch_space_limit() {
    if !can_jail("scratch_space_limit") {
        return;
    }
    let fx = Fixture::new();
    let mut spec = fx.probe_spec(&["scratch"]);
    spec.limits.scratch_bytes = 8 * MIB;
    let outcome = run_probe(&spec);
    assert_eq!(outcome.termination, Termination::Exited(1));
    assert_eq!(
        outcome.stopped_by,
        Some(LimitHit::ScratchSpace {
            limit_bytes: 8 * MIB
        })
    );
}
