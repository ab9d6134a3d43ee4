// `replay rebuild search --shadow` spawned as a real process beside a running search (projector and,
// with Elasticsearch, its shipper), while prices keep changing: it exits 0, the rebuilt read model
// (and index) holds every product at its last price, nothing written meanwhile is lost, the alias
// was flipped to a new index and the old one is gone.

import { randomUUID } from "node:crypto";
import { Client } from "@elastic/elasticsearch";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EventStore, StreamAppend } from "../../src/eventstore/port.js";
import { startSearch, type RunningSearch } from "../../src/projections/search/index.js";
import { aliasTargets } from "../../src/search/elasticsearch/engine.js";
import { replay } from "../cli/spawn.js";
import { missing, server } from "../support/env.js";
import { openEventStore } from "../../src/eventstore/index.js";
import { createPgClient } from "../../src/infrastructure/sql/pg-client.js";
import type { SqlClient } from "../../src/infrastructure/sql/sql-client.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";

const meta = { correlationId: "t", causationId: "t", actor: "test" };
const PRODUCTS = 300;
/** Where the last price change of the last keepChangingPrices landed (what the reads wait for). */
let lastPosition = "";
const sku = (i: number) => `CLI-${String(i).padStart(4, "0")}`;

async function seed(store: EventStore): Promise<void> {
  const appends: StreamAppend[] = [];
  for (let i = 0; i < PRODUCTS; i++) {
    appends.push({
      streamId: `product-${sku(i)}`,
      events: [
        {
          id: randomUUID(),
          type: "ProductCreated",
          data: {
            sku: sku(i),
            name: `Rugged Lantern ${i}`,
            description: "Lights the way",
            category: ["Home", "Lighting"],
            brand: "Acme",
            price: 1_000 + i,
            currency: "INR",
            attributes: { color: "red" },
            at: new Date().toISOString(),
          },
          metadata: meta,
        },
      ],
    });
  }
  await store.appendToStreams(appends);
}

/** Changes prices in the background until stopped; returns the last price written per SKU, and the position of the last write. */
function keepChangingPrices(store: EventStore): { stop(): Promise<Map<string, number>> } {
  const last = new Map<string, number>();
  let position = "";
  let stopped = false;
  const loop = (async () => {
    for (let n = 0; !stopped; n++) {
      const i = n % PRODUCTS;
      const price = 50_000 + n;
      const written = await store.appendToStream(`product-${sku(i)}`, [
        {
          id: randomUUID(),
          type: "ProductPriceChanged",
          data: { sku: sku(i), price, previousPrice: 0, currency: "INR", at: new Date().toISOString() },
          metadata: meta,
        },
      ]);
      last.set(sku(i), price);
      position = written.position;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      lastPosition = position;
      return last;
    },
  };
}

describe.skipIf(missing(server("DATABASE_URL")))("replay rebuild search --shadow (a real process beside a running search)", () => {
  let database: TestDatabase;
  let sql: SqlClient;
  let store: EventStore;

  beforeAll(async () => {
    database = await createTestDatabase();
    sql = createPgClient({ connectionString: database.url, max: 10 });
    store = await openEventStore({ sql, pollIntervalMs: 20 });
    await seed(store);
  });
  afterAll(async () => {
    await store?.close();
    await sql?.close();
    await database?.drop();
  });

  const prices = async () =>
    new Map(
      (await sql.query<{ sku: string; price: string }>("SELECT sku, price FROM search_documents")).rows.map((r) => [
        r.sku,
        Number(r.price),
      ]),
    );

  it("refuses an in-place rebuild of search (bad usage, exit 2)", async () => {
    const run = await replay(["rebuild", "search"], { DATABASE_URL: database.url, ELASTICSEARCH_URL: "" });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/give --shadow/);
  });

  it("on PostgreSQL: swaps in rebuilt tables while the projector runs and prices change, losing nothing", async () => {
    const search: RunningSearch = await startSearch({ store, sql });
    try {
      const writes = keepChangingPrices(store);
      const run = await replay(["rebuild", "search", "--shadow", "--json"], { DATABASE_URL: database.url, ELASTICSEARCH_URL: "" });
      const last = await writes.stop();
      expect(run.stderr).not.toMatch(/replay:/);
      expect(run.code).toBe(0);
      const rebuilt = JSON.parse(run.stdout).rebuilt[0];
      expect(rebuilt).toMatchObject({ projection: "projections/search", mode: "shadow", engine: "postgres" });
      expect(rebuilt.events).toBeGreaterThanOrEqual(PRODUCTS);
      expect(await search.waitFor(lastPosition, 30_000)).toBe(true);
      const stored = await prices();
      expect(stored.size).toBe(PRODUCTS);
      for (const [s, price] of last) expect(stored.get(s), s).toBe(price);
      expect(last.size).toBeGreaterThan(0);
    } finally {
      await search.stop();
    }
  });

  it.skipIf(missing(server("ELASTICSEARCH_URL")))(
    "on Elasticsearch: fills a new index, flips the alias once, deletes the old index, and the index holds every last price",
    async () => {
      const client = new Client({ node: process.env.ELASTICSEARCH_URL! });
      const alias = `cli-rebuild-${Date.now()}`;
      const search: RunningSearch = await startSearch({ store, sql, elasticsearch: { client, alias } });
      try {
        expect(await search.waitFor(await store.headCheckpoint(), 30_000)).toBe(true);
        const before = await aliasTargets(client, alias);
        expect(before).toHaveLength(1);
        const writes = keepChangingPrices(store);
        const run = await replay(["rebuild", "search", "--shadow", "--alias", alias, "--json"], {
          DATABASE_URL: database.url,
          ELASTICSEARCH_URL: process.env.ELASTICSEARCH_URL!,
        });
        const last = await writes.stop();
        expect(run.stderr).not.toMatch(/replay:/);
        expect(run.code).toBe(0);
        const rebuilt = JSON.parse(run.stdout).rebuilt[0];
        expect(rebuilt).toMatchObject({ projection: "projections/search", engine: "elasticsearch", alias });
        const after = await aliasTargets(client, alias);
        expect(after).toEqual([rebuilt.index]);
        expect(after[0]).not.toBe(before[0]);
        expect(await client.indices.exists({ index: before[0]! })).toBe(false);
        // The running search keeps shipping into the new index through the alias.
        expect(await search.waitFor(lastPosition, 30_000)).toBe(true);
        const indexed = new Map<string, number>();
        const response = await client.search<{ sku: string; price: number }>({
          index: alias,
          size: PRODUCTS + 10,
          _source: ["sku", "price"],
        });
        for (const hit of response.hits.hits) indexed.set(hit._source!.sku, hit._source!.price);
        expect(indexed.size).toBe(PRODUCTS);
        expect(indexed).toEqual(await prices());
        for (const [s, price] of last) expect(indexed.get(s), s).toBe(price);
      } finally {
        await search.stop();
        for (const index of await aliasTargets(client, alias)) await client.indices.delete({ index, ignore_unavailable: true });
        await client.close();
      }
    },
  );
});
