// Order history and refund reconciliation from their read models give the same answers as the
// log scans the HTTP routes used before (src/queries/*-scan / *-from-log), on one backend.

import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SAGA_CATEGORY, SAGA_INBOX_CATEGORY } from "../../src/sagas/order-saga.js";
import { ORDER_OWN_CATEGORIES } from "../../src/projections/order-history.js";
import {
  orderHistoryProjection,
  refundsProjection,
  startProjections,
  verifyProjection,
  type RunningProjections,
} from "../../src/projections/index.js";
import { orderHistory } from "../../src/queries/order-history.js";
import { orderHistoryByScan } from "../../src/queries/order-history-scan.js";
import { reconcileRefunds } from "../../src/queries/refunds.js";
import { reconcileRefundsFromLog } from "../../src/queries/refunds-from-log.js";
import { address, at, populate, World, type Backend } from "../projections/world.js";

const meta = { correlationId: "c", causationId: "c", actor: "test:audit" };

/** Money stories the reconciliation has a mismatch kind for, beside populate()'s ordinary ones. */
async function moneyStories(world: World): Promise<void> {
  await world.order(10, {
    type: "PlaceOrder",
    orderId: "f-o",
    customerId: "f-c",
    lines: [{ sku: "F-SKU", quantity: 1, unitPrice: 8_000 }],
    paymentMethod: "UPI",
    shippingAddress: address,
  });
  await world.payment(10, { type: "InitiatePayment", paymentId: "pay-f", orderId: "f-o", amount: 8_000, method: "UPI" });
  await world.payment(11, { type: "RecordPaymentCaptured", paymentId: "pay-f", gatewayEventId: "g-f1", amount: 8_000 });
  await world.payment(12, { type: "RequestRefund", paymentId: "pay-f", refundId: "rf-f", amount: 5_000, reason: "GOODWILL" });
  await world.payment(13, {
    type: "RecordRefundFailed",
    paymentId: "pay-f",
    refundId: "rf-f",
    gatewayEventId: "g-f2",
    reason: "bank down",
  });

  await world.order(20, {
    type: "PlaceOrder",
    orderId: "v-o",
    customerId: "v-c",
    lines: [{ sku: "V-SKU", quantity: 1, unitPrice: 4_000 }],
    paymentMethod: "CARD",
    shippingAddress: address,
  });
  await world.payment(20, { type: "InitiatePayment", paymentId: "pay-v", orderId: "v-o", amount: 4_000, method: "CARD" });
  await world.payment(21, { type: "VoidPayment", paymentId: "pay-v", reason: "timeout" });
  await world.payment(22, { type: "RecordPaymentCaptured", paymentId: "pay-v", gatewayEventId: "g-v1", amount: 4_000 });

  await world.payment(30, { type: "InitiatePayment", paymentId: "pay-ghost", orderId: "ghost", amount: 1_000, method: "UPI" });
  await world.cart(31, { type: "CheckOutCart", customerId: "a-c", orderId: "a-o1" });
}

