// How the read models behave as processors, for one backend (PGlite or PostgreSQL): redelivery
// changes nothing, rebuilds (in place and shadow) equal the live model, lag is measured, and a
// failing handler leaves neither rows nor checkpoint moved for its event.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { START, type EventStore, type RecordedEvent } from "../../src/eventstore/port.js";
import { listParked, loadCheckpoint, resetProcessor } from "../../src/processing/processor.js";
import {
  currentHead,
  dumpTables,
  ordersProjection,
  projectionStatus,
  projections,
  projectorDefinition,
  rebuildInPlace,
  rebuildShadow,
  rebuildShadowTogether,
  shadowTables,
  startProjections,
  verifyProjection,
  type Projection,
  type RunningProjections,
} from "../../src/projections/index.js";
import { getOrder } from "../../src/queries/index.js";
import { populate, World, type Backend } from "./world.js";

const FAST_RETRY = { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 10 };

export function projectionSuite(label: string, open: () => Promise<Backend>): void {
  describe(`SQL projections as processors (${label})`, () => {
    let backend: Backend;
    let running: RunningProjections | undefined;
    let world: World;

    const dumpAll = async () =>
      Object.fromEntries(await Promise.all(projections.map(async (p) => [p.name, await dumpTables(backend.sql, p)] as const)));
    const start = async () => {
      running = await startProjections({ store: backend.store, sql: backend.sql, retry: FAST_RETRY });
      return running;
    };
    const stop = async () => {
      await running?.stop();
      running = undefined;
    };
    // Waits for the positions of this test's own appends: the head can read behind them for a moment
    // while another database's transaction holds the server-wide xmin horizon back.
    const caughtUp = async () => {
      const head = await currentHead(backend.store);
      expect(await running!.waitFor([head, world.last].sort().at(-1)!, 20_000)).toBe(true);
    };

    // Waits until readers can see this test's last append (the server-wide horizon may hold it back).
    const visible = async () => {
      const deadline = Date.now() + 20_000;
      while ((await currentHead(backend.store)) < world.last) {
        if (Date.now() > deadline) throw new Error(`position ${world.last} not visible after 20 s`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    /** Polls until the read models equal `expected` (a replay in progress may still be applying). */
    const settlesTo = async (expected: Awaited<ReturnType<typeof dumpAll>>) => {
      const deadline = Date.now() + 20_000;
      let dump = await dumpAll();
      while (JSON.stringify(dump) !== JSON.stringify(expected) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        dump = await dumpAll();
      }
      return dump;
    };

    beforeAll(async () => {
      backend = await open();
      world = new World(backend.store);
      await start();
      await populate(world, "a");
      await populate(world, "b", 100);
      await caughtUp();
    });
    afterAll(async () => {
      await stop();
      await backend?.close();
    });

    it("has rows in every read-model table and no lag once caught up", async () => {
      const dump = await dumpAll();
      for (const projection of projections)
        for (const rows of Object.values(dump[projection.name]!)) expect(rows.length).toBeGreaterThan(0);
      const status = await running!.projectionStatus();
      expect(status.map((s) => s.name)).toEqual(projections.map((p) => p.name));
      for (const s of status) expect(s).toMatchObject({ lagEvents: 0, lagCapped: false, parked: 0, running: true });
    });

    it("measures lag per projector: events of its streams after its checkpoint", async () => {
      await stop();
      await populate(world, "lag", 200);
      await visible();
      const status = await projectionStatus(backend);
      const lag = Object.fromEntries(status.map((s) => [s.name, s.lagEvents]));
      // populate() appends 13 order, 4 payment, 7 stock, 2 product and 3 cart events.
      // The order-history index reads all of them but products (27), the refunds model orders and payments (17).
      expect(lag).toEqual({
        "projections/orders": 13,
        "projections/payments": 4,
        "projections/inventory": 7,
        "projections/products": 2,
        "projections/carts": 3,
        "projections/order-history": 27,
        "projections/refunds": 17,
      });
      for (const s of status) expect(s.running).toBe(false);
      await start();
      await caughtUp();
      for (const s of await running!.projectionStatus()) expect(s.lagEvents).toBe(0);
    });

    it("changes nothing when the same events are delivered again (checkpoints reset, rows kept)", async () => {
      await visible();
      await caughtUp();
      const before = await dumpAll();
      await stop();
      for (const p of projections) await resetProcessor(backend.sql, p.name);
      expect(await loadCheckpoint(backend.sql, ordersProjection.name)).toBe(START);
      await start();
      await caughtUp();
      expect(await settlesTo(before)).toEqual(before);

      // Every event applied again, newest first: rows never move backwards.
      const { events } = await backend.store.readAll({ maxCount: 10_000 });
      await backend.sql.transaction(async (tx) => {
        for (const event of [...events].reverse())
          for (const p of projections) if (p.filter.streamCategories?.includes(event.streamId.split("-")[0]!)) await p.apply(event, tx);
      });
      expect(await dumpAll()).toEqual(before);
    });

    it("rebuilds every projection in place (truncate, reset checkpoint, replay) to exactly the live model", async () => {
      const before = await dumpAll();
      for (const p of projections) await running!.rebuild(p.name, { until: world.last });
      await caughtUp();
      expect(await dumpAll()).toEqual(before);
      for (const p of projections) expect(await verifyProjection(backend, p)).toEqual([]);
    });

    it("rebuilds every projection into shadow tables while writes go on, swaps them in, and twice in a row", async () => {
      for (const round of [1, 2]) {
        const rebuilding = Promise.all(projections.map((p) => running!.rebuild(p.name, { shadow: true })));
        await populate(world, `shadow${round}`, 300 + round * 100); // appended while the shadows build
        await rebuilding;
        await caughtUp();
        for (const p of projections) expect(await verifyProjection(backend, p)).toEqual([]);
      }
      const { rows } = await backend.sql.query<{ name: string }>(
        "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'rm\\_%' UNION ALL SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename LIKE 'rm\\_%'",
      );
      expect(rows.filter((r) => r.name.includes("_shadow") || r.name.includes("_verify"))).toEqual([]);
      expect(await getOrder(backend.sql, "shadow2-o1")).toMatchObject({
        status: "DELIVERED",
        fulfillmentStatus: "PARTIALLY_RETURNED",
        refundedAmount: 9_000,
        returns: [
          {
            returnId: "shadow2-ret",
            status: "COMPLETED",
            refundAmount: 9_000,
            reason: "too big",
            items: [{ sku: "shadow2-SKU", quantity: 1 }],
          },
        ],
      });
    });

    it("rebuilds from a script (projectors stopped): in place and shadow give the same tables", async () => {
      const before = await dumpAll();
      await stop();
      try {
        for (const p of projections) await rebuildInPlace(backend, p, { until: world.last });
        expect(await dumpAll()).toEqual(before);
        for (const p of projections) await rebuildShadow(backend, p, { until: world.last });
        expect(await dumpAll()).toEqual(before);
        for (const s of await projectionStatus(backend)) expect(s.lagEvents).toBe(0);
        expect((await loadCheckpoint(backend.sql, ordersProjection.name)) >= world.last).toBe(true);
      } finally {
        await start(); // a failure here must not take the tests after it down too
      }
    });

    it("asks for a rebuild's next page before folding the current one, though the store starts its query on process.nextTick as a pool does", async () => {
      const before = await dumpAll();
      await stop();
      // The store hands its reads over on the next tick (pg's pool hands out connections so); the
      // orders model notes each fold. Without a turn of the event loop between asking for the next
      // page and folding this one, every fold came before the read it should overlap.
      const steps: ("read" | "fold")[] = [];
      const store: EventStore = Object.assign(Object.create(backend.store) as EventStore, {
        readAll: async (options: Parameters<EventStore["readAll"]>[0]) => {
          await new Promise((resolve) => process.nextTick(resolve));
          steps.push("read");
          return backend.store.readAll(options);
        },
      });
      const fold = ordersProjection.fold!;
      const noting: typeof ordersProjection = {
        ...ordersProjection,
        fold: {
          ...fold,
          fold: (events, sets) => {
            steps.push("fold");
            fold.fold(events, sets);
          },
        },
      };
      try {
        await rebuildShadowTogether({ store, sql: backend.sql }, [noting], { pageSize: 5, until: world.last });
        let reads = 0;
        let folds = 0;
        for (const step of steps) {
          if (step === "read") reads += 1;
          else expect(reads, `reads asked for before fold ${++folds}`).toBeGreaterThan(folds);
        }
        expect(folds).toBeGreaterThan(3);
        expect(await dumpAll()).toEqual(before);
      } finally {
        await start();
      }
    });

    it("refuses a second rebuild of a projection while one is running", async () => {
      const first = running!.rebuild("orders", { shadow: true, until: world.last });
      await expect(running!.rebuild("projections/orders")).rejects.toThrow(/already being rebuilt/);
      await first;
      expect(await verifyProjection(backend, ordersProjection)).toEqual([]);
    });

    it("an orders model from before returns were kept gets the returns of existing orders on upgrade (migration 002 replays it)", async () => {
      await caughtUp();
      const before = await dumpTables(backend.sql, ordersProjection);
      expect(before.returns!.length).toBeGreaterThan(0);
      // The database as the previous version left it: no returns table, migration 002 not applied.
      await stop();
      await backend.sql.query("DROP TABLE rm_order_returns");
      await backend.sql.query("DELETE FROM schema_migrations WHERE id = 'projections/orders/002-returns'");
      await start();
      await caughtUp();
      expect(await dumpTables(backend.sql, ordersProjection)).toEqual(before);
      expect(await getOrder(backend.sql, "a-o1")).toMatchObject({ returns: [{ returnId: "a-ret", status: "COMPLETED" }] });
    });

    it("shadow tables are named from the live ones", () => {
      expect(shadowTables(ordersProjection.tables)).toEqual({
        orders: "rm_orders_shadow",
        lines: "rm_order_lines_shadow",
        refunds: "rm_order_refunds_shadow",
        returns: "rm_order_returns_shadow",
      });
    });

    it("commits rows and checkpoint together: a handler failing mid-batch leaves neither moved for its event", async () => {
      await stop();
      let failing = true;
      let attempts = 0;
      let placedHandled = 0;
      const faulty = (projection: Projection) => {
        const definition = projectorDefinition(projection);
        if (projection !== ordersProjection) return definition;
        type Context = Parameters<typeof definition.handle>[1];
        const afterWriting = (events: readonly RecordedEvent[]) => {
          for (const event of events) {
            if (event.type === "OrderPlaced" && event.streamId === "order-atomic-o1") placedHandled++;
            if (failing && event.type === "OrderShipped" && event.streamId === "order-atomic-o1") {
              attempts++;
              throw new Error("injected failure after writing"); // ...and then the handler fails
            }
          }
        };
        return {
          ...definition,
          async handle(event: RecordedEvent, context: Context) {
            await definition.handle(event, context); // the rows are written...
            afterWriting([event]);
          },
          async handleBatch(events: readonly RecordedEvent[], context: Context) {
            await definition.handleBatch!(events, context); // the page's rows are written...
            afterWriting(events);
          },
        };
      };
      const positions: string[] = [];
      const track = async (position: Promise<string>) => positions.push(await position);
      // One order's whole life appended while the projectors are stopped, so they get it as one batch.
      await track(
        world.order(900, {
          type: "PlaceOrder",
          orderId: "atomic-o1",
          customerId: "atomic-c",
          lines: [{ sku: "X", quantity: 1, unitPrice: 100 }],
          paymentMethod: "COD",
          shippingAddress: { name: "A", line1: "L", city: "C", state: "S", pincode: "1", phone: "2" },
        }),
      );
      await track(world.order(901, { type: "ConfirmOrder", orderId: "atomic-o1" }));
      await track(world.order(902, { type: "StartProcessing", orderId: "atomic-o1" }));
      await track(world.order(903, { type: "ShipOrder", orderId: "atomic-o1", carrier: "DTDC", trackingNumber: "T-1" }));
      await track(world.order(904, { type: "DeliverOrder", orderId: "atomic-o1" }));
      running = await startProjections({
        store: backend.store,
        sql: backend.sql,
        retry: { maxAttempts: 1_000, baseDelayMs: 10, maxDelayMs: 20 },
        define: faulty,
      });

      const deadline = Date.now() + 15_000;
      while (attempts < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(attempts).toBeGreaterThanOrEqual(3);
      expect(placedHandled).toBe(2); // once in the batch that rolled back, once on its own
      // The events before the failing one are in; the failing one's rows and checkpoint are not.
      expect(await loadCheckpoint(backend.sql, ordersProjection.name)).toBe(positions[2]);
      const stuck = await getOrder(backend.sql, "atomic-o1");
      expect(stuck).toMatchObject({ status: "PROCESSING", version: 2 });
      expect(stuck?.shipment).toBeUndefined();
      expect(await listParked(backend.sql, ordersProjection.name)).toEqual([]);
      const status = (await running.projectionStatus()).find((s) => s.name === ordersProjection.name);
      expect(status?.lagEvents).toBe(2);

      failing = false; // the cause is fixed: the retry goes through and the rest follows
      expect(await running.waitFor(positions[4]!, 10_000)).toBe(true);
      expect(await getOrder(backend.sql, "atomic-o1")).toMatchObject({
        status: "DELIVERED",
        shipment: { carrier: "DTDC", trackingNumber: "T-1", status: "DELIVERED" },
        version: 4,
      });
      expect(await loadCheckpoint(backend.sql, ordersProjection.name)).toBe(positions[4]);
      await stop();
      await start();
    });

    it("waitFor answers false when a position is not reached in time, true at once for START", async () => {
      await stop();
      running = await startProjections({ store: backend.store, sql: backend.sql, retry: FAST_RETRY, projections: [ordersProjection] });
      expect(await running.waitFor(START, 10)).toBe(true);
      expect(await running.waitFor("99999999999999999999:99999999999999999999", 50)).toBe(false);
      await stop();
      await start();
    });
  });
}
