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
