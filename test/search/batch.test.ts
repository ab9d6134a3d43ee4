// The search projector folds a whole batch of events in memory and writes it with a few set-based
// statements. That must give exactly what one event at a time gives (documents, versions, stock,
// sales and vocabulary), however the log is cut into batches, and a redelivered or older batch
// arriving again must change nothing.

import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NewEvent, RecordedEvent } from "../../src/eventstore/port.js";
import { createTables, dumpTables } from "../../src/projections/index.js";
import {
  applyQueued,
  searchProjection,
  searchProjectionFor,
  toDocument,
  type SearchTables,
} from "../../src/projections/search/documents.js";
import { sqlErrorCode, SqlState, type SqlExecutor } from "../../src/infrastructure/sql/sql-client.js";
import { openPgliteWorld, type StoreWorld } from "../support/stores.js";
import { searchTablesNamed } from "./tables.js";

const meta = { correlationId: "t", causationId: "t", actor: "test" };

/** The search tables under `prefix`, created empty, fed, and dumped. */
async function buildTables(
  world: StoreWorld,
  prefix: string,
  feed: (tables: SearchTables) => Promise<void>,
): Promise<Record<string, string[]>> {
  const tables = searchTablesNamed(prefix);
  await createTables(world.sql, searchProjection, tables);
  await feed(tables);
  return dumpTables(world.sql, searchProjection, tables);
}

