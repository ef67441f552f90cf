#!/usr/bin/env bash
# The main job, end to end: a small mesh of real meshcc agents on this machine, compiling Lua
# (sources from the crates.io package lua-src) with `make -j"$(meshcc jobs)"`, then checking
# that every object is byte-identical to a plain local build.
#
# The agents listen on loopback and find each other through static peers (--peer, --no-mdns),
# so nothing leaves this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scripts/setup-system.sh
echo "== building meshcc (release)"
cargo build --release -q -p meshcc
bin=$root/target/release
export PATH=$bin:$PATH

echo "== fetching Lua's sources from crates.io (lua-src)"
lua_manifest=$(cargo metadata -q --manifest-path scripts/demo/Cargo.toml --format-version 1 \
  | python3 -c 'import json,sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"]=="lua-src"))')
lua_dir=$(ls -d "$(dirname "$lua_manifest")"/lua-5.4.*)
echo "   $lua_dir"

work=$(mktemp -d /tmp/meshcc-demo.XXXXXX)
agents=()
cleanup() {
  for pid in "${agents[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

echo "== starting 3 agents (logs in $work/agent-N/agent.log)"
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
for _ in $(seq 50); do
  n=$(meshcc peers --json 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["peers"]))' 2>/dev/null || echo 0)
  [ "$n" = 2 ] && break
  sleep 0.2
done
echo "== meshcc peers"
meshcc peers

build() { # $1: label, $2: CC
  rm -rf "$work/build" && mkdir -p "$work/build"
  local start=$(date +%s.%N)
  make -s -C "$work/build" -f "$root/scripts/demo/lua.mk" LUA_DIR="$lua_dir" CC="$2" -j"$(meshcc jobs)"
  local end=$(date +%s.%N)
  printf '   %-8s %5.2f s\n' "$1" "$(echo "$end - $start" | bc 2>/dev/null || python3 -c "print($end-$start)")"
}

echo "== building Lua locally, then through meshcc, in the same directory"
build local gcc
mv "$work/build" "$work/local"
export MESHCC_LOG=$work/wrapper.log
build meshcc "meshcc gcc"

echo "== comparing"
n=0
for f in "$work"/local/*.o "$work/local/liblua.a"; do
  cmp -s "$f" "$work/build/$(basename "$f")" || { echo "DIFFERS: $(basename "$f")"; exit 1; }
  n=$((n + 1))
done
echo "   $n files byte-identical to the local build"
echo "== meshcc stats (agent 0)"
meshcc stats
echo "== where each job ran (from $MESHCC_LOG)"
grep -c "compiling locally" "$MESHCC_LOG" | sed 's/^/   compiled on this host: /'
echo "done; work directory: $work"
