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

/// Pass: a helper running as a normal user (uid 65534 here, as an agent run by that user would
/// start it) maps its own id, builds the jail on its job directory and runs the probe's escape
/// checks with the same result as under root.
#[test]
fn a_normal_user_helper_runs_jobs() {
    if !can_jail("a_normal_user_helper_runs_jobs") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new();
    std::fs::set_permissions(fx.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = fx.path().join("secret.txt");
    std::fs::write(&secret, "host secret").unwrap();
    let host_pid = std::process::id().to_string();
    let spec = fx.probe_spec(&["escape", secret.to_str().unwrap(), &host_pid]);
    // run() makes the job directory as the caller; hand it to the user the helper runs as.
    let mut as_user = Command::new("sh");
    as_user.args([
        "-c",
        "/usr/bin/chown 65534:65534 \"$0\" && \
         exec /usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups \"$1\"",
    ]);
    as_user.arg(&spec.job_dir);
    as_user.arg(env!("CARGO_BIN_EXE_meshcc-sandbox-helper"));
    // The user's own store: hard links to others' files are refused (protected_hardlinks).
    for input in &spec.inputs {
        std::os::unix::fs::chown(&input.source, Some(65534), Some(65534)).unwrap();
    }
    let outcome = run(as_user, &spec).unwrap_or_else(|e| panic!("{e}"));
    let lines = String::from_utf8_lossy(&outcome.stdout.bytes).into_owned();
    assert!(!lines.contains("FAIL"), "{lines}");
    assert!(
        lines.contains("ok net_only_lo") && lines.contains("ok no_capabilities"),
        "{lines}"
    );
    assert_eq!(outcome.termination, Termination::Exited(0));
}

/// Pass: a helper fed garbage replies with a protocol error and exits; it never hangs.
#[test]
fn the_helper_answers_garbage_with_a_protocol_error() {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = helper()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&[0, 0, 0, 3, 0xff, 0xff, 0xff]).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let reply: meshcc_sandbox::Reply = meshcc_wire::read_msg(&mut &out.stdout[..])
        .unwrap()
        .unwrap();
    assert!(
        matches!(reply, meshcc_sandbox::Reply::Failed(JailError::Protocol(_))),
        "{reply:?}"
    );
    assert!(!out.status.success());
}
