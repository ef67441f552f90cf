//! The agent's web monitor, looked at the way a user does: in a browser (headless Chromium,
//! inside the lab host's network namespace, since the page is on that host's loopback), after
//! a real Lua build through a three-host lab mesh. And the progress of a toolchain fetch over
//! a slow link, in the worker's log, in `meshcc peers` and on its monitor page. And, without
//! root, on loopback: the page and its JSON, the URL in `meshcc peers`, the address options.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use meshcc_simulations::lab::{AgentOptions, Lab, LabConfig};

use crate::lab_build::{lua_make, lua_sources, remote_jobs};
use crate::util::{bin, free_port, needs_root, wait_for, Agent};

/// A lab config whose name is unique to this test and this process.
fn lab_config(what: &str, hosts: usize) -> LabConfig {
    let name = format!("monitor-{what}{}", std::process::id() % 100_000);
    LabConfig::new(&name, hosts)
}

fn start_agents(lab: &mut Lab, hosts: Vec<usize>, slots: &str) {
    lab.start_agents(&AgentOptions {
        meshcc: bin("meshcc"),
        args: vec!["--slots".into(), slots.into()],
        hosts: Some(hosts),
    })
    .unwrap();
}

/// `meshcc peers --json` on host `i`.
fn peers_json(lab: &Lab, i: usize) -> serde_json::Value {
    let meshcc = bin("meshcc");
    let out = lab
        .output_on(
            i,
            &[meshcc.as_os_str(), "peers".as_ref(), "--json".as_ref()],
        )
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

fn wait_for_peers(lab: &Lab, i: usize, n: usize) {
    wait_for(
        Duration::from_secs(20),
        || peers_json(lab, i)["peers"].as_array().map_or(0, Vec::len) == n,
        "the hosts to find each other by mDNS",
    );
}

/// Headless Chromium on host `i` with `args` and the URL last. As root it needs `--no-sandbox`;
/// `--virtual-time-budget` lets the page's scripts fetch and draw before the DOM is dumped or
/// the screenshot taken.
fn chromium(lab: &Lab, i: usize, profile: &Path, args: &[&str], url: &str) -> Output {
    let mut cmd = lab.command_on(i, "chromium").unwrap();
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--virtual-time-budget=4000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(args)
    .arg(url);
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run chromium ({e}); scripts/setup-system.sh installs it")
    });
    assert!(
        out.status.success(),
        "chromium failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn dump_dom(lab: &Lab, i: usize, profile: &Path, url: &str) -> String {
    String::from_utf8(chromium(lab, i, profile, &["--dump-dom"], url).stdout).unwrap()
}

/// The monitor URL that `meshcc peers` prints on host `i`.
fn monitor_url(lab: &Lab, i: usize) -> String {
    let meshcc = bin("meshcc");
    let out = lab
        .output_on(i, &[meshcc.as_os_str(), "peers".as_ref()])
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let url = table
        .lines()
        .find_map(|l| l.strip_prefix("monitor: "))
        .unwrap_or_else(|| panic!("`meshcc peers` printed no monitor URL:\n{table}"))
        .to_owned();
    assert_eq!(peers_json(lab, i)["monitor"], url.as_str());
    url
}

/// Where the test's screenshot is kept: beside the test binaries, under `target/`.
fn artifact_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap().join("monitor");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The opening tags (their attributes) of the `tag` elements of a DOM dump that carry every
/// one of `attrs` (`name="value"` pairs).
fn elements<'a>(dom: &'a str, tag: &str, attrs: &[&str]) -> Vec<&'a str> {
    dom.split(&format!("<{tag} "))
        .skip(1)
        .map(|rest| &rest[..rest.find('>').unwrap_or(rest.len())])
        .filter(|head| attrs.iter().all(|a| head.contains(a)))
        .collect()
}

fn count_elements(dom: &str, tag: &str, attrs: &[&str]) -> usize {
    elements(dom, tag, attrs).len()
}

/// The value of attribute `name` in an opening tag.
fn attribute<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    let start = head.find(&format!(" {name}=\""))? + name.len() + 3;
    head[start..].split('"').next()
}

