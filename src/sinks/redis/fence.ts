/**
 * The position fence: one Lua script applies a batch's commands and stores the batch LSN,
 * atomically, unless the stored position is already at or past it (a replay). LSNs are
 * compared as 20-digit zero-padded strings because Lua numbers are doubles.
 *
 * KEYS[1] position key; ARGV[1] padded LSN ("" = unfenced DLQ replay); ARGV[2] number of
 * commands; ARGV[3] "1" to store the position (the last chunk of a batch); then per command:
 * name, argc, args... Each command runs under pcall so a bad
 * record (e.g. WRONGTYPE) is reported by index and the rest still apply. Returns
 * {applied(0|1), failedIndex1, error1, ...}.
 */
export const FENCE_SCRIPT = `
local lsn = ARGV[1]
if lsn ~= '' then
  local pos = redis.call('GET', KEYS[1])
  if pos and pos >= lsn then return {0} end
end
local out = {1}
local i = 4
local n = tonumber(ARGV[2])
for k = 1, n do
  local cmd = ARGV[i]
  local argc = tonumber(ARGV[i + 1])
  local ok, err = pcall(redis.call, cmd, unpack(ARGV, i + 2, i + 1 + argc))
  if not ok then
    local msg = type(err) == 'table' and err.err or tostring(err)
    -- A stream entry id not above the top: this entry is already there.
    if not (cmd == 'XADD' and string.find(msg, 'equal or smaller', 1, true)) then
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
 * FENCE_SCRIPT with the commands packed into one argument (ARGV[4]) instead of one argument
 * each: per command `<argc>|` followed by argc items `<byte length>:<bytes>` (the command name
 * first). With thousands of commands per batch, ioredis' per-argument work (flattening, RESP
 * framing, a byte length per argument) was ~15 % of the engine's CPU at 20k rows/s
 * (bench/latency.ts); one long string is framed once. Same fence, same result shape.
 */
export const FENCE_PACKED_SCRIPT = `
local lsn = ARGV[1]
if lsn ~= '' then
  local pos = redis.call('GET', KEYS[1])
  if pos and pos >= lsn then return {0} end
end
local out = {1}
local s = ARGV[4]
local find, sub, tonumber = string.find, string.sub, tonumber
local p = 1
local n = tonumber(ARGV[2])
for k = 1, n do
  local bar = find(s, '|', p, true)
  local argc = tonumber(sub(s, p, bar - 1))
  p = bar + 1
  local args = {}
  for a = 1, argc do
    local c = find(s, ':', p, true)
    local len = tonumber(sub(s, p, c - 1))
    args[a] = sub(s, c + 1, c + len)
    p = c + len + 1
  end
  local ok, err = pcall(redis.call, unpack(args))
  if not ok then
    local msg = type(err) == 'table' and err.err or tostring(err)
    if not (args[1] == 'XADD' and string.find(msg, 'equal or smaller', 1, true)) then
      out[#out + 1] = k - 1
      out[#out + 1] = msg
    end
  end
end
if lsn ~= '' and ARGV[3] == '1' then redis.call('SET', KEYS[1], lsn) end
return out
`;

/**
 * ops[start, end) packed for FENCE_PACKED_SCRIPT, or null when an argument is bytes (a Buffer:
 * those go as separate arguments through FENCE_SCRIPT). Lengths are counted in UTF-16 units
 * first; when the text is not all ASCII (its UTF-8 length differs), they are counted again in bytes.
 */
export function packOps(ops: readonly { cmd: string; args: readonly (string | Buffer)[] }[], start: number, end: number): string | null {
  let s = "";
  for (let i = start; i < end; i++) {
    const { cmd, args } = ops[i];
    s += args.length + 1 + "|" + cmd.length + ":" + cmd;
    for (let a = 0; a < args.length; a++) {
      const v = args[a];
      if (typeof v !== "string") return null;
      s += v.length + ":" + v;
    }
  }
  if (Buffer.byteLength(s, "utf8") === s.length) return s;
  s = "";
  for (let i = start; i < end; i++) {
    const { cmd, args } = ops[i];
    s += args.length + 1 + "|" + Buffer.byteLength(cmd, "utf8") + ":" + cmd;
    for (const v of args as string[]) s += Buffer.byteLength(v, "utf8") + ":" + v;
  }
  return s;
}
