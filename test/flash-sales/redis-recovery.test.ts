// Redis loses its data in the middle of a sale (FLUSHALL on a redis-server this test starts on
// its own port; the shared one is never touched): the gate is rebuilt from the event log before
// it takes new claims, so the sale still sells exactly its units, nobody exceeds the limit, and
// the log records every claim that was answered. Also with two processes on one Redis (two
// gates with their own clients, writers and recorders): one rebuilds, the other waits, and the
// grants the lost gate gave the other one that reach the log after the rebuild are decided again.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { saleLawHolds, type FlashSale } from "../../src/aggregates/flash-sale.js";
import { createProduct } from "../../src/commands/catalog.js";
import { receiveStock } from "../../src/commands/inventory.js";
import type { EventStore } from "../../src/eventstore/port.js";
import { openFlashSales, type FlashSales } from "../../src/flash-sales/index.js";
import { RedisFlashSaleGate } from "../../src/flash-sales/redis/redis-gate.js";
import { expireHolds } from "../../src/flash-sales/sale-closing.js";
import { scheduleSale } from "../../src/flash-sales/schedule.js";
import { missing, server } from "../support/env.js";
import { openPgliteWorld, openPostgresWorld, type StoreWorld } from "../support/stores.js";
import { bounded } from "./gate-contract.js";

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