#[test]
fn monitor_in_headless_chromium_shows_every_host_and_the_jobs_of_a_lua_build() {
    if !needs_root("lab hosts are network namespaces") {
        return;
    }
    let lua = lua_sources();
    let tmp = tempfile::tempdir().unwrap();
    let mut lab = Lab::up(lab_config("gantt", 3)).unwrap();
    // Host 0 compiles nothing itself, so every distributable job goes to hosts 1 and 2.
    start_agents(&mut lab, vec![0], "0");
    start_agents(&mut lab, vec![1, 2], "2");
    wait_for_peers(&lab, 0, 2);

    let log = tmp.path().join("wrapper.log");
    let build = tmp.path().join("build");
    std::fs::create_dir(&build).unwrap();
    let mut make = lab.command_on(0, "make").unwrap();
    let cc = format!("{} gcc", bin("meshcc").display());
    lua_make(&mut make, &build, &lua, &cc, 6).env("MESHCC_LOG", &log);
    assert!(make.status().unwrap().success(), "the Lua build failed");
    let remote = remote_jobs(&log);
    assert!(remote > 0, "no compile ran remotely");

    let peers = peers_json(&lab, 0);
    let submitter = peers["local"]["peer_id"].as_str().unwrap().to_owned();
    let workers: Vec<String> = peers["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["peer_id"].as_str().unwrap().to_owned())
        .collect();
    let url = monitor_url(&lab, 0);
    let profile = tmp.path().join("chromium");
    let dom = dump_dom(&lab, 0, &profile, &url);
    std::fs::write(artifact_dir().join("lab-mesh.html"), &dom).unwrap();

    for host in std::iter::once(&submitter).chain(&workers) {
        let row = format!("data-peer=\"{host}\"");
        assert_eq!(
            count_elements(&dom, "tr", &[&row]),
            1,
            "the hosts table has no row for {host}"
        );
        assert_eq!(
            count_elements(&dom, "text", &["class=\"host-label\"", &row]),
            1,
            "the Gantt chart has no row for {host}"
        );
    }
    let remote_done = count_elements(
        &dom,
        "rect",
        &["data-role=\"remote\"", "data-outcome=\"ok\""],
    );
    assert_eq!(
        remote_done, remote,
        "the Gantt chart shows {remote_done} remote jobs done, the wrapper's log {remote}"
    );
    for worker in &workers {
        let on_it = count_elements(&dom, "rect", &[&format!("data-host=\"{worker}\"")]);
        eprintln!("worker {worker}: {on_it} jobs in the chart");
        assert!(on_it > 0, "no job of the build is drawn on worker {worker}");
    }
    for job in elements(&dom, "rect", &["data-role=\"remote\""]) {
        let label = attribute(job, "data-label").unwrap_or_default();
        assert!(
            label.ends_with(".o"),
            "a remote job is labelled {label:?}, not by its object"
        );
    }

    // A worker's own monitor shows the jobs it served for host 0.
    let worker_url = monitor_url(&lab, 1);
    let worker_dom = dump_dom(&lab, 1, &profile, &worker_url);
    let served = count_elements(
        &worker_dom,
        "rect",
        &["data-role=\"served\"", "data-outcome=\"ok\""],
    );
    assert!(
        served > 0,
        "host 1's monitor shows no job served for host 0"
    );

    let shot = artifact_dir().join("lab-mesh.png");
    let _ = std::fs::remove_file(&shot);
    chromium(
        &lab,
        0,
        &profile,
        &[
            "--window-size=1300,760",
            "--hide-scrollbars",
            &format!("--screenshot={}", shot.display()),
        ],
        &url,
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "the screenshot is not a PNG of a drawn page ({} bytes)",
        png.len()
    );
    eprintln!(
        "{remote} remote jobs in the chart, {served} served by host 1; screenshot {}",
        shot.display()
    );
}

fn total_of(transfer: &serde_json::Value) -> u64 {
    transfer["total_bytes"].as_u64().unwrap_or(0)
}

#[test]
fn a_slow_toolchain_fetch_shows_progress_in_the_log_peers_and_the_monitor() {
    if !needs_root("lab hosts are network namespaces") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // A slow link and half a core each: gcc's toolchain (77 MiB) takes tens of seconds to fetch.
    let mut lab = Lab::up(LabConfig {
        bandwidth_kbit: Some(16_000),
        cpu: Some(0.5),
        ..lab_config("progress", 2)
    })
    .unwrap();
    start_agents(&mut lab, vec![0], "0");
    start_agents(&mut lab, vec![1], "1");
    wait_for_peers(&lab, 0, 1);
    let source = tmp.path().join("hello.c");
    std::fs::write(&source, "int hello(void) { return 42; }\n").unwrap();
    let compile = |lab: &Lab| {
        let mut cmd = lab.command_on(0, bin("meshcc")).unwrap();
        cmd.args(["gcc", "-O2", "-c"])
            .arg(&source)
            .arg("-o")
            .arg(tmp.path().join("hello.o"))
            .env("MESHCC_LOG", tmp.path().join("wrapper.log"));
        cmd
    };
    // Host 0 has no slot (`--slots 0`): the first compile waits while host 0 packages gcc
    // (up to 10 s), then goes to host 1, which fetches the toolchain over the slow link. Had
    // the packaging taken longer, it compiled locally, and a second compile is the one sent.
    let mut sent = compile(&lab).spawn().unwrap();
    wait_for(
        Duration::from_secs(60),
        || {
            peers_json(&lab, 0)["local"]["toolchains"]
                .as_array()
                .is_some_and(|t| !t.is_empty())
        },
        "host 0 to package gcc",
    );
    if let Some(status) = sent.try_wait().unwrap() {
        assert!(status.success());
        sent = compile(&lab).spawn().unwrap();
    }
    let mut seen = serde_json::Value::Null;
    wait_for(
        Duration::from_secs(60),
        || {
            let transfers = &peers_json(&lab, 1)["transfers"];
            let fetch = transfers
                .as_array()
                .and_then(|t| t.iter().find(|t| t["kind"] == "fetch"));
            match fetch {
                Some(t) if (1..total_of(t)).contains(&t["done_bytes"].as_u64().unwrap_or(0)) => {
                    seen = t.clone();
                    true
                }
                _ => false,
            }
        },
        "host 1's `meshcc peers --json` to show the toolchain fetch part done",
    );
    eprintln!("fetch under way: {seen}");
    assert!(total_of(&seen) > 1 << 20);
    assert!(seen["total_items"].as_u64().unwrap() > 0);
    let fetching = |lab: &Lab| {
        peers_json(lab, 1)["transfers"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["kind"] == "fetch"))
    };
    let worker_url = monitor_url(&lab, 1);
    let dom = dump_dom(&lab, 1, &tmp.path().join("chromium"), &worker_url);
    assert!(
        fetching(&lab),
        "the fetch ended before Chromium had the page drawn: slow the lab's link further"
    );
    let shown = count_elements(&dom, "div", &["class=\"transfer\"", "data-kind=\"fetch\""]);
    assert_eq!(
        shown, 1,
        "host 1's monitor does not show the fetch under way"
    );
    assert!(sent.wait().unwrap().success());

    // Packaging, quicker than a second here, is tested in `toolchain::package`'s own tests.
    let log = std::fs::read_to_string(lab.host_dir(1).unwrap().join("agent.log")).unwrap();
    let fetch_lines: Vec<String> = log
        .lines()
        .filter(|l| l.contains("progress: fetch toolchain"))
        .map(str::to_owned)
        .collect();
    assert!(
        !fetch_lines.is_empty(),
        "host 1 logged no fetch progress:\n{log}"
    );
    eprintln!(
        "{} fetch progress lines, e.g. {}",
        fetch_lines.len(),
        fetch_lines[0]
    );
    assert!(
        fetch_lines.iter().any(|l| !l.contains(": 0.0 of")),
        "the fetch's progress lines never moved:\n{}",
        fetch_lines.join("\n")
    );
    assert!(
        std::fs::read_to_string(tmp.path().join("wrapper.log"))
            .unwrap_or_default()
            .contains("compiled remotely"),
        "the compile did not run on host 1"
    );
}

