// The flash-sale gate on Redis: Lua scripts (scripts.ts), sent by EVALSHA through ioredis'
// defineCommand (which falls back to EVAL after a restart emptied the script cache). Claims to one
// sale that arrive in the same turn of the event loop go to Redis together, as one run of the
// claim script that decides them one after another (ClaimBatches): each is as atomic as alone,
// and the script's fixed cost is paid once per batch, not once per claim.
// Redis may lose its data (FLUSHALL, a restart without persistence): every script then answers
// "unknownSale" and decides nothing, and the caller rebuilds the sale from the event log
// (rebuild: one process at a time, under a lock in Redis) before asking again.

import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import type {
  ClaimOutcome,
  CloseOutcome,
  FlashSaleGate,
  GateClaim,
  GateClaimStatus,
  GateSnapshot,
  GateStatus,
  ReleaseOutcome,
  UseOutcome,
} from "../gate.js";
import { claimOutcomeOf, releaseOutcomeOf } from "../gate-replies.js";
import { CLAIMS, CLOSE, LOAD, RELEASE, rebuildLockKey, saleKeys, UNLOCK, USE } from "./scripts.js";

type Reply = (string | null)[];
/** The claim script's reply: the epoch, then four values per claim (integers as numbers). */
type ClaimsReply = (string | number | null)[];
type Script = (...args: (string | number)[]) => Promise<unknown>;

interface GateCommands {
  fsClaims: Script;
  fsUse: Script;
  fsRelease: Script;
  fsClose: Script;
  fsLoad: Script;
  fsUnlock: Script;
}

/** Claims per run of the claim script (its expiry-queue insert unpacks two values per grant). */
const MAX_BATCH = 256;

interface PendingClaim {
  claimId: string;
  customerId: string;
  quantity: number;
  nowMs: number;
  resolve: (outcome: ClaimOutcome) => void;
  reject: (error: unknown) => void;
}

/** How long a rebuild may hold the lock: longer than reading a sale's claims from the log; a crashed rebuilder's lock lapses. */
const REBUILD_LOCK_MS = 30_000;

const num = (v: string | null | undefined): number => Number(v ?? 0);

export class RedisFlashSaleGate implements FlashSaleGate {
  readonly kind = "redis" as const;
  private readonly redis: Redis & GateCommands;
  private readonly owned: boolean;
  private readonly keys = new Map<string, readonly string[]>();
  /** Claims waiting for the end of this turn of the event loop, per sale. */
  private readonly waiting = new Map<string, PendingClaim[]>();
  private flushScheduled = false;
  /** Claims decided and runs of the claim script so far (the benchmark reports claims per run). */
  readonly stats = { claims: 0, runs: 0 };

  /** `redis`: a URL (the gate opens and closes its own connection) or a client to share. */
  constructor(redis: string | Redis) {
    // Auto-pipelining: the claims of one tick go out in one write (the server's profile under
    // claim load showed a write system call per claim as the gate's largest cost).
    const client =
      typeof redis === "string" ? new Redis(redis, { lazyConnect: false, maxRetriesPerRequest: 2, enableAutoPipelining: true }) : redis;
    this.owned = typeof redis === "string";
    // Readiness reports Redis being down; the claims that fail answer 5xx. No unhandled 'error' events.
    if (this.owned) client.on("error", () => undefined);
    for (const [name, lua] of Object.entries({ fsClaims: CLAIMS, fsUse: USE, fsRelease: RELEASE, fsClose: CLOSE, fsLoad: LOAD })) {
      client.defineCommand(name, { numberOfKeys: 4, lua });
    }
    client.defineCommand("fsUnlock", { numberOfKeys: 1, lua: UNLOCK });
    this.redis = client as Redis & GateCommands;
  }

  async load(snapshot: GateSnapshot): Promise<void> {
    await this.redis.fsLoad(...saleKeys(snapshot.sale.saleId), JSON.stringify(snapshot));
  }

  async rebuild(saleId: string, snapshot: () => Promise<GateSnapshot>): Promise<"rebuilt" | "held" | "busy"> {
    const lock = rebuildLockKey(saleId);
    const token = randomUUID();
    if ((await this.redis.set(lock, token, "PX", REBUILD_LOCK_MS, "NX")) !== "OK") return "busy";
    try {
      if (await this.status(saleId)) return "held";
      await this.load(await snapshot());
      return "rebuilt";
    } finally {
      await this.redis.fsUnlock(lock, token);
    }
  }

