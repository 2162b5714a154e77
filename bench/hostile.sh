#!/usr/bin/env bash
# The memory bound under hostile traffic: peak RSS of `apitap replay` against --max-memory.
#
#   bench/hostile.sh [MAX_MEMORY...]        (default: 512M, the default bound)
#
# Makes, once, the three hostile captures of sensor/examples/hostile.rs in bench/data:
#   synflood   1,000,000 distinct flows, each a lone SYN
#   slowloris  100,000 connections each sending one byte of a request head a second
#   overlap    700 connections each holding 980 KB behind a hole that never fills (every
#              tenth segment resent with other bytes), then 700 sending a never-ending head
# and replays each with 1 and 2 threads under each bound. Fails if any peak RSS reaches
# its bound.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
bounds=("$@")
[ ${#bounds[@]} -gt 0 ] || bounds=(512M)
(cd "$root" && cargo build --release -q && cargo build --release -q -p apitap-sensor --example hostile)
target=${CARGO_TARGET_DIR:-$root/target}/release
mkdir -p "$here/data"
for kind in synflood slowloris overlap; do
  f=$here/data/hostile-$kind.pcap
  [ -f "$f" ] || "$target/examples/hostile" "$kind" "$f"
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
to_bytes() {
  local v=${1^^}
  case $v in
    *G) echo $(( ${v%G} << 30 )) ;;
    *M) echo $(( ${v%M} << 20 )) ;;
    *K) echo $(( ${v%K} << 10 )) ;;
    *) echo "$v" ;;
  esac
}
fail=0
printf '%-10s %-8s %-7s %8s %12s %12s %10s\n' capture bound threads secs "peak RSS" "flow peak" evictions
for bound in "${bounds[@]}"; do
  limit=$(to_bytes "$bound")
  for kind in synflood slowloris overlap; do
    for t in 1 2; do
      /usr/bin/time -f "%e %M" -o "$work/time" "$target/apitap" replay "$here/data/hostile-$kind.pcap" \
        --out "$work/o" -t "$t" --max-memory "$bound" --no-inventory > "$work/summary"
      read -r secs rss_kb < "$work/time"
      flow_peak=$(awk '/flow memory/ {print $3, $4; exit}' "$work/summary")
      evicted=$(sed -n 's/.*(\([0-9,]*\) evicted for memory).*/\1/p' "$work/summary")
      verdict=ok
      if [ $(( rss_kb * 1024 )) -ge "$limit" ]; then verdict=OVER; fail=1; fi
      printf '%-10s %-8s %-7s %8s %8.1f MiB %12s %10s  %s\n' "$kind" "$bound" "$t" "$secs" \
        "$(awk -v k="$rss_kb" 'BEGIN {print k / 1024}')" "$flow_peak" "${evicted:-0}" "$verdict"
    done
  done
done
exit $fail
