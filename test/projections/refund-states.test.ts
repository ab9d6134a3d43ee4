// The refunds read model's slim states (src/projections/refund-states.ts) against the aggregates'
// evolve: over random (seeded) sequences of every order and payment event, in any order (events
// before the stream's first one included), the slim fold keeps exactly the fields reconciliation
// reads of the aggregate's state, and has no state exactly when the aggregate has none. And rows
// stored before the change (whole states) read as the same fields.

import { describe, expect, it } from "vitest";
import { orderDecider, type OrderEvent, type OrderState } from "../../src/aggregates/order.js";
import { paymentDecider, type PaymentEvent, type PaymentState } from "../../src/aggregates/payment.js";
import {
  evolveReconOrder,
  evolveReconPayment,
  reconOrder,
  reconPayment,
  type ReconOrder,
  type ReconPayment,
} from "../../src/projections/refund-states.js";
import { seededRandom } from "../support/random.js";

const pick = <T>(rnd: () => number, list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;

function orderEvent(rnd: () => number, i: number): OrderEvent {
  const at = new Date(Date.UTC(2026, 2, 1, 0, i)).toISOString();
  const refundId = pick(rnd, ["rf1", "rf2", "rf3"]);
  const returnId = pick(rnd, ["ret1", "ret2"]);
  const amount = 100 * (1 + Math.floor(rnd() * 50));
  const events = [
    {
      type: "OrderPlaced",
      data: {
        orderId: `o${i}`,
        customerId: "c",
        lines: [{ sku: "S", quantity: 1, unitPrice: 5_000 }],
        subtotal: 5_000,
        discountAmount: 0,
        totalAmount: 5_000,
        currency: "INR",
        paymentMethod: "UPI",
        paymentRequired: rnd() < 0.5,
        shippingAddress: { name: "A", line1: "1", city: "Pune", state: "MH", pincode: "411001", phone: "9999999999" },
        at,
      },
    },
    { type: "OrderPaymentPending", data: { orderId: "o", paymentId: "p", paymentUrl: "http://gw/p", at } },
    { type: "OrderConfirmed", data: rnd() < 0.5 ? { orderId: "o", at } : { orderId: "o", paymentId: "p", capturedAmount: amount, at } },
    { type: "OrderProcessingStarted", data: { orderId: "o", shipmentId: "s", warehouseId: "W", at } },
    { type: "OrderShipped", data: { orderId: "o", carrier: "C", trackingNumber: "T", at } },
    { type: "OrderDelivered", data: { orderId: "o", at } },
    { type: "OrderCancelled", data: { orderId: "o", reason: "r", at } },
    { type: "OrderReturnRequested", data: { orderId: "o", returnId, lines: [], reason: "r", refundAmount: amount, at } },
    { type: "OrderReturnReceived", data: { orderId: "o", returnId, at } },
    { type: "OrderReturned", data: { orderId: "o", returnId, fullyReturned: rnd() < 0.5, refundId, at } },
    { type: "OrderPaymentFailed", data: { orderId: "o", at } },
    { type: "OrderPaymentVoided", data: { orderId: "o", at } },
    { type: "OrderPaymentCaptured", data: { orderId: "o", amount, at } },
    { type: "OrderRefundRequested", data: { orderId: "o", refundId, amount, reason: "r", at } },
    { type: "OrderRefundProcessed", data: { orderId: "o", refundId, amount, at } },
    { type: "OrderRefundFailed", data: { orderId: "o", refundId, at } },
  ];
  return pick(rnd, events) as unknown as OrderEvent;
}

function paymentEvent(rnd: () => number, i: number): PaymentEvent {
  const at = new Date(Date.UTC(2026, 2, 1, 0, i)).toISOString();
  const refundId = pick(rnd, ["rf1", "rf2", "rf3"]);
  const amount = 100 * (1 + Math.floor(rnd() * 50));
  const gatewayEventId = `g${i}`;
  const ids = { paymentId: "p", orderId: "o" };
  const events = [
    { type: "PaymentInitiated", data: { paymentId: `p${i}`, orderId: `o${i}`, amount: 5_000, currency: "INR", method: "UPI", at } },
    { type: "PaymentAuthorized", data: { ...ids, gatewayEventId, gatewayPaymentId: "gp", at } },
    { type: "PaymentCaptured", data: { ...ids, gatewayEventId, amount, currency: "INR", at } },
    { type: "CaptureAfterVoidFlagged", data: { ...ids, amount, at } },
    { type: "PaymentFailed", data: { ...ids, gatewayEventId, reason: "r", at } },
    { type: "PaymentVoided", data: { ...ids, reason: "r", at } },
    { type: "RefundRequested", data: { ...ids, refundId, amount, reason: "r", at } },
    { type: "RefundProcessed", data: { ...ids, refundId, gatewayEventId, amount, at } },
    { type: "RefundFailed", data: { ...ids, refundId, gatewayEventId, reason: `bank ${i}`, at } },
    { type: "GatewayEventIgnored", data: { ...ids, gatewayEventId, gatewayEventType: "payment.captured", reason: "STALE", at } },
  ];
  return pick(rnd, events) as unknown as PaymentEvent;
}

const orderFields = (s: OrderState): ReconOrder | undefined =>
  s.status === "NONE" ? undefined : { orderId: s.orderId, status: s.status, refundedAmount: s.refundedAmount };
const paymentFields = (s: PaymentState): ReconPayment | undefined =>
  s.status === "NONE"
    ? undefined
    : {
        paymentId: s.paymentId,
        orderId: s.orderId,
        capturedAmount: s.capturedAmount,
        refundedAmount: s.refundedAmount,
        refunds: s.refunds,
        captureAfterVoid: s.captureAfterVoid,
      };

describe("refunds read model states", () => {
  it("fold an order's events to the fields of the aggregate's state reconciliation reads", () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rnd = seededRandom(seed);
      let whole: OrderState = orderDecider.initialState;
      let slim: ReconOrder | undefined;
      for (let i = 0; i < 40; i++) {
        const event = orderEvent(rnd, i);
        whole = orderDecider.evolve(whole, event);
        slim = evolveReconOrder(slim, event);
        expect(slim, `seed ${seed}, event ${i} (${event.type})`).toEqual(orderFields(whole));
      }
      if (whole.status !== "NONE") expect(reconOrder(JSON.stringify(whole))).toEqual(slim);
    }
  });

  it("fold a payment's events to the fields of the aggregate's state reconciliation reads", () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rnd = seededRandom(seed);
      let whole: PaymentState = paymentDecider.initialState;
      let slim: ReconPayment | undefined;
      for (let i = 0; i < 40; i++) {
        const event = paymentEvent(rnd, i);
        whole = paymentDecider.evolve(whole, event);
        slim = evolveReconPayment(slim, event);
        expect(slim, `seed ${seed}, event ${i} (${event.type})`).toEqual(paymentFields(whole));
      }
      // A row stored before the change held the whole state as JSON (its set of gateway events a list).
      if (whole.status !== "NONE") expect(reconPayment({ ...whole, seenGatewayEvents: [...whole.seenGatewayEvents] })).toEqual(slim);
    }
  });
});
