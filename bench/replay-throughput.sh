#!/usr/bin/env bash
# Whole-pipeline throughput of `apitap replay`, against a bare libpcap read loop (the floor)
# and tshark, on the same files in the same run.
#
#   bench/replay-throughput.sh [ROUNDS] [CAPTURE...]
#
# Defaults: 5 rounds over bench/data/api-200M.pcap and bench/data/api-1000M.pcap, which are
# made by bench/make-capture.sh when missing (needs root: nginx and wrk in network
# namespaces, captured with tcpdump). Each round runs, back to back on one file: the floor
# (bench/pcap_floor.c), `apitap replay -t 1` and `apitap replay -t 2`, records written to
# tmpfs. tshark (`tshark -r FILE -Y http.request`) is slow, so it runs once per file.
#
# Reported per tool: Gbit/s, packets/s and transactions/s on wall time (process start to
# exit), and peak RSS. Ratios are taken within each round and their median reported, so a
# noisy machine still gives comparable figures: apitap 1 thread / floor, 2 threads / 1
# thread, apitap / tshark, and the cost per byte of the large file over the small one.
#
# Environment:
#   BASELINE=PATH   another apitap binary (say, main before a change), run on one thread in
#                   each round right after this one, so the two are compared round by round
#                   under the same neighbours: reports its ratio to the floor and this
#                   build's time over its time (median of per-round ratios).
#   NO_TSHARK=1     skip tshark (90 s per gigabyte), for quick before/after runs.
#   PLAIN=1         measure the plain `cargo build --release` binary instead of the
#                   profile-guided release build (scripts/build-pgo.sh, the default: release
#                   binaries are built that way; its profile comes from fixtures/, not from
#                   these captures). BASELINE=target/release/apitap compares the two.
#   BIN=PATH        measure this apitap binary as it is, building nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
rounds=${1:-5}
shift || true
caps=("$@")
if [ ${#caps[@]} -eq 0 ]; then
  caps=("$here/data/api-200M.pcap" "$here/data/api-1000M.pcap")
fi
for c in "${caps[@]}"; do
  if [ ! -f "$c" ]; then
    size=$(basename "$c" | sed -n 's/^api-\([0-9]*\)M\.pcap$/\1/p')
    [ -n "$size" ] || { echo "no capture $c (and it is not one make-capture.sh makes)" >&2; exit 1; }
    bash "$here/make-capture.sh" "$size" "$c"
  fi
done

targets=${CARGO_TARGET_DIR:-$root/target}
if [ -n "${BIN:-}" ]; then
  bin=$BIN kind="given"
elif [ -n "${PLAIN:-}" ]; then
  (cd "$root" && cargo build --release -q)
  bin=$targets/release/apitap kind="plain cargo build --release"
else
  bash "$root/scripts/build-pgo.sh" 2> "$targets/build-pgo.log" || { tail -20 "$targets/build-pgo.log" >&2; exit 1; }
  bin=$targets/pgo/release/apitap kind="profile-guided, scripts/build-pgo.sh"
fi
echo "measuring $bin" >&2
work=$(mktemp -d)
scratch=$( [ -d /dev/shm ] && mktemp -d -p /dev/shm || mktemp -d )
trap 'rm -rf "$work" "$scratch"' EXIT
cc -O2 -o "$work/pcap_floor" "$here/pcap_floor.c" -lpcap

# One timed run: appends "tool file micros rss_kb user_s sys_s" to the results. Wall time
# from the nanosecond clock (time(1) rounds to 10 ms); peak RSS and CPU time from time(1).
timed() {
  local tool=$1 file=$2; shift 2
  local t0 t1
  # Each run writes a fresh directory: truncating the last run's records is not its work.
  rm -rf "$scratch"/o*
  t0=$(date +%s%N)
  /usr/bin/time -f "%M %U %S" -o "$work/time" "$@" > "$work/stdout" 2>/dev/null
  t1=$(date +%s%N)
  echo "$tool $file $(( (t1 - t0) / 1000 )) $(cat "$work/time")" >> "$work/results"
}

for c in "${caps[@]}"; do
  cat "$c" > /dev/null   # in the page cache before anything is timed
  for r in $(seq "$rounds"); do
    timed floor "$c" "$work/pcap_floor" "$c"
    # The baseline goes before this build in every other round, so neither always runs
    # in the other's wake.
    if [ -n "${BASELINE:-}" ] && [ $((r % 2)) -eq 0 ]; then
      timed baseline-1 "$c" "$BASELINE" replay "$c" --out "$scratch/o3" -t 1 --no-inventory
    fi
    timed apitap-1 "$c" "$bin" replay "$c" --out "$scratch/o1" -t 1 --no-inventory
    cp "$work/stdout" "$work/summary-$(basename "$c")"
    if [ -n "${BASELINE:-}" ] && [ $((r % 2)) -eq 1 ]; then
      timed baseline-1 "$c" "$BASELINE" replay "$c" --out "$scratch/o3" -t 1 --no-inventory
    fi
    timed apitap-2 "$c" "$bin" replay "$c" --out "$scratch/o2" -t 2 --no-inventory
    echo "round $r of $rounds on $(basename "$c") done" >&2
  done
  if [ -z "${NO_TSHARK:-}" ] && command -v tshark > /dev/null; then
    timed tshark "$c" tshark -n -r "$c" -Y http.request
  fi
done

echo "build: $bin ($kind)"
python3 - "$work/results" "$work" "${caps[@]}" <<'PY'
import os, statistics, sys
results, work, caps = sys.argv[1], sys.argv[2], sys.argv[3:]
runs = {}
order = []
for line in open(results):
    tool, f, micros, rss, user, sys_ = line.split()
    secs = int(micros) / 1e6
    runs.setdefault((tool, f), []).append((secs, int(rss), float(user) + float(sys_)))
    order.append((tool, f, secs))

def summary_counts(f):
    pk = tx = 0
    for line in open(os.path.join(work, "summary-" + os.path.basename(f))):
        w = line.split()
        if len(w) > 1 and w[0] == "packets":
            pk = int(w[1].replace(",", ""))
        if len(w) > 1 and w[0] == "transactions":
            tx = int(w[1].replace(",", ""))
    return pk, tx

def rounds(tool, f):
    return [s for t, g, s in order if t == tool and g == f]

per_byte = {}
for f in caps:
    size = os.path.getsize(f)
    pk, tx = summary_counts(f)
    print(f"\n{os.path.basename(f)}: {size / 1e6:.0f} MB, {pk:,} packets, {tx:,} transactions")
    # CPU time (user + system, all threads) moves less than wall time on a shared machine,
    # and CPU over wall says how many cores a run kept busy.
    print(f"  {'':10} {'median s':>9} {'min s':>7} {'Gbit/s':>7} {'packets/s':>11} {'tx/s':>10} {'peak RSS':>12} {'CPU s':>6} {'cores':>6}")
    for tool in ["floor", "apitap-1", "baseline-1", "apitap-2", "tshark"]:
        r = runs.get((tool, f))
        if not r:
            continue
        secs = [s for s, _, _ in r]
        m = statistics.median(secs)
        rss = max(x for _, x, _ in r) / 1024
        cpu = statistics.median(c for _, _, c in r)
        cores = statistics.median(c / s for s, _, c in r)
        print(f"  {tool:10} {m:9.3f} {min(secs):7.3f} {size * 8 / m / 1e9:7.2f} {pk / m:11,.0f} {tx / m:10,.0f} {rss:8.1f} MiB {cpu:6.2f} {cores:6.2f}")
    floor, one, two = rounds("floor", f), rounds("apitap-1", f), rounds("apitap-2", f)
    print(f"  apitap 1 thread / floor:    {statistics.median(a / b for a, b in zip(floor, one)):.3f} of the floor's speed (bar: >= 0.333)")
    print(f"  apitap 2 threads / 1:       {statistics.median(a / b for a, b in zip(one, two)):.2f}x (bar: >= 1.7)")
    base = rounds("baseline-1", f)
    if base:
        print(f"  baseline 1 thread / floor:  {statistics.median(a / b for a, b in zip(floor, base)):.3f} of the floor's speed")
        print(f"  this build's time / baseline's, 1 thread: {statistics.median(a / b for a, b in zip(one, base)):.3f} (per-round median)")
    if runs.get(("tshark", f)):
        t = runs[("tshark", f)][0][0]
        print(f"  apitap 1 thread / tshark:   {t / statistics.median(one):.1f}x faster")
    per_byte[f] = statistics.median(one) / size
if len(caps) >= 2:
    a, b = caps[0], caps[-1]
    print(f"\ncost per byte, {os.path.basename(b)} over {os.path.basename(a)} (1 thread): {per_byte[b] / per_byte[a]:.2f} (flat is 1.00)")
PY
