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
 * ARGV: claimId customerId quantity now -> {outcome, a, b, c, epoch}. A grant is five calls: the
 * sale's fields, HSETNX (records the claim and tells a new claim id from a repeated one in one
 * call), the customer's count (raised first, lowered again when over the limit), the pool, the
 * expiry queue. Refusals undo what they did before answering.
 */
export const CLAIM = `
local sale, per, claims, holds = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local claimId, customer, q, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local m = redis.call('HMGET', sale, 'remaining', 'startsAt', 'endsAt', 'limit', 'ttl', 'closed', 'epoch')
if not m[1] then return {'unknownSale'} end
if m[6] == '1' or now >= tonumber(m[3]) then return {'ended', m[3]} end
if now < tonumber(m[2]) then return {'notStarted', m[2]} end
local epoch = m[7] or '0'
local qs = string.format('%.0f', q)
local expiresAt = string.format('%.0f', now + tonumber(m[5]))
if tonumber(m[1]) < q or redis.call('HSETNX', claims, claimId, customer .. '|' .. qs .. '|' .. expiresAt .. '|HELD|') == 0 then
  -- Sold out, or this claim id was seen before: the same claim again answers as the first time.
  local earlier = redis.call('HGET', claims, claimId)
  if earlier then
    local c = {}
    for part in string.gmatch(earlier .. '|', '([^|]*)|') do c[#c + 1] = part end
    if c[1] == customer then return {'granted', c[3], m[1], c[2], epoch} end
  end
  return {'soldOut', m[1]}
end
local held = redis.call('HINCRBY', per, customer, q)
if held > tonumber(m[4]) then
  redis.call('HINCRBY', per, customer, -q)
  redis.call('HDEL', claims, claimId)
  return {'overLimit', string.format('%.0f', held - q), m[4]}
end
local remaining = redis.call('HINCRBY', sale, 'remaining', -q)
redis.call('ZADD', holds, expiresAt, claimId)
return {'granted', expiresAt, string.format('%.0f', remaining), qs, epoch}
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
