// The Redis read models against a redis-server this test starts on its own port (never the shared
// one): guarded writes (redelivered and older batches change nothing), reads that fall back to SQL
// while Redis is stopped, and a projector that catches up when it is back; readiness refuses a
// Redis that may evict keys; a rebuild into a new generation while writes continue flips the pointer.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProjections, type RunningProjections } from "../../src/projections/index.js";
import { currentGeneration, startRedisModels, type RunningRedisModels } from "../../src/projections/redis/index.js";
import { hotOperations } from "../../src/projections/redis/operations.js";
import { applyBatch } from "../../src/projections/redis/script.js";
import { hotReads, type HotReads } from "../../src/queries/hot.js";
import { address, World } from "../projections/world.js";
import { openPgliteWorld, type StoreWorld } from "../support/stores.js";

const PORT = 6390 + Math.floor(Math.random() * 500);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("Redis read models (own redis-server)", () => {
  const dir = mkdtempSync(join(tmpdir(), "redis-test-"));
  let server: ChildProcess | undefined;
  let redis: Redis;
  let world: StoreWorld;
  let w: World;
  let models: RunningRedisModels;
  let sqlModels: RunningProjections;
  let reads: HotReads;

  const startServer = async () => {
    server = spawn(
      "redis-server",
      ["--port", String(PORT), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--dbfilename", "dump.rdb"],
      { stdio: "ignore" },
    );
    const probe = new Redis({ port: PORT, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on("error", () => undefined);
    for (let i = 0; i < 100; i++) {
      try {
        await probe.connect();
        await probe.ping();
        probe.disconnect();
        return;
      } catch {
        await sleep(50);
      }
    }
    throw new Error("redis-server did not start");
  };
  /** Stops the server; with `save` it writes its data to disk first, as a restart of a persistent Redis would keep it. */
  const stopServer = async (save = false) => {
    const s = server;
    server = undefined;
    if (!s || s.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => s.once("exit", () => resolve()));
    if (save) {
      const admin = new Redis({ port: PORT, maxRetriesPerRequest: 0, retryStrategy: () => null });
      admin.on("error", () => undefined);
      await admin.shutdown("SAVE").catch(() => undefined);
      admin.disconnect();
    } else s.kill("SIGKILL");
    await exited;
  };
  const sync = async () => {
    expect(await sqlModels.waitFor(w.last, 30_000)).toBe(true);
    expect(await models.waitFor(w.last, 30_000)).toBe(true);
  };

  beforeAll(async () => {
    await startServer();
    redis = new Redis({ port: PORT, enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    redis.on("error", () => undefined);
    while (redis.status !== "ready") await sleep(20);
    world = await openPgliteWorld();
    w = new World(world.store);
    sqlModels = await startProjections({ store: world.store, sql: world.sql });
    models = await startRedisModels({ store: world.store, sql: world.sql, redis, base: "t" });
    reads = hotReads({ sql: world.sql, redis, base: "t" });
  }, 120_000);
  afterAll(async () => {
    await models?.stop();
    await sqlModels?.stop();
    redis?.disconnect();
    await world?.close();
    await stopServer();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves availability, product cards and order status from Redis, and readiness checks noeviction", async () => {
    await w.product(0, { type: "CreateProduct", sku: "R-1", name: "Redis Lamp", category: ["Home"], brand: "Acme", price: 5_000 });
    await w.stock(0, { type: "ReceiveStock", sku: "R-1", warehouseId: "BLR", quantity: 7 });
    await w.stock(0, { type: "ReceiveStock", sku: "R-1", warehouseId: "DEL", quantity: 3 });
    await w.stock(1, {
      type: "ReserveStock",
      sku: "R-1",
      warehouseId: "BLR",
      orderId: "ro-1",
      quantity: 2,
      expiresAt: "2026-03-02T10:00:00.000Z",
    });
    await w.order(0, {
      type: "PlaceOrder",
      orderId: "ro-1",
      customerId: "c-r",
      lines: [{ sku: "R-1", quantity: 2, unitPrice: 5_000 }],
      paymentMethod: "COD",
      shippingAddress: address,
    });
    await w.product(2, { type: "ChangeProductPrice", sku: "R-1", price: 4_500 });
    await sync();

    const card = await reads.productCard("R-1");
    expect(card).toMatchObject({
      source: "redis",
      sku: "R-1",
      name: "Redis Lamp",
      price: 4_500,
      available: 8,
      status: "ACTIVE",
      version: 1,
    });
    const stock = await reads.availability("R-1");
    expect(stock).toMatchObject({ source: "redis", available: 8, reserved: 2, committed: 0 });
    expect(stock?.warehouses).toEqual([
      { warehouseId: "BLR", available: 5, reserved: 2, committed: 0 },
      { warehouseId: "DEL", available: 3, reserved: 0, committed: 0 },
    ]);
    expect(await reads.orderStatus("ro-1")).toMatchObject({
      source: "redis",
      orderId: "ro-1",
      customerId: "c-r",
      status: "CREATED",
      paymentStatus: "NOT_REQUIRED",
      version: 0,
    });

    expect(await models.readiness()).toMatchObject({ maxmemoryPolicy: "noeviction" });
    await redis.config("SET", "maxmemory-policy", "allkeys-lru");
    await expect(models.readiness()).rejects.toThrow(/noeviction/);
    await redis.config("SET", "maxmemory-policy", "noeviction");
  });

  it("a redelivered batch and an older batch arriving late change nothing", async () => {
    const events = (await world.store.readAll({ filter: { streamCategories: ["product", "inventory"] } })).events.filter(
      (e) => (e.data as { sku?: string }).sku === "R-1",
    );
    const prefix = `t:${await currentGeneration(redis, "t")}:`;
    const before = { card: await redis.hgetall(`${prefix}card:R-1`), stock: await redis.hgetall(`${prefix}stock:R-1`) };
    expect(await applyBatch(redis, prefix, events.flatMap(hotOperations))).toBe(0);
    expect(await applyBatch(redis, prefix, events.slice(0, 2).flatMap(hotOperations))).toBe(0);
    expect({ card: await redis.hgetall(`${prefix}card:R-1`), stock: await redis.hgetall(`${prefix}stock:R-1`) }).toEqual(before);
  });

  it("falls back to SQL while Redis is stopped, reports it in readiness, and catches up when Redis is back", async () => {
    await stopServer(true);
    while ((redis.status as string) === "ready") await sleep(20);
    await w.product(3, { type: "ChangeProductPrice", sku: "R-1", price: 4_000 });
    await w.order(3, { type: "CancelOrder", orderId: "ro-1", reason: "CUSTOMER_REQUEST" });
    expect(await sqlModels.waitFor(w.last, 30_000)).toBe(true);
    await expect(models.readiness()).rejects.toThrow(/Redis/);
    expect(await reads.productCard("R-1")).toMatchObject({ source: "sql", price: 4_000, available: 8 });
    expect(await reads.orderStatus("ro-1")).toMatchObject({ source: "sql", status: "CANCELLED" });
    expect(await reads.availability("R-1")).toMatchObject({ source: "sql", available: 8 });

    // The projector waited (nothing skipped, nothing parked); back up, it writes what it missed.
    await startServer();
    while ((redis.status as string) !== "ready") await sleep(50);
    expect(await models.waitFor(w.last, 30_000)).toBe(true);
    expect((await models.status()).parked).toBe(0);
    expect(await reads.productCard("R-1")).toMatchObject({ source: "redis", price: 4_000 });
    expect(await reads.orderStatus("ro-1")).toMatchObject({ source: "redis", status: "CANCELLED" });
    expect(await models.readiness()).toMatchObject({ maxmemoryPolicy: "noeviction" });
  }, 120_000);

  it("rebuilds into a new key generation while writes continue and flips the pointer once", async () => {
    const before = await currentGeneration(redis, "t");
    const writes = (async () => {
      for (let i = 0; i < 20; i++) {
        await sleep(5);
        await w.stock(5, { type: "ReceiveStock", sku: "R-1", warehouseId: "DEL", quantity: 1 });
      }
    })();
    await models.rebuild();
    await writes;
    await sync();
    const after = await currentGeneration(redis, "t");
    expect(after).not.toBe(before);
    expect(await redis.keys(`t:${before}:*`)).toEqual([]);
    expect(await reads.availability("R-1")).toMatchObject({ source: "redis", available: 28 });
    expect(await reads.productCard("R-1")).toMatchObject({ source: "redis", price: 4_000 });
    expect((await models.status()).lagEvents).toBe(0);
  }, 120_000);
});
