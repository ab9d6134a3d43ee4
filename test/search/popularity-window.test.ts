// Popularity is a running count over a sliding 30-day window (src/projections/search/popularity-window.ts):
// it must equal a plain count of the sales in the window at the last event that asked, however the
// events are timed (clocks out of order, jumps past the window) and cut into batches, and a batch on
// a SKU with a long history must read only the sales near the window's edges.

import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NewEvent, RecordedEvent } from "../../src/eventstore/port.js";
import type { SqlExecutor } from "../../src/infrastructure/sql/sql-client.js";
import { createTables, dumpTables } from "../../src/projections/index.js";
import { POPULARITY_WINDOW_DAYS, searchProjection, type SearchTables } from "../../src/projections/search/documents.js";
import { openPgliteWorld, type StoreWorld } from "../support/stores.js";
import { searchTablesNamed } from "./tables.js";

const meta = { correlationId: "t", causationId: "t", actor: "test" };
const DAY = 86_400_000;
const WINDOW = POPULARITY_WINDOW_DAYS * DAY;
const base = Date.UTC(2026, 0, 1);

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let x = seed;
  return () => (x = (x * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
}

describe("search popularity window", () => {
  let world: StoreWorld;
  let events: RecordedEvent[];
  const skus = ["P-1", "P-2"];
  /** Per SKU, its sales as the log leaves them, and the time of the last event that asked for its popularity. */
  const sales = new Map<string, { orderId: string; sku: string; units: number; at: number; cancelled: boolean }>();
  const lastAsked = new Map<string, number>();

  beforeAll(async () => {
    world = await openPgliteWorld();
    const append = (streamId: string, type: string, data: NewEvent["data"]) =>
      world.store.appendToStream(streamId, [{ id: randomUUID(), type, data, metadata: meta }]);
    for (const sku of skus) {
      await append(`product-${sku}`, "ProductCreated", {
        sku,
        name: `Kettle ${sku}`,
        category: ["Home"],
        price: 1_000,
        currency: "INR",
        at: new Date(base).toISOString(),
      });
      lastAsked.set(sku, base);
    }
    const next = random(7);
    const placed: string[] = [];
    for (let i = 0; i < 150; i++) {
      // Times mostly move forward over 90 days, some a few days back (another server's clock).
      const at = base + Math.floor((i / 150) * 90 * DAY + (next() < 0.2 ? -next() * 5 * DAY : next() * DAY));
      if (placed.length > 0 && next() < 0.25) {
        const orderId = placed.splice(Math.floor(next() * placed.length), 1)[0]!;
        await append(`order-${orderId}`, "OrderCancelled", { orderId, at: new Date(at).toISOString() });
        for (const sku of skus) {
          const sale = sales.get(`${orderId}/${sku}`);
          if (sale && !sale.cancelled) {
            sale.cancelled = true;
            lastAsked.set(sku, at);
          }
        }
        continue;
      }
      const orderId = `o${i}`;
      const lines = skus.filter(() => next() < 0.7).map((sku) => ({ sku, quantity: 1 + Math.floor(next() * 3) }));
      if (lines.length === 0) lines.push({ sku: "P-1", quantity: 1 });
      await append(`order-${orderId}`, "OrderPlaced", { orderId, lines, at: new Date(at).toISOString() });
      placed.push(orderId);
      for (const line of lines) {
        sales.set(`${orderId}/${line.sku}`, { orderId, sku: line.sku, units: line.quantity, at, cancelled: false });
        lastAsked.set(line.sku, at);
      }
    }
    events = (await world.store.readAll({ maxCount: 1000, filter: searchProjection.filter })).events;
  });
  afterAll(async () => {
    await world?.close();
  });

  const build = async (prefix: string, feed: (t: SearchTables) => Promise<void>) => {
    const t = searchTablesNamed(prefix);
    await createTables(world.sql, searchProjection, t);
    await feed(t);
    return { t, dump: await dumpTables(world.sql, searchProjection, t) };
  };

  it("equals a plain count of the window at the last event that asked, one event at a time and in batches of any size", async () => {
    const one = await build("pw_one", async (t) => {
      for (const event of events) await searchProjection.apply(event, world.sql, t);
    });
    const { rows } = await world.sql.query<{ sku: string; popularity: string }>(`SELECT sku, popularity::text FROM ${one.t.documents}`);
    for (const sku of skus) {
      const at = lastAsked.get(sku)!;
      const expected = [...sales.values()]
        .filter((s) => s.sku === sku && !s.cancelled && s.at > at - WINDOW && s.at <= at)
        .reduce((n, s) => n + s.units, 0);
      expect(Number(rows.find((r) => r.sku === sku)!.popularity), sku).toBe(expected);
      expect(expected).toBeGreaterThan(0);
    }
    const next = random(11);
    for (const run of [1, 2]) {
      const cut = await build(`pw_cut${run}`, async (t) => {
        for (let i = 0; i < events.length; ) {
          const size = 1 + Math.floor(next() * 12);
          await searchProjection.applyBatch!(events.slice(i, i + size), world.sql, t);
          i += size;
        }
      });
      expect(cut.dump).toEqual(one.dump);
    }
  });

  it("a batch on a SKU with a long history reads only the sales its window's edges pass over", async () => {
    // One hot SKU: 300 orders over an hour, read in batches of 10.
    const from = await world.store.headCheckpoint();
    const append = (streamId: string, type: string, data: NewEvent["data"]) =>
      world.store.appendToStream(streamId, [{ id: randomUUID(), type, data, metadata: meta }]);
    const at = (i: number) => new Date(base + i * 12_000).toISOString();
    await append("product-HOT", "ProductCreated", {
      sku: "HOT",
      name: "Hot Kettle",
      category: ["Home"],
      price: 1_000,
      currency: "INR",
      at: at(0),
    });
    for (let i = 1; i <= 300; i++)
      await append(`order-h${i}`, "OrderPlaced", { orderId: `h${i}`, lines: [{ sku: "HOT", quantity: 1 }], at: at(i) });
    const hot = (await world.store.readAll({ from, maxCount: 1000, filter: searchProjection.filter })).events;
    expect(hot).toHaveLength(301);

    const read: number[] = [];
    let windowRead: { text: string; params: unknown[] | undefined } | undefined;
    const { t } = await build("pw_reads", async (t) => {
      const counting: SqlExecutor = {
        exec: (script) => world.sql.exec(script),
        copyIn: (table, columns, text) => world.sql.copyIn(table, columns, text),
        async query(text, params) {
          const result = await world.sql.query(text, params);
          if (text.includes(`FROM ${t.sales}`) || text.includes(`JOIN ${t.sales}`)) read.push(result.rows.length);
          if (text.includes(`JOIN ${t.sales}`)) windowRead = { text, params: params as unknown[] | undefined };
          return result as never;
        },
      };
      for (let i = 0; i < hot.length; i += 10) await searchProjection.applyBatch!(hot.slice(i, i + 10), counting, t);
    });
    const { rows } = await world.sql.query<{ popularity: string }>(`SELECT popularity::text FROM ${t.documents} WHERE sku = 'HOT'`);
    expect(Number(rows[0]!.popularity)).toBe(300);
    // Every sale so far is inside the window, and none is read back: the edges pass only over this batch's own sales.
    expect(read.length).toBeGreaterThanOrEqual(31);
    expect(read.reduce((a, b) => a + b, 0)).toBe(0);
    // Nor passed over in the table: run again now, the last batch's read of the edges visits only
    // that batch's own sales, stored since (a bound that is not an index condition filtered every
    // sale of the SKU: 151 here).
    const { rows: plan } = await world.sql.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${windowRead!.text}`, windowRead!.params);
    const visited = (node: Record<string, unknown>): number =>
      (node["Relation Name"] === t.sales
        ? Number(node["Actual Rows"]) * Number(node["Actual Loops"]) + Number(node["Rows Removed by Filter"] ?? 0)
        : 0) + ((node.Plans as Record<string, unknown>[] | undefined) ?? []).reduce((n, child) => n + visited(child), 0);
    const root = JSON.parse(JSON.stringify(Object.values(plan[0]!)[0])) as { Plan: Record<string, unknown> }[];
    expect(visited(root[0]!.Plan)).toBe(((hot.length - 1) % 10) + 1);
  });
});
