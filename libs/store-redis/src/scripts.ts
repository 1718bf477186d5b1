/**
 * The Lua scripts behind `persist`. Redis runs a script atomically, and a script that fails
 * half-way keeps the writes it already made, so each script does every check first and writes
 * only when all pass. Refusals are error replies starting `SYNOD_<WHY>`, mapped in TypeScript.
 *
 * Under `appendfsync always` Redis writes and fsyncs the script's effects to the AOF before it
 * sends the reply, so a reply means the write is on disk.
 */

/**
 * Ballot order, as in `@synod/protocol`'s `compareBallots`: round, then proposer id compared
 * byte by byte, then incarnation. Lua's `<` on strings uses the C library's `strcoll`, which
 * depends on the locale Redis runs in, so proposer ids are compared with `string.byte` instead.
 * Ids are ASCII tokens, so byte order is the code-unit order that TypeScript uses. Rounds and
 * incarnations are safe integers, which Lua's doubles hold exactly.
 */
const BALLOT_ORDER = `
local function cmpstr(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then
      if x < y then return -1 else return 1 end
    end
  end
  if #a == #b then return 0 end
  if #a < #b then return -1 else return 1 end
end
local function cmp(r1, p1, i1, r2, p2, i2)
  if r1 ~= r2 then
    if r1 < r2 then return -1 else return 1 end
  end
  local c = cmpstr(p1, p2)
  if c ~= 0 then return c end
  if i1 == i2 then return 0 end
  if i1 < i2 then return -1 else return 1 end
end
`;

/**
 * Acceptor persist.
 *
 * KEYS: marker, promised, accepted, floor, writes.
 * ARGV: [1] the marker this store loaded or created (compared byte for byte); [2] the write
 * counter this store expects (the value after its last acknowledged write); [3] `1` when a new
 * promise is given, else `0`; [4] its JSON; [5..7] its round, proposer and incarnation; [8] a
 * new compaction floor, or empty; [9] the number D of slots compacted away, then those D slots;
 * then 5 per accepted entry: slot, entry JSON, round, proposer, incarnation.
 *
 * Checks, in order, before any write: (a) the marker exists (else SYNOD_AMNESIA) and is the
 * one this store knows (else SYNOD_MARKER: Redis was re-initialised under a running acceptor);
 * (b) the write counter (absent: 0) is exactly the expected one: below it, Redis lost writes it
 * had acknowledged (SYNOD_BEHIND: a truncated or damaged AOF), above it, Redis holds a write
 * this store never saw acknowledged (SYNOD_AHEAD: a copy of an earlier call that ran late, or
 * another writer), which must not be overwritten from memory that does not know it;
 * (c) a new promise is not below the stored one (else SYNOD_LOWER); (d) no entry's ballot is
 * above the promise in force after this write (else SYNOD_ABOVE), which keeps the invariant
 * promised >= accepted true of what is on disk. Then SET promised, HSET each entry, for a
 * compaction HDEL the dropped slots and SET the floor (never lowered), and SET the counter one
 * higher, which is the reply.
 */
export const ACCEPTOR_PERSIST = `${BALLOT_ORDER}
local marker = redis.call('GET', KEYS[1])
if not marker then
  return redis.error_reply('SYNOD_AMNESIA marker missing')
end
if marker ~= ARGV[1] then
  return redis.error_reply('SYNOD_MARKER marker changed: ' .. string.sub(marker, 1, 200))
end
local wraw = redis.call('GET', KEYS[5]) or '0'
if not string.match(wraw, '^%d+$') or #wraw > 15 then
  return redis.error_reply('SYNOD_CORRUPT ' .. KEYS[5] .. ' is not a write count: ' ..
    string.sub(wraw, 1, 50))
end
local writes, expected = tonumber(wraw), tonumber(ARGV[2])
if writes < expected then
  return redis.error_reply('SYNOD_BEHIND ' .. wraw)
end
if writes > expected then
  return redis.error_reply('SYNOD_AHEAD ' .. wraw)
end
local pr, pp, pi = nil, nil, nil
local cur = redis.call('GET', KEYS[2])
if cur then
  local ok, b = pcall(cjson.decode, cur)
  if not ok or type(b) ~= 'table' or type(b.round) ~= 'number'
    or type(b.proposer) ~= 'string' or type(b.incarnation) ~= 'number' then
    return redis.error_reply('SYNOD_CORRUPT ' .. KEYS[2] .. ' does not parse')
  end
  pr, pp, pi = b.round, b.proposer, b.incarnation
end
if ARGV[3] == '1' then
  local nr, np, ni = tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
  if pr ~= nil and cmp(nr, np, ni, pr, pp, pi) < 0 then
    return redis.error_reply('SYNOD_LOWER stored promise ' .. cur .. ' is above ' .. ARGV[4])
  end
  pr, pp, pi = nr, np, ni
end
local nd = tonumber(ARGV[9])
local e0 = 10 + nd
for i = e0, #ARGV, 5 do
  local r, p, n = tonumber(ARGV[i + 2]), ARGV[i + 3], tonumber(ARGV[i + 4])
  if pr == nil or cmp(r, p, n, pr, pp, pi) > 0 then
    return redis.error_reply('SYNOD_ABOVE entry at slot ' .. ARGV[i] .. ' is above the promise')
  end
end
if ARGV[3] == '1' then
  redis.call('SET', KEYS[2], ARGV[4])
end
for i = e0, #ARGV, 5 do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
end
if ARGV[8] ~= '' then
  for i = 10, 9 + nd do
    redis.call('HDEL', KEYS[3], ARGV[i])
  end
  local f = tonumber(redis.call('GET', KEYS[4]) or '0') or 0
  if tonumber(ARGV[8]) > f then
    redis.call('SET', KEYS[4], ARGV[8])
  end
end
redis.call('SET', KEYS[5], string.format('%d', writes + 1))
return writes + 1
`;

/**
 * Learner persist.
 *
 * KEYS: log, next. ARGV: [1] the new delivery point; then slot and value JSON per decision.
 *
 * Checks before any write: the stored `next` is a number (else SYNOD_CORRUPT); no slot already
 * holds a different value (else SYNOD_CONFLICT: two decisions for one slot would mean that
 * agreement was lost somewhere, so the learner refuses rather than overwrite). Then HSET each
 * decision and SET `next` only when the new delivery point is larger.
 */
export const LEARNER_PERSIST = `
local cur = redis.call('GET', KEYS[2])
local curNext = -1
if cur then
  curNext = tonumber(cur)
  if curNext == nil then
    return redis.error_reply('SYNOD_CORRUPT next does not parse')
  end
end
for i = 2, #ARGV, 2 do
  local had = redis.call('HGET', KEYS[1], ARGV[i])
  if had and had ~= ARGV[i + 1] then
    return redis.error_reply('SYNOD_CONFLICT slot ' .. ARGV[i] .. ' already holds ' ..
      string.sub(had, 1, 200))
  end
end
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
if tonumber(ARGV[1]) > curNext then
  redis.call('SET', KEYS[2], ARGV[1])
end
return 1
`;

/** A refusal raised by one of the scripts: `SYNOD_<why> <detail>`. */
export interface ScriptRefusal {
  readonly why: string;
  readonly detail: string;
}

/** Reads a script's refusal out of an error reply, or null for any other error. */
export function scriptRefusal(e: unknown): ScriptRefusal | null {
  if (!(e instanceof Error)) return null;
  const m = /^SYNOD_([A-Z]+) ?([\s\S]*)$/.exec(e.message);
  return m === null ? null : { why: m[1] as string, detail: m[2] as string };
}
