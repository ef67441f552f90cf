//! Helpers shared by the end-to-end tests: the built binaries, agents on loopback, waiting.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A binary of this workspace, built by `cargo test --workspace` beside this test.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace` so the binaries are built",
        path.display()
    );
    path
}

/// Asserts that a command succeeded, showing what it said on stderr if it did not.
#[track_caller]
pub fn succeeded(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A free TCP port on loopback (bound and released; good enough for tests on one machine).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One `meshcc agent` on loopback, killed when dropped.
pub struct Agent {
    pub dir: PathBuf,
    pub port: u16,
    child: Option<Child>,
    extra: Vec<String>,
}

impl Agent {
    /// Starts an agent in `dir` listening on a fresh loopback port, without mDNS (it would
    /// multicast onto the machine's real network), with `extra` options.
    pub fn start(dir: &Path, extra: &[String]) -> Self {
        let mut agent = Self {
            dir: dir.to_owned(),
            port: free_port(),
            child: None,
            extra: extra.to_vec(),
        };
        agent.spawn();
        agent
    }

    fn spawn(&mut self) {
        std::fs::create_dir_all(&self.dir).unwrap();
        let log = std::fs::File::create(self.dir.join("agent.log")).unwrap();
        let child = Command::new(bin("meshcc"))
            .arg("agent")
            .arg("--state-dir")
            .arg(&self.dir)
            .arg("--listen")
            .arg(self.addr())
            .arg("--no-mdns")
            .args(&self.extra)
            .env("MESHCC_LOG_LEVEL", "debug")
            .env_remove("MESHCC_LOG")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        wait_for(
            Duration::from_secs(10),
            || self.socket().exists(),
            "control socket",
        );
    }

    /// Its multiaddr.
    pub fn addr(&self) -> String {
        format!("/ip4/127.0.0.1/tcp/{}", self.port)
    }

    /// Its control socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("agent.sock")
    }

    /// Kills it (SIGKILL: no goodbye to its peers).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(self.socket());
    }

    /// Starts it again with the same state directory and port.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// `meshcc peers --json` against this agent.
    pub fn peers(&self) -> serde_json::Value {
        let out = self.meshcc(&["peers", "--json"]);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "peers --json: {e}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    /// Peer ids in its table.
    pub fn peer_ids(&self) -> Vec<String> {
        self.peers()["peers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["peer_id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Its own peer id.
    pub fn id(&self) -> String {
        self.peers()["local"]["peer_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Runs `meshcc ARGS` against this agent.
    pub fn meshcc(&self, args: &[&str]) -> std::process::Output {
        Command::new(bin("meshcc"))
            .args(args)
            .env("MESHCC_SOCKET", self.socket())
            .output()
            .unwrap()
    }

    /// The agent's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A worker with `worker_slots` slots and a submitter that compiles nothing itself
/// (`--slots 0`) peered with it on loopback, in `root`'s `worker` and `submitter`, once the
/// submitter sees the worker.
pub fn worker_and_submitter(root: &Path, worker_slots: u32) -> (Agent, Agent) {
    let worker = Agent::start(
        &root.join("worker"),
        &["--slots".into(), worker_slots.to_string()],
    );
    let submitter = Agent::start(
        &root.join("submitter"),
        &["--slots".into(), "0".into(), "--peer".into(), worker.addr()],
    );
    wait_for(
        Duration::from_secs(15),
        || submitter.peer_ids().len() == 1,
        "the submitter to see the worker",
    );
    (worker, submitter)
}

/// Polls `cond` every 100 ms until it holds, or panics naming `what` after `limit`.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool, what: &str) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    start.elapsed()
}

/// Whether this process may run root-only tests. Without root they are skipped with a visible
/// message, except in CI (`CI` set), where a skip would hide a broken setup: then it panics.
pub fn needs_root(what: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "this test needs root ({what}), and CI runs as root: something is wrong with the setup"
        );
    }
    eprintln!("skipped: needs root ({what})");
    false
}
