// Redis loses its data in the middle of a sale (FLUSHALL on a redis-server this test starts on
// its own port; the shared one is never touched): the gate is rebuilt from the event log before
// it takes new claims, so the sale still sells exactly its units, nobody exceeds the limit, and
// the log records every claim that was answered.

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
import { openFlashSales, type FlashSales } from "../../src/flash-sales/index.js";
import { RedisFlashSaleGate } from "../../src/flash-sales/redis/redis-gate.js";
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
});
