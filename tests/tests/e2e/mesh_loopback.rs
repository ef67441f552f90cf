//! The mesh on loopback with static peers: agents find each other, notice a dead peer, keep
//! their identity, and refuse strangers. (mDNS is tested in lab namespaces, where multicast
//! cannot leave the machine.)

use std::io::Write;
use std::time::Duration;

use crate::util::{wait_for, Agent};

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn static_peers_form_a_full_table_and_a_killed_peer_leaves_it() {
    let tmp = dir();
    let a = Agent::start(&tmp.path().join("a"), &[]);
    let peer_a = vec!["--peer".to_string(), a.addr()];
    let b = Agent::start(&tmp.path().join("b"), &peer_a);
    let mut c = Agent::start(&tmp.path().join("c"), &peer_a);
    // Static peers are dialled directly: b and c each know a, and a knows both.
    let took = wait_for(
        Duration::from_secs(5),
        || a.peer_ids().len() == 2,
        "a to see b and c",
    );
    eprintln!("a saw both peers after {took:?}");
    assert_eq!(b.peer_ids(), vec![a.id()]);
    let c_id = c.id();
    c.kill();
    let took = wait_for(
        Duration::from_secs(10),
        || !a.peer_ids().contains(&c_id),
        "a to drop the killed c",
    );
    eprintln!("a dropped the killed peer after {took:?}");
    assert!(a.peer_ids().len() == 1);
}

#[test]
fn restart_keeps_the_peer_id_and_rejoins() {
    let tmp = dir();
    let a = Agent::start(&tmp.path().join("a"), &[]);
    let mut b = Agent::start(&tmp.path().join("b"), &["--peer".to_string(), a.addr()]);
    let before = b.id();
    wait_for(
        Duration::from_secs(5),
        || a.peer_ids() == vec![before.clone()],
        "a to see b",
    );
    b.restart();
    assert_eq!(b.id(), before);
    wait_for(
        Duration::from_secs(10),
        || b.peer_ids() == vec![a.id()],
        "b to rejoin a",
    );
}

#[test]
fn different_mesh_key_never_joins_and_same_key_does() {
    let tmp = dir();
    let write_key = |name: &str, secret: &str| {
        let path = tmp.path().join(name);
        std::fs::File::create(&path)
            .unwrap()
            .write_all(secret.as_bytes())
            .unwrap();
        path.to_string_lossy().into_owned()
    };
    let key1 = write_key("k1", "first mesh secret, 32 bytes long!");
    let key2 = write_key("k2", "another mesh secret entirely....");
    let a = Agent::start(&tmp.path().join("a"), &["--mesh-key".into(), key1.clone()]);
    let join = |key: &str, name: &str| {
        Agent::start(
            &tmp.path().join(name),
            &["--mesh-key".into(), key.into(), "--peer".into(), a.addr()],
        )
    };
    let stranger = join(&key2, "stranger");
    let open = Agent::start(&tmp.path().join("open"), &["--peer".into(), a.addr()]);
    let friend = join(&key1, "friend");
    let friend_id = friend.id();
    wait_for(
        Duration::from_secs(5),
        || a.peer_ids() == vec![friend_id.clone()],
        "the friend to join",
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        a.peer_ids(),
        vec![friend_id],
        "only the key holder is in the table"
    );
    assert!(stranger.peer_ids().is_empty());
    assert!(open.peer_ids().is_empty());
}

#[test]
fn jobs_counts_free_slots_across_the_mesh() {
    let tmp = dir();
    let a = Agent::start(&tmp.path().join("a"), &["--slots".into(), "2".into()]);
    let _b = Agent::start(
        &tmp.path().join("b"),
        &["--slots".into(), "3".into(), "--peer".into(), a.addr()],
    );
    let _c = Agent::start(
        &tmp.path().join("c"),
        &[
            "--slots".into(),
            "5".into(),
            "--no-remote".into(),
            "--peer".into(),
            a.addr(),
        ],
    );
    wait_for(
        Duration::from_secs(5),
        || a.peer_ids().len() == 2,
        "a to see b and c",
    );
    let out = a.meshcc(&["jobs"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "24",
        "2 own + two per free slot of b's 3 + 16 to wait in the dispatch queue; c takes no jobs"
    );
}

#[test]
fn garbage_on_the_control_socket_is_refused_and_the_agent_keeps_serving() {
    use std::os::unix::net::UnixStream;
    let tmp = dir();
    let a = Agent::start(&tmp.path().join("a"), &[]);
    // An absurd length prefix, then random bytes.
    let mut s = UnixStream::connect(a.socket()).unwrap();
    s.write_all(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3]).unwrap();
    drop(s);
    // A well-sized frame that is not CBOR.
    let mut s = UnixStream::connect(a.socket()).unwrap();
    s.write_all(&[0, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef]).unwrap();
    drop(s);
    assert_eq!(a.peers()["peers"].as_array().unwrap().len(), 0);
    wait_for(
        Duration::from_secs(2),
        || a.log().contains("bad request on the control socket"),
        "the log to say why",
    );
}
