// Search hits' product lines from the Redis hot cards: a price change and a sale the Redis read
// models have applied show in the hit before the search model has them; with Redis unreachable
// the engine's own document answers.

import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { startRedisModels } from "../../src/projections/redis/index.js";
import { startSearch } from "../../src/projections/search/index.js";
import { searchQuery } from "./query.js";
import { redisProductLines, withProductLines } from "../../src/search/product-lines.js";
import { World } from "../projections/world.js";
import { missing, server } from "../support/env.js";
import { openPgliteWorld } from "../support/stores.js";

const url = server("REDIS_URL");
const query = searchQuery({ q: "zephyrine" });

describe.skipIf(missing(url))("search hits' product lines from Redis", () => {
  const redis = new Redis(url.value ?? "redis://127.0.0.1:6379");
  const base = `test-lines-${randomBytes(4).toString("hex")}`;
  afterAll(async () => {
    const keys = await redis.keys(`${base}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it("takes price and availability from the hot card, and the engine's document when Redis cannot answer", async () => {
    const world = await openPgliteWorld();
    const log = new World(world.store);
    const search = await startSearch({ store: world.store, sql: world.sql });
    const hot = await startRedisModels({ store: world.store, sql: world.sql, redis, base });
    const down = new Redis({ port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    down.on("error", () => undefined);
    try {
      await log.product(0, { type: "CreateProduct", sku: "L-1", name: "Zephyrine Soundbar", category: ["Audio"], price: 5_000 });
      await log.stock(0, { type: "ReceiveStock", sku: "L-1", warehouseId: "BLR", quantity: 3 });
      expect(await search.waitFor(log.last, 30_000)).toBe(true);
      // The search model stops here; only the Redis models see what follows.
      await search.stop();
      await log.product(1, { type: "ChangeProductPrice", sku: "L-1", price: 4_200 });
      await log.stock(1, {
        type: "ReserveStock",
        sku: "L-1",
        warehouseId: "BLR",
        orderId: "o-1",
        quantity: 3,
        expiresAt: "2030-01-01T00:00:00.000Z",
      });
      expect(await hot.waitFor(log.last, 30_000)).toBe(true);

      const [engineHit] = (await search.engine.search(query)).hits;
      expect(engineHit).toMatchObject({ sku: "L-1", price: 5_000, available: 3, inStock: true });
      const [hit] = (await withProductLines(search.engine, redisProductLines(redis, base)).search(query)).hits;
      expect(hit).toMatchObject({ sku: "L-1", price: 4_200, available: 0, inStock: false });

      const [fallback] = (await withProductLines(search.engine, redisProductLines(down, base)).search(query)).hits;
      expect(fallback).toMatchObject({ sku: "L-1", price: 5_000, available: 3, inStock: true });
    } finally {
      down.disconnect();
      await hot.stop();
      await world.close();
    }
  }, 60_000);
});
