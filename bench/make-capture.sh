#!/usr/bin/env bash
# Builds a realistic API capture for the throughput benchmarks: nginx serving JSON documents
# of 200 B to 20 KB (gzip for clients that ask, which nginx sends chunked) and answering
# POST/PUT/DELETE, driven by wrk with the Lua mix in api-mix.lua (keep-alive and close), each
# in its own network namespace, captured with tcpdump on the server's veth.
#
#   sudo bench/make-capture.sh SIZE_MB [OUT.pcap]     (default 200, bench/data/api-SIZE.pcap)
#
# Needs root, iproute2, nginx, wrk, tcpdump, python3. Prints tcpdump's drop count: a capture
# with kernel drops has gaps, which apitap handles, but benchmarks want it clean.
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
import json, random, sys
random.seed(7)
for i in range(400):
    n = random.choice([1, 2, 4, 8, 16, 32, 64, 100])
    doc = {"id": i, "name": "item-%d" % i, "tags": ["t%d" % (i % 13)],
           "variants": [{"sku": "SKU-%05d" % (i * 100 + k), "price": round(random.uniform(1, 500), 2),
                         "stock": random.randint(0, 999), "desc": "lorem ipsum dolor sit amet " * random.randint(1, 3)}
                        for k in range(n)]}
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
ip netns exec $ns_s tcpdump -i bn-srv -s 0 -B 262144 -w "$out" 'tcp port 8080' 2>"$work/tcpdump.log" &
tcpdump_pid=$!
sleep 1
target=$((size_mb * 1000 * 1000))
while :; do
  ip netns exec $ns_c wrk -t 1 -c 16 -d 1s -s "$here/api-mix.lua" http://10.88.0.1:8080/ >/dev/null
  cur=$(stat -c %s "$out")
  echo "capture: $((cur / 1000000)) MB of $size_mb" >&2
  [ "$cur" -ge "$target" ] && break
done
sleep 1
kill -INT "$tcpdump_pid"; wait "$tcpdump_pid" 2>/dev/null || true
tcpdump_pid=
grep -E "captured|dropped" "$work/tcpdump.log" >&2 || true
ls -la "$out"