  claim(r: { saleId: string; claimId: string; customerId: string; quantity: number; nowMs: number }): Promise<ClaimOutcome> {
    return new Promise<ClaimOutcome>((resolve, reject) => {
      const queue = this.waiting.get(r.saleId);
      const pending = { claimId: r.claimId, customerId: r.customerId, quantity: r.quantity, nowMs: r.nowMs, resolve, reject };
      if (queue) queue.push(pending);
      else this.waiting.set(r.saleId, [pending]);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // After the I/O callbacks of this turn: the requests that arrived together go together.
        setImmediate(() => this.flushClaims());
      }
    });
  }

  private flushClaims(): void {
    this.flushScheduled = false;
    const waiting = [...this.waiting];
    this.waiting.clear();
    for (const [saleId, queue] of waiting) {
      for (let from = 0; from < queue.length; from += MAX_BATCH) void this.runBatch(saleId, queue.slice(from, from + MAX_BATCH));
    }
  }

  private async runBatch(saleId: string, batch: PendingClaim[]): Promise<void> {
    const args: (string | number)[] = [...this.keysOf(saleId)];
    for (const c of batch) args.push(c.claimId, c.customerId, c.quantity, c.nowMs);
    this.stats.claims += batch.length;
    this.stats.runs++;
    let reply: ClaimsReply;
    try {
      reply = (await this.redis.fsClaims(...args)) as ClaimsReply;
    } catch (error) {
      for (const c of batch) c.reject(error);
      return;
    }
    const epoch = reply[0];
    batch.forEach((c, i) => {
      const at = 1 + 4 * i;
      c.resolve(
        reply.length === 1
          ? { outcome: "unknownSale" }
          : claimOutcomeOf(c.claimId, reply[at], reply[at + 1], reply[at + 2], reply[at + 3], epoch),
      );
    });
  }

  async use(r: { saleId: string; claimId: string; customerId: string; orderId: string; nowMs: number }): Promise<UseOutcome> {
    const [outcome, a, b] = (await this.redis.fsUse(...saleKeys(r.saleId), r.claimId, r.customerId, r.orderId, r.nowMs)) as Reply;
    switch (outcome) {
      case "used":
        return { outcome, quantity: num(a) };
      case "alreadyUsed":
        return { outcome, orderId: a ?? "", quantity: num(b) };
      case "notFound":
      case "notOwner":
      case "expired":
      case "released":
        return { outcome };
      default:
        return { outcome: "unknownSale" };
    }
  }

  async release(r: { saleId: string; claimId: string; from: "HELD" | "USED"; orderId?: string; nowMs: number }): Promise<ReleaseOutcome> {
    const [outcome, a, b] = (await this.redis.fsRelease(...saleKeys(r.saleId), r.claimId, r.from, r.orderId ?? "", r.nowMs)) as Reply;
    return releaseOutcomeOf(outcome, a, b, a);
  }

  async due(r: { saleId: string; nowMs: number; limit: number }) {
    const [, , claims, holds] = saleKeys(r.saleId);
    const ids = await this.redis.zrangebyscore(holds, "-inf", r.nowMs, "LIMIT", 0, r.limit);
    if (ids.length === 0) return [];
    const values = await this.redis.hmget(claims, ...ids);
    const out: { claimId: string; customerId: string; quantity: number; expiresAtMs: number }[] = [];
    ids.forEach((claimId, i) => {
      const c = parse(claimId, values[i] ?? null);
      if (c?.status === "HELD") out.push({ claimId, customerId: c.customerId, quantity: c.quantity, expiresAtMs: c.expiresAtMs });
    });
    return out;
  }

  async closeSale(r: { saleId: string; nowMs: number }): Promise<CloseOutcome> {
    const [outcome, a] = (await this.redis.fsClose(...saleKeys(r.saleId))) as Reply;
    if (outcome === "closed") return { outcome, unsold: num(a) };
    if (outcome === "holdsOutstanding") return { outcome, held: num(a) };
    return { outcome: "unknownSale" };
  }

  async status(saleId: string): Promise<GateStatus | undefined> {
    const [remaining, closed, unsold] = await this.redis.hmget(saleKeys(saleId)[0], "remaining", "closed", "unsold");
    if (remaining === null) return undefined;
    return { remaining: num(remaining), closed: closed === "1", ...(closed === "1" ? { unsold: num(unsold) } : {}) };
  }

  async claimOf(saleId: string, claimId: string): Promise<GateClaim | undefined> {
    return parse(claimId, await this.redis.hget(saleKeys(saleId)[2], claimId));
  }

  /** The sale's keys, built once per sale: a claim is the hot path. */
  private keysOf(saleId: string): readonly string[] {
    let keys = this.keys.get(saleId);
    if (!keys) {
      if (this.keys.size >= 1000) this.keys.clear();
      keys = saleKeys(saleId);
      this.keys.set(saleId, keys);
    }
    return keys;
  }

  async dispose(): Promise<void> {
    if (this.owned) await this.redis.quit().catch(() => undefined);
  }
}

function parse(claimId: string, value: string | null): GateClaim | undefined {
  if (value === null) return undefined;
  const [customerId = "", quantity, expiresAt, status, orderId] = value.split("|");
  return {
    claimId,
    customerId,
    quantity: num(quantity),
    expiresAtMs: num(expiresAt),
    status: status as GateClaimStatus,
    ...(orderId ? { orderId } : {}),
  };
}
