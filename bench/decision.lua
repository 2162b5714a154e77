-- wrk script for bench/decision-latency.sh: PingIntelligence-style sideband decisions.
-- Each request carries a client address and a bearer token; one request in 50 comes from a
-- blocked address, one in 50 carries the blocked token, the rest are allowed, so the
-- service walks every lookup path (address, CIDR, credential hash, JWT subject).
local blocked_ip = os.getenv("BLOCKED_IP") or "10.77.2.6"
local blocked_token = os.getenv("BLOCKED_TOKEN") or "stolen-token-7d1f"
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

request = function()
  n = n + 1
  local ip = string.format("198.18.%d.%d", math.floor(n / 250) % 250, n % 250 + 1)
  local token = "tok-" .. (n % 997)
  if n % 50 == 0 then ip = blocked_ip end
  if n % 50 == 25 then token = blocked_token end
  local body = string.format(
    '{"source_ip":"%s","source_port":"40000","method":"GET","url":"/api/v1/users/%d","headers":[{"host":"api.example"},{"user-agent":"bench"},{"authorization":"Bearer %s"}]}',
    ip, n % 1000, token)
  return wrk.format(nil, "/v1/decision", nil, body)
end

-- Open-loop pacing: with DELAY_MS set, each connection waits that long between requests, so
-- CONNECTIONS x 1000 / (DELAY_MS + latency) bounds the rate (bench/decision-latency.sh picks
-- the connections for a target rate).
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")
if delay_ms > 0 then
  delay = function() return delay_ms end
end

local statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_us=%d rps=%.0f p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d errors=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max,
    -- A 403 is an answer here, not an error: wrk's status count is left out.
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
