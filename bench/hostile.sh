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
#   callers    200,000 complete calls, each with a user agent, credential and user name
#              never seen before and longer than detection keeps
# and replays each with 1 and 2 threads under each bound: the first three with the sensor
# alone (--no-inventory), callers with the analysis on, as capture and replay run by
# default (detection takes three eighths of the bound). KINDS="callers" picks some.
# Fails if any peak RSS reaches its bound.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
bounds=("$@")
[ ${#bounds[@]} -gt 0 ] || bounds=(512M)
(cd "$root" && cargo build --release -q && cargo build --release -q -p apitap-sensor --example hostile)
target=${CARGO_TARGET_DIR:-$root/target}/release
mkdir -p "$here/data"
kinds=(${KINDS:-synflood slowloris overlap callers})
for kind in "${kinds[@]}"; do
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
printf '%-10s %-8s %-7s %8s %12s %12s %10s %12s\n' capture bound threads secs "peak RSS" "flow peak" evictions "window peak"
for bound in "${bounds[@]}"; do
  limit=$(to_bytes "$bound")
  for kind in "${kinds[@]}"; do
    analysis=--no-inventory
    # Trained after 10 s, with windows short enough to fill within the capture's 40 s: every
    # step then judges and learns from each new identity, detection's costliest path.
    [ "$kind" = callers ] && analysis="--train 10s --windows 10s,20s --step 5s"
    for t in 1 2; do
      rm -rf "$work/o"
      /usr/bin/time -f "%e %M" -o "$work/time" "$target/apitap" replay "$here/data/hostile-$kind.pcap" \
        --out "$work/o" -t "$t" --max-memory "$bound" $analysis > "$work/summary"
      read -r secs rss_kb < "$work/time"
      flow_peak=$(awk '/flow memory/ {print $3, $4; exit}' "$work/summary")
      evicted=$(sed -n 's/.*(\([0-9,]*\) evicted for memory).*/\1/p' "$work/summary")
      window_peak=$(awk '/window memory/ {print $3, $4; exit}' "$work/summary")
      verdict=ok
      if [ $(( rss_kb * 1024 )) -ge "$limit" ]; then verdict=OVER; fail=1; fi
      printf '%-10s %-8s %-7s %8s %8.1f MiB %12s %10s %12s  %s\n' "$kind" "$bound" "$t" "$secs" \
        "$(awk -v k="$rss_kb" 'BEGIN {print k / 1024}')" "$flow_peak" "${evicted:-0}" "${window_peak:--}" "$verdict"
    done
  done
done
exit $fail
