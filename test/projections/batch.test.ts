// The batch path of every SQL projection (applyBatch: a page folded in memory, written set-based)
// against its event-by-event path (apply: one SQL change per event), over a log the real deciders
// wrote: the same tables whatever the page boundaries (generated at random, seeded), with pages
// delivered again (a checkpoint behind the rows), mixed with single events, and when a rebuild
// "crashes" between a page's writes and its checkpoint and resumes from the checkpoint before. And
// the same rules folded across a whole rebuild (BulkFold: rows kept in memory from page to page,
// written when left alone, read back when an event comes for them later) against the same tables.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { logPages } from "../../src/eventstore/pages.js";
import type { RecordedEvent } from "../../src/eventstore/port.js";
import type { SqlClient, SqlExecutor } from "../../src/infrastructure/sql/sql-client.js";
import { BulkFold, type RowFold, type WriteMode } from "../../src/projections/fold.js";
import { createTables, dumpTables, projections, type Projection, type TableNames } from "../../src/projections/index.js";
import { readsEvent } from "../../src/projections/rebuild.js";
import { missing, server } from "../support/env.js";
import { openPgliteWorld, openPostgresWorld } from "../support/stores.js";
import { populate, World, type Backend } from "./world.js";
import { seededRandom } from "../support/random.js";

/** Random pages of 1..max events, in order. */
function pagesOf<T>(items: readonly T[], rnd: () => number, max: number): T[][] {
  const pages: T[][] = [];
  for (let i = 0; i < items.length; ) {
    const size = 1 + Math.floor(rnd() * max);
    pages.push(items.slice(i, i + size));
    i += size;
  }
  return pages;
}

const named = (projection: Projection, suffix: string): TableNames =>
  Object.fromEntries(Object.entries(projection.tables).map(([logical, physical]) => [logical, `${physical}_${suffix}`]));

/** More of what the log can hold than populate() writes: product details, carts checked out, failed payments and refunds. */
async function variety(world: World, p: string, minute: number): Promise<void> {
  await populate(world, p, minute);
  const sku = `${p}-SKU`;
  await world.product(minute + 2, {
    type: "ChangeProductDetails",
    sku,
    name: `Renamed ${p}`,
    category: ["A", "B"],
    attributes: { p, v: 2 },
  });
  await world.product(minute + 3, { type: "DeactivateProduct", sku });
  await world.product(minute + 4, { type: "ReactivateProduct", sku });
  await world.cart(minute + 3, { type: "AddCartItem", customerId: `${p}-c`, sku: `${sku}-2`, quantity: 1, unitPrice: 500 });
  await world.cart(minute + 4, { type: "RemoveCartItem", customerId: `${p}-c`, sku });
  await world.cart(minute + 5, { type: "AddCartItem", customerId: `${p}-c`, sku, quantity: 2, unitPrice: 700 });
  await world.cart(minute + 6, { type: "CheckOutCart", customerId: `${p}-c`, orderId: `${p}-o9` });
  await world.cart(minute + 7, { type: "AddCartItem", customerId: `${p}-c`, sku, quantity: 1, unitPrice: 700 });
  await world.payment(minute + 9, {
    type: "RequestRefund",
    paymentId: `${p}-pay1`,
    refundId: `${p}-rf2`,
    amount: 1_000,
    reason: "goodwill",
  });
  await world.payment(minute + 10, {
    type: "RecordRefundFailed",
    paymentId: `${p}-pay1`,
    refundId: `${p}-rf2`,
    gatewayEventId: `${p}-g3`,
    reason: "bank down",
  });
  await world.payment(minute + 1, { type: "InitiatePayment", paymentId: `${p}-pay2`, orderId: `${p}-o2`, amount: 9_000, method: "UPI" });
  await world.payment(minute + 2, {
    type: "RecordPaymentAuthorized",
    paymentId: `${p}-pay2`,
    gatewayEventId: `${p}-g4`,
    gatewayPaymentId: `${p}-gp`,
  });
  await world.payment(minute + 3, { type: "RecordPaymentFailed", paymentId: `${p}-pay2`, gatewayEventId: `${p}-g5`, reason: "declined" });
}

