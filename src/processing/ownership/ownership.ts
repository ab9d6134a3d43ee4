// Runs each registered unit of work (a projector, a saga partition, the deadline scheduler...) on
// exactly one live instance at a time, through the leases of leases.ts.
//
// Every `heartbeatMs` (default 1 s) an instance
//   - renews its registry row and the leases it holds (one statement each); a lease that could not
//     be renewed is lost: the unit is stopped at once;
//   - stops by itself any unit whose lease it could not renew for `ttlMs - heartbeatMs` (measured
//     on its own monotonic clock from when it sent the last successful renewal, so always before
//     the lease expires on the database's clock): a process cut off from the database stops
//     working before anybody else may start;
//   - computes the assignment (assignment.ts) over the live worker instances of the registry and
//     hands over, at a checkpoint, the units assigned to another live instance (stop, then release
//     the lease at once), and takes the free units assigned to it. A unit left free for longer than
//     `ttlMs` (its assignee does not take it) is taken by anybody, so work never stalls.
//
// Takeover bounds (defaults ttlMs 5 s, heartbeatMs 1 s):
//   - graceful stop (SIGTERM) or rebalancing: the unit stops at its checkpoint and is released;
//     the next owner starts it within one heartbeat;
//   - a killed or cut-off instance: its leases and its registry row expire after ttlMs; the
//     instances left re-assign within one heartbeat: at most ttlMs + 2 x heartbeatMs (7 s), plus
//     the time the unit takes to start. The documented bound is 10 s.

import { hostname } from "node:os";
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { SqlClient, SqlExecutor } from "../../infrastructure/sql/sql-client.js";
import { assignUnits } from "./assignment.js";
import {
  acquireLease,
  deregisterInstance,
  fenceLease,
  forgetDeadInstances,
  heartbeatInstance,
  LeaseLostError,
  listInstances,
  listLeases,
  migrateOwnership,
  registerInstance,
  releaseLease,
  renewLeases,
  type InstanceIdentity,
  type InstanceRecord,
  type LeaseRecord,
  voidAllLeases,
} from "./leases.js";

/** The role that runs units of work; instances without it (API-only) never take a lease. */
export const PROCESSORS_ROLE = "processors";

/** What a unit of work gets while it holds its lease. */
export interface UnitLease {
  readonly unit: string;
  readonly token: number;
  readonly instanceId: string;
  /** Still within the time this instance may act on the lease (checked without a round trip). */
  valid(): boolean;
  /** In a transaction of the unit's work: throws LeaseLostError (and stops the unit) unless the lease is still this instance's. */
  fence(tx: SqlExecutor): Promise<void>;
}

export interface StartedUnit {
  /** Stops at a checkpoint: nothing after it is lost, the next owner resumes from there. */
  stop(): Promise<void>;
}

export interface WorkUnit {
  /** The lease's key: the same on every instance (e.g. the processor's checkpoint name). */
  readonly name: string;
  start(lease: UnitLease): Promise<StartedUnit>;
}

export interface OwnershipOptions {
  sql: SqlClient;
  instanceId: string;
  /** Roles of this instance; it runs units only with "processors". */
  roles: readonly string[];
  /** Lease lifetime (default 5000 ms). */
  ttlMs?: number;
  /** Renewal and balancing period (default 1000 ms); must be well under ttlMs. */
  heartbeatMs?: number;
  logger?: Logger;
  /** How long to wait for a previous process with the same INSTANCE_ID to expire before giving up (default 2 x ttlMs). */
  registerTimeoutMs?: number;
  /** The database is embedded in this process (no other can reach it): leases left by earlier processes are void at start. */
  solo?: boolean;
}

export interface OwnershipSnapshot {
  instances: (InstanceRecord & { owns: string[] })[];
  leases: LeaseRecord[];
}

export interface Ownership {
  readonly instanceId: string;
  /** Whether this instance runs units (role "processors"). */
  readonly worker: boolean;
  readonly ttlMs: number;
  readonly heartbeatMs: number;
  register(unit: WorkUnit): void;
  /** Stops the unit here if it runs here (handing it over) and forgets it. */
  unregister(name: string): Promise<void>;
  /** Units running on this instance now. */
  owned(): string[];
  owns(name: string): boolean;
  /** One balancing round now; resolves once the units it took are started. */
  rebalance(): Promise<void>;
  /** Every instance and lease as the database has them. */
  snapshot(): Promise<OwnershipSnapshot>;
  /** Hands every unit over at a checkpoint, releases the leases and leaves the registry. */
  stop(): Promise<void>;
  /** Tests: stops every loop and unit without releasing anything, as if the process had been killed. */
  abandon(): Promise<void>;
}

type UnitState = "idle" | "starting" | "running" | "stopping";

