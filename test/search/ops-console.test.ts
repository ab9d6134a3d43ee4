// The operations console lists search and the Redis hot read models beside the SQL ones, with
// their checkpoint and lag, and rebuilds them (search into shadow tables, and a new index behind
// its alias when Elasticsearch is there; Redis into a new key generation), reporting progress
// until done while they keep serving.

import { randomUUID } from "node:crypto";
import { Client } from "@elastic/elasticsearch";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOperationsConsole, type OperationsConsole, type ReadModelView } from "../../src/operations/console.js";
import { startProjections, type RunningProjections } from "../../src/projections/index.js";
import { currentGeneration, startRedisModels, type RunningRedisModels } from "../../src/projections/redis/index.js";
import { startSearch, type RunningSearch } from "../../src/projections/search/index.js";
import { aliasTargets } from "../../src/search/elasticsearch/engine.js";
import { DEFAULT_FACETS, type ProductSearchQuery } from "../../src/search/port.js";
import { World } from "../projections/world.js";
import { missing, server } from "../support/env.js";
import { openPgliteWorld, type StoreWorld } from "../support/stores.js";

const query = (q: string): ProductSearchQuery => ({
  q,
  categories: [],
  brands: [],
  attributes: {},
  sort: "relevance",
  page: 1,
  size: 10,
  facets: DEFAULT_FACETS,
});

describe.each([
  ["embedded search, Redis", false],
  ["Elasticsearch, Redis", true],
] as const)("operations console: search and Redis read models (%s)", (_label, withElasticsearch) => {
  const skip = missing(server("REDIS_URL")) || (withElasticsearch && missing(server("ELASTICSEARCH_URL")));
  let world: StoreWorld;
  let w: World;
  let sqlModels: RunningProjections;
  let search: RunningSearch;
  let redis: Redis;
  let redisModels: RunningRedisModels;
  let client: Client | undefined;
  let ops: OperationsConsole;
  // Keys of this test only, on the shared Redis (never flushed).
  const base = `test-ops-${randomUUID().slice(0, 8)}`;
  const alias = `test-ops-${Date.now()}-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    if (skip) return;
    world = await openPgliteWorld();
    w = new World(world.store);
    for (let i = 0; i < 5; i++) {
      await w.product(0, {
        type: "CreateProduct",
        sku: `OPS-${i}`,
        name: `Quartz Lantern ${i}`,
        category: ["Home"],
        brand: "Acme",
        price: 5_000 + i,
      });
      await w.stock(0, { type: "ReceiveStock", sku: `OPS-${i}`, warehouseId: "BLR", quantity: 3 });
    }
    sqlModels = await startProjections({ store: world.store, sql: world.sql });
    client = withElasticsearch ? new Client({ node: process.env.ELASTICSEARCH_URL! }) : undefined;
    search = await startSearch({ store: world.store, sql: world.sql, ...(client ? { elasticsearch: { client, alias } } : {}) });
    redis = new Redis(process.env.REDIS_URL!);
    redisModels = await startRedisModels({ store: world.store, sql: world.sql, redis, base });
    ops = createOperationsConsole({
      store: world.store,
      sql: world.sql,
      projections: sqlModels,
      search,
      redisModels,
      resumeSaga: async () => {},
    });
    expect(await search.waitFor(w.last, 30_000)).toBe(true);
    expect(await redisModels.waitFor(w.last, 30_000)).toBe(true);
  }, 120_000);
  afterAll(async () => {
    if (skip) return;
    await ops?.settled();
    await redisModels?.stop();
    await search?.stop();
    await sqlModels?.stop();
    if (redis) {
      const keys = await redis.keys(`${base}:*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
    if (client) {
      for (const index of await aliasTargets(client, alias)) await client.indices.delete({ index, ignore_unavailable: true });
      await client.close();
    }
    await world?.close();
  });

  const model = async (name: string): Promise<ReadModelView> => {
    const found = (await ops.readModels()).find((m) => m.name === name);
    if (!found) throw new Error(`no read model ${name}`);
    return found;
  };

  it.skipIf(skip)("lists search and redis beside the SQL read models, with checkpoint, lag and status", async () => {
    const models = await ops.readModels();
    expect(models.map((m) => m.name)).toEqual(expect.arrayContaining(["orders", "products", "search", "redis"]));
    const searchView = await model("search");
    expect(searchView).toMatchObject({ processor: "projections/search", kind: "search", lagEvents: 0, lagSeconds: 0, status: "live" });
    expect(searchView.checkpoint >= w.last).toBe(true);
    if (withElasticsearch) expect(searchView.pendingDocuments).toBe(0);
    else expect(searchView.pendingDocuments).toBeUndefined();
    const redisView = await model("redis");
    expect(redisView).toMatchObject({ processor: "projections/redis", kind: "redis", lagEvents: 0, status: "live" });
    expect(redisView.checkpoint >= w.last).toBe(true);
  });

  it.skipIf(skip)(
    "rebuilds search while it keeps answering: progress to done, the same answers after, a new index behind the alias",
    async () => {
      const before = await search.engine.search(query("lantren"));
      expect(before.total).toBe(5);
      const indexBefore = client ? await aliasTargets(client, alias) : [];
      const started = await ops.rebuild("search");
      expect(started).toMatchObject({ name: "search", kind: "search", rebuild: { startedAt: expect.any(String) } });
      // Writes go on during the rebuild: none is lost.
      const changed = await w.product(1, { type: "ChangeProductPrice", sku: "OPS-0", price: 7_777 });
      expect((await search.engine.search(query("lantern"))).total).toBe(5);
      await ops.settled();
      const done = await model("search");
      expect(done.rebuild).toMatchObject({ state: "done", progress: 1 });
      expect(done.rebuild!.replayed).toBeGreaterThanOrEqual(10);
      expect(done.rebuild!.total).toBe(done.rebuild!.replayed);
      expect(await search.waitFor(changed, 30_000)).toBe(true);
      const after = await search.engine.search(query("lantren"));
      expect(after.total).toBe(5);
      expect(after.hits.find((h) => h.sku === "OPS-0")?.price).toBe(7_777);
      if (client) {
        const indexAfter = await aliasTargets(client, alias);
        expect(indexAfter).toHaveLength(1);
        expect(indexAfter[0]).not.toBe(indexBefore[0]);
      }
    },
  );

  it.skipIf(skip)("rebuilds the Redis read models into a new key generation, progress to done, the product card intact", async () => {
    const generation = await currentGeneration(redis, base);
    const card = await redis.hgetall(`${base}:${generation}:card:OPS-2`);
    expect(JSON.parse(card.name!)).toBe("Quartz Lantern 2");
    await ops.rebuild("redis");
    await ops.settled();
    const done = await model("redis");
    expect(done.rebuild).toMatchObject({ state: "done", progress: 1 });
    expect(done.rebuild!.replayed).toBeGreaterThanOrEqual(10);
    const next = await currentGeneration(redis, base);
    expect(next).not.toBe(generation);
    expect(await redis.hgetall(`${base}:${next}:card:OPS-2`)).toEqual(card);
    expect(await redis.exists(`${base}:${generation}:card:OPS-2`)).toBe(0);
  });

  it.skipIf(skip)("refuses a second rebuild of the same model while one runs", async () => {
    await ops.rebuild("redis");
    await expect(ops.rebuild("redis")).rejects.toThrow(/already being rebuilt/);
    await ops.settled();
  });
});