function batchSuite(label: string, open: () => Promise<Backend>): void {
  describe(`applyBatch equals apply event by event (${label})`, () => {
    let backend: Backend;
    let log: RecordedEvent[] = [];
    const batched = projections.filter((p) => p.applyBatch);

    beforeAll(async () => {
      backend = await open();
      const world = new World(backend.store);
      for (const [n, p] of ["a", "b", "c", "d"].entries()) await variety(world, p, n * 30);
      // On PostgreSQL the log shows an event once no older transaction is open anywhere on the
      // server (the xmin horizon, ADR 0001): another suite's open transaction can hide the newest
      // events for a while, and a read then would see a short log (a clean-clone CI run saw none).
      const { rows } = await backend.sql.query<{ n: string }>("SELECT count(*)::text AS n FROM es_events");
      const stored = Number(rows[0]!.n);
      for (let attempt = 0; ; attempt++) {
        log = [];
        for await (const page of logPages(backend.store)) log.push(...page.events);
        if (log.length >= stored) break;
        if (attempt >= 1_000) throw new Error(`the log shows ${log.length} of ${stored} stored events after 100 s`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }, 180_000);
    afterAll(async () => {
      await backend?.close();
    });

    const eventsOf = (projection: Projection) => log.filter((e) => readsEvent(projection.filter, e));
    const one = (projection: Projection, tables: TableNames, events: readonly RecordedEvent[]) =>
      backend.sql.transaction(async (tx) => {
        for (const e of events) await projection.apply(e, tx, tables);
      });
    const batch = (projection: Projection, tables: TableNames, events: readonly RecordedEvent[], tx?: SqlExecutor) =>
      tx ? projection.applyBatch!(events, tx, tables) : backend.sql.transaction((t) => projection.applyBatch!(events, t, tables));
    /** The tables built event by event: what every other build must equal. */
    const reference = async (projection: Projection) => {
      const tables = named(projection, "one");
      await createTables(backend.sql, projection, tables);
      await one(projection, tables, eventsOf(projection));
      return dumpTables(backend.sql, projection, tables);
    };

    it("has a log with every kind of event the batch paths fold", () => {
      const types = new Set(log.map((e) => e.type));
      for (const type of [
        "OrderPlaced",
        "OrderCancelled",
        "OrderReturnRequested",
        "OrderReturnReceived",
        "OrderReturned",
        "OrderRefundRequested",
        "OrderRefundProcessed",
        "RefundFailed",
        "PaymentAuthorized",
        "PaymentFailed",
        "ProductDetailsChanged",
        "ProductDeactivated",
        "ProductReactivated",
        "CartItemRemoved",
        "CartCheckedOut",
        "CouponApplied",
        "StockShipped",
        "StockReleased",
      ])
        expect(types).toContain(type);
      expect(batched.map((p) => p.name)).toEqual(projections.map((p) => p.name));
    });

    it("builds the same tables in random pages, with pages delivered again and single events mixed in", async () => {
      for (const projection of batched) {
        const expected = await reference(projection);
        for (const row of Object.values(expected)) expect(row.length).toBeGreaterThan(0);
        for (const seed of [1, 2, 3]) {
          const rnd = seededRandom(seed * 7919 + projection.name.length);
          const tables = named(projection, "batch");
          await createTables(backend.sql, projection, tables);
          const pages = pagesOf(eventsOf(projection), rnd, 40);
          for (const [k, page] of pages.entries()) {
            if (rnd() < 0.2) await one(projection, tables, page);
            else await batch(projection, tables, page);
            // Now and then the pages since an older checkpoint come again, as one page with the
            // next page's new events (which then come once more on their own).
            if (rnd() < 0.3) await batch(projection, tables, pages.slice(Math.max(0, k - 3), k + 2).flat());
          }
          expect(await dumpTables(backend.sql, projection, tables), `${projection.name}, seed ${seed}`).toEqual(expected);
        }
      }
    }, 300_000);

    it("a crash between a page's writes and its checkpoint is harmless: the rows stay, the page comes again", async () => {
      for (const projection of batched) {
        const expected = await reference(projection);
        const tables = named(projection, "crash");
        await createTables(backend.sql, projection, tables);
        const pages = pagesOf(eventsOf(projection), seededRandom(42), 25);
        const crashAt = Math.floor(pages.length / 2);

        // Rows and checkpoint in one transaction, failing after the rows: nothing of the page stays.
        const before = await dumpTables(backend.sql, projection, tables);
        for (const page of pages.slice(0, crashAt)) await batch(projection, tables, page);
        const atCheckpoint = await dumpTables(backend.sql, projection, tables);
        await expect(
          backend.sql.transaction(async (tx) => {
            await batch(projection, tables, pages[crashAt]!, tx);
            throw new Error("crash before the checkpoint");
          }),
        ).rejects.toThrow("crash before the checkpoint");
        expect(await dumpTables(backend.sql, projection, tables)).toEqual(atCheckpoint);
        expect(atCheckpoint).not.toEqual(before);

        // Rows committed but the checkpoint not (a writer that stores it separately): on restart the
        // pages since the checkpoint come again and change nothing twice.
        await batch(projection, tables, pages[crashAt]!);
        await batch(projection, tables, pages[crashAt + 1] ?? []);
        for (const page of pages.slice(crashAt)) await batch(projection, tables, page);
        expect(await dumpTables(backend.sql, projection, tables), projection.name).toEqual(expected);
      }
    }, 300_000);

    it("a bulk fold across the whole log builds the same tables, rows written, dropped and read back in any rhythm", async () => {
      const folded = projections.filter((p) => p.fold);
      expect(folded.map((p) => p.name)).toEqual([
        "projections/orders",
        "projections/payments",
        "projections/inventory",
        "projections/order-history",
        "projections/refunds",
      ]);
      for (const projection of folded) {
        const expected = await reference(projection);
        for (const seed of [1, 2, 3, 4]) {
          const rnd = seededRandom(seed * 104_729 + projection.name.length);
          const tables = named(projection, "bulk");
          await createTables(backend.sql, projection, tables);
          // Small pages and windows: most rows outlive their window, are written and dropped, and
          // come back from the table for their later events; small chunks split the writes.
          const options = { idlePages: 1 + Math.floor(rnd() * 3), inFlight: Math.floor(rnd() * 3), chunk: 1 + Math.floor(rnd() * 5) };
          const bulk = new BulkFold(projection.fold!, backend.sql, tables, options);
          for (const page of pagesOf(eventsOf(projection), rnd, 12)) await bulk.add(page);
          await bulk.finish();
          expect(await dumpTables(backend.sql, projection, tables), `${projection.name}, seed ${seed}, ${JSON.stringify(options)}`).toEqual(
            expected,
          );
        }
      }
    }, 300_000);

    it("a bulk fold writes a row set again after it was written and dropped (a table it cannot read back) by the table's write mode", async () => {
      // Rows not read back go in as plain inserts; one already in the table makes the chunk fail and
      // be written again by the write mode: "update" replaces the row, "insert" keeps the first.
      const setter = (write: WriteMode): RowFold<"t"> => ({
        tables: { t: { columns: { k: "text", v: "text" }, key: ["k"], write } },
        needs: () => ({}),
        fold(events, { t }) {
          for (const e of events) if (e.type === "Set") t.set(e.streamId, { k: e.streamId, v: (e.data as { v: string }).v });
        },
      });
      const event = (type: string, v: string) => ({ type, streamId: "s-1", data: { v } }) as unknown as RecordedEvent;
      for (const [write, kept] of [
        ["update", "second"],
        ["insert", "first"],
      ] as const) {
        await backend.sql.exec("DROP TABLE IF EXISTS bulk_again; CREATE TABLE bulk_again (k text PRIMARY KEY, v text NOT NULL)");
        const bulk = new BulkFold(setter(write), backend.sql, { t: "bulk_again" }, { idlePages: 1 });
        await bulk.add([event("Set", "first")]);
        await bulk.add([event("Other", "")]); // the row left alone for a page: written and dropped
        await bulk.add([event("Set", "second"), event("Other", "")]);
        await bulk.finish();
        expect((await backend.sql.query("SELECT k, v FROM bulk_again")).rows, write).toEqual([{ k: "s-1", v: kept }]);
      }
      await backend.sql.exec("DROP TABLE bulk_again");
    });
  });
}

describe("bulk fold writes under way", () => {
  it("lets a model with many tables keep two pages of writes under way before a page waits for them", async () => {
    // A server that answers nothing until released: each statement stays under way.
    const held: (() => void)[] = [];
    const sql = {
      dialect: "postgres",
      query: () => new Promise<{ rows: never[] }>((resolve) => held.push(() => resolve({ rows: [] }))),
      copyIn: () => new Promise<void>((resolve) => held.push(resolve)),
      exec: async () => undefined,
      transaction: () => Promise.reject(new Error("not used")),
      close: async () => undefined,
    } as unknown as SqlClient;
    const tables = ["a", "b", "c", "d", "e"] as const;
    // Every event sets a row of its own in each of the five tables.
    const fold: RowFold<(typeof tables)[number]> = {
      tables: Object.fromEntries(tables.map((t) => [t, { columns: { k: "text" }, key: ["k"], write: "insert" }])) as unknown as RowFold<
        (typeof tables)[number]
      >["tables"],
      needs: () => ({}),
      fold(events, rows) {
        for (const e of events) for (const t of tables) rows[t].set(e.streamId, { k: e.streamId });
      },
    };
    const page = (n: number) => [{ type: "Set", streamId: `s-${n}`, data: {} } as unknown as RecordedEvent];
    const bulk = new BulkFold(fold, sql, { a: "a", b: "b", c: "c", d: "d", e: "e" }, { idlePages: 1 });
    const settles = (p: Promise<void>) => Promise.race([p.then(() => true), new Promise((r) => setTimeout(() => r(false), 200))]);
    await bulk.add(page(1)); // its rows stay in memory (touched in this window)
    expect(await settles(bulk.add(page(2)))).toBe(true); // page 1's five rows written: five under way
    expect(await settles(bulk.add(page(3)))).toBe(true); // page 2's queued behind them: ten
    const fourth = bulk.add(page(4)); // fifteen: this page waits for the oldest
    expect(await settles(fourth)).toBe(false);
    while (held.length > 0) held.shift()!();
    await fourth;
    const finished = bulk.finish();
    for (let i = 0; i < 100 && held.length === 0; i++) await new Promise((r) => setTimeout(r, 1));
    while (held.length > 0) {
      held.shift()!();
      await new Promise((r) => setTimeout(r, 1));
    }
    await finished;
  });
});

batchSuite("embedded PGlite", openPgliteWorld);
describe.skipIf(missing(server("DATABASE_URL")))("PostgreSQL", () => {
  batchSuite("PostgreSQL", openPostgresWorld);
});
