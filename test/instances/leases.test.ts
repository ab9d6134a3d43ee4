// Leases (src/processing/ownership): the lease rows themselves on PGlite and PostgreSQL, then
// several ownership loops (each with its own connection pool, as separate processes would have)
// racing for the same units on one PostgreSQL database: never two owners at once, balanced,
// handed over on a graceful stop, taken over within the bound after a crash.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPgClient } from "../../src/infrastructure/sql/pg-client.js";
import { openSqlClient } from "../../src/eventstore/index.js";
import type { SqlClient } from "../../src/infrastructure/sql/sql-client.js";
import {
  acquireLease,
  assignUnits,
  fenceLease,
  LeaseLostError,
  listLeases,
  migrateOwnership,
  releaseLease,
  renewLeases,
  startOwnership,
  type InstanceIdentity,
  type Ownership,
  type UnitLease,
  fencedDefinition,
} from "../../src/processing/ownership/index.js";
import type { ProcessorDefinition } from "../../src/processing/processor.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { missing, server } from "../support/env.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const A: InstanceIdentity = { instanceId: "a", incarnation: "a-1" };
const B: InstanceIdentity = { instanceId: "b", incarnation: "b-1" };

describe("assignUnits", () => {
  it("deals sorted units round-robin over sorted instances: counts differ by at most one, every instance computes the same", () => {
    const units = [
      "projections/orders",
      "order-saga/p0of4",
      "order-saga/p1of4",
      "order-saga/p2of4",
      "order-saga/p3of4",
      "deadline-scheduler",
      "projections/carts",
    ];
    const one = assignUnits(units, ["c", "a", "b"]);
    const two = assignUnits([...units].reverse(), ["b", "c", "a"]);
    expect([...one.entries()].sort()).toEqual([...two.entries()].sort());
    const counts = ["a", "b", "c"].map((i) => [...one.values()].filter((o) => o === i).length);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    expect(new Set(["order-saga/p0of4", "order-saga/p1of4", "order-saga/p2of4"].map((u) => one.get(u))).size).toBe(3);
    expect(assignUnits(units, []).size).toBe(0);
  });
});

function leaseSuite(name: string, open: () => Promise<{ sql: SqlClient; close(): Promise<void> }>, skip = false) {
  describe.skipIf(skip)(`lease rows on ${name}`, () => {
    let sql: SqlClient;
    let close: () => Promise<void>;
    beforeAll(async () => {
      ({ sql, close } = await open());
      await migrateOwnership(sql);
    });
    afterAll(async () => close?.());

    it("one holder at a time; renewal only by the holder with its token; release frees it at once; every change of hands bumps the token", async () => {
      const t1 = await acquireLease(sql, A, "u1", 60_000);
      expect(t1).toBe(1);
      expect(await acquireLease(sql, B, "u1", 60_000)).toBeUndefined();
      expect(await renewLeases(sql, B, [{ unit: "u1", token: t1! }], 60_000)).toEqual([]);
      expect(await renewLeases(sql, A, [{ unit: "u1", token: t1! + 1 }], 60_000)).toEqual([]);
      expect(await renewLeases(sql, A, [{ unit: "u1", token: t1! }], 60_000)).toEqual([{ unit: "u1", token: 1 }]);
      await releaseLease(sql, A, { unit: "u1", token: t1! });
      const t2 = await acquireLease(sql, B, "u1", 60_000);
      expect(t2).toBe(2);
      const [row] = (await listLeases(sql)).filter((l) => l.unit === "u1");
      expect(row).toMatchObject({ owner: "b", token: 2, held: true });
    });

    it("an expired lease is taken over (after freeForMs), and its old holder can neither renew it nor pass the fence", async () => {
      const t1 = (await acquireLease(sql, A, "u2", 200))!;
      expect(await acquireLease(sql, B, "u2", 60_000)).toBeUndefined();
      await sleep(300);
      expect(await acquireLease(sql, B, "u2", 60_000, 60_000)).toBeUndefined(); // expired, but not yet for a minute
      const t2 = (await acquireLease(sql, B, "u2", 60_000))!;
      expect(t2).toBe(t1 + 1);
      expect(await renewLeases(sql, A, [{ unit: "u2", token: t1 }], 60_000)).toEqual([]);
      await expect(sql.transaction((tx) => fenceLease(tx, A, { unit: "u2", token: t1 }))).rejects.toBeInstanceOf(LeaseLostError);
      await sql.transaction((tx) => fenceLease(tx, B, { unit: "u2", token: t2 }));
    });

    it("an expired lease is not renewed even when nobody took it (its holder has stopped by then)", async () => {
      const t = (await acquireLease(sql, A, "u3", 100))!;
      await sleep(200);
      expect(await renewLeases(sql, A, [{ unit: "u3", token: t }], 60_000)).toEqual([]);
    });
  });
}