interface Entry {
  unit: WorkUnit;
  state: UnitState;
  token?: number;
  /** performance.now() until which this instance may act on the lease. */
  validUntil: number;
  started?: StartedUnit;
  /** The stop in progress, if any. */
  stopping?: Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function startOwnership(options: OwnershipOptions): Promise<Ownership> {
  const { sql, logger } = options;
  const ttlMs = options.ttlMs ?? 5_000;
  const heartbeatMs = options.heartbeatMs ?? 1_000;
  if (!(heartbeatMs * 2 < ttlMs)) throw new RangeError(`heartbeatMs (${heartbeatMs}) must be less than half of ttlMs (${ttlMs})`);
  const me: InstanceIdentity = { instanceId: options.instanceId, incarnation: randomUUID() };
  const worker = options.roles.includes(PROCESSORS_ROLE);
  const log = logger?.child({ instance: me.instanceId });
  await migrateOwnership(sql);
  if (options.solo) await voidAllLeases(sql);

  const registerDeadline = Date.now() + (options.registerTimeoutMs ?? 2 * ttlMs);
  while (!(await registerInstance(sql, me, { roles: options.roles, host: hostname(), pid: process.pid }, ttlMs))) {
    if (Date.now() > registerDeadline) throw new Error(`INSTANCE_ID ${me.instanceId} is in use by another live process`);
    await sleep(heartbeatMs);
  }

  const entries = new Map<string, Entry>();
  let stopping = false;
  let closed = false;
  let balancing: Promise<void> = Promise.resolve();
  let renewing: Promise<void> = Promise.resolve();
  // Measured from when a renewal was sent; one heartbeat of margin before the lease's own expiry.
  const validityMs = ttlMs - heartbeatMs;

  const stopUnit = (name: string, entry: Entry, why: string): Promise<void> => {
    if (entry.stopping) return entry.stopping;
    const started = entry.started;
    entry.state = "stopping";
    entry.validUntil = 0;
    entry.stopping = (async () => {
      try {
        await started?.stop();
      } catch (error) {
        log?.error({ unit: name, err: error }, "unit failed to stop cleanly");
      } finally {
        entry.started = undefined;
        entry.stopping = undefined;
        entry.state = "idle";
        delete entry.token;
      }
    })();
    log?.info({ unit: name, why }, "unit stopped here");
    return entry.stopping;
  };

  /** Lost (not renewed, or fenced out): stop at once; the lease is somebody else's or nobody's already. */
  const lose = (name: string, token: number | undefined, why: string) => {
    const entry = entries.get(name);
    if (!entry || entry.token === undefined || (token !== undefined && entry.token !== token)) return;
    if (entry.state === "running" || entry.state === "starting") log?.warn({ unit: name, why }, "lease lost");
    void stopUnit(name, entry, why);
  };

  /** Graceful: stop at a checkpoint, then release the lease so the next owner need not wait. */
  const handOver = async (name: string, entry: Entry, why: string) => {
    const token = entry.token;
    await stopUnit(name, entry, why);
    if (token !== undefined)
      await releaseLease(sql, me, { unit: name, token }).catch((error: unknown) =>
        log?.warn({ unit: name, err: error }, "release failed; the lease will expire"),
      );
  };

  const held = () =>
    [...entries.entries()]
      .filter(([, e]) => e.token !== undefined && (e.state === "running" || e.state === "starting"))
      .map(([unit, e]) => ({ unit, token: e.token! }));

  const renewOnce = async () => {
    const sentAt = performance.now();
    try {
      if (!(await heartbeatInstance(sql, me, ttlMs, stopping))) {
        // Our row was taken over: we were considered dead. Take it back (its leases are gone).
        log?.warn("registry row was taken over; registering again");
        for (const [unit, e] of entries) lose(unit, e.token, "instance was considered dead");
        await registerInstance(sql, me, { roles: options.roles, host: hostname(), pid: process.pid }, ttlMs);
      }
      const mine = held();
      const renewed = await renewLeases(sql, me, mine, ttlMs);
      const ok = new Map(renewed.map((l) => [l.unit, l.token]));
      for (const l of mine) {
        const entry = entries.get(l.unit);
        if (ok.get(l.unit) === l.token) {
          if (entry && entry.token === l.token) entry.validUntil = sentAt + validityMs;
        } else lose(l.unit, l.token, "renewal refused");
      }
    } catch (error) {
      log?.warn({ err: error }, "lease renewal failed; units stop if it keeps failing");
    }
  };

  // The watchdog needs no database: it stops what this instance may no longer be sure it owns.
  const watchdog = () => {
    const now = performance.now();
    for (const [unit, e] of entries)
      if (e.token !== undefined && e.state === "running" && e.validUntil < now) lose(unit, e.token, "lease not renewed in time");
  };

  const startUnit = async (name: string, entry: Entry, token: number) => {
    entry.state = "starting";
    entry.token = token;
    entry.validUntil = performance.now() + validityMs;
    const lease: UnitLease = {
      unit: name,
      token,
      instanceId: me.instanceId,
      valid: () => entry.token === token && entry.validUntil > performance.now(),
      fence: async (tx) => {
        try {
          await fenceLease(tx, me, { unit: name, token });
        } catch (error) {
          if (error instanceof LeaseLostError) lose(name, token, "fenced out");
          throw error;
        }
      },
    };
    try {
      const started = await entry.unit.start(lease);
      if (entry.token !== token || entry.state !== "starting") {
        // Lost or stopping while it started: stop what just started.
        await started.stop().catch(() => undefined);
        return;
      }
      entry.started = started;
      entry.state = "running";
      log?.info({ unit: name, token }, "unit started here");
    } catch (error) {
      log?.error({ unit: name, err: error }, "unit failed to start; releasing it");
      entry.state = "idle";
      delete entry.token;
      await releaseLease(sql, me, { unit: name, token }).catch(() => undefined);
    }
  };

  const balanceOnce = async () => {
    if (!worker || stopping || closed) return;
    const instances = await listInstances(sql);
    const live = instances.filter((i) => i.live && !i.stopping && i.roles.includes(PROCESSORS_ROLE)).map((i) => i.instanceId);
    if (!live.includes(me.instanceId)) live.push(me.instanceId);
    const assignment = assignUnits([...entries.keys()], live);
    const heldElsewhere = new Set(
      (await listLeases(sql)).filter((l) => l.held && !(l.owner === me.instanceId && l.incarnation === me.incarnation)).map((l) => l.unit),
    );
    const work: Promise<void>[] = [];
    for (const [name, entry] of entries) {
      const assignee = assignment.get(name);
      if (entry.state === "running" && assignee !== undefined && assignee !== me.instanceId) {
        work.push(handOver(name, entry, `assigned to ${assignee}`));
      } else if (entry.state === "idle" && !heldElsewhere.has(name)) {
        const token = await acquireLease(sql, me, name, ttlMs, assignee === me.instanceId ? 0 : ttlMs);
        if (token !== undefined && !stopping && !closed) work.push(startUnit(name, entry, token));
        else if (token !== undefined) await releaseLease(sql, me, { unit: name, token });
      }
    }
    await Promise.all(work);
  };

  const balance = (): Promise<void> =>
    (balancing = balancing
      .catch(() => undefined)
      .then(balanceOnce)
      .catch((error: unknown) => log?.warn({ err: error }, "balancing round failed; retrying")));
  const renew = (): Promise<void> => (renewing = renewing.catch(() => undefined).then(renewOnce));

  let ticks = 0;
  const timer = setInterval(() => {
    watchdog();
    void renew();
    // Balancing does not hold up renewals: a unit that is slow to start or stop never costs a lease.
    void balance();
    if (++ticks % 60 === 0) void forgetDeadInstances(sql, 10 * 60_000).catch(() => undefined);
  }, heartbeatMs);
  timer.unref();
  const watchdogTimer = setInterval(watchdog, Math.max(50, Math.floor(heartbeatMs / 4)));
  watchdogTimer.unref();

  const halt = () => {
    closed = true;
    clearInterval(timer);
    clearInterval(watchdogTimer);
  };

  return {
    instanceId: me.instanceId,
    worker,
    ttlMs,
    heartbeatMs,
    register(unit) {
      if (entries.has(unit.name)) throw new Error(`unit ${unit.name} is registered already`);
      entries.set(unit.name, { unit, state: "idle", validUntil: 0 });
    },
    async unregister(name) {
      const entry = entries.get(name);
      if (!entry) return;
      await balancing.catch(() => undefined);
      if (entry.token !== undefined) await handOver(name, entry, "unregistered");
      else if (entry.stopping) await entry.stopping;
      entries.delete(name);
    },
    owned: () => [...entries.entries()].filter(([, e]) => e.state === "running").map(([name]) => name),
    owns: (name) => entries.get(name)?.state === "running",
    rebalance: () => balance(),
    async snapshot() {
      const [instances, leases] = await Promise.all([listInstances(sql), listLeases(sql)]);
      return {
        instances: instances.map((i) => ({
          ...i,
          owns: leases.filter((l) => l.held && l.owner === i.instanceId && l.incarnation === i.incarnation).map((l) => l.unit),
        })),
        leases,
      };
    },
    async stop() {
      if (closed) return;
      stopping = true;
      const startedAt = performance.now();
      const units = held().length;
      await balancing.catch(() => undefined);
      // Tell the others first: they stop assigning units here and take them as they are released.
      await renew();
      await Promise.all(
        [...entries.entries()].map(([name, e]) =>
          e.token !== undefined ? handOver(name, e, "instance stopping") : (e.stopping ?? Promise.resolve()),
        ),
      );
      log?.info({ units, ms: Math.round(performance.now() - startedAt) }, "units handed over");
      halt();
      await renewing.catch(() => undefined);
      await deregisterInstance(sql, me).catch(() => undefined);
    },
    async abandon() {
      halt();
      await balancing.catch(() => undefined);
      await Promise.all([...entries.entries()].map(([name, e]) => stopUnit(name, e, "abandoned")));
    },
  };
}
