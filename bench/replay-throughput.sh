#!/usr/bin/env bash
# Whole-pipeline throughput of `apitap replay`: builds the release binary, makes the
# benchmark capture if it is missing (bench/make-capture.sh, needs root), replays it RUNS
# times and reports the median: Gbit/s, packets/s, transactions/s (all on wall time, process
# start to exit, file read and records written included) and peak RSS.
#
#   bench/replay-throughput.sh [CAPTURE] [RUNS] [-- extra replay args]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cap=${1:-$here/data/api-200M.pcap}
runs=${2:-5}
shift $(( $# > 2 ? 2 : $# )) || true
[ "${1:-}" = "--" ] && shift
[ -f "$cap" ] || bash "$here/make-capture.sh" 200 "$cap"
(cd "$root" && cargo build --release -q)
bin=${CARGO_TARGET_DIR:-$root/target}/release/apitap
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
bytes=$(stat -c %s "$cap")
results=()
for i in $(seq "$runs"); do
  /usr/bin/time -f "%e %M" -o "$out/time" "$bin" replay "$cap" --out "$out/o" "$@" > "$out/summary"
  read -r secs rss_kb < "$out/time"
  pkts=$(awk '/packets/ {gsub(",", "", $2); print $2; exit}' "$out/summary")
  txs=$(awk '/transactions/ {gsub(",", "", $2); print $2; exit}' "$out/summary")
  results+=("$secs $rss_kb $pkts $txs")
done
printf '%s\n' "${results[@]}" | sort -n | awk -v bytes="$bytes" -v runs="$runs" -v cap="$(basename "$cap")" '
  { s[NR]=$1; r[NR]=$2; p=$3; t=$4; if ($2 > maxr) maxr=$2 }
  END {
    m = s[int((NR + 1) / 2)]
    printf "capture %s: %.1f MB, %d packets, %d transactions\n", cap, bytes / 1e6, p, t
    printf "median of %d runs: %.3f s = %.2f Gbit/s, %.0f packets/s, %.0f transactions/s; peak RSS %.1f MiB\n",
      runs, m, bytes * 8 / m / 1e9, p / m, t / m, maxr / 1024
  }'
