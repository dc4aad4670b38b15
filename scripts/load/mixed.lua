-- wrk script: a mixed load on one collection of dimension 128. Per request: 85% searches
-- (random query, top_k 10), 14% upserts (a batch of 10 points over a bounded id space, so the
-- data does not grow without end), 1% flushes. Counts answers by status class.
local d = 128
local counts = {}
local threads = {}

function setup(thread)
    thread:set("id", #threads)
    table.insert(threads, thread)
end

function init(args)
    math.randomseed(1000 + id)
    statuses = {}
    sent = 0
end

local function vector()
    local v = {}
    for j = 1, d do
        v[j] = tostring(math.random(0, 255))
    end
    return "[" .. table.concat(v, ",") .. "]"
end

request = function()
    sent = sent + 1
    local r = math.random()
    if r < 0.85 then
        return wrk.format("POST", "/v1/collections/load/search", {["Content-Type"] = "application/json"},
            '{"vector":' .. vector() .. ',"top_k":10}')
    elseif r < 0.99 then
        local points = {}
        for i = 1, 10 do
            local id = math.random(0, 49999)
            points[i] = '{"id":"u' .. id .. '","vector":' .. vector() .. ',"payload":{"t":' .. sent .. '}}'
        end
        return wrk.format("POST", "/v1/collections/load/points", {["Content-Type"] = "application/json"},
            '{"points":[' .. table.concat(points, ",") .. ']}')
    else
        return wrk.format("POST", "/v1/collections/load/flush", {["Content-Type"] = "application/json"}, "{}")
    end
end

response = function(status, headers, body)
    local class = tostring(math.floor(status / 100)) .. "xx"
    statuses[class] = (statuses[class] or 0) + 1
end

done = function(summary, latency, requests)
    local total = {}
    for _, t in ipairs(threads) do
        local s = t:get("statuses")
        for k, v in pairs(s) do
            total[k] = (total[k] or 0) + v
        end
    end
    local parts = {}
    for k, v in pairs(total) do
        table.insert(parts, k .. "=" .. v)
    end
    table.sort(parts)
    io.write(string.format("load: %d requests in %.1f s: %.0f req/s; latency p50 %.2f ms, p99 %.2f ms; statuses %s; " ..
        "socket errors connect %d read %d write %d timeout %d\n",
        summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
        latency:percentile(50) / 1000, latency:percentile(99) / 1000, table.concat(parts, " "),
        summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
end
