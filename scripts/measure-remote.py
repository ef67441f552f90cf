#!/usr/bin/env python3
"""Figures for remote compiles, on loopback agents (release build); prints them, asserts nothing.

- per-job added latency of a warm remote compile against the same compile run directly;
- time for a fresh worker to fetch a clang toolchain (~100 MB) from one peer and from three;
- bytes the submitter uploads for a whole build of Lua, first build and repeat.

Usage: scripts/measure-remote.py   (builds target/release/meshcc first)
"""
import glob, json, os, re, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
subprocess.run(["cargo", "build", "--release", "-q", "-p", "meshcc"], cwd=ROOT, check=True)
MESHCC = os.path.join(ROOT, "target/release/meshcc")
WORK = tempfile.mkdtemp(prefix="meshcc-measure-")
BASE = 18000 + os.getpid() % 1000
agents = []


def agent(name, *args):
    port = BASE + len(agents)
    d = os.path.join(WORK, name)
    log = open(d + ".log", "w")
    p = subprocess.Popen([MESHCC, "agent", "--state-dir", d, "--listen", f"/ip4/127.0.0.1/tcp/{port}", "--no-mdns", *args],
                         stderr=log)
    agents.append(p)
    while not os.path.exists(os.path.join(d, "agent.sock")):
        time.sleep(0.05)
    return {"name": name, "addr": f"/ip4/127.0.0.1/tcp/{port}", "sock": os.path.join(d, "agent.sock"), "log": d + ".log"}


def ask(a, *args):
    out = subprocess.run([MESHCC, *args], env={**os.environ, "MESHCC_SOCKET": a["sock"]}, capture_output=True, text=True)
    return out.stdout


def stats(a):
    return json.loads(ask(a, "stats", "--json"))


def wait_peers(a, n):
    for _ in range(200):
        if len(json.loads(ask(a, "peers", "--json"))["peers"]) >= n:
            return
        time.sleep(0.05)
    sys.exit(f"{a['name']} never saw {n} peers")


def compile_via(a, cc, src, out, cwd):
    env = {**os.environ, "MESHCC_SOCKET": a["sock"]}
    subprocess.run([MESHCC, cc, "-O2", "-c", src, "-o", out], cwd=cwd, env=env, check=True)


def until_remote(a, cc, src, cwd):
    for _ in range(100):
        before = stats(a)["jobs_remote"]
        compile_via(a, cc, src, "warm.o", cwd)
        if stats(a)["jobs_remote"] > before:
            return
        time.sleep(0.2)
    sys.exit("no compile went remote")


def toolchain_ms(a):
    found = re.findall(r"toolchain ready .*ms=(\d+)", open(a["log"]).read())
    return int(found[-1]) if found else None


try:
    src_dir = os.path.join(WORK, "src")
    shutil.copytree(os.path.join(ROOT, "tests/tests/e2e/corpus"), src_dir)
    w1 = agent("w1", "--slots", "2")
    w2 = agent("w2", "--slots", "2")
    s = agent("s", "--slots", "0", "--peer", w1["addr"], "--peer", w2["addr"])
    wait_peers(s, 2)

    # 1. Per-job latency, warm toolchain and headers.
    until_remote(s, "gcc", "main.c", src_dir)
    for _ in range(4):
        compile_via(s, "gcc", "main.c", "warm.o", src_dir)
    direct, remote = [], []
    for _ in range(20):
        t = time.perf_counter()
        subprocess.run(["gcc", "-O2", "-c", "main.c", "-o", "d.o"], cwd=src_dir, check=True)
        direct.append(time.perf_counter() - t)
        t = time.perf_counter()
        compile_via(s, "gcc", "main.c", "r.o", src_dir)
        remote.append(time.perf_counter() - t)
    d, r = statistics.median(direct) * 1000, statistics.median(remote) * 1000
    print(f"per-job latency (main.c -O2, warm, median of 20): direct {d:.1f} ms, remote {r:.1f} ms, added {r - d:.1f} ms")

    # 2. Toolchain fetch: clang from one peer, then from three.
    until_remote(s, "clang", "main.c", src_dir)
    for _ in range(10):  # let both workers hold clang
        compile_via(s, "clang", "main.c", "warm.o", src_dir)
    size = sum(os.path.getsize(f) for f in glob.glob(os.path.join(WORK, "s/store/blobs/*/*")))
    one = agent("fresh1", "--slots", "2")
    s1 = agent("s1", "--slots", "0", "--peer", one["addr"])
    wait_peers(s1, 1)
    until_remote(s1, "clang", "main.c", src_dir)
    three = agent("fresh3", "--slots", "2", "--peer", w1["addr"], "--peer", w2["addr"])
    s3 = agent("s3", "--slots", "0", "--peer", three["addr"])
    wait_peers(three, 3)
    until_remote(s3, "clang", "main.c", src_dir)
    print(f"toolchain fetch (clang and gcc blobs in the submitter's store: {size / 1e6:.0f} MB raw): "
          f"from one peer {toolchain_ms(one)} ms, from three peers {toolchain_ms(three)} ms")

    # 3. Bytes uploaded by the submitter for a Lua build, first and repeat.
    meta = json.loads(subprocess.run(["cargo", "metadata", "-q", "--format-version", "1", "--manifest-path",
                                      os.path.join(ROOT, "scripts/demo/Cargo.toml")], capture_output=True, text=True).stdout)
    lua = glob.glob(os.path.join(os.path.dirname(next(p["manifest_path"] for p in meta["packages"] if p["name"] == "lua-src")), "lua-5.4.*"))[0]
    sb = agent("sb", "--slots", "0", "--peer", w1["addr"], "--peer", w2["addr"])
    wait_peers(sb, 2)
    for label in ["first", "repeat"]:
        build = os.path.join(WORK, "build")
        shutil.rmtree(build, ignore_errors=True)
        os.mkdir(build)
        before = stats(sb)["bytes_sent"]
        t = time.perf_counter()
        subprocess.run(["make", "-s", "-C", build, "-f", os.path.join(ROOT, "scripts/demo/lua.mk"), f"LUA_DIR={lua}",
                        f"CC={MESHCC} gcc", "-j8"], env={**os.environ, "MESHCC_SOCKET": sb["sock"]}, check=True)
        st = stats(sb)
        print(f"Lua build ({label}): {time.perf_counter() - t:.1f} s, submitter uploaded {(st['bytes_sent'] - before) / 1e6:.2f} MB, "
              f"{st['jobs_remote']} remote / {st['jobs_local']} local so far")
finally:
    for p in agents:
        p.terminate()
    for p in agents:
        p.wait()
    shutil.rmtree(WORK, ignore_errors=True)
