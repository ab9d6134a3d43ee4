// The Redis read models (availability per SKU, product cards, order status) as an at-least-once
// processor: each batch of events is one guarded Lua script call (./script.ts); when a batch
// fails, its events are handled one by one (one aggregate in log order, different aggregates
// concurrently, the operations of the events in flight sent together in one call).
// Keys live under a generation (`<base>:<generation>:...`) named by the pointer key
// `<base>:generation`; a rebuild fills a new generation from position 0 and flips the pointer.
// While Redis is unreachable the projector waits (it neither skips nor parks events) and carries
// on from where it stopped when Redis is back; reads fall back to SQL meanwhile.

import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Checkpoint, EventStore } from "../../eventstore/port.js";
import { START } from "../../eventstore/port.js";
import type { SqlClient } from "../../infrastructure/sql/sql-client.js";
import {
  resetProcessor,
  startProcessor,
  type ProcessorDefinition,
  type ProcessorDeps,
  type RetryPolicy,
  type RunningProcessor,
} from "../../processing/processor.js";
import { readModelLag, type ReadModelLag } from "../lag.js";
import { HOT_EVENT_TYPES, hotKeyOf, hotOperations, type HotOperation } from "./operations.js";
import { applyBatch } from "./script.js";

export const REDIS_PROJECTOR = "projections/redis";
export const REDIS_FILTER = { streamCategories: ["product", "inventory", "order"], eventTypes: HOT_EVENT_TYPES };
export const DEFAULT_REDIS_BASE = "rm";

export const pointerKey = (base: string) => `${base}:generation`;
export const generationPrefix = (base: string, generation: string) => `${base}:${generation}:`;

export interface RedisModelDeps {
  store: EventStore;
  sql: SqlClient;
  redis: Redis;
  /** Key namespace (default "rm"); tests use their own. */
  base?: string;
  logger?: Logger;
  retry?: Partial<RetryPolicy>;
  /** Starts the projector (default startProcessor); several instances pass the leased one (src/processing/ownership). */
  startProcessor?: (definition: ProcessorDefinition, deps: ProcessorDeps) => Promise<RunningProcessor>;
}

export interface RunningRedisModels {
  waitFor(position: Checkpoint, timeoutMs?: number): Promise<boolean>;
  status(): Promise<ReadModelLag>;
  /** Throws when Redis is unreachable or would evict keys (maxmemory-policy other than noeviction). */
  readiness(): Promise<Record<string, unknown>>;
  /** Rebuilds into a new key generation from position 0 and flips the pointer when caught up. */
  rebuild(options?: { until?: Checkpoint; onProgress?: (replayed: number) => void }): Promise<void>;
  stop(): Promise<void>;
}

/** The generation the pointer names, creating the first one when there is none. */
export async function currentGeneration(redis: Redis, base: string): Promise<string> {
  await redis.set(pointerKey(base), "g1", "NX");
  return (await redis.get(pointerKey(base))) ?? "g1";
}

/** Redis's eviction policy: read models must not lose keys silently, so anything but noeviction is reported. */
export async function evictionPolicy(redis: Redis): Promise<string> {
  const info = await redis.info("memory");
  return /maxmemory_policy:(\S+)/.exec(info)?.[1] ?? "unknown";
}

class Stopped extends Error {}

/**
 * Collects the operations of the events handled at the same moment (different aggregates of one
 * batch run concurrently) and applies them in one script call per turn of the event loop.
 */
class OperationBatcher {
  private queue: { operations: HotOperation[]; done: (error?: unknown) => void }[] = [];
  private scheduled = false;
  constructor(private readonly send: (operations: HotOperation[]) => Promise<unknown>) {}

  apply(operations: HotOperation[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ operations, done: (error) => (error === undefined ? resolve() : reject(error)) });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    const waiting = this.queue;
    this.queue = [];
    this.scheduled = false;
    try {
      await this.send(waiting.flatMap((w) => w.operations));
      for (const w of waiting) w.done();
    } catch (error) {
      for (const w of waiting) w.done(error ?? new Error("Redis write failed"));
    }
  }
}

