#!/usr/bin/env bash
# The main job, end to end: a small mesh of real meshcc agents on this machine compiles Lua
# (sources from the crates.io package lua-src) with `make -j"$(meshcc jobs)"`, prints where
# each job ran, and checks that every object is byte-identical to a plain local build.
#
# As root, the mesh is three lab hosts (network namespaces on a private bridge, found by mDNS);
# otherwise three agents on loopback with static peers. Either way nothing leaves this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scripts/setup-system.sh
echo "== building meshcc (release)"
cargo build --release -q -p meshcc -p meshcc-simulations
bin=$root/target/release
export PATH=$bin:$PATH

echo "== fetching Lua's sources from crates.io (lua-src)"
lua_manifest=$(cargo metadata -q --manifest-path scripts/demo/Cargo.toml --format-version 1 \
  | python3 -c 'import json,sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"]=="lua-src"))')
lua_dir=$(ls -d "$(dirname "$lua_manifest")"/lua-5.4.*)
echo "   $lua_dir"

work=$(mktemp -d /tmp/meshcc-demo.XXXXXX)
agents=()
lab=""
cleanup() {
  for pid in "${agents[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -n "$lab" ] && mesh-lab --lab "$lab" down >/dev/null 2>&1 || true
}
trap cleanup EXIT

if [ "$(id -u)" -eq 0 ]; then
  lab=demo-$$
  echo "== starting a lab of 3 hosts, one agent each (mDNS discovery)"
  mesh-lab --lab "$lab" up --hosts 3 >/dev/null
  mesh-lab --lab "$lab" agents >/dev/null
  on0() { mesh-lab --lab "$lab" exec 0 -- "$@"; }
else
  echo "== starting 3 agents on loopback (static peers; run as root for a lab with mDNS)"
  base=$((17000 + RANDOM % 2000))
  for i in 0 1 2; do
    peers=()
    for j in 0 1 2; do [ "$j" != "$i" ] && peers+=(--peer "/ip4/127.0.0.1/tcp/$((base + j))"); done
    mkdir -p "$work/agent-$i"
    meshcc agent --state-dir "$work/agent-$i" --listen "/ip4/127.0.0.1/tcp/$((base + i))" \
      --no-mdns "${peers[@]}" 2>"$work/agent-$i/agent.log" &
    agents+=($!)
  done
  export MESHCC_SOCKET=$work/agent-0/agent.sock
  until [ -S "$MESHCC_SOCKET" ]; do sleep 0.1; done
  on0() { "$@"; }
fi

for _ in $(seq 100); do
  n=$(on0 meshcc peers --json 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["peers"]))' 2>/dev/null || echo 0)
  [ "$n" = 2 ] && break
  sleep 0.1
done
echo "== meshcc peers (host 0)"
on0 meshcc peers

build() { # $1: label, $2: CC
  rm -rf "$work/build" && mkdir -p "$work/build"
  local jobs start end
  jobs=$(on0 meshcc jobs)
  start=$(date +%s%N)
  on0 make -s -C "$work/build" -f "$root/scripts/demo/lua.mk" LUA_DIR="$lua_dir" CC="$2" -j"$jobs"
  end=$(date +%s%N)
  printf '   %-7s -j%-3s %6.2f s\n' "$1" "$jobs" "$(python3 -c "print(($end - $start) / 1e9)")"
}

echo "== building Lua: once with plain gcc, once through meshcc (same directory, same flags)"
build local gcc
mv "$work/build" "$work/local"
export MESHCC_LOG=$work/wrapper.log
# A first compile lets the agent package gcc (it runs locally while that happens).
build meshcc "meshcc gcc"

echo "== comparing with the local build"
n=0
for f in "$work"/local/*.o "$work/local/liblua.a"; do
  cmp -s "$f" "$work/build/$(basename "$f")" || { echo "   DIFFERS: $(basename "$f")"; exit 1; }
  n=$((n + 1))
done
echo "   $n files byte-identical to the local build"

echo "== where each job ran (wrapper log: $MESHCC_LOG)"
python3 - "$MESHCC_LOG" <<'PY'
import re, sys, collections
where = collections.Counter()
for line in open(sys.argv[1]):
    m = re.search(r"compiled remotely worker=(\S+)", line)
    if m: where["remote on peer …" + m.group(1)] += 1
    elif "compiling locally" in line:
        reason = line.split("compiling locally:", 1)[-1].strip()
        where["local (" + reason + ")"] += 1
for k, v in where.most_common():
    print(f"   {v:4d}  {k}")
PY
echo "== meshcc stats (host 0)"
on0 meshcc stats
echo "done; work directory: $work"
