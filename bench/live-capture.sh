#!/usr/bin/env bash
# Live capture under load: what `apitap capture` keeps when a capture is played onto an
# interface at a given rate, against what `apitap replay` makes of the same file.
#
#   sudo bench/live-capture.sh [CAPTURE] [RATE...]
#
# RATE is Mbit/s for tcpreplay (--mbps) or `top` (--topspeed, as fast as tcpreplay can
# send). Defaults: bench/data/api-200M.pcap (made by bench/make-capture.sh when missing) at
# 500 and 1000 Mbit/s and top speed. Each run: a veth pair, one end in a network namespace
# where `apitap capture --no-inventory` listens (MTU 65535, so every frame of the capture
# fits), tcpreplay on the other end, then SIGINT. Runs go over both capture modes (the
# default kernel blocks, and --immediate) and 1 and 2 threads.
#
# Reported per run: the rate tcpreplay reached, frames it could not send, frames the
# kernel handed to the capture and dropped for a full ring, segments dropped for a full
# worker queue, and transactions against replay's count of the same file. Needs root,
# iproute2 and tcpreplay. Everything happens on the veth pair; no traffic leaves the host.
#
# Environment:
#   BIN=PATH        the apitap binary (default: target/release/apitap, built if missing)
#   MODES="..."     capture modes to run (default "blocks immediate")
#   THREADS="..."   thread counts (default "1 2")
#   REPEAT=N        runs of each combination (default 1)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cap=${1:-$here/data/api-200M.pcap}
shift || true
rates=("$@")
[ ${#rates[@]} -gt 0 ] || rates=(500 1000 top)
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces, veth, packet capture)" >&2; exit 1; }
command -v tcpreplay >/dev/null || { echo "needs tcpreplay (apt install tcpreplay)" >&2; exit 1; }
if [ ! -f "$cap" ]; then
  size=$(basename "$cap" | sed -n 's/^api-\([0-9]*\)M\.pcap$/\1/p')
  [ -n "$size" ] || { echo "no capture $cap (and it is not one make-capture.sh makes)" >&2; exit 1; }
  bash "$here/make-capture.sh" "$size" "$cap"
fi
targets=${CARGO_TARGET_DIR:-$root/target}
bin=${BIN:-$targets/release/apitap}
[ -n "${BIN:-}" ] || [ -x "$bin" ] || (cd "$root" && cargo build --release -q)

ns=apitap-lb
host_if=aplb-a
cap_if=aplb-b
scratch=$( [ -d /dev/shm ] && mktemp -d -p /dev/shm || mktemp -d )
cleanup_link() {
  ip netns del "$ns" 2>/dev/null || true
  ip link del "$host_if" 2>/dev/null || true
}
cleanup() {
  cleanup_link
  rm -rf "$scratch"
}
trap cleanup EXIT

want=$("$bin" replay "$cap" --out "$scratch/replay" --no-inventory -q -t 1 >/dev/null && wc -l < "$scratch/replay/records.jsonl")
echo "$(basename "$cap"): replay makes $want transactions; $bin" >&2

run() { # MODE THREADS RATE
  local mode=$1 threads=$2 rate=$3 extra=() speed
  [ "$mode" = immediate ] && extra=(--immediate)
  if [ "$rate" = top ]; then speed=(--topspeed); else speed=(--mbps="$rate"); fi
  cleanup_link
  ip netns add "$ns"
  ip link add "$host_if" type veth peer name "$cap_if"
  ip link set "$cap_if" netns "$ns"
  ip link set "$host_if" mtu 65535 up
  ip -n "$ns" link set "$cap_if" mtu 65535 up
  local out=$scratch/live
  rm -rf "$out"
  ip netns exec "$ns" "$bin" capture -i "$cap_if" --out "$out" -t "$threads" --no-inventory \
    --stats-interval 1h "${extra[@]}" > "$scratch/summary" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do [ -e "$out/records.jsonl" ] && break; sleep 0.1; done
  sleep 0.5
  local tr
  tr=$(tcpreplay "${speed[@]}" -i "$host_if" "$cap" 2>&1)
  sleep 1.5
  kill -INT "$pid"
  wait "$pid" || true
  local sent mbps failed kern kdrop qdrop tx
  sent=$(grep -oP 'Actual: \K[0-9]+' <<<"$tr" || echo '?')
  mbps=$(grep -oP 'Rated: [0-9.]+ Bps, \K[0-9.]+' <<<"$tr" || echo '?')
  failed=$(grep -oP 'Failed packets: +\K[0-9]+' <<<"$tr" || echo 0)
  kern=$(grep -oP "interface $cap_if +\\K[0-9,]+(?= received)" "$scratch/summary" | tr -d , || echo '?')
  kdrop=$(grep -oP "received by the kernel, \\K[0-9,]+(?= dropped)" "$scratch/summary" | tr -d , || echo '?')
  qdrop=$(grep -oP 'queue drops +\K[0-9,]+' "$scratch/summary" | tr -d , || echo 0)
  tx=$(grep -oP '^ *transactions +\K[0-9,]+' "$scratch/summary" | tr -d , || echo 0)
  printf '| %-9s | %d | %-4s | %8s | %6s | %7s | %7s | %7s | %6s | %7s / %s |\n' \
    "$mode" "$threads" "$rate" "$sent" "$mbps" "$failed" "$kern" "$kdrop" "$qdrop" "$tx" "$want"
}
echo '| mode      | threads | rate | frames sent | Mbit/s | unsent | kernel received | ring drops | queue drops | transactions |'
echo '|---|---|---|---|---|---|---|---|---|---|'
for _ in $(seq "${REPEAT:-1}"); do
  for mode in ${MODES:-blocks immediate}; do
    for threads in ${THREADS:-1 2}; do
      for rate in "${rates[@]}"; do
        run "$mode" "$threads" "$rate"
      done
    done
  done
done
