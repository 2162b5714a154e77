#!/usr/bin/env bash
# Decision latency of `apitap serve` under load, measured with wrk on loopback.
#
#   bench/decision-latency.sh [SECONDS] [RATE] [ENTRIES]
#
# Builds an output directory from the labeled benchmark's records (its 17 alerts block 56
# addresses and a stolen token), adds ENTRIES (default 9,900, filling the default guardrail of 10,000) more
# addresses and CIDRs so lookups run against a full list, and starts `apitap serve` with one
# service thread pinned to CPU 0. wrk (one thread) runs pinned to CPU 1 for SECONDS (default
# 20) after a 3 s warm-up, posting sideband decisions (bench/decision.lua), twice:
#   - paced at RATE requests/s (default 10,000): each connection waits 1 ms between
#     requests, with enough connections for the rate (wrk's `delay`), the issue's bar;
#   - then closed-loop with 8 connections: the most the service sustains, and its latency
#     there (queueing included).
#
# Prints requests/s and the 50/90/99/99.9th percentiles of latency for each. The issue's bar
# is a p99 under 1 ms at 10,000 requests/s.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
secs=${1:-20}
rate=${2:-10000}
entries=${3:-9900}
bin=${APITAP:-$root/target/release/apitap}
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing (apt install wrk)" >&2; exit 1; }
work=$(mktemp -d /tmp/apitap-decision.XXXXXX)
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# A known key, so the stolen token's hash can be blocked by hand.
python3 -c "print('5a'*32)" > "$work/hash.key"
zcat "$root/fixtures/attack-bench/seed0/records.jsonl.gz" > "$work/records.jsonl"
"$bin" analyze "$work/records.jsonl" --out "$work" --train 6m --quiet
# Fill the list through the store's own table (faster than 10,000 `blocklist add` runs).
python3 - "$work/inventory.db" "$entries" <<'PY'
import sqlite3, sys, time
db, n = sys.argv[1], int(sys.argv[2])
now = time.time()
con = sqlite3.connect(db)
rows = []
for i in range(n):
    if i % 10 == 0:
        value = f"100.{64 + (i // 2560) % 64}.{(i // 10) % 256}.0/24"
    else:
        value = f"203.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
    rows.append(("ip", value, "manual", "high", "[]", "manual", now, now, now + 86400, "bench"))
con.executemany("INSERT OR REPLACE INTO blocklist VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
con.commit()
PY
"$bin" blocklist add --out "$work" --credential 'Authorization: Bearer stolen-token-7d1f' >/dev/null
total=$("$bin" blocklist list --out "$work" --format csv | tail -n +2 | wc -l)

port=18686
taskset -c 0 "$bin" serve --out "$work" --listen "127.0.0.1:$port" 2>/dev/null &
pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
check=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/v1/decision" -d '{"source_ip":"10.77.2.6","method":"GET","url":"/"}')
[ "$check" = 403 ] || { echo "the flagged address was not blocked ($check)" >&2; exit 1; }

run() { # NAME CONNECTIONS DELAY_MS
  local out line
  DELAY_MS=$3 taskset -c 1 wrk -t1 -c"$2" -d3s -s "$here/decision.lua" "http://127.0.0.1:$port" >/dev/null
  out=$(DELAY_MS=$3 taskset -c 1 wrk -t1 -c"$2" -d"${secs}s" --latency -s "$here/decision.lua" "http://127.0.0.1:$port")
  line=$(echo "$out" | grep '^RESULT')
  eval "$(echo "$line" | sed 's/^RESULT //')"
  printf '%-12s %s connections: %s requests/s; latency p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms; socket errors %s\n' \
    "$1" "$2" "$rps" "$(echo "$p50_us/1000" | bc -l)" "$(echo "$p90_us/1000" | bc -l)" "$(echo "$p99_us/1000" | bc -l)" \
    "$(echo "$p999_us/1000" | bc -l)" "$(echo "$max_us/1000" | bc -l)" "$errors"
}
echo "block list: $total entries; service: 1 thread on CPU 0; wrk: 1 thread on CPU 1; $secs s each"
# wrk's 1 ms timer fires about every 1.3 ms with the request's own time: RATE x 1.4 / 1000
# connections reach RATE (the achieved rate is printed).
run "paced $rate/s" $(( (rate * 14 + 9999) / 10000 )) 1
run "closed loop" 8 0
rss=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
echo "service peak RSS $((rss / 1024)) MiB"
metrics=$(curl -s "http://127.0.0.1:$port/metrics" | grep '^apitap_decisions_total')
echo "$metrics"
