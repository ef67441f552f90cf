//! `run` itself: errors that are the sandbox's, outputs, streams, cleanup.

use std::process::Command;

use meshcc_sandbox::{run, JailError, OutputFile, SandboxError, Termination};

use crate::util::{can_jail, helper, jp, Fixture};

#[test]
fn an_invalid_spec_is_refused_before_anything_starts() {
    let fx = Fixture::new();
    let mut spec = fx.probe_spec(&["true"]);
    spec.outputs.push(jp("/usr/lib/libc.so.6"));
    let err = run(helper(), &spec).unwrap_err();
    assert!(matches!(err, SandboxError::Spec(_)), "{err}");
    assert!(!spec.job_dir.exists());
}

#[test]
fn a_helper_that_is_not_one_is_a_sandbox_error_not_a_hang() {
    let fx = Fixture::new();
    let spec = fx.probe_spec(&["true"]);
    let err = run(Command::new("/bin/true"), &spec).unwrap_err();
    assert!(matches!(err, SandboxError::HelperDied { .. }), "{err}");
    let err = run(Command::new("/nonexistent/helper"), &spec).unwrap_err();
    assert!(matches!(err, SandboxError::Spawn { .. }), "{err}");
    let mut sleeper = Command::new("/bin/sleep");
    sleeper.arg("100");
    let mut spec = fx.probe_spec(&["true"]);
    spec.limits.wall_ms = 1;
    let started = std::time::Instant::now();
    let err = run(sleeper, &spec).unwrap_err();
    assert!(matches!(err, SandboxError::TimedOut { .. }), "{err}");
    assert!(started.elapsed().as_secs() < 30);
    assert!(!spec.job_dir.exists(), "job directory removed");
}

#[test]
fn a_missing_compiler_is_a_jail_error() {
    if !can_jail("a_missing_compiler_is_a_jail_error") {
        return;
    }
    let fx = Fixture::new();
    let mut spec = fx.probe_spec(&["true"]);
    spec.program = jp("/usr/bin/no-such-compiler");
    let err = run(helper(), &spec).unwrap_err();
    match &err {
        SandboxError::Jail(JailError::Start { call, errno, .. }) => {
            assert_eq!((call.as_str(), *errno), ("execve", libc::ENOENT))
        }
        other => panic!("{other}"),
    }
    assert!(
        err.to_string().contains("No such file or directory"),
        "{err}"
    );
}

#[test]
fn outputs_streams_and_status_come_back() {
    if !can_jail("outputs_streams_and_status_come_back") {
        return;
    }
    let fx = Fixture::new();
    let mut spec = fx.probe_spec(&["outputs"]);
    spec.outputs = ["out.o", "link.o", "dir.o", "never.o"]
        .iter()
        .map(|o| jp(format!("/build/proj/{o}")))
        .collect();
    let job_dir = spec.job_dir.clone();
    let outcome = run(helper(), &spec).unwrap();
    assert_eq!(outcome.termination, Termination::Exited(3));
    assert_eq!(&outcome.stdout.bytes[..], b"to stdout\n");
    assert_eq!(&outcome.stderr.bytes[..], b"to stderr\n");
    let files: Vec<&OutputFile> = outcome.outputs.iter().map(|(_, f)| f).collect();
    assert_eq!(
        files[0],
        &OutputFile::Present(b"object bytes".to_vec().into())
    );
    // A symlink to pid 1's environment is refused, not followed.
    assert_eq!(files[1], &OutputFile::NotRegular);
    assert_eq!(files[2], &OutputFile::NotRegular);
    assert_eq!(files[3], &OutputFile::Missing);
    assert_eq!(outcome.stopped_by, None);
    assert!(!job_dir.exists(), "job directory removed");
}