/// `GET path` from a monitor at `url` (`http://127.0.0.1:PORT/`); the body of a 200 answer.
fn http_get(url: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "GET {path}: {answer}");
    answer.split_once("\r\n\r\n").unwrap().1.to_owned()
}

#[test]
fn monitor_on_loopback_serves_the_page_and_the_job_history() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let a = Agent::start(
        &tmp.path().join("a"),
        &["--monitor".into(), format!("127.0.0.1:{port}")],
    );
    let url = format!("http://127.0.0.1:{port}/");
    assert_eq!(a.peers()["monitor"], url.as_str());
    let table = String::from_utf8(a.meshcc(&["peers"]).stdout).unwrap();
    assert!(table.contains(&format!("monitor: {url}")), "{table}");
    // Without --monitor, a second agent on this machine still gets one, wherever it can.
    let b = Agent::start(&tmp.path().join("b"), &["--peer".into(), a.addr()]);
    let b_url = b.peers()["monitor"].as_str().unwrap().to_owned();
    assert!(
        b_url.starts_with("http://127.0.0.1:") && b_url != url,
        "{b_url}"
    );
    let quiet = Agent::start(&tmp.path().join("quiet"), &["--no-monitor".into()]);
    assert!(quiet.peers()["monitor"].is_null());

    // An address asked for that cannot be had stops the agent, with a sentence saying so.
    let taken = std::process::Command::new(bin("meshcc"))
        .args([
            "agent",
            "--no-mdns",
            "--monitor",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--state-dir")
        .arg(tmp.path().join("taken"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&taken.stderr);
    assert!(
        !taken.status.success() && said.contains("the web monitor cannot listen on"),
        "{said}"
    );

    // A compile long enough (hundreds of functions at -O2) to be seen running, then ended.
    let source = tmp.path().join("many.c");
    let mut text = String::from("int f0(int x) { return x; }\n");
    for i in 1..600 {
        text += &format!(
            "int f{i}(int x) {{ return x * {i} + (x >> 3) - f{}(x); }}\n",
            i / 2
        );
    }
    std::fs::write(&source, text).unwrap();
    let mut compile = std::process::Command::new(bin("meshcc"))
        .args(["gcc", "-O2", "-c"])
        .arg(&source)
        .arg("-o")
        .arg(tmp.path().join("many.o"))
        .env("MESHCC_SOCKET", a.socket())
        .spawn()
        .unwrap();
    // The first job's outcome: none before it starts, null while it runs.
    let job_outcome = || {
        let state: serde_json::Value = serde_json::from_str(&http_get(&url, "/api/state")).unwrap();
        state["jobs"].get(0).map(|job| job["outcome"].clone())
    };
    wait_for(
        Duration::from_secs(10),
        || job_outcome().is_some_and(|o| o.is_null()) && !compile_ended(&mut compile),
        "the compile to show as running",
    );
    assert!(compile.wait().unwrap().success());
    assert_eq!(
        job_outcome(),
        Some("ok".into()),
        "the job did not end on the monitor"
    );
    wait_for(
        Duration::from_secs(10),
        || a.peer_ids() == vec![b.id()],
        "a to see b",
    );
    let state: serde_json::Value = serde_json::from_str(&http_get(&url, "/api/state")).unwrap();
    assert_eq!(state["schema"], "meshcc.monitor/1");
    assert_eq!(state["local"]["peer_id"], a.id().as_str());
    assert_eq!(state["peers"][0]["peer_id"], b.id().as_str());
    let jobs = state["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0]["role"], "local");
    assert_eq!(jobs[0]["outcome"], "ok");
    assert!(jobs[0]["end_ms"].as_u64() >= jobs[0]["start_ms"].as_u64());
    let page = http_get(&url, "/");
    assert!(page.contains("<svg id=\"gantt\""), "{page}");
    assert!(
        !page.contains("https://"),
        "the page must load nothing from outside"
    );
}

fn compile_ended(compile: &mut std::process::Child) -> bool {
    compile.try_wait().unwrap().is_some()
}
