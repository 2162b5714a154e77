#!/usr/bin/env bash
# Builds the release binary with profile-guided optimisation (PGO), the way release
# binaries are meant to be built: an instrumented build replays the repository's own
# fixtures (every capture in fixtures/, one and two threads, with and without the
# inventory) and analyses the labeled detection benchmark's records, then the final build
# is optimised with the branch and call counts that left, each of the three workloads
# (packet path, inventory, analysis) weighing the same. The profile is made from fixtures
# only, never from the benchmark captures in bench/data.
#
#   scripts/build-pgo.sh        # -> target/pgo/release/apitap (CARGO_TARGET_DIR is honoured)
#
# It needs llvm-profdata of the LLVM that rustc uses: rustup's llvm-tools component
# (added here when rustup is there) or a distribution's llvm-N of the same major version.
# Two full release builds: about twice `cargo build --release`.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=${CARGO_TARGET_DIR:-$PWD/target}
gen_dir=$targets/pgo-gen
use_dir=$targets/pgo
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

llvm_major=$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
find_profdata() {
  local sysroot host p
  sysroot=$(rustc --print sysroot)
  host=$(rustc -vV | sed -n 's/^host: //p')
  p=$sysroot/lib/rustlib/$host/bin/llvm-profdata
  if [ ! -x "$p" ] && command -v rustup >/dev/null; then
    rustup component add llvm-tools >&2 || true
  fi
  for c in "$p" "llvm-profdata-$llvm_major" "/usr/lib/llvm-$llvm_major/bin/llvm-profdata" llvm-profdata; do
    if command -v "$c" >/dev/null 2>&1 &&
      "$c" --version 2>/dev/null | grep -q "LLVM version $llvm_major\."; then
      command -v "$c"
      return 0
    fi
  done
  return 1
}
profdata=$(find_profdata) || {
  echo "no llvm-profdata for LLVM $llvm_major (rustc's): run 'rustup component add llvm-tools'" \
    "or install llvm-$llvm_major" >&2
  exit 1
}

# RUSTFLAGS replaces the flags of any cargo configuration; the repository sets none.
flags=${RUSTFLAGS:-}
echo "== instrumented build ($gen_dir)" >&2
# The training runs name their own profile files (LLVM_PROFILE_FILE); a fixed default
# path keeps this build's flags, and so its cache, the same from one run to the next.
RUSTFLAGS="$flags -Cprofile-generate=$gen_dir/profraw" cargo build --release --bin apitap --target-dir "$gen_dir"
gen=$gen_dir/release/apitap

echo "== training on fixtures/" >&2
# Three workloads, each profiled on its own: the packet path alone (replay without the
# inventory), replay with the inventory and detection, and the analysis of records.
train() { LLVM_PROFILE_FILE="$work/raw/$1/%p-%m.profraw" "${@:2}" >/dev/null; }
n=0
for f in fixtures/api-sample.pcap fixtures/corpus/*.pcap*; do
  for t in 1 2; do
    n=$((n + 1))
    train packet "$gen" replay "$f" --out "$work/out$n-p" -t "$t" -q --no-inventory
    train inventory "$gen" replay "$f" --out "$work/out$n-i" -t "$t" -q
  done
done
gzip -dc fixtures/attack-bench/seed0/records.jsonl.gz | train analysis "$gen" analyze - --out "$work/analyze" -q

# Each workload weighs the same in the merged profile, however many counts its training
# made. Merged unweighted, the analysis (polars over 27,000 records) outweighed the
# packet path (the fixtures' few thousand packets) a thousand to one: the packet path
# fell below LLVM's hot threshold, and PGO optimised it as lukewarm code.
total() { "$profdata" show "$1" | sed -n 's/^Total count: //p'; }
declare -A count
for w in packet inventory analysis; do
  "$profdata" merge -o "$work/$w.profdata" "$work/raw/$w"/*.profraw
  count[$w]=$(total "$work/$w.profdata")
  [ "${count[$w]:-0}" -gt 0 ] || { echo "the $w training left no profile counts" >&2; exit 1; }
done
most=$(printf '%s\n' "${count[@]}" | sort -n | tail -1)
inputs=()
for w in packet inventory analysis; do
  weight=$(((most + count[$w] / 2) / count[$w]))
  echo "   $w: ${count[$w]} counts, weight $weight" >&2
  inputs+=("--weighted-input=$weight,$work/$w.profdata")
done

# A fixed path keeps the flags, and so cargo's cache of unchanged crates, the same from one
# build to the next (rustc records the profile as an input, so a new one rebuilds).
mkdir -p "$use_dir"
"$profdata" merge -o "$use_dir/apitap.profdata" "${inputs[@]}"
echo "== optimised build ($use_dir)" >&2
RUSTFLAGS="$flags -Cprofile-use=$use_dir/apitap.profdata" cargo build --release --bin apitap --target-dir "$use_dir"
echo "$use_dir/release/apitap" >&2
