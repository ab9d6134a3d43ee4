// Random interleavings of what the outside world does (captures, failures, repeated and late
// webhooks, customer cancellations, shipping, the payment deadline passing), with the saga settling
// at random moments. Whatever happens, at the end:
//   - every order is in a terminal or waiting state that fits its payment;
//   - money: a cancelled order kept nothing (captured = refunded), a live one kept all of it,
//     and there was never more than one capture or one refund per payment;
//   - stock: the law holds for every SKU and warehouse, and a cancelled order holds no stock.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { backends, openWorld, PAYMENT_TIMEOUT_MS } from "./harness.js";

type Action = { kind: "capture" | "fail" | "cancel" | "ship"; order: number; dup: boolean } | { kind: "settle" } | { kind: "timeout" };

const action = (orders: number): fc.Arbitrary<Action> =>
  fc.oneof(
    fc.record({
      kind: fc.constantFrom("capture" as const, "fail" as const, "cancel" as const, "ship" as const),
      order: fc.nat(orders - 1),
      dup: fc.boolean(),
    }),
    fc.constant({ kind: "settle" as const }),
    fc.constant({ kind: "timeout" as const }),
  );

describe.each(backends())("order saga under random interleavings (%s)", (backend) => {
  it("keeps the money, stock and status laws", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(action(3), { minLength: 3, maxLength: 14 }),
        fc.integer({ min: 1, max: 3 }),
        async (actions, stockUnits) => {
          const w = await openWorld(backend);
          try {
            const sku = `S-${w.id}`;
            await w.receive(sku, "w1", stockUnits);
            const orders = [
              await w.place([{ sku, quantity: 1, unitPrice: 500 }]),
              await w.place([{ sku, quantity: 1, unitPrice: 700 }]),
              await w.place([{ sku, quantity: 1, unitPrice: 900 }]),
            ];
            await w.settle();
            let n = 0;
            for (const a of actions) {
              if (a.kind === "settle") await w.settle();
              else if (a.kind === "timeout") w.clock.advance(PAYMENT_TIMEOUT_MS);
              else {
                const orderId = orders[a.order]!;
                const order = await w.order(orderId);
                const hasPayment = (await w.payment(orderId)) !== undefined;
                if ((a.kind === "capture" || a.kind === "fail") && hasPayment) {
                  const id = `evt-${a.kind}-${orderId}-${n++}`;
                  await w.gatewayEvent(orderId, a.kind === "capture" ? "captured" : "failed", id);
                  if (a.dup) await w.gatewayEvent(orderId, a.kind === "capture" ? "captured" : "failed", id);
                } else if (a.kind === "cancel" && ["CREATED", "PAYMENT_PENDING", "CONFIRMED", "PROCESSING"].includes(order.status)) {
                  await w.orderCommand(orderId, { type: "CancelOrder", reason: "CUSTOMER_REQUEST" }).catch(() => undefined);
                } else if (a.kind === "ship" && order.status === "PROCESSING") {
                  await w.orderCommand(orderId, { type: "ShipOrder", carrier: "X", trackingNumber: "T" }).catch(() => undefined);
                }
              }
            }
            // Let every deadline pass, and the saga finish.
            await w.settle();
            w.clock.advance(10 * PAYMENT_TIMEOUT_MS);
            await w.settle();

            for (const orderId of orders) {
              const o = await w.order(orderId);
              const p = await w.payment(orderId);
              expect(["PROCESSING", "SHIPPED", "CANCELLED"]).toContain(o.status);
              if (o.status === "CANCELLED") {
                if (p) expect(p.refundedAmount, `${orderId} kept money after cancellation`).toBe(p.capturedAmount);
                expect(o.refundedAmount).toBe(o.capturedAmount);
                const stock = await w.inventory(sku, "w1");
                const r = stock.reservations.get(orderId);
                if (r) expect(["RELEASED", "EXPIRED"]).toContain(r.status);
              } else {
                expect(p).toMatchObject({ status: "CAPTURED", capturedAmount: o.totalAmount, refundedAmount: 0 });
                expect(o).toMatchObject({ paymentStatus: "CAPTURED", capturedAmount: o.totalAmount });
              }
              if (p) expect(p.refunds.length).toBeLessThanOrEqual(1);
            }
            const counts = await w.countTypes();
            expect(counts.PaymentCaptured ?? 0).toBeLessThanOrEqual(3);
            expect(w.gateway.effects.refund).toBe(counts.RefundProcessed ?? 0);
            expect(await w.allInventoryLawsHold()).toBe(true);
            const live = await w.inventory(sku, "w1");
            const liveOrders = (await Promise.all(orders.map((id) => w.order(id)))).filter((o) => o.status !== "CANCELLED").length;
            expect(live.committed + live.shipped).toBe(liveOrders);
            expect(live.reserved).toBe(0);
          } finally {
            await w.close();
          }
        },
      ),
      { numRuns: backend === "pglite" ? 8 : 12 },
    );
  }, 600_000);
});
