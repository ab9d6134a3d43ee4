// A shadow rebuild has the database build the order-history index from the log beside it (one
// INSERT … SELECT: the projection's `backfill` over the store's `storedLog`) instead of folding it
// in Node. It must build exactly what the fold builds, on both backends: for the events the
// aggregates write, for events naming an order in other shapes, and for events appended while the
// statement runs (after the head it was given).

import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { START, type Checkpoint, type EventStore, type JsonValue } from "../../src/eventstore/port.js";
import { openEventStore, UpcasterRegistry } from "../../src/eventstore/index.js";
import { dumpTables, migrateProjections, orderHistoryProjection, rebuildShadow, verifyProjection } from "../../src/projections/index.js";
import { untilVisible } from "../eventstore/contract.js";
import { missing, server } from "../support/env.js";
import { openPgliteWorld, openPostgresWorld } from "../support/stores.js";
import { populate, World, type Backend } from "./world.js";

const event = (type: string, data: JsonValue) => ({
  id: randomUUID(),
  type,
  data,
  metadata: { correlationId: randomUUID(), causationId: randomUUID(), actor: "test:backfill" },
});

function backfillSuite(label: string, open: () => Promise<Backend>): void {
  describe(`the order-history index built by the database in a shadow rebuild (${label})`, () => {
    let backend: Backend;
    let middle: Checkpoint;

    beforeAll(async () => {
      backend = await open();
      await migrateProjections(backend.sql);
      const world = new World(backend.store);
      await populate(world, "a");
      middle = world.last;
      await populate(world, "b", 30);
      const append = (stream: string, type: string, data: JsonValue) => backend.store.appendToStream(stream, [event(type, data)]);
      await append("coupon-SAVE10", "CouponRedeemed", { code: "SAVE10", orderId: "a-o1" }); // indexed: a related category
      await append("cart-odd", "CartNoted", { orderId: "a-o2" }); // indexed
      await append("order-a-o2", "OrderNoted", { orderId: "b-o1" }); // indexed: an order's stream naming another order
      await append("orderSaga-a-o1", "SagaNoted", { orderId: "a-o1" }); // not: its own order
      await append("payment-odd", "PaymentNoted", { orderId: 42 }); // not: no order id as text
      const { position: last } = await append("inventory-odd@W", "StockNoted", { sku: "odd" }); // not: names no order
      await untilVisible(backend.store, last); // another test file's transaction can hold it back (ADR 0001)
    });
    afterAll(async () => backend?.close());

    /** The store, with `storedLog` counted (or taken away) and the head it reports held back (or not). */
    const seen = (overrides: { storedLog?: "none"; head?: () => Promise<Checkpoint> } = {}) => {
      const { store } = backend;
      const calls = { storedLog: 0 };
      const wrapped: EventStore = Object.create(store);
      wrapped.storedLog =
        overrides.storedLog === "none"
          ? undefined
          : (upTo, filter) => {
              calls.storedLog += 1;
              return store.storedLog!(upTo, filter);
            };
      if (overrides.head) wrapped.headCheckpoint = overrides.head;
      return { store: wrapped, calls };
    };

    it("builds the same rows as the fold, those of events in other shapes included", async () => {
      const spied = seen();
      await rebuildShadow({ store: spied.store, sql: backend.sql }, orderHistoryProjection);
      expect(spied.calls.storedLog).toBeGreaterThan(0);
      expect(await verifyProjection(backend, orderHistoryProjection)).toEqual([]); // the fold, into scratch tables
      const { rows } = await backend.sql.query<{ order_id: string; stream_id: string }>(
        "SELECT order_id, stream_id FROM rm_order_history WHERE stream_id NOT LIKE 'payment-p%' AND stream_id NOT LIKE 'inventory-%-SKU@%' ORDER BY 1, 2",
      );
      expect(rows).toContainEqual({ order_id: "a-o1", stream_id: "coupon-SAVE10" });
      expect(rows).toContainEqual({ order_id: "a-o2", stream_id: "cart-odd" });
      expect(rows).toContainEqual({ order_id: "b-o1", stream_id: "order-a-o2" });
      for (const stream of ["orderSaga-a-o1", "payment-odd", "inventory-odd@W"]) expect(rows.map((r) => r.stream_id)).not.toContain(stream);
      const folded = seen({ storedLog: "none" });
      const backfilled = await dumpTables(backend.sql, orderHistoryProjection);
      await rebuildShadow({ store: folded.store, sql: backend.sql }, orderHistoryProjection);
      expect(await dumpTables(backend.sql, orderHistoryProjection)).toEqual(backfilled);
    });

    it("adds the events appended after the head the statement was given", async () => {
      // The statement sees the log up to `middle` only: what came after must be folded in after it.
      const late = seen({ head: async () => middle });
      await rebuildShadow({ store: late.store, sql: backend.sql }, orderHistoryProjection);
      expect(late.calls.storedLog).toBeGreaterThan(0);
      expect(await verifyProjection(backend, orderHistoryProjection)).toEqual([]);
      const { rows } = await backend.sql.query<{ n: number }>("SELECT count(*)::int AS n FROM rm_order_history WHERE order_id LIKE 'b-%'");
      expect(rows[0]!.n).toBeGreaterThan(0);
    });

    it("gives, up to and including a checkpoint, the events readAll gives, positions as readAll writes them", async () => {
      const log = backend.store.storedLog!(middle, { streamCategories: ["order", "payment"] })!;
      const { rows } = await backend.sql.query<{ stream_id: string; revision: number | string; position: string; type: string }>(
        `SELECT stream_id, revision, position, type FROM (${log.text}) e ORDER BY position`,
        log.params,
      );
      const read = (await backend.store.readAll({ maxCount: 10_000, filter: { streamCategories: ["order", "payment"] } })).events.filter(
        (e) => e.position <= middle,
      );
      expect(read.length).toBeGreaterThan(5);
      expect(rows.map((r) => ({ ...r, revision: Number(r.revision) }))).toEqual(
        read.map((e) => ({ stream_id: e.streamId, revision: e.revision, position: e.position, type: e.type })),
      );
      expect(rows.at(-1)!.position <= middle).toBe(true);
      expect(
        (
          await backend.sql.query(`SELECT 1 FROM (${backend.store.storedLog!(START)!.text}) e`, [
            ...backend.store.storedLog!(START)!.params,
          ])
        ).rows,
      ).toEqual([]);
    });

    it("is not offered while upcasters are registered (the rows are not the events as read): the rebuild folds", async () => {
      const upcast = await openEventStore({
        sql: backend.sql,
        upcasters: new UpcasterRegistry([{ type: "CouponRedeemed", fromSchemaVersion: 1, upcast: (e) => ({ data: e.data }) }]),
      });
      expect(upcast.storedLog?.(middle)).toBeUndefined();
      await rebuildShadow({ store: upcast, sql: backend.sql }, orderHistoryProjection);
      expect(await verifyProjection(backend, orderHistoryProjection)).toEqual([]);
    });
  });
}

backfillSuite("embedded PGlite", openPgliteWorld);
describe.skipIf(missing(server("DATABASE_URL")))("PostgreSQL", () => {
  backfillSuite("PostgreSQL", openPostgresWorld);
});
