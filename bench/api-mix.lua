-- wrk request mix for apitap's benchmark capture: 80% GETs of JSON documents of 200 B to
-- 20 KB (a fifth asking for gzip), POST/PUT with JSON bodies, DELETEs, and a tenth of the
-- requests closing their connection.
local counter = 0
local items = 400

local function body(n)
  local parts = {}
  for i = 1, n do
    parts[#parts + 1] = string.format('{"sku":"SKU-%05d","qty":%d,"note":"%s"}', (counter * 7 + i) % 99999, i, string.rep("x", 40))
  end
  return '{"items":[' .. table.concat(parts, ",") .. '],"customer":"c' .. (counter % 977) .. '"}'
end

request = function()
  counter = counter + 1
  local id = (counter * 37) % items
  local r = counter % 20
  local headers = { ["Host"] = "api.bench.test", ["User-Agent"] = "wrk-bench/1.0",
                    ["Authorization"] = "Bearer tok-" .. (counter % 53) }
  if counter % 5 == 0 then headers["Accept-Encoding"] = "gzip" end
  if counter % 10 == 0 then headers["Connection"] = "close" end
  if r < 16 then
    return wrk.format("GET", "/api/items/" .. id .. ".json?v=" .. (counter % 5), headers)
  elseif r < 18 then
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", "/api/items/" .. id .. ".json", headers, body(3 + counter % 30))
  elseif r < 19 then
    headers["Content-Type"] = "application/json"
    return wrk.format("PUT", "/api/items/" .. id .. ".json", headers, body(1 + counter % 5))
  else
    return wrk.format("DELETE", "/api/items/" .. id .. ".json", headers)
  end
end