export function auditReadsSuite(label: string, open: () => Promise<Backend>): void {
  describe(`audit and finance reads from read models equal the log scans (${label})`, () => {
    let backend: Backend;
    let projections: RunningProjections;
    let world: World;
    const orders = ["a-o1", "a-o2", "b-o1", "b-o2", "f-o", "v-o", "ghost", "nobody"];

    beforeAll(async () => {
      backend = await open();
      projections = await startProjections({ store: backend.store, sql: backend.sql });
      world = new World(backend.store);
      await populate(world, "a", 0);
      await populate(world, "b", 5);
      await moneyStories(world);
      // The saga's own streams (what the runner appends there is opaque to the history).
      for (const [category, orderId] of [
        [SAGA_CATEGORY, "a-o1"],
        [SAGA_INBOX_CATEGORY, "a-o1"],
        [SAGA_CATEGORY, "b-o2"],
      ] as const) {
        const r = await backend.store.appendToStream(`${category}-${orderId}`, [
          { id: randomUUID(), type: "SagaStepRecorded", data: { stepId: "s1", status: "RESERVING", at: at(1) }, metadata: meta },
        ]);
        if (r.position > world.last) world.last = r.position;
      }
      expect(await projections.waitFor(world.last, 30_000)).toBe(true);
    });
    afterAll(async () => {
      await projections?.stop();
      await backend?.close();
    });

    it("builds the same rows page by page (rebuilds: applyBatch) as event by event (the live projector: apply)", async () => {
      for (const projection of [orderHistoryProjection, refundsProjection]) {
        expect(projection.applyBatch).toBeTypeOf("function");
        expect(await verifyProjection(backend, projection), projection.name).toEqual([]);
      }
    });

    it("spells the saga's categories as the saga does", () => {
      expect(ORDER_OWN_CATEGORIES).toEqual(["order", SAGA_CATEGORY, SAGA_INBOX_CATEGORY]);
    });

    it("gives every order the same history as the scan: the same events in the same commit order", async () => {
      for (const orderId of orders) {
        const fromStreams = await orderHistory(backend, orderId);
        const scanned = await orderHistoryByScan(backend.store, orderId);
        expect(
          fromStreams.map((e) => `${e.position} ${e.streamId}@${e.revision} ${e.type}`),
          orderId,
        ).toEqual(scanned.map((e) => `${e.position} ${e.streamId}@${e.revision} ${e.type}`));
        expect(fromStreams).toEqual(scanned);
      }
      const a = (await orderHistory(backend, "a-o1")).map((e) => e.streamId);
      // Its own streams, its payment, its reservation and the cart it was checked out of.
      expect(new Set(a)).toEqual(
        new Set(["order-a-o1", "payment-a-pay1", "inventory-a-SKU@BLR", "orderSaga-a-o1", "orderSagaInbox-a-o1", "cart-a-c"]),
      );
    });

    it("gives the same reconciliation as the scan for every window, mismatches of every kind included", async () => {
      const windows: [number, number][] = [
        [-60, 120],
        [0, 3],
        [2, 9],
        [7, 8],
        [10, 14],
        [20, 23],
        [29, 40],
        [100, 200],
        // Windows holding only a payment's initiation or only a capture (kept on the payment's and
        // the capture's rows, not as activity rows): pay-f captured at 11, pay-v initiated at 20
        // and captured at 22, pay-ghost initiated at 30.
        [11, 12],
        [20, 21],
        [22, 23],
        [30, 31],
      ];
      const kinds = new Set<string>();
      for (const [from, to] of windows) {
        const range = { from: at(from), to: at(to) };
        const fromModel = await reconcileRefunds(backend.sql, range);
        expect(fromModel, `${range.from} .. ${range.to}`).toEqual(await reconcileRefundsFromLog(backend.store, range));
        for (const m of fromModel.mismatches) kinds.add(m.kind);
      }
      expect(kinds).toEqual(new Set(["refund_failed", "captured_not_refunded", "order_missing"]));
      const all = await reconcileRefunds(backend.sql, { from: at(-60), to: at(120) });
      expect(all.totals).toEqual({ captured: 18_000 * 2 + 8_000 + 4_000, refunded: 9_000 * 2, pendingRefunds: 0, failedRefunds: 5_000 });
      expect(all.refunds.map((r) => r.refundId)).toEqual(["a-rf", "b-rf", "rf-f"]);
      // The windows of initiations and captures alone find their payments' mismatches.
      const only = async (from: number, to: number) => (await reconcileRefunds(backend.sql, { from: at(from), to: at(to) })).mismatches;
      expect((await only(11, 12)).map((m) => m.kind)).toEqual(["refund_failed"]);
      expect((await only(20, 21)).map((m) => m.orderId)).toEqual(["v-o"]);
      expect((await only(22, 23)).map((m) => m.orderId)).toEqual(["v-o"]);
      expect((await only(30, 31)).map((m) => m.kind)).toEqual(["order_missing"]);
    });

    it("keeps a payment's initiation and captures on their own rows, not as activity rows", async () => {
      const t = refundsProjection.tables;
      const count = async (query: string) => Number((await backend.sql.query<{ n: number | string }>(query)).rows[0]!.n);
      expect(await count(`SELECT count(*) AS n FROM ${t.payments} WHERE initiated_at IS NULL`)).toBe(0);
      expect(await count(`SELECT count(*) AS n FROM ${t.activity} a JOIN ${t.captures} c USING (payment_id, revision)`)).toBe(0);
      expect(await count(`SELECT count(*) AS n FROM ${t.activity} WHERE revision = 0`)).toBe(0);
      // Refunds requested and failed, a void and a capture-after-void flag still have theirs.
      expect(await count(`SELECT count(*) AS n FROM ${t.activity}`)).toBeGreaterThan(0);
    });

    it("answers the same from rows stored before initiations and captures left the activity rows", async () => {
      const t = refundsProjection.tables;
      const ranges = (
        [
          [-60, 120],
          [11, 12],
          [20, 21],
          [22, 23],
          [30, 31],
        ] as const
      ).map(([from, to]) => ({ from: at(from), to: at(to) }));
      // (Scanned first: on embedded PGlite the store's reads would wait behind the transaction.)
      const scanned = await Promise.all(ranges.map((range) => reconcileRefundsFromLog(backend.store, range)));
      const rollback = new Error("rollback");
      await expect(
        backend.sql.transaction(async (tx) => {
          // Rows as the model stored them before: an activity row for every payment event, no initiated_at.
          await tx.query(`INSERT INTO ${t.activity} (payment_id, revision, at) SELECT payment_id, revision, at FROM ${t.captures}`);
          await tx.query(`INSERT INTO ${t.activity} (payment_id, revision, at) SELECT payment_id, 0, initiated_at FROM ${t.payments}`);
          await tx.query(`UPDATE ${t.payments} SET initiated_at = NULL`);
          for (const [i, range] of ranges.entries())
            expect(await reconcileRefunds(tx, range), `${range.from} .. ${range.to}`).toEqual(scanned[i]);
          throw rollback;
        }),
      ).rejects.toBe(rollback);
    });
  });
}
