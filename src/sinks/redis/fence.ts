/**
 * The position fence: one Lua script applies a batch's commands and stores the batch LSN,
 * atomically, unless the stored position is already at or past it (a replay). LSNs are
 * compared as 20-digit zero-padded strings because Lua numbers are doubles.
 *
 * KEYS[1] position key; ARGV[1] padded LSN ("" = unfenced DLQ replay; "~" before it: a snapshot
 * batch, skipped only once the position is past it, see OutputBatch.snapshot; "=" before that:
 * the position must exist, see FENCE); ARGV[2] number of
 * commands; ARGV[3] "1" to store the position (the last chunk of a batch); then per command:
 * name, argc, args... Each command runs under pcall so a bad
 * record (e.g. WRONGTYPE) is reported by index and the rest still apply. Returns
 * {applied(0|1), failedIndex1, error1, ...}.
 */
/** The command name of a snapshot row's stream entry (see `run` in the scripts, RedisSink.snapshotEntriesKey). */
export const XADD_ONCE = "CDC_XADD_ONCE";

const RUN = `
-- XADD once per snapshot row: {name, stream, set, member, ttl ms, XADD arguments...}; the member
-- goes into the set first, and a row whose member the set holds already adds nothing.
local function run(c)
  if c[1] ~= '${XADD_ONCE}' then return redis.call(unpack(c)) end
  if redis.call('SADD', c[3], c[4]) == 0 then return 0 end
  redis.call('PEXPIRE', c[3], c[5])
  local ok, err = pcall(redis.call, 'XADD', c[2], unpack(c, 6))
  if not ok then
    -- refused (WRONGTYPE: to the DLQ): not in the stream, so not in the set; an id not above the top is there
    local msg = type(err) == 'table' and err.err or tostring(err)
    if not string.find(msg, 'equal or smaller', 1, true) then redis.call('SREM', c[3], c[4]) end
    error(err)
  end
  return err
end
`;

/**
 * The fence both scripts open with. "=" before the LSN: the sink holds a position for this
 * pipeline, so the key must be there; {-1} when it is gone (Redis restarted without persistence,
 * flushed, the key evicted), since the keys written before it went too and writing on would
 * leave Redis partial without a word.
 */
const FENCE = `
local lsn = ARGV[1]
local held = string.sub(lsn, 1, 1) == '='
if held then lsn = string.sub(lsn, 2) end
local past = string.sub(lsn, 1, 1) == '~'
if past then lsn = string.sub(lsn, 2) end
if lsn ~= '' then
  local pos = redis.call('GET', KEYS[1])
  if not pos and held then return {-1} end
  if pos and (pos > lsn or (pos == lsn and not past)) then return {0} end
end
`;

export const FENCE_SCRIPT = `${RUN}${FENCE}local out = {1}
local i = 4
local n = tonumber(ARGV[2])
for k = 1, n do
  local cmd = ARGV[i]
  local argc = tonumber(ARGV[i + 1])
  local ok, err = pcall(run, {cmd, unpack(ARGV, i + 2, i + 1 + argc)})
  if not ok then
    local msg = type(err) == 'table' and err.err or tostring(err)
    -- A stream entry id not above the top: this entry is already there.
    if not ((cmd == 'XADD' or cmd == '${XADD_ONCE}') and string.find(msg, 'equal or smaller', 1, true)) then
      out[#out + 1] = k - 1
      out[#out + 1] = msg
    end
  end
  i = i + 2 + argc
end
if lsn ~= '' and ARGV[3] == '1' then redis.call('SET', KEYS[1], lsn) end
return out
`;

export function padLsn(lsn: bigint): string {
  return lsn.toString().padStart(20, "0");
}

/**
 * FENCE_SCRIPT with the commands as one JSON argument (ARGV[4]: `[["HSET","k","f","v"],...]`,
 * decoded by Redis' built-in cjson) instead of one argument each. With thousands of commands per
 * batch, ioredis' per-argument work (flattening, RESP framing, a byte length per argument) was
 * ~15 % of the engine's CPU at 20k rows/s (bench/latency.ts); JSON.stringify frames them natively.
 * Measured per 5,000 HSETs: engine 10–14 → 3 ms, Redis 15 ms either way (a length-prefixed
 * format parsed in Lua cost Redis 30 ms). Same fence, same result shape.
 */
export const FENCE_JSON_SCRIPT = `${RUN}${FENCE}local out = {1}
local cmds = cjson.decode(ARGV[4])
for k = 1, #cmds do
  local c = cmds[k]
  local ok, err = pcall(run, c)
  if not ok then
    local msg = type(err) == 'table' and err.err or tostring(err)
    -- A stream entry id not above the top: this entry is already there.
    if not ((c[1] == 'XADD' or c[1] == '${XADD_ONCE}') and string.find(msg, 'equal or smaller', 1, true)) then
      out[#out + 1] = k - 1
      out[#out + 1] = msg
    end
  end
end
if lsn ~= '' and ARGV[3] == '1' then redis.call('SET', KEYS[1], lsn) end
return out
`;

/**
 * ops[start, end) as JSON for FENCE_JSON_SCRIPT, or null when an argument is bytes (a Buffer)
 * or text holds a lone UTF-16 surrogate (no UTF-8 form): those batches go as separate arguments
 * through FENCE_SCRIPT.
 */
export function opsAsJson(ops: readonly { cmd: string; args: readonly (string | Buffer)[] }[], start: number, end: number): string | null {
  const cmds: (string | Buffer)[][] = new Array(end - start);
  for (let i = start; i < end; i++) {
    const { cmd, args } = ops[i];
    const c: (string | Buffer)[] = [cmd];
    for (let a = 0; a < args.length; a++) {
      if (typeof args[a] !== "string") return null;
      c.push(args[a]);
    }
    cmds[i - start] = c;
  }
  const json = JSON.stringify(cmds);
  // JSON.stringify writes a lone surrogate as a \udXXX escape, which cjson cannot decode (the
  // script would fail for good); an escaped backslash before "ud8" also matches: harmless.
  return LONE_SURROGATE_ESCAPE.test(json) ? null : json;
}

const LONE_SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;
