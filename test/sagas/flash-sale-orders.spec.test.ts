// The order saga's decisions for orders placed with a flash-sale claim: no reservation of their
// own (the claim holds the units), payment first, the draw from the sale's reservation on
// confirmation, and the units given back when the order is given up.

import { describe, expect, it } from "vitest";
import { evolveSaga, initialSagaState, react, type Reaction, type SagaInput, type SagaState } from "../../src/sagas/order-saga.js";

const now = "2026-03-01T10:00:00.000Z";
const ctx = { now, config: { paymentTimeoutMs: 60_000, reservationTtlMs: 120_000 } };
const O = "o1";
const flashSale = { saleId: "s1", claimId: "k1", warehouseId: "w1" };

function given(...inputs: SagaInput[]) {
  let state: SagaState = initialSagaState;
  inputs.forEach((input, i) => {
    const r = react(state, input, ctx);
    if (r)
      state = evolveSaga(state, {
        type: "SagaStepRecorded",
        data: { stepId: `step-${i}`, input, inputEventId: `e-${i}`, decidedAt: now, ...r },
      });
  });
  return { state, when: (input: SagaInput): Reaction => react(state, input, ctx)! };
}
const show = (r: Reaction) =>
  r.commands.map((c) =>
    c.target === "flashSale"
      ? `flashSale.${c.op} ${c.sku}@${c.warehouseId} x${c.quantity}${c.op === "giveBack" ? (c.drawn ? " drawn" : " held") : ""}`
      : c.target === "gateway"
        ? `gateway.${c.op}`
        : `${c.target}.${c.command.type}`,
  );

const placed = (paymentMethod: "UPI" | "COD" = "UPI"): SagaInput => ({
  type: "OrderPlaced",
  data: {
    orderId: O,
    lines: [{ sku: "PHONE", quantity: 2, unitPrice: 500 }],
    totalAmount: 1000,
    currency: "INR",
    paymentMethod,
    paymentRequired: paymentMethod !== "COD",
    at: now,
    stock: {},
    flashSale,
  },
});
const captured: SagaInput = { type: "PaymentCaptured", data: { orderId: O, paymentId: "pay-o1", amount: 1000, at: now } };
const cancelled: SagaInput = { type: "OrderCancelled", data: { orderId: O, reason: "PAYMENT_FAILED", at: now } };

describe("order saga: orders from flash-sale claims", () => {
  it("reserves nothing on the inventory and starts the payment at once, with the payment deadline only", () => {
    const r = given().when(placed());
    expect(r.status).toBe("AWAITING_PAYMENT");
    expect(show(r)).toEqual(["gateway.startPayment"]);
    expect(r.schedule.map((d) => d.kind)).toEqual(["paymentTimeout"]);
  });

  it("on capture confirms and draws the units from the sale's reservation instead of committing a reservation", () => {
    const r = given(placed()).when(captured);
    expect(r.status).toBe("PROCESSING");
    expect(show(r)).toEqual(["order.ConfirmOrder", "flashSale.draw PHONE@w1 x2", "order.StartProcessing"]);
  });

  it("COD: confirmed and drawn straight away", () => {
    expect(show(given().when(placed("COD")))).toEqual(["order.ConfirmOrder", "flashSale.draw PHONE@w1 x2", "order.StartProcessing"]);
  });

  it("cancelled before confirmation gives the held units back; after the draw gives back the drawn ones; ships from the drawn reservation", () => {
    expect(show(given(placed()).when(cancelled))).toEqual(["payment.VoidPayment", "flashSale.giveBack PHONE@w1 x2 held"]);
    const paid = given(placed(), captured);
    expect(show(paid.when({ type: "OrderCancelled", data: { orderId: O, reason: "CUSTOMER_REQUEST", at: now } }))).toEqual([
      "flashSale.giveBack PHONE@w1 x2 drawn",
      "order.RecordPaymentCaptured",
      "payment.RequestRefund",
      "order.RecordRefundRequested",
    ]);
    expect(show(paid.when({ type: "OrderShipped", data: { orderId: O, at: now } }))).toEqual(["inventory.ShipStock"]);
  });
});
