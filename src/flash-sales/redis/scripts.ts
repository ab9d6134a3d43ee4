// The Redis gate's Lua scripts. Each runs atomically on the server: one round trip decides a
// claim against the time window, the customer's count and the units left, and records the hold.
//
// Keys of a sale (one hash tag, so a cluster keeps them on one node):
//   fs:{<saleId>}:sale    hash: quantity remaining startsAt endsAt limit ttl closed unsold epoch
//                         (its absence is the marker of a sale the gate does not hold: every
//                         script then answers unknownSale and decides nothing, so after a
//                         FLUSHALL no process grants from an empty pool until the sale is rebuilt)
//   fs:{<saleId>}:per     hash: customerId -> units the customer holds or bought
//   fs:{<saleId>}:claims  hash: claimId -> "customerId|quantity|expiresAt|status|orderId"
//   fs:{<saleId>}:holds   zset: claimId scored by expiresAt, HELD claims only (the expiry queue)
//   fs:{<saleId>}:rebuild string: the token of the process rebuilding the sale (a lock with an expiry)
//
// Numbers travel as strings formatted with %.0f: Lua's tostring would print 1.7e+12.

export const saleKeys = (saleId: string): [string, string, string, string] => {
  const tag = `fs:{${saleId}}`;
  return [`${tag}:sale`, `${tag}:per`, `${tag}:claims`, `${tag}:holds`];
};

const COMMON = `
local sale, per, claims, holds = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local function n(x) return string.format('%.0f', x) end
local function split(v)
  local t = {}
  for part in string.gmatch(v .. '|', '([^|]*)|') do t[#t + 1] = part end
  return t
end
`;

/**
 * The claims of one tick, decided one after another in one atomic run (redis-gate.ts batches
 * them): each claim is decided exactly as if it ran alone, in the order given, but the script's
 * own cost (the call, the sale's fields, the pool's decrement, the expiry queue's insert) is paid
 * once per batch; a grant costs two calls of its own: HSETNX (records the claim and tells a new
 * claim id from a repeated one) and the customer's count (raised first, lowered again when over
 * the limit). Refusals undo what they did.
 *
 * ARGV: claimId customerId quantity now, repeated per claim.
 * -> {'unknownSale'} for the whole batch when the gate does not hold the sale, else
 *    {epoch, outcome1, a1, b1, c1, outcome2, ...}: per claim four values, numbers as integers:
 *    granted expiresAt remaining quantity | soldOut remaining | overLimit held limit |
 *    notStarted startsAt | ended endsAt.
 */
export const CLAIMS = `
local sale, per, claims, holds = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local m = redis.call('HMGET', sale, 'remaining', 'startsAt', 'endsAt', 'limit', 'ttl', 'closed', 'epoch')
if not m[1] then return {'unknownSale'} end
local remaining, startsAt, endsAt, limit, ttl = tonumber(m[1]), tonumber(m[2]), tonumber(m[3]), tonumber(m[4]), tonumber(m[5])
local closed = m[6] == '1'
local out, queued, taken = {m[7] or '0'}, {}, 0
for i = 1, #ARGV, 4 do
  local claimId, customer, qs, now = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  local q = tonumber(qs)
  local n = #out
  if closed or now >= endsAt then
    out[n + 1], out[n + 2], out[n + 3], out[n + 4] = 'ended', endsAt, 0, 0
  elseif now < startsAt then
    out[n + 1], out[n + 2], out[n + 3], out[n + 4] = 'notStarted', startsAt, 0, 0
  else
    local expiresAt = now + ttl
    local es = string.format('%.0f', expiresAt)
    if remaining < q or redis.call('HSETNX', claims, claimId, customer .. '|' .. qs .. '|' .. es .. '|HELD|') == 0 then
      -- Sold out, or this claim id was seen before: the same claim again answers as the first time.
      local earlier = redis.call('HGET', claims, claimId)
      local c = {}
      if earlier then
        for part in string.gmatch(earlier .. '|', '([^|]*)|') do c[#c + 1] = part end
      end
      if c[1] == customer then
        out[n + 1], out[n + 2], out[n + 3], out[n + 4] = 'granted', tonumber(c[3]), remaining, tonumber(c[2])
      else
        out[n + 1], out[n + 2], out[n + 3], out[n + 4] = 'soldOut', remaining, 0, 0
      end
    else
      local held = redis.call('HINCRBY', per, customer, q)
      if held > limit then
        redis.call('HINCRBY', per, customer, -q)
        redis.call('HDEL', claims, claimId)
        out[n + 1], out[n + 2], out[n + 3], out[n + 4] = 'overLimit', held - q, limit, 0
      else
        remaining = remaining - q
        taken = taken + q
        queued[#queued + 1] = es
        queued[#queued + 1] = claimId
        out[n + 1], out[n + 2], out[n + 3], out[n + 4] = 'granted', expiresAt, remaining, q
      end
    end
  end
end
if taken > 0 then
  redis.call('HINCRBY', sale, 'remaining', -taken)
  redis.call('ZADD', holds, unpack(queued))
end
return out
`;