describe("search projection in batches", () => {
  let world: StoreWorld;
  let events: RecordedEvent[];

  beforeAll(async () => {
    world = await openPgliteWorld();
    const day = (n: number) => new Date(Date.UTC(2026, 0, 1 + n)).toISOString();
    const append = (streamId: string, type: string, data: NewEvent["data"]) =>
      world.store.appendToStream(streamId, [{ id: randomUUID(), type, data, metadata: meta }]);
    const skus = ["S-1", "S-2", "S-3", "S-4"];
    for (const [i, sku] of skus.entries()) {
      // Stock before the product exists for S-4: its document must start with it.
      if (sku === "S-4") await append(`inventory-${sku}@BLR`, "StockReceived", { sku, warehouseId: "BLR", quantity: 3, at: day(0) });
      await append(`product-${sku}`, "ProductCreated", {
        sku,
        name: `Bright Kettle ${i}`,
        description: "Boils water",
        category: ["Home", "Kitchen"],
        brand: "Acme",
        price: 10_000 + i,
        currency: "INR",
        attributes: { color: "black" },
        at: day(0),
      });
    }
    await append("inventory-S-1@BLR", "StockReceived", { sku: "S-1", warehouseId: "BLR", quantity: 2, at: day(1) });
    await append("inventory-S-1@DEL", "StockReceived", { sku: "S-1", warehouseId: "DEL", quantity: 1, at: day(1) });
    await append("order-o1", "OrderPlaced", {
      orderId: "o1",
      lines: [
        { sku: "S-1", quantity: 2 },
        { sku: "S-2", quantity: 1 },
        { sku: "S-1", quantity: 1 },
      ],
      at: day(2),
    });
    await append("inventory-S-1@BLR", "StockReserved", { sku: "S-1", warehouseId: "BLR", quantity: 2, at: day(2) });
    await append("product-S-2", "ProductPriceChanged", { sku: "S-2", price: 9_000, previousPrice: 10_001, currency: "INR", at: day(3) });
    await append("product-S-3", "ProductDetailsChanged", { sku: "S-3", changes: { name: "Silent Toaster", brand: "Globex" }, at: day(3) });
    await append("order-o2", "OrderPlaced", { orderId: "o2", lines: [{ sku: "S-2", quantity: 4 }], at: day(4) });
    await append("order-o1", "OrderCancelled", { orderId: "o1", at: day(5) });
    await append("inventory-S-1@BLR", "StockReleased", { sku: "S-1", warehouseId: "BLR", quantity: 2, from: "RESERVED", at: day(5) });
    await append("product-S-4", "ProductDeactivated", { sku: "S-4", at: day(6) });
    // Outside the 30-day window of o2: S-2's popularity drops to this order's units.
    await append("order-o3", "OrderPlaced", { orderId: "o3", lines: [{ sku: "S-2", quantity: 1 }], at: day(40) });
    await append("product-S-4", "ProductReactivated", { sku: "S-4", at: day(41) });
    events = (await world.store.readAll({ maxCount: 1000, filter: searchProjection.filter })).events;
  });
  afterAll(async () => {
    await world?.close();
  });

  const build = (prefix: string, feed: (tables: SearchTables) => Promise<void>) => buildTables(world, prefix, feed);

  it("gives the same tables one event at a time, in one batch, and in batches of any size", async () => {
    const oneByOne = await build("sb_one", async (t) => {
      for (const event of events) await searchProjection.apply(event, world.sql, t);
    });
    const whole = await build("sb_whole", (t) => searchProjection.applyBatch!(events, world.sql, t));
    expect(whole).toEqual(oneByOne);
    for (const size of [2, 3, 5]) {
      const cut = await build(`sb_cut${size}`, async (t) => {
        for (let i = 0; i < events.length; i += size) await searchProjection.applyBatch!(events.slice(i, i + size), world.sql, t);
      });
      expect(cut).toEqual(oneByOne);
    }
    // The figures themselves, so the equality above is not between equally wrong tables.
    const docs = Object.fromEntries(oneByOne.documents!.map((r) => JSON.parse(r) as Record<string, unknown>).map((d) => [d.sku, d]));
    expect(docs["S-1"]).toMatchObject({ available: 3, in_stock: true, popularity: 0 });
    expect(docs["S-2"]).toMatchObject({ price: 9_000, popularity: 1 });
    expect(docs["S-3"]).toMatchObject({ name: "Silent Toaster", brand: "Globex" });
    expect(docs["S-4"]).toMatchObject({ available: 3, active: true, version: 3 });
  });

  it("changes nothing when a batch is redelivered, or an older one arrives after newer ones", async () => {
    const reference = await build("sb_ref", (t) => searchProjection.applyBatch!(events, world.sql, t));
    const replayed = await build("sb_again", async (t) => {
      await searchProjection.applyBatch!(events, world.sql, t);
      await searchProjection.applyBatch!(events, world.sql, t);
      await searchProjection.applyBatch!(events.slice(3, 9), world.sql, t);
      await searchProjection.applyBatch!([...events.slice(10), ...events.slice(0, 4)], world.sql, t);
    });
    expect(replayed).toEqual(reference);
  });

  it("queued for shipping from memory: the same tables, no row marked pending, and what each batch returns is its documents as written, under its transaction", async () => {
    const reference = await build("sb_refq", (t) => searchProjection.applyBatch!(events, world.sql, t));
    const shipped = new Map<string, number>();
    const queued = await build("sb_queued", async (t) => {
      for (let i = 0; i < events.length; i += 4) {
        const shipment = await world.sql.transaction(async (tx) => {
          const s = await applyQueued(events.slice(i, i + 4), tx, "embedded", t);
          const { rows } = await tx.query<{ tx: string }>("SELECT pg_current_xact_id()::text AS tx");
          if (s) expect(s.tx).toBe(rows[0]!.tx);
          return s;
        });
        if (!shipment) continue;
        expect(shipment.position).toBe(events.slice(i, i + 4).at(-1)!.position);
        const { rows } = await world.sql.query<Record<string, unknown>>(`SELECT * FROM ${t.documents} WHERE sku = ANY ($1::text[])`, [
          shipment.documents.map((d) => d.sku),
        ]);
        const stored = new Map(rows.map((r) => [String(r.sku), toDocument(r)]));
        for (const doc of shipment.documents) {
          expect(doc).toEqual(stored.get(doc.sku));
          shipped.set(doc.sku, Math.max(shipped.get(doc.sku) ?? 0, doc.version));
        }
        const { rows: queue } = await world.sql.query<{ skus: string[] }>(`SELECT skus FROM ${t.shipments} WHERE tx = $1::xid8`, [
          shipment.tx,
        ]);
        expect(queue[0]?.skus.sort()).toEqual(shipment.documents.map((d) => d.sku).sort());
      }
    });
    const withoutMarks = (tables: Record<string, string[]>) => ({
      ...tables,
      documents: tables.documents!.map((r) => JSON.stringify({ ...JSON.parse(r), ship_pending: false })).sort(),
      shipments: [],
    });
    expect(withoutMarks(queued)).toEqual(withoutMarks(reference));
    expect(queued.documents!.every((r) => JSON.parse(r).ship_pending === false)).toBe(true);
    // Every document's last version went out in some batch.
    for (const r of queued.documents!) expect(shipped.get(JSON.parse(r).sku)).toBe(Number(JSON.parse(r).version));
  });

  it("without the embedded engine: the same documents and versions, with no terms and no normalised name", async () => {
    const reference = await build("sb_refe", (t) => searchProjection.applyBatch!(events, world.sql, t));
    const elasticsearch = searchProjectionFor("elasticsearch");
    const cut = await build("sb_es", async (t) => {
      for (let i = 0; i < events.length; i += 3) await elasticsearch.applyBatch!(events.slice(i, i + 3), world.sql, t);
    });
    const blank = (r: string) => JSON.stringify({ ...JSON.parse(r), terms: "", name_normalised: "" });
    expect(cut.documents!.map(blank).sort()).toEqual(reference.documents!.map(blank).sort());
    expect(cut.documents!.every((r) => JSON.parse(r).terms === "" && JSON.parse(r).name_normalised === "")).toBe(true);
    expect(reference.documents!.every((r) => JSON.parse(r).terms !== "")).toBe(true);
    expect(cut.stock).toEqual(reference.stock);
    expect(cut.sales).toEqual(reference.sales);
  });

  it("never overwrites a document or stock row stored after the batch read its rows: the batch fails, and its events one at a time give the same tables", async () => {
    const reference = await build("sb_refr", (t) => searchProjection.applyBatch!(events, world.sql, t));
    const raced = await build("sb_race", async (t) => {
      const error = await world.sql
        .transaction(async (tx) => {
          // Another writer stores the first events' rows right after this batch has read its rows (they were not there yet).
          let raced = false;
          const racing: SqlExecutor = {
            exec: (script) => tx.exec(script),
            copyIn: (table, columns, text) => tx.copyIn(table, columns, text),
            async query(text, params) {
              const result = await tx.query(text, params);
              if (!raced && text.includes(`FROM ${t.documents} WHERE sku = ANY`)) {
                raced = true;
                await searchProjection.applyBatch!(events.slice(0, 6), tx, t);
              }
              return result as never;
            },
          };
          await searchProjection.applyBatch!(events, racing, t);
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(sqlErrorCode(error)).toBe(SqlState.uniqueViolation);
      for (const event of events) await searchProjection.apply(event, world.sql, t);
    });
    expect(raced).toEqual(reference);
  });
});

describe("search popularity of a hot SKU", () => {
  let world: StoreWorld;
  let events: RecordedEvent[];
  const at = (hours: number) => new Date(Date.UTC(2026, 0, 1) + hours * 3_600_000).toISOString();

  beforeAll(async () => {
    world = await openPgliteWorld();
    const append = (streamId: string, type: string, data: NewEvent["data"]) =>
      world.store.appendToStream(streamId, [{ id: randomUUID(), type, data, metadata: meta }]);
    await append("product-HOT", "ProductCreated", {
      sku: "HOT",
      name: "Hot Kettle",
      category: ["Home"],
      price: 1_000,
      currency: "INR",
      attributes: {},
      at: at(0),
    });
    // 120 orders of one SKU a few hours apart over 50 days, so the 30-day window slides past the
    // first ones; every seventh cancelled a few orders later, some of them by then deep in the window.
    for (let i = 1; i <= 120; i++) {
      await append(`order-h${i}`, "OrderPlaced", { orderId: `h${i}`, lines: [{ sku: "HOT", quantity: 1 + (i % 3) }], at: at(i * 10) });
      if (i > 5 && (i - 5) % 7 === 0) await append(`order-h${i - 5}`, "OrderCancelled", { orderId: `h${i - 5}`, at: at(i * 10 + 1) });
    }
    events = (await world.store.readAll({ maxCount: 1000, filter: searchProjection.filter })).events;
  });
  afterAll(async () => {
    await world?.close();
  });

  const build = (prefix: string, feed: (tables: SearchTables) => Promise<void>) => buildTables(world, prefix, feed);

  it("is the same one event at a time and in batches of any size, as the window slides and orders are cancelled", async () => {
    const oneByOne = await build("hp_one", async (t) => {
      for (const event of events) await searchProjection.apply(event, world.sql, t);
    });
    for (const size of [2, 7, 25, events.length]) {
      const cut = await build(`hp_cut${size}`, async (t) => {
        for (let i = 0; i < events.length; i += size) await searchProjection.applyBatch!(events.slice(i, i + size), world.sql, t);
      });
      expect(cut, `batches of ${size}`).toEqual(oneByOne);
    }
    // The figure itself: the units of the orders placed in the 30 days before the last one, the cancelled left out.
    const last = 120 * 10;
    let expected = 0;
    for (let i = 1; i <= 120; i++) {
      const cancelled = i + 5 <= 120 && i % 7 === 0;
      if (!cancelled && i * 10 > last - 30 * 24) expected += 1 + (i % 3);
    }
    const doc = JSON.parse(oneByOne.documents![0]!) as { popularity: number };
    expect(doc.popularity).toBe(expected);
  });

  it("a batch reads the few sales at the window's moving edges, not the SKU's every sale in the window", async () => {
    const t = searchTablesNamed("hp_reads");
    await createTables(world.sql, searchProjection, t);
    await searchProjection.applyBatch!(events.slice(0, -3), world.sql, t);
    let salesRowsRead = 0;
    const counting: SqlExecutor = {
      exec: (script) => world.sql.exec(script),
      copyIn: (table, columns, text) => world.sql.copyIn(table, columns, text),
      async query(text, params) {
        const result = await world.sql.query(text, params);
        if (text.includes(`FROM ${t.sales}`) && !text.includes("sum(units)")) salesRowsRead += result.rows.length;
        return result as never;
      },
    };
    // The last three events, hours apart: about 70 of the SKU's sales are in their window.
    await searchProjection.applyBatch!(events.slice(-3), counting, t);
    expect(salesRowsRead).toBeLessThan(10);
    const again = await build("hp_whole", (tables) => searchProjection.applyBatch!(events, world.sql, tables));
    expect(await dumpTables(world.sql, searchProjection, t)).toEqual(again);
  });
});