export async function startRedisModels(deps: RedisModelDeps): Promise<RunningRedisModels> {
  const base = deps.base ?? DEFAULT_REDIS_BASE;
  const log = deps.logger?.child({ processor: REDIS_PROJECTOR });
  let generation: string | undefined;
  let stopping = false;

  const untilConnected = async () => {
    let warned = false;
    while (deps.redis.status !== "ready") {
      if (stopping) throw new Stopped("stopping");
      if (!warned) log?.warn({ status: deps.redis.status }, "Redis unreachable; the Redis projector waits for it");
      warned = true;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const batcher = new OperationBatcher(async (operations) => {
    generation ??= await currentGeneration(deps.redis, base);
    await applyBatch(deps.redis, generationPrefix(base, generation), operations);
  });

  /** Writes operations once Redis is there; a connection lost mid-write waits for Redis and writes again (the guard makes it safe). */
  const write = async (operations: HotOperation[], send: (operations: HotOperation[]) => Promise<unknown>) => {
    if (operations.length === 0) return;
    for (;;) {
      await untilConnected();
      try {
        await send(operations);
        return;
      } catch (error) {
        if (deps.redis.status === "ready") throw error;
      }
    }
  };

  const definition: ProcessorDefinition = {
    name: REDIS_PROJECTOR,
    filter: REDIS_FILTER,
    mode: "at-least-once",
    batchSize: 500,
    orderingKey: hotKeyOf,
    concurrency: 64,
    async handle(event) {
      await write(hotOperations(event), (operations) => batcher.apply(operations));
    },
    // The whole batch in one script call (the per-event path above is the fallback when it fails).
    async handleBatch(events) {
      await write(events.flatMap(hotOperations), async (operations) => {
        generation ??= await currentGeneration(deps.redis, base);
        await applyBatch(deps.redis, generationPrefix(base, generation), operations);
      });
    },
  };

  const start = async () => {
    const p = await (deps.startProcessor ?? startProcessor)(definition, deps);
    await p.caughtUpTo(START, 30_000);
    return p;
  };
  let projector: RunningProcessor | undefined = await start();
  let rebuilding = false;

  return {
    async waitFor(position, timeoutMs = 5_000) {
      if (position === START) return true;
      try {
        await projector?.caughtUpTo(position, timeoutMs);
        return projector !== undefined;
      } catch {
        return false;
      }
    },
    status: () => readModelLag(deps, REDIS_PROJECTOR, REDIS_FILTER, projector !== undefined),
    async readiness() {
      if (deps.redis.status !== "ready") throw new Error(`Redis ${deps.redis.status}; reads fall back to SQL`);
      const policy = await evictionPolicy(deps.redis);
      if (policy !== "noeviction")
        throw new Error(`Redis maxmemory-policy is ${policy}: it may evict read-model keys; set it to noeviction`);
      return { maxmemoryPolicy: policy, generation: await currentGeneration(deps.redis, base) };
    },
    async rebuild(options = {}) {
      if (rebuilding) throw new Error("the Redis read models are already being rebuilt");
      rebuilding = true;
      try {
        await rebuildRedisModels(deps, {
          pause: async () => {
            stopping = true;
            await projector?.stop();
            projector = undefined;
          },
          resume: async () => {
            stopping = false;
            generation = undefined;
            projector = await start();
          },
          ...(options.until === undefined ? {} : { until: options.until }),
          ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        });
      } finally {
        rebuilding = false;
      }
    },
    async stop() {
      stopping = true;
      await projector?.stop();
      projector = undefined;
    },
  };
}

/** Replays the log from `from` into the generation under `prefix`, one script call per page; returns the checkpoint reached. */
async function replayInto(
  store: EventStore,
  redis: Redis,
  prefix: string,
  from: Checkpoint,
  onPage?: (events: number) => void,
): Promise<Checkpoint> {
  let checkpoint = from;
  for (;;) {
    const page = await store.readAll({ from: checkpoint, filter: REDIS_FILTER, maxCount: 1000 });
    await applyBatch(redis, prefix, page.events.flatMap(hotOperations));
    onPage?.(page.events.length);
    const moved = page.checkpoint !== checkpoint;
    checkpoint = page.checkpoint;
    if (page.events.length === 0 || !moved) return checkpoint;
  }
}

/**
 * Rebuilds the Redis read models without downtime: a new generation is filled from position 0
 * while the live one keeps serving, the projector is paused for the final catch-up, the pointer
 * flips to the new generation, the projector's checkpoint moves to where the rebuild got, and the
 * old generation's keys are deleted. A crash after the flip and before the checkpoint only makes
 * the projector re-deliver events the guard then skips.
 */
export async function rebuildRedisModels(
  deps: RedisModelDeps,
  hooks: { pause?: () => Promise<void>; resume?: () => Promise<void>; until?: Checkpoint; onProgress?: (replayed: number) => void } = {},
): Promise<void> {
  const base = deps.base ?? DEFAULT_REDIS_BASE;
  const old = await currentGeneration(deps.redis, base);
  const next = `g${Date.now()}`;
  const prefix = generationPrefix(base, next);
  let replayed = 0;
  const onPage = (events: number) => hooks.onProgress?.((replayed += events));
  let reached = await replayInto(deps.store, deps.redis, prefix, START, onPage);
  await hooks.pause?.();
  try {
    reached = await replayInto(deps.store, deps.redis, prefix, reached, onPage);
    while (hooks.until !== undefined && reached < hooks.until) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      reached = await replayInto(deps.store, deps.redis, prefix, reached, onPage);
    }
    await deps.redis.set(pointerKey(base), next);
    await deps.sql.transaction(async (tx) => {
      await resetProcessor(tx, REDIS_PROJECTOR);
      if (reached !== START)
        await tx.query("INSERT INTO processor_checkpoints (name, checkpoint, updated_at) VALUES ($1, $2, now())", [
          REDIS_PROJECTOR,
          reached,
        ]);
    });
  } finally {
    await hooks.resume?.();
  }
  await deleteGeneration(deps.redis, base, old);
}

async function deleteGeneration(redis: Redis, base: string, generation: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${generationPrefix(base, generation)}*`, "COUNT", 1000);
    if (keys.length > 0) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== "0");
}
