-- The congested-cell loop of bench/dss_congested.py for wrk (one thread, one connection and
-- one USS each): query the cell, create an intent with the key seen (own OVNs from the
-- answer, others' from the board), on 409 add the missing intents' OVNs and retry, then
-- delete the previous intent. Set by the Python bench: BENCH_TOKENS (one bearer token per
-- thread, comma-separated), BENCH_BOARD (the folder of others' OVNs, a file per intent),
-- BENCH_LAT, BENCH_LNG. done() prints each thread's tally for the bench to read.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_ts;
int clock_gettime(int clk_id, bench_ts *tp);
]]
local ts = ffi.new("bench_ts")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local OIR = "/dss/v1/operational_intent_references"
local threads = {}
local made = 0

function setup(thread)
  made = made + 1
  thread:set("idx", made)
  table.insert(threads, thread)
end

local me, token, board, headers
local state, oid, key, prev_id, prev_ovn, pending_id, pending_ovn, sent, started
local volume_at, volume_json = -1, nil
tally = { creates = 0, deletes = 0, refused = 0, requests = 0, errors = 0 }
write_ms, create_ms, attempt_ms = {}, {}, {}

function init(args)
  local tokens = {}
  for t in string.gmatch(os.getenv("BENCH_TOKENS"), "[^,]+") do
    table.insert(tokens, t)
  end
  me = "uss" .. (idx - 1)
  token = tokens[idx]
  board = os.getenv("BENCH_BOARD")
  headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
  math.randomseed(os.time() * 1000 + idx)
  state = "query"
end

local function stamp(t)
  return string.format('{"value":"%s.000000Z","format":"RFC3339"}', os.date("!%Y-%m-%dT%H:%M:%S", t))
end

local function volume()
  local t = os.time()
  if t ~= volume_at then
    volume_at = t
    volume_json = string.format(
      '{"volume":{"outline_circle":{"center":{"lat":%s,"lng":%s},"radius":{"value":30,"units":"M"}},'
        .. '"altitude_lower":{"value":0,"reference":"W84","units":"M"},'
        .. '"altitude_upper":{"value":120,"reference":"W84","units":"M"}},'
        .. '"time_start":%s,"time_end":%s}',
      os.getenv("BENCH_LAT"), os.getenv("BENCH_LNG"), stamp(t + 60), stamp(t + 3600))
  end
  return volume_json
end

local function uuid4()
  local r = math.random
  return string.format("%04x%04x-%04x-4%03x-%04x-%04x%04x%04x", r(0, 65535), r(0, 65535),
    r(0, 65535), r(0, 4095), 32768 + r(0, 16383), r(0, 65535), r(0, 65535), r(0, 65535))
end

local function board_get(id)
  local f = io.open(board .. "/" .. id, "r")
  if f == nil then return nil end
  local v = f:read("*a")
  f:close()
  return v
end

local function board_put(id, ovn)
  local tmp = board .. "/." .. id
  local f = io.open(tmp, "w")
  f:write(ovn)
  f:close()
  os.rename(tmp, board .. "/" .. id)
end

-- add to the key the OVNs of the references listed in ``body`` (own: given; others': the board)
local function learn(body)
  for id, manager, ovn in string.gmatch(body, '{"id":"([^"]+)","manager":"([^"]*)".-"ovn":"([^"]*)"') do
    local v = ovn
    if manager ~= me then v = board_get(id) end
    if v ~= nil and v ~= "" then key[v] = true end
  end
end

local function create_body()
  local ks = {}
  for k, _ in pairs(key) do table.insert(ks, '"' .. k .. '"') end
  return '{"extents":[' .. volume() .. '],"key":[' .. table.concat(ks, ",")
    .. '],"state":"Accepted","uss_base_url":"https://uss.example"}'
end

function request()
  sent = now_ms()
  tally.requests = tally.requests + 1
  if state == "query" then
    started = sent
    return wrk.format("POST", OIR .. "/query", headers, '{"area_of_interest":' .. volume() .. "}")
  elseif state == "create" then
    return wrk.format("PUT", OIR .. "/" .. oid, headers, create_body())
  else
    return wrk.format("DELETE", OIR .. "/" .. prev_id .. "/" .. prev_ovn, headers, nil)
  end
end

function response(status, _, body)
  local took = now_ms() - sent
  if state == "query" then
    if status ~= 200 then tally.errors = tally.errors + 1; return end
    oid, key = uuid4(), {}
    learn(body)
    state = "create"
  elseif state == "create" then
    table.insert(write_ms, took)
    if status == 409 then
      tally.refused = tally.refused + 1
      learn(body)
      return
    end
    if status ~= 201 then tally.errors = tally.errors + 1; state = "query"; return end
    local ovn = string.match(body, '"ovn":"([^"]*)"')
    board_put(oid, ovn)
    tally.creates = tally.creates + 1
    table.insert(create_ms, took)
    table.insert(attempt_ms, now_ms() - started)
    if prev_id == nil then -- the first: nothing to delete
      prev_id, prev_ovn, state = oid, ovn, "query"
    else
      pending_id, pending_ovn, state = oid, ovn, "delete"
    end
  else
    table.insert(write_ms, took)
    if status ~= 200 then tally.errors = tally.errors + 1 end
    tally.deletes = tally.deletes + 1
    os.remove(board .. "/" .. prev_id)
    prev_id, prev_ovn = pending_id, pending_ovn
    state = "query"
  end
end

local function join(xs)
  local out = {}
  for i, x in ipairs(xs) do out[i] = string.format("%.3f", x) end
  return table.concat(out, " ")
end

function done(summary, _, _)
  io.write(string.format("ELAPSED_US %d\n", summary.duration))
  for _, t in ipairs(threads) do
    local c = t:get("tally")
    io.write(string.format("TALLY %d %d %d %d %d\n", c.creates, c.deletes, c.refused, c.requests,
      c.errors))
    io.write("WRITE " .. join(t:get("write_ms")) .. "\n")
    io.write("CREATE " .. join(t:get("create_ms")) .. "\n")
    io.write("ATTEMPT " .. join(t:get("attempt_ms")) .. "\n")
  end
end