/** ARGV: claimId customerId orderId now -> {outcome, a, b} */
export const USE = `${COMMON}
local claimId, customer, orderId, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
if redis.call('EXISTS', sale) == 0 then return {'unknownSale'} end
local v = redis.call('HGET', claims, claimId)
if not v then return {'notFound'} end
local c = split(v)
if c[1] ~= customer then return {'notOwner'} end
if c[4] == 'USED' then return {'alreadyUsed', c[5], c[2]} end
if c[4] == 'RELEASED' then return {'released'} end
if now >= tonumber(c[3]) then return {'expired'} end
redis.call('HSET', claims, claimId, c[1] .. '|' .. c[2] .. '|' .. c[3] .. '|USED|' .. orderId)
redis.call('ZREM', holds, claimId)
return {'used', c[2]}
`;

/** ARGV: claimId from(HELD|USED) orderId now -> {outcome, a, b} */
export const RELEASE = `${COMMON}
local claimId, from, orderId, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local closed = redis.call('HGET', sale, 'closed')
if not closed then return {'unknownSale'} end
if closed == '1' then return {'closed'} end
local v = redis.call('HGET', claims, claimId)
if not v then return {'notFound'} end
local c = split(v)
if c[4] ~= from then return {'notReleasable', c[4]} end
if from == 'HELD' and now < tonumber(c[3]) then return {'notReleasable', c[4]} end
if from == 'USED' and c[5] ~= orderId then return {'notReleasable', c[4]} end
local q = tonumber(c[2])
redis.call('HSET', claims, claimId, c[1] .. '|' .. c[2] .. '|' .. c[3] .. '|RELEASED|' .. c[5])
redis.call('ZREM', holds, claimId)
redis.call('HINCRBY', per, c[1], -q)
local remaining = redis.call('HINCRBY', sale, 'remaining', q)
return {'released', c[2], n(remaining)}
`;

/** -> {outcome, a} */
export const CLOSE = `${COMMON}
local m = redis.call('HMGET', sale, 'remaining', 'closed', 'unsold')
if not m[1] then return {'unknownSale'} end
if m[2] == '1' then return {'closed', m[3]} end
-- Every hold, expired or not, must have been released (and recorded) first.
local outstanding = redis.call('ZCARD', holds)
if outstanding > 0 then return {'holdsOutstanding', n(outstanding)} end
redis.call('HSET', sale, 'closed', '1', 'unsold', m[1], 'remaining', '0')
return {'closed', m[1]}
`;

/**
 * ARGV: the snapshot as JSON. Loads the sale only when the gate does not hold it at the snapshot's
 * epoch or a later one: a reload cannot overwrite a sale another process already rebuilt at the
 * same or a newer epoch and sold from. A newer epoch replaces an older one: the log refuses the
 * older epoch's grants from then on, so what it sold is either in the snapshot or decided again.
 */
export const LOAD = `${COMMON}
local snap = cjson.decode(ARGV[1])
local epoch = tonumber(snap.epoch) or 0
if redis.call('EXISTS', sale) == 1 and tonumber(redis.call('HGET', sale, 'epoch') or '0') >= epoch then return 0 end
local s = snap.sale
local taken = 0
redis.call('DEL', sale, per, claims, holds)
for _, c in ipairs(snap.claims) do
  local orderId = c.orderId or ''
  if orderId == cjson.null then orderId = '' end
  redis.call('HSET', claims, c.claimId, c.customerId .. '|' .. n(c.quantity) .. '|' .. n(c.expiresAtMs) .. '|' .. c.status .. '|' .. orderId)
  if c.status ~= 'RELEASED' then
    taken = taken + c.quantity
    redis.call('HINCRBY', per, c.customerId, c.quantity)
  end
  if c.status == 'HELD' then redis.call('ZADD', holds, c.expiresAtMs, c.claimId) end
end
local closed, unsold, remaining = '0', '', n(s.quantity - taken)
if snap.closed and snap.closed ~= cjson.null then closed, unsold, remaining = '1', n(snap.closed.unsold), '0' end
redis.call('HSET', sale, 'quantity', n(s.quantity), 'remaining', remaining, 'startsAt', n(s.startsAtMs), 'endsAt', n(s.endsAtMs),
  'limit', n(s.perCustomerLimit), 'ttl', n(s.holdTtlMs), 'closed', closed, 'unsold', unsold, 'epoch', n(epoch))
return 1
`;

/** KEYS: the rebuild lock; ARGV: the token that took it. Deletes the lock only when that token still holds it. */
export const UNLOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export const rebuildLockKey = (saleId: string): string => `fs:{${saleId}}:rebuild`;

/** The benchmark's baseline: the bare minimum of a stock gate, a conditional decrement. ARGV: quantity */
export const BARE_DECREMENT = `
local left = tonumber(redis.call('GET', KEYS[1]) or '0')
local q = tonumber(ARGV[1])
if left < q then return -1 end
return redis.call('DECRBY', KEYS[1], q)
`;
