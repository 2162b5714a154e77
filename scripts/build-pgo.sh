#!/usr/bin/env bash
# Builds the release binary with profile-guided optimisation (PGO), the way release
# binaries are meant to be built: an instrumented build replays the repository's own
# fixtures (every capture in fixtures/, one and two threads, with and without the
# inventory) and analyses the labeled detection benchmark's records, then the final build
# is optimised with the branch and call counts that left. The profile is made from
# fixtures only, never from the benchmark captures in bench/data.
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
RUSTFLAGS="$flags -Cprofile-generate=$work/raw" cargo build --release --bin apitap --target-dir "$gen_dir"
gen=$gen_dir/release/apitap

echo "== training on fixtures/" >&2
n=0
for f in fixtures/api-sample.pcap fixtures/corpus/*.pcap*; do
  for t in 1 2; do
    for inv in "" --no-inventory; do
      n=$((n + 1))
      "$gen" replay "$f" --out "$work/out$n" -t "$t" -q $inv >/dev/null
    done
  done
done
gzip -dc fixtures/attack-bench/seed0/records.jsonl.gz | "$gen" analyze - --out "$work/analyze" -q >/dev/null

# A fixed path keeps the flags, and so cargo's cache of unchanged crates, the same from one
# build to the next.
mkdir -p "$use_dir"
"$profdata" merge -o "$use_dir/apitap.profdata" "$work"/raw/*.profraw
echo "== optimised build ($use_dir)" >&2
RUSTFLAGS="$flags -Cprofile-use=$use_dir/apitap.profdata" cargo build --release --bin apitap --target-dir "$use_dir"
echo "$use_dir/release/apitap" >&2
