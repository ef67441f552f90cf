//! The order of the jail's system calls, recorded without root.

use super::*;
use crate::spec::tests::sample;
use crate::syscalls::Recording;

fn plan(switch_to: Option<(u32, u32)>) -> Plan {
    let ids = Ids {
        switch_to,
        outside: (65534, 65534),
        inside: (1000, 1000),
    };
    Plan::new(&sample(), ids, Path::new("/store/jobs/1/layer"))
}

fn run_all(sys: &Recording, plan: &Plan) -> Result<(), JailError> {
    enter_namespaces(sys, plan)?;
    build_root(sys, plan)?;
    confine(sys, plan)
}

fn position(names: &[&str], name: &str) -> usize {
    names
        .iter()
        .position(|n| *n == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

fn last_position(names: &[&str], name: &str) -> usize {
    names
        .iter()
        .rposition(|n| *n == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn whole_sequence_in_order() {
    let sys = Recording::new();
    run_all(&sys, &plan(Some((65534, 65534)))).unwrap();
    let got: Vec<String> = sys
        .calls()
        .iter()
        .map(|c| format!("{} {}", c.name, c.args))
        .collect();
    let nosuid_nodev = "MS_NOSUID | MS_NODEV";
    let want = [
        "unshare CLONE_NEWNS".to_string(),
        "mount - / - MS_REC | MS_PRIVATE -".into(),
        "open_path /store/jobs/1/layer".into(),
        "open_path /store/tc/abc".into(),
        format!("mount tmpfs /tmp tmpfs {nosuid_nodev} size=64k,mode=0755"),
        "mkdir /tmp/layer 755".into(),
        "mount /proc/self/fd/100 /tmp/layer - MS_BIND -".into(),
        "mkdir /tmp/toolchain 755".into(),
        "mount /proc/self/fd/101 /tmp/toolchain - MS_BIND -".into(),
        "close_paths ".into(),
        "mkdir /tmp/jail 755".into(),
        "switch_user 65534:65534".into(),
        "set_dumpable true".into(),
        "unshare CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET".into(),
        "write_proc /proc/self/setgroups deny".into(),
        "write_proc /proc/self/uid_map 1000 65534 1\n".into(),
        "write_proc /proc/self/gid_map 1000 65534 1\n".into(),
        "mount - / - MS_REC | MS_PRIVATE -".into(),
        "write_proc /proc/sys/user/max_user_namespaces 0".into(),
        format!("mount tmpfs /tmp/jail tmpfs {nosuid_nodev} size=1073741824,mode=0755"),
        "mkdir /tmp/jail/root 755".into(),
        format!("mount overlay /tmp/jail/root overlay MS_RDONLY | {nosuid_nodev} lowerdir=/tmp/layer:/tmp/toolchain"),
        "mkdir /tmp/jail/w0 755".into(),
        "mkdir /tmp/jail/w0/upper 755".into(),
        "mkdir /tmp/jail/w0/work 755".into(),
        format!("mount overlay /tmp/jail/root/home/u/obj overlay {nosuid_nodev} lowerdir=/tmp/layer/home/u/obj,upperdir=/tmp/jail/w0/upper,workdir=/tmp/jail/w0/work"),
        "mkdir /tmp/jail/w1 755".into(),
        "mkdir /tmp/jail/w1/upper 755".into(),
        "mkdir /tmp/jail/w1/work 755".into(),
        format!("mount overlay /tmp/jail/root/home/u/p overlay {nosuid_nodev} lowerdir=/tmp/layer/home/u/p,upperdir=/tmp/jail/w1/upper,workdir=/tmp/jail/w1/work"),
        "mkdir /tmp/jail/w2 755".into(),
        "mkdir /tmp/jail/w2/upper 755".into(),
        "mkdir /tmp/jail/w2/work 755".into(),
        format!("mount overlay /tmp/jail/root/tmp overlay {nosuid_nodev} lowerdir=/tmp/layer/tmp,upperdir=/tmp/jail/w2/upper,workdir=/tmp/jail/w2/work"),
        "mount /dev/null /tmp/jail/root/dev/null - MS_BIND -".into(),
        "mount /dev/zero /tmp/jail/root/dev/zero - MS_BIND -".into(),
        "mount /dev/full /tmp/jail/root/dev/full - MS_BIND -".into(),
        "mount /dev/random /tmp/jail/root/dev/random - MS_BIND -".into(),
        "mount /dev/urandom /tmp/jail/root/dev/urandom - MS_BIND -".into(),
        format!("mount proc /tmp/jail/root/proc proc {nosuid_nodev} | MS_NOEXEC subset=pid"),
        "chdir /tmp/jail/root".into(),
        "pivot_root . .".into(),
        "umount_detach .".into(),
        "chdir /".into(),
        "sethostname meshcc".into(),
        "setrlimit RLIMIT_CPU 300 301".into(),
        "setrlimit RLIMIT_AS 4294967296 4294967296".into(),
        "setrlimit RLIMIT_FSIZE 1073741824 1073741824".into(),
        "setrlimit RLIMIT_NPROC 64 64".into(),
        "setrlimit RLIMIT_NOFILE 1024 1024".into(),
        "setrlimit RLIMIT_CORE 0 0".into(),
        "chdir /home/u/p".into(),
        "set_no_new_privs ".into(),
        "drop_capabilities ".into(),
        "close_fds_on_exec 3".into(),
    ];
    assert_eq!(got, want);
}

#[test]
fn order_invariants() {
    let sys = Recording::new();
    run_all(&sys, &plan(Some((65534, 65534)))).unwrap();
    let names = sys.names();
    let calls = sys.calls();
    // Root's staging happens in a mount namespace of its own, made private before any mount.
    assert_eq!(calls[0].args, "CLONE_NEWNS");
    assert!(calls[1].name == "mount" && calls[1].args.contains("MS_PRIVATE"));
    let switch = position(&names, "switch_user");
    assert!(position(&names, "open_path") < position(&names, "close_paths"));
    assert!(
        position(&names, "close_paths") < switch,
        "no host handle survives root"
    );
    // Root is left before the user namespace exists, so it belongs to the unprivileged id.
    let unshare = last_position(&names, "unshare");
    assert!(switch < unshare);
    assert!(calls[unshare].args.contains("CLONE_NEWUSER"));
    // Every later mount happens inside the new mount namespace, the first making / private.
    let first_jail_mount = unshare + position(&names[unshare..], "mount");
    assert!(calls[first_jail_mount].args.contains("MS_PRIVATE"));
    let pivot = position(&names, "pivot_root");
    assert!(last_position(&names, "mount") < pivot);
    assert_eq!(names[pivot + 1], "umount_detach");
    // Limits and dropping privileges come after the root is built, since mounting needs them.
    assert!(pivot < position(&names, "setrlimit"));
    let caps = position(&names, "drop_capabilities");
    assert!(last_position(&names, "setrlimit") < caps);
    assert!(position(&names, "set_no_new_privs") < caps);
    assert_eq!(names.last(), Some(&"close_fds_on_exec"));
}

#[test]
fn a_normal_user_does_not_switch() {
    let sys = Recording::new();
    run_all(&sys, &plan(None)).unwrap();
    let names = sys.names();
    assert_eq!(names[0], "unshare");
    assert!(!names.contains(&"switch_user"));
    assert_eq!(names.iter().filter(|n| **n == "unshare").count(), 1);
    // A normal user's jail uses its own files directly and mounts on the job directory.
    let calls = sys.calls();
    assert!(calls.iter().any(|c| c
        .args
        .contains("lowerdir=/store/jobs/1/layer:/store/tc/abc")));
    assert!(calls
        .iter()
        .any(|c| c.args.starts_with("tmpfs /store/jobs/1/jail tmpfs")));
}

#[test]
fn a_failed_call_stops_the_sequence() {
    let sys = Recording::failing_on("pivot_root");
    let err = run_all(&sys, &plan(None)).unwrap_err();
    assert!(matches!(err, JailError::Sys { ref call, .. } if call == "pivot_root"));
    assert_eq!(sys.names().last(), Some(&"pivot_root"));
    assert!(!sys.names().contains(&"setrlimit"));
    assert!(err
        .to_string()
        .starts_with("building the jail: pivot_root(. .)"));
}

#[test]
fn overlay_paths_are_escaped() {
    assert_eq!(overlay_path(Path::new("/a,b:c\\d")), "/a\\,b\\:c\\\\d");
}
