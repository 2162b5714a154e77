#!/usr/bin/env bash
# Builds a realistic API capture for the throughput benchmarks: nginx serving JSON documents
# of 200 B to 20 KB, skewed small (gzip for the fifth of clients that ask, which nginx sends
# chunked; about 5 KB per transaction on the wire) and answering
# POST/PUT/DELETE, driven by wrk with the Lua mix in api-mix.lua (keep-alive and close), each
# in its own network namespace, captured with tcpdump on the server's veth.
#
#   sudo bench/make-capture.sh SIZE_MB [OUT.pcap]     (default 200, bench/data/api-SIZE.pcap)
#
# Needs root, iproute2, nginx, wrk, tcpdump, python3. Prints tcpdump's drop count: a capture
# with kernel drops has gaps, which apitap handles, but benchmarks want it clean. The capture
# stops at a packet count, so the last connections are cut mid-flight, as in any capture.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../scripts/netns-pair.sh"
size_mb=${1:-200}
out=${2:-$here/data/api-${size_mb}M.pcap}
work=$here/data/www-$$
mkdir -p "$here/data" "$work/api/items"
ns_s=apitap-bench-srv ns_c=apitap-bench-cli
cleanup() {
  [ -n "${tcpdump_pid:-}" ] && kill "$tcpdump_pid" 2>/dev/null && wait "$tcpdump_pid" 2>/dev/null || true
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  netns_pair_del $ns_s $ns_c
  rm -rf "$work"
}
trap cleanup EXIT

# JSON documents of 200 B to 20 KB.
python3 - "$work/api/items" <<'PY'
import json, math, random, sys
random.seed(7)
# Sizes between 200 B and 20 KB, skewed small (200 + 19800 u^2.5, mean about 6 KB): many
# small documents, a long tail of big ones, about 5 KB per transaction with the other methods.
for i in range(400):
    target = 200 + 19800 * random.random() ** 2.5
    doc = {"id": i, "name": "item-%d" % i, "tags": ["t%d" % (i % 13)], "variants": []}
    k = 0
    while len(json.dumps(doc)) < target:
        doc["variants"].append({"sku": "SKU-%05d" % (i * 1000 + k), "price": round(random.uniform(1, 500), 2),
                                "stock": random.randint(0, 999), "desc": "lorem ipsum dolor sit amet " * random.randint(1, 3)})
        k += 1
    open("%s/%d.json" % (sys.argv[1], i), "w").write(json.dumps(doc))
PY

cat > "$work/nginx.conf" <<NGX
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 100000;
  gzip on; gzip_types application/json; gzip_min_length 1000;
  client_body_temp_path $work/body;
  server {
    listen 10.88.0.1:8080;
    root $work;
    location /api/items/ {
      default_type application/json;
      if (\$request_method = POST)   { return 201 '{"id":1234,"status":"created"}'; }
      if (\$request_method = PUT)    { return 200 '{"id":1234,"status":"updated"}'; }
      if (\$request_method = DELETE) { return 204; }
    }
  }
}
NGX

netns_pair $ns_s $ns_c 10.88.0 bn-srv bn-cli

ip netns exec $ns_s nginx -c "$work/nginx.conf"
# Stop after about SIZE_MB of packets (this mix averages about 1,280 bytes a packet).
count=$((size_mb * 780))
ip netns exec $ns_s tcpdump -i bn-srv -s 0 -B 262144 -c "$count" -w "$out" 'tcp port 8080' 2>"$work/tcpdump.log" &
tcpdump_pid=$!
sleep 1
while kill -0 "$tcpdump_pid" 2>/dev/null; do
  ip netns exec $ns_c wrk -t 1 -c 16 -d 1s -s "$here/api-mix.lua" http://10.88.0.1:8080/ >/dev/null
  echo "capture: $(( $(stat -c %s "$out") / 1000000 )) MB" >&2
done
wait "$tcpdump_pid" 2>/dev/null || true
tcpdump_pid=
grep -E "captured|dropped" "$work/tcpdump.log" >&2 || true
ls -la "$out"
