// The search contract on Elasticsearch (the read model on PGlite feeds a fresh index behind its
// own alias), plus what only the index can prove: external versioning keeps redelivered and
// out-of-order writes from changing anything, and a rebuild while writes continue equals a fresh
// build, loses no write and flips the alias once.

import { randomBytes } from "node:crypto";
import { Client } from "@elastic/elasticsearch";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSearch, type RunningSearch } from "../../src/projections/search/index.js";
import { aliasTargets, createProductIndex, ElasticsearchSearchEngine } from "../../src/search/elasticsearch/engine.js";
import { DEFAULT_FACETS, type ProductSearchQuery, type SearchDocument } from "../../src/search/port.js";
import { openSqlClient } from "../../src/eventstore/index.js";
import { World } from "../projections/world.js";
import { missing, server } from "../support/env.js";
import { openPgliteWorld, type StoreWorld } from "../support/stores.js";
import { searchContract } from "./contract.js";

const url = server("ELASTICSEARCH_URL");
const uniqueAlias = (what: string) => `test-${what}-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;

async function dropAlias(client: Client, alias: string): Promise<void> {
  for (const index of await aliasTargets(client, alias).catch(() => []))
    await client.indices.delete({ index, ignore_unavailable: true }).catch(() => undefined);
  await client.indices.delete({ index: `${alias}-*`, ignore_unavailable: true, allow_no_indices: true }).catch(() => undefined);
}

describe.skipIf(missing(url))("search on Elasticsearch", () => {
  const client = new Client({ node: url.value ?? "http://127.0.0.1:9200" });
  afterAll(() => client.close());

  searchContract("Elasticsearch", async () => {
    const world = await openPgliteWorld();
    const alias = uniqueAlias("contract");
    const search = await startSearch({ store: world.store, sql: world.sql, elasticsearch: { client, alias } });
    return {
      store: world.store,
      search,
      async close() {
        await search.stop();
        await world.close();
        await dropAlias(client, alias);
      },
    };
  });

  describe("writes and rebuilds", () => {
    let world: StoreWorld;
    let search: RunningSearch;
    const alias = uniqueAlias("rebuild");
    const query = (q: Partial<ProductSearchQuery> = {}): ProductSearchQuery => ({
      q: "",
      categories: [],
      brands: [],
      attributes: {},
      sort: "price_asc",
      page: 1,
      size: 100,
      facets: DEFAULT_FACETS,
      ...q,
    });

    beforeAll(async () => {
      world = await openPgliteWorld();
      search = await startSearch({ store: world.store, sql: world.sql, elasticsearch: { client, alias } });
    });
    afterAll(async () => {
      await search?.stop();
      await world?.close();
      await dropAlias(client, alias);
    });

    it("ignores a redelivered batch and an older version arriving late: the document never moves backwards", async () => {
      const index = uniqueAlias("versions");
      const engine = new ElasticsearchSearchEngine(client, index);
      await createProductIndex(client, index);
      try {
        const doc = (version: number, price: number): SearchDocument => ({
          sku: "V-1",
          name: "Versioned Lamp",
          description: null,
          brand: "Acme",
          category: ["Home"],
          price,
          currency: "INR",
          attributes: {},
          active: true,
          available: 1,
          inStock: true,
          popularity: 0,
          createdAt: "2026-03-01T10:00:00.000Z",
          updatedAt: "2026-03-01T10:00:00.000Z",
          version,
        });
        expect(await engine.write([doc(1, 100)])).toEqual({ written: 1, alreadyApplied: 0 });
        expect(await engine.write([doc(3, 300)])).toEqual({ written: 1, alreadyApplied: 0 });
        // the same batch again, then an older one delivered late
        expect(await engine.write([doc(3, 300)])).toEqual({ written: 0, alreadyApplied: 1 });
        expect(await engine.write([doc(2, 200), doc(1, 100)])).toEqual({ written: 0, alreadyApplied: 2 });
        await engine.refresh();
        const stored = await client.get<{ price: number }>({ index, id: "V-1" });
        expect(stored._version).toBe(3);
        expect(stored._source?.price).toBe(300);
      } finally {
        await client.indices.delete({ index, ignore_unavailable: true });
      }
    });

    it("rebuilds into a new index while writes continue: equal to a fresh build, no write lost, the alias flipped once", async () => {
      const w = new World(world.store);
      for (let i = 0; i < 150; i++) {
        await w.product(0, {
          type: "CreateProduct",
          sku: `RB-${i}`,
          name: `Rebuild Lamp ${i}`,
          category: ["Home", "Lighting"],
          brand: "Acme",
          price: 1_000 + i,
        });
        await w.stock(0, { type: "ReceiveStock", sku: `RB-${i}`, warehouseId: "BLR", quantity: 5 });
      }
      expect(await search.waitFor(w.last, 60_000)).toBe(true);
      const before = await aliasTargets(client, alias);

      // Writers keep changing prices and creating products during the whole rebuild.
      let writing = true;
      let written = 0;
      const writer = (async () => {
        while (writing) {
          // PGlite answers on microtasks: without a timer turn this loop would starve every timer.
          await new Promise((resolve) => setTimeout(resolve, 5));
          const i = written++;
          await w.product(1, { type: "ChangeProductPrice", sku: `RB-${i % 150}`, price: 50_000 + i });
          await w.product(1, {
            type: "CreateProduct",
            sku: `RB-new-${i}`,
            name: `Late Lamp ${i}`,
            category: ["Home"],
            brand: "Globex",
            price: 2_000 + i,
          });
        }
      })();
      // A reader searches the whole time: never an error, never fewer than the 150 products.
      const seenTotals: number[] = [];
      const reader = (async () => {
        while (writing) {
          seenTotals.push((await search.engine.search(query({ q: "lamp", size: 1 }))).total);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })();
      const flips: { from: string[]; to: string }[] = [];
      await new Promise((resolve) => setTimeout(resolve, 300));
      await search.rebuild({ onAliasFlip: (from, to) => flips.push({ from, to }) });
      await new Promise((resolve) => setTimeout(resolve, 300));
      writing = false;
      await Promise.all([writer, reader]);
      expect(seenTotals.length).toBeGreaterThan(5);
      expect(Math.min(...seenTotals)).toBeGreaterThanOrEqual(150);
      expect(await search.waitFor(w.last, 60_000)).toBe(true);

      const after = await aliasTargets(client, alias);
      expect(after).toHaveLength(1);
      expect(after[0]).not.toBe(before[0]);
      expect(flips).toEqual([{ from: before, to: after[0] }]);
      expect(written).toBeGreaterThan(0);

      // Equal to a fresh build: a second, independent pipeline over the same log into its own alias.
      const freshAlias = uniqueAlias("fresh");
      // its own read model (a second in-memory database) reading the same log
      const freshSql = await openSqlClient({});
      const fresh = await startSearch({ store: world.store, sql: freshSql, elasticsearch: { client, alias: freshAlias } });
      try {
        expect(await fresh.waitFor(w.last, 120_000)).toBe(true);
        const all = async (s: RunningSearch) => {
          const out: { sku: string; price: number; inStock: boolean }[] = [];
          let page = await s.engine.search(query());
          out.push(...page.hits.map((h) => ({ sku: h.sku, price: h.price, inStock: h.inStock })));
          while (page.next) {
            page = await s.engine.search(query({ after: page.next }));
            out.push(...page.hits.map((h) => ({ sku: h.sku, price: h.price, inStock: h.inStock })));
          }
          return out;
        };
        const [rebuilt, fromScratch] = [await all(search), await all(fresh)];
        expect(rebuilt).toEqual(fromScratch);
        // no write lost: every created product is there, every last price change is visible
        expect(rebuilt).toHaveLength(150 + written);
        const lastPrice = new Map<string, number>();
        for (let i = 0; i < written; i++) lastPrice.set(`RB-${i % 150}`, 50_000 + i);
        for (const [sku, price] of lastPrice) expect(rebuilt.find((r) => r.sku === sku)?.price).toBe(price);
      } finally {
        await fresh.stop();
        await freshSql.close();
        await dropAlias(client, freshAlias);
      }
    }, 300_000);
  });
});