leaseSuite("PGlite", async () => {
  const sql = await openSqlClient({});
  return { sql, close: () => sql.close() };
});

const postgres = server("DATABASE_URL");
let shared: TestDatabase | undefined;
leaseSuite(
  "PostgreSQL",
  async () => {
    shared = await createTestDatabase();
    const sql = createPgClient({ connectionString: shared.url, max: 4 });
    return {
      sql,
      async close() {
        await sql.close();
        await shared?.drop();
      },
    };
  },
  missing(postgres),
);

describe.skipIf(missing(postgres))("ownership loops racing on one PostgreSQL database", () => {
  let db: TestDatabase;
  const pools: SqlClient[] = [];
  const pool = () => {
    const sql = createPgClient({ connectionString: db.url, max: 4 });
    pools.push(sql);
    return sql;
  };
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    for (const p of pools) await p.close().catch(() => undefined);
    await db?.drop();
  });

  it("a takeover waits for the stale owner's fenced transaction: its writes commit before the new owner starts", async () => {
    const a = pool();
    const b = pool();
    await migrateOwnership(a);
    const t = (await acquireLease(a, A, "fenced", 300))!;
    const order: string[] = [];
    const staleTx = a.transaction(async (tx) => {
      await fenceLease(tx, A, { unit: "fenced", token: t });
      await sleep(600); // past the lease's expiry, with the row share-locked
      order.push("stale owner committed");
    });
    await sleep(400);
    const taken = acquireLease(b, B, "fenced", 60_000).then((token) => order.push(`taken over with token ${token}`));
    await Promise.all([staleTx, taken]);
    expect(order).toEqual(["stale owner committed", `taken over with token ${t + 1}`]);
  });

  it("a fenced batch takes the lease's row lock after its work (no transaction id while it reads), and a takeover during that work rolls it back", async () => {
    const a = pool();
    const b = pool();
    await migrateOwnership(a);
    await a.exec("CREATE TABLE batch_effects (n int)");
    const t = (await acquireLease(a, A, "batched", 300))!;
    const lease: UnitLease = {
      unit: "batched",
      token: t,
      instanceId: A.instanceId,
      valid: () => true,
      fence: (tx) => fenceLease(tx, A, { unit: "batched", token: t }),
    };
    const seen: (string | null)[] = [];
    let takeOverDuringWork = false;
    const definition: ProcessorDefinition = {
      name: "batched",
      mode: "transactional",
      handle: async () => undefined,
      async handleBatch(_events, { sql }) {
        const { rows } = await sql.query<{ xid: string | null }>("SELECT pg_current_xact_id_if_assigned()::text AS xid");
        seen.push(rows[0]!.xid);
        if (takeOverDuringWork) {
          await sleep(400); // past the lease's expiry: another instance takes the unit over meanwhile
          expect(await acquireLease(b, B, "batched", 60_000)).toBe(t + 1);
        }
        await sql.query("INSERT INTO batch_effects VALUES (1)");
      },
    };
    const fenced = fencedDefinition(definition, lease);
    // The work reads before anything holds back the log's readers (ADR 0001), then the fence commits with it.
    await a.transaction((tx) => fenced.handleBatch!([], { sql: tx }));
    expect(seen).toEqual([null]);
    expect((await a.query("SELECT count(*)::int AS n FROM batch_effects")).rows).toEqual([{ n: 1 }]);
    // Taken over while the batch worked: the fence at its end fails and nothing it wrote commits.
    takeOverDuringWork = true;
    await expect(a.transaction((tx) => fenced.handleBatch!([], { sql: tx }))).rejects.toBeInstanceOf(LeaseLostError);
    expect((await a.query("SELECT count(*)::int AS n FROM batch_effects")).rows).toEqual([{ n: 1 }]);
  });

  it("never two owners of a unit at once while instances join, stop and crash; balanced; handed over within a heartbeat; taken over after a crash within ttl + 2 heartbeats", async () => {
    const ttlMs = 1_500;
    const heartbeatMs = 250;
    const units = [
      "deadline-scheduler",
      ...Array.from({ length: 4 }, (_, i) => `order-saga/p${i}of4`),
      "projections/a",
      "projections/b",
      "projections/c",
      "projections/d",
    ];
    const runningOn = new Map<string, string>();
    const violations: string[] = [];
    const startLoop = async (id: string): Promise<Ownership> => {
      const ownership = await startOwnership({ sql: pool(), instanceId: id, roles: ["api", "processors"], ttlMs, heartbeatMs });
      for (const name of units) {
        ownership.register({
          name,
          async start() {
            const other = runningOn.get(name);
            if (other !== undefined) violations.push(`${name} started on ${id} while running on ${other}`);
            runningOn.set(name, id);
            await sleep(5);
            return {
              async stop() {
                await sleep(20); // a checkpoint being stored
                if (runningOn.get(name) === id) runningOn.delete(name);
              },
            };
          },
        });
      }
      return ownership;
    };
    const until = async (what: string, ok: () => boolean, timeoutMs: number) => {
      const started = performance.now();
      while (!ok()) {
        if (performance.now() - started > timeoutMs)
          throw new Error(`${what}: not within ${timeoutMs} ms (running: ${JSON.stringify([...runningOn])})`);
        await sleep(20);
      }
      return performance.now() - started;
    };
    const countOn = (id: string) => [...runningOn.values()].filter((o) => o === id).length;

    const x = await startLoop("x");
    await x.rebalance();
    await until("x runs everything alone", () => countOn("x") === units.length, 3_000);

    const y = await startLoop("y");
    const z = await startLoop("z");
    await until(
      "three instances share the units 3/3/3",
      () => ["x", "y", "z"].every((i) => countOn(i) === 3) && runningOn.size === units.length,
      8_000,
    );

    // Graceful stop: its units are released at once and picked up within about a heartbeat.
    const yUnits = [...runningOn.entries()].filter(([, o]) => o === "y").map(([u]) => u);
    const stopStarted = performance.now();
    await y.stop();
    const handover = await until("y's units run elsewhere", () => yUnits.every((u) => runningOn.has(u) && runningOn.get(u) !== "y"), 5_000);
    const gracefulMs = handover + (performance.now() - stopStarted - handover);

    // Crash: z stops working without releasing anything; its leases must expire first.
    const zUnits = [...runningOn.entries()].filter(([, o]) => o === "z").map(([u]) => u);
    await z.abandon();
    const crashStarted = performance.now();
    const takeoverMs = await until("z's units run on x", () => zUnits.every((u) => runningOn.get(u) === "x"), ttlMs + 6 * heartbeatMs);
    expect(performance.now() - crashStarted).toBeGreaterThanOrEqual(ttlMs - heartbeatMs); // not before its lease could have expired

    // A new instance joins: half of the units move to it.
    const w = await startLoop("w");
    await until("x and w share the units", () => Math.abs(countOn("x") - countOn("w")) <= 1 && runningOn.size === units.length, 8_000);
    console.log(
      `[ownership] ttl ${ttlMs} ms, heartbeat ${heartbeatMs} ms: graceful handover ${Math.round(gracefulMs)} ms, takeover after a crash ${Math.round(takeoverMs)} ms`,
    );

    await Promise.all([x.stop(), w.stop()]);
    expect(runningOn.size).toBe(0);
    expect(violations).toEqual([]);
    const leases = await listLeases(pools[0]!);
    expect(leases.filter((l) => l.held && units.includes(l.unit))).toEqual([]);
  });
});
