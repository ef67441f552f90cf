#!/bin/sh
# Runs every cargo-fuzz target in fuzz/ for a bounded time and prints, per target, the
# executions libFuzzer made and whether it found a crash. Not part of CI (it needs minutes).
#
#   scripts/fuzz.sh [seconds-per-target]     (default 60)
#
# cargo fuzz needs nightly-only compiler flags; RUSTC_BOOTSTRAP=1 lets the stable compiler
# accept them. AddressSanitizer's runtime ships only with nightly toolchains, so the default
# is no sanitizer (the targets are safe Rust; libFuzzer still finds panics, overflows in
# debug assertions, and runaway allocations). FUZZ_SANITIZER=address uses it where present.
# Crashes are kept in fuzz/artifacts/<target>/; corpora in fuzz/corpus/<target>/.
set -eu

seconds=${1:-60}
sanitizer=${FUZZ_SANITIZER:-none}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz from crates.io"
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/fuzz/target}"

cargo fuzz build --sanitizer "$sanitizer" --debug-assertions
summary=""
failed=0
for target in $(cargo fuzz list); do
    log="$CARGO_TARGET_DIR/fuzz-$target.log"
    echo "fuzzing $target for ${seconds}s"
    if cargo fuzz run --sanitizer "$sanitizer" --debug-assertions "$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 >"$log" 2>&1; then
        found="none"
    else
        found="CRASH (see $log and fuzz/artifacts/$target/)"
        failed=1
    fi
    runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
    summary="$summary$(printf '%-10s %12s executions   findings: %s' "$target" "${runs:-?}" "$found")
"
done
printf '\n%s' "$summary"
exit $failed