/** A throwaway redis-server without persistence, on its own port. */
async function startRedis(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "fs-redis-"));
  const child: ChildProcess = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
    { stdio: "ignore" },
  );
  const url = `redis://127.0.0.1:${port}`;
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on("error", () => undefined);
  for (let i = 0; ; i++) {
    try {
      await probe.connect();
      await probe.ping();
      break;
    } catch (error) {
      if (i > 100) throw error;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  probe.disconnect();
  return {
    url,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe.skipIf(missing(server("REDIS_URL")))("Redis gate: data lost mid-sale", () => {
  let redis: { url: string; stop(): Promise<void> };
  let world: StoreWorld;
  let sales: FlashSales;
  const reloads: unknown[] = [];
  beforeAll(async () => {
    redis = await startRedis();
    world = process.env.DATABASE_URL ? await openPostgresWorld() : await openPgliteWorld();
    const logger = {
      info: () => undefined,
      error: () => undefined,
      warn: (detail: unknown) => void reloads.push(detail),
    } as unknown as Parameters<typeof openFlashSales>[0]["logger"];
    sales = openFlashSales({ store: world.store, gate: new RedisFlashSaleGate(redis.url), timerIntervalMs: false, logger });
  });
  afterAll(async () => {
    await sales?.close();
    await world?.close();
    await redis?.stop();
  });

  it("FLUSHALL while 3,000 claimants race for 1,000 units (limit 2): the gate is rebuilt from the log and exactly 1,000 units are sold, nobody over the limit", async () => {
    const ctx = (commandId: string) => ({ store: world.store, actor: "admin:test", commandId });
    await createProduct(ctx("p"), { sku: "PHONE", name: "Phone", category: ["Phones"], price: 99_900 });
    await receiveStock(ctx("r"), { sku: "PHONE", warehouseId: "w1", quantity: 1500 });
    const now = Date.now();
    const opened = await scheduleSale(
      sales.deps,
      { actor: "admin:test", commandId: "sale-1" },
      {
        saleId: "big",
        sku: "PHONE",
        warehouseId: "w1",
        quantity: 1000,
        price: 49_900,
        startsAt: new Date(now - 60_000).toISOString(),
        endsAt: new Date(now + 600_000).toISOString(),
        perCustomerLimit: 2,
        holdTtlMs: 600_000,
      },
    );
    expect(opened.outcome).toBe("open");

    const admin = new Redis(redis.url);
    let granted = 0;
    let flushed = false;
    const customerOf = (i: number) => `c-${Math.floor(i / 3)}`;
    const outcomes = await bounded(3000, 64, async (i) => {
      const o = await sales.desk.claim({ saleId: "big", claimId: `big:k${i}`, customerId: customerOf(i), quantity: 1 + (i % 2) });
      if (o.outcome === "granted") {
        granted += o.quantity;
        if (!flushed && granted >= 300) {
          flushed = true;
          await admin.flushall();
        }
      }
      return o;
    });
    await admin.quit();
    expect(flushed).toBe(true);
    // reloaded from the log once, with the claims granted before the flush
    expect(reloads).toHaveLength(1);
    expect((reloads[0] as { claims: number }).claims).toBeGreaterThanOrEqual(150);

    const perCustomer = new Map<string, number>();
    let units = 0;
    outcomes.forEach((o, i) => {
      if (o.outcome !== "granted") return;
      units += o.quantity;
      perCustomer.set(customerOf(i), (perCustomer.get(customerOf(i)) ?? 0) + o.quantity);
    });
    expect(units).toBe(1000);
    expect(Math.max(...perCustomer.values())).toBeLessThanOrEqual(2);
    expect(outcomes.every((o) => ["granted", "soldOut", "overLimit"].includes(o.outcome))).toBe(true);
    expect(await sales.deps.gate.status("big")).toEqual({ remaining: 0, closed: false });

    // the log holds every answered claim: an auditor replays exactly who got what
    await sales.deps.recorder.flush("big");
    const sale = (await sales.desk.sale("big")) as FlashSale;
    expect(sale.granted).toBe(1000);
    expect(saleLawHolds(sale)).toBe(true);
    const answered = outcomes.flatMap((o) => (o.outcome === "granted" ? [o.claimId] : []));
    expect([...sale.claims.keys()].sort()).toEqual(answered.sort());
  }, 180_000);

  it("two processes share the Redis: FLUSHALL mid-sale, one rebuilds the gate while the other's grants are still on their way to the log; exactly 1,000 units are sold", async () => {
    const ctx = (commandId: string) => ({ store: world.store, actor: "admin:test", commandId });
    await createProduct(ctx("p2"), { sku: "PAD", name: "Pad", category: ["Tablets"], price: 59_900 });
    await receiveStock(ctx("r2"), { sku: "PAD", warehouseId: "w1", quantity: 1500 });
    // Process B appends to the log slowly: when Redis loses its data, B still has grants of the
    // lost gate on their way to the log, which A's rebuild cannot have counted.
    const slowStore = new Proxy(world.store, {
      get(target, property, receiver) {
        if (property === "appendToStream")
          return async (...args: Parameters<EventStore["appendToStream"]>) => {
            await new Promise((r) => setTimeout(r, 100));
            return target.appendToStream(...args);
          };
        const value = Reflect.get(target, property, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const rebuilds: { epoch: number }[] = [];
    const logger = (into: unknown[]) =>
      ({ info: () => undefined, error: () => undefined, warn: (d: unknown) => void into.push(d) }) as unknown as Parameters<
        typeof openFlashSales
      >[0]["logger"];
    const a = openFlashSales({
      store: world.store,
      gate: new RedisFlashSaleGate(redis.url),
      timerIntervalMs: false,
      logger: logger(rebuilds),
    });
    const b = openFlashSales({
      store: slowStore,
      gate: new RedisFlashSaleGate(redis.url),
      timerIntervalMs: false,
      logger: logger(rebuilds),
    });
    try {
      const now = Date.now();
      const opened = await scheduleSale(
        a.deps,
        { actor: "admin:test", commandId: "sale-2" },
        {
          saleId: "shared",
          sku: "PAD",
          warehouseId: "w1",
          quantity: 1000,
          price: 29_900,
          startsAt: new Date(now - 60_000).toISOString(),
          endsAt: new Date(now + 600_000).toISOString(),
          perCustomerLimit: 2,
          holdTtlMs: 600_000,
        },
      );
      expect(opened.outcome).toBe("open");

      const admin = new Redis(redis.url);
      let granted = 0;
      let flushed = false;
      const customerOf = (i: number) => `c-${Math.floor(i / 3)}`;
      const outcomes = await bounded(3000, 64, async (i) => {
        const desk = i % 2 === 0 ? a.desk : b.desk;
        const o = await desk.claim({ saleId: "shared", claimId: `shared:k${i}`, customerId: customerOf(i), quantity: 1 + (i % 2) });
        if (o.outcome === "granted") {
          granted += o.quantity;
          if (!flushed && granted >= 300) {
            flushed = true;
            await admin.flushall();
          }
        }
        return o;
      });
      await admin.quit();
      expect(flushed).toBe(true);
      expect(rebuilds.length).toBeGreaterThanOrEqual(1);

      const perCustomer = new Map<string, number>();
      let units = 0;
      outcomes.forEach((o, i) => {
        if (o.outcome !== "granted") return;
        units += o.quantity;
        perCustomer.set(customerOf(i), (perCustomer.get(customerOf(i)) ?? 0) + o.quantity);
      });
      expect(units).toBe(1000);
      expect(Math.max(...perCustomer.values())).toBeLessThanOrEqual(2);
      expect(outcomes.every((o) => ["granted", "soldOut", "overLimit"].includes(o.outcome))).toBe(true);

      await a.deps.recorder.flush("shared");
      await b.deps.recorder.flush("shared");
      const sale = (await a.desk.sale("shared")) as FlashSale;
      expect(sale.gateEpoch).toBeGreaterThanOrEqual(1);
      expect(sale.granted).toBe(1000);
      expect(saleLawHolds(sale)).toBe(true);
      const answered = outcomes.flatMap((o) => (o.outcome === "granted" ? [o.claimId] : []));
      expect([...sale.claims.keys()].sort()).toEqual(answered.sort());
      // The gate agrees with the log: nothing left, every recorded claim held by its owner.
      expect(await a.deps.gate.status("shared")).toEqual({ remaining: 0, closed: false });
      expect(await b.deps.gate.status("shared")).toEqual({ remaining: 0, closed: false });
    } finally {
      await a.close();
      await b.close();
    }
  }, 180_000);

  it("a process that dies between the gate's grant and the log's append has answered nothing; the gate keeps the units until the hold expires, then a later claimant gets them", async () => {
    const ctx = (commandId: string) => ({ store: world.store, actor: "admin:test", commandId });
    await createProduct(ctx("p3"), { sku: "WATCH", name: "Watch", category: ["Watches"], price: 19_900 });
    await receiveStock(ctx("r3"), { sku: "WATCH", warehouseId: "w1", quantity: 10 });
    let clock = Date.now();
    const now = () => new Date(clock);
    // Process A's appends of claims never reach the log (it dies first); B is healthy.
    const dying = new Proxy(world.store, {
      get(target, property, receiver) {
        if (property === "appendToStream")
          return async (...args: Parameters<EventStore["appendToStream"]>) => {
            if (args[1].some((e) => e.type === "ClaimsRecorded")) throw new Error("the process died before its append");
            return target.appendToStream(...args);
          };
        const value = Reflect.get(target, property, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const a = openFlashSales({ store: dying, gate: new RedisFlashSaleGate(redis.url), timerIntervalMs: false, now });
    const b = openFlashSales({ store: world.store, gate: new RedisFlashSaleGate(redis.url), timerIntervalMs: false, now });
    try {
      const opened = await scheduleSale(
        b.deps,
        { actor: "admin:test", commandId: "sale-3" },
        {
          saleId: "crash",
          sku: "WATCH",
          warehouseId: "w1",
          quantity: 2,
          price: 9_900,
          startsAt: new Date(clock - 60_000).toISOString(),
          endsAt: new Date(clock + 600_000).toISOString(),
          perCustomerLimit: 2,
          holdTtlMs: 60_000,
        },
      );
      expect(opened.outcome).toBe("open");

      // The gate granted A's claim, but no 201 left: the claim is not in the log.
      await expect(a.desk.claim({ saleId: "crash", claimId: "crash:a1", customerId: "ca", quantity: 2 })).rejects.toThrow(/died/);
      expect(((await b.desk.sale("crash")) as FlashSale).claims.size).toBe(0);
      expect(await b.desk.claim({ saleId: "crash", claimId: "crash:b1", customerId: "cb", quantity: 1 })).toMatchObject({
        outcome: "soldOut",
      });

      // Once the hold has expired its units are back in the pool, and a later claimant gets them.
      clock += 60_001;
      expect(await expireHolds(b.deps, b.desk, "crash")).toBe(2);
      expect(await b.desk.claim({ saleId: "crash", claimId: "crash:b2", customerId: "cb", quantity: 2 })).toMatchObject({
        outcome: "granted",
      });
      const sale = (await b.desk.sale("crash")) as FlashSale;
      expect([...sale.claims.keys()]).toEqual(["crash:b2"]);
      expect(sale.granted).toBe(2);
      expect(saleLawHolds(sale)).toBe(true);
    } finally {
      await a.close();
      await b.close();
    }
  }, 60_000);
});
