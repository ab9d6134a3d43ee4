// The Redis gate's Lua scripts. Each runs atomically on the server: one round trip decides a
// claim against the time window, the customer's count and the units left, and records the hold.
//
// Keys of a sale (one hash tag, so a cluster keeps them on one node):
//   fs:{<saleId>}:sale    hash: quantity remaining startsAt endsAt limit ttl closed unsold
//   fs:{<saleId>}:per     hash: customerId -> units the customer holds or bought
//   fs:{<saleId>}:claims  hash: claimId -> "customerId|quantity|expiresAt|status|orderId"
//   fs:{<saleId>}:holds   zset: claimId scored by expiresAt, HELD claims only (the expiry queue)
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

/** ARGV: claimId customerId quantity now -> {outcome, a, b} */
export const CLAIM = `${COMMON}
local claimId, customer, q, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local m = redis.call('HMGET', sale, 'remaining', 'startsAt', 'endsAt', 'limit', 'ttl', 'closed')
if not m[1] then return {'unknownSale'} end
if m[6] == '1' or now >= tonumber(m[3]) then return {'ended', m[3]} end
if now < tonumber(m[2]) then return {'notStarted', m[2]} end
local earlier = redis.call('HGET', claims, claimId)
if earlier then
  local c = split(earlier)
  if c[1] == customer then return {'granted', c[3], m[1], c[2]} end
  return {'soldOut', m[1]}
end
local limit = tonumber(m[4])
local held = tonumber(redis.call('HGET', per, customer) or '0')
if held + q > limit then return {'overLimit', n(held), n(limit)} end
local remaining = tonumber(m[1])
if remaining < q then return {'soldOut', n(remaining)} end
remaining = redis.call('HINCRBY', sale, 'remaining', -q)
redis.call('HINCRBY', per, customer, q)
local expiresAt = now + tonumber(m[5])
redis.call('HSET', claims, claimId, customer .. '|' .. n(q) .. '|' .. n(expiresAt) .. '|HELD|')
redis.call('ZADD', holds, expiresAt, claimId)
return {'granted', n(expiresAt), n(remaining), n(q)}
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
 * ARGV: the snapshot as JSON. Loads the sale only when the gate does not hold it: a reload after
 * data loss cannot overwrite a sale another process already reloaded and sold from.
 */
export const LOAD = `${COMMON}
if redis.call('EXISTS', sale) == 1 then return 0 end
local snap = cjson.decode(ARGV[1])
local s = snap.sale
local taken = 0
redis.call('DEL', per, claims, holds)
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
  'limit', n(s.perCustomerLimit), 'ttl', n(s.holdTtlMs), 'closed', closed, 'unsold', unsold)
return 1
`;

/** The benchmark's baseline: the bare minimum of a stock gate, a conditional decrement. ARGV: quantity */
export const BARE_DECREMENT = `
local left = tonumber(redis.call('GET', KEYS[1]) or '0')
local q = tonumber(ARGV[1])
if left < q then return -1 end
return redis.call('DECRBY', KEYS[1], q)
`;
