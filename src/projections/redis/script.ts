// The one Lua script that writes the Redis read models: a whole batch of operations in one call,
// atomically, each applied only when its log position is above the position stored in the hash
// (`_pos`). Positions are the event store's checkpoints, whose string order is commit order, so a
// redelivered batch, or an older one arriving late, changes nothing.

import type { Redis } from "ioredis";
import type { HotOperation } from "./operations.js";

const APPLY_BATCH = `
local ops = cjson.decode(ARGV[1])
local applied = 0
for i, op in ipairs(ops) do
  local key = KEYS[i]
  local stored = redis.call('HGET', key, '_pos')
  if (not stored) or stored < op.p then
    if op.s then
      for field, value in pairs(op.s) do redis.call('HSET', key, field, value) end
    end
    if op.a then
      for field, n in pairs(op.a) do
        if n ~= 0 then redis.call('HINCRBY', key, field, n) end
      end
    end
    if op.r then
      local refunded = redis.call('HINCRBY', key, 'refundedAmount', op.r)
      local captured = tonumber(redis.call('HGET', key, 'capturedAmount') or '0')
      if refunded >= captured then redis.call('HSET', key, 'paymentStatus', 'REFUNDED') else redis.call('HSET', key, 'paymentStatus', 'PARTIALLY_REFUNDED') end
    end
    if op.c and redis.call('HGET', key, 'paymentStatus') == 'PENDING' and redis.call('HGET', key, 'paymentStarted') ~= 'true' then
      redis.call('HSET', key, 'paymentStatus', 'NOT_REQUIRED')
    end
    redis.call('HSET', key, '_pos', op.p)
    applied = applied + 1
  end
end
return applied
`;

type WithScript = Redis & { hotApplyBatch(numberOfKeys: number, ...args: string[]): Promise<number> };

/** Registers the script on a client (ioredis sends EVALSHA and falls back to EVAL). */
function withScript(redis: Redis): WithScript {
  if (!("hotApplyBatch" in redis)) redis.defineCommand("hotApplyBatch", { lua: APPLY_BATCH });
  return redis as WithScript;
}

/** Applies operations under `prefix` (the key generation) in one script call; returns how many were applied. */
export async function applyBatch(redis: Redis, prefix: string, operations: readonly HotOperation[]): Promise<number> {
  if (operations.length === 0) return 0;
  const payload = operations.map((op) => ({
    p: op.position,
    ...(op.set && Object.keys(op.set).length > 0 ? { s: op.set } : {}),
    ...(op.add ? { a: op.add } : {}),
    ...(op.refund !== undefined ? { r: op.refund } : {}),
    ...(op.cancelUnpaid ? { c: true } : {}),
  }));
  return withScript(redis).hotApplyBatch(operations.length, ...operations.map((op) => `${prefix}${op.key}`), JSON.stringify(payload));
}
