// The order and the payment as refund reconciliation reads them (src/queries/refunds.ts
// paymentMismatches): only the fields it looks at, folded from the same events by the same rules
// as the aggregates' evolve (src/aggregates/order.ts, payment.ts) restricted to those fields. The
// refunds read model stores these instead of the aggregates' whole states: a whole order (lines,
// address, shipment, returns…) and payment (gateway ids, seen gateway events…) were most of the
// bytes a rebuild wrote, and folding them most of its CPU, for five fields.
//
// The aggregates' states are these plus more, so code written against these types accepts them
// (the log scan, src/queries/refunds-from-log.ts, passes whole states), and rows stored before
// this change (whole states) still read as these (`reconOrder`, `reconPayment` keep the fields).
// test/projections/refund-states.test.ts checks the rules against the aggregates' evolve.

import type { Order, OrderEvent } from "../aggregates/order.js";
import type { Payment, PaymentEvent } from "../aggregates/payment.js";

export type ReconOrder = Pick<Order, "orderId" | "status" | "refundedAmount">;
export type ReconPayment = Pick<Payment, "paymentId" | "orderId" | "capturedAmount" | "refundedAmount" | "captureAfterVoid" | "refunds">;

/** The order's status after an event that sets it unconditionally (as evolve does). */
const STATUS_OF: Partial<Record<OrderEvent["type"], Order["status"]>> = {
  OrderPaymentPending: "PAYMENT_PENDING",
  OrderConfirmed: "CONFIRMED",
  OrderProcessingStarted: "PROCESSING",
  OrderShipped: "SHIPPED",
  OrderDelivered: "DELIVERED",
  OrderCancelled: "CANCELLED",
  OrderReturnRequested: "RETURN_REQUESTED",
};

/** The order after `event` (undefined: no order yet; events before OrderPlaced change nothing). */
export function evolveReconOrder(state: ReconOrder | undefined, event: OrderEvent): ReconOrder | undefined {
  if (event.type === "OrderPlaced") return { orderId: event.data.orderId, status: "CREATED", refundedAmount: 0 };
  if (state === undefined) return undefined;
  if (event.type === "OrderReturned") return { ...state, status: event.data.fullyReturned ? "RETURNED" : "DELIVERED" };
  if (event.type === "OrderRefundProcessed") return { ...state, refundedAmount: state.refundedAmount + event.data.amount };
  const status = STATUS_OF[event.type];
  return status === undefined ? state : { ...state, status };
}

/** The payment after `event` (undefined: not initiated yet; events before PaymentInitiated change nothing). */
export function evolveReconPayment(state: ReconPayment | undefined, event: PaymentEvent): ReconPayment | undefined {
  if (event.type === "PaymentInitiated")
    return {
      paymentId: event.data.paymentId,
      orderId: event.data.orderId,
      capturedAmount: 0,
      refundedAmount: 0,
      refunds: [],
      captureAfterVoid: false,
    };
  if (state === undefined) return undefined;
  switch (event.type) {
    case "PaymentCaptured":
      return { ...state, capturedAmount: event.data.amount };
    case "CaptureAfterVoidFlagged":
      return { ...state, captureAfterVoid: true };
    case "RefundRequested":
      return {
        ...state,
        refunds: [
          ...state.refunds,
          {
            refundId: event.data.refundId,
            amount: event.data.amount,
            status: "PENDING",
            reason: event.data.reason,
            requestedAt: event.data.at,
          },
        ],
      };
    case "RefundProcessed":
      return {
        ...state,
        refundedAmount: state.refundedAmount + event.data.amount,
        refunds: state.refunds.map((r) =>
          r.refundId === event.data.refundId ? { ...r, status: "PROCESSED", processedAt: event.data.at } : r,
        ),
      };
    case "RefundFailed":
      return {
        ...state,
        refunds: state.refunds.map((r) =>
          r.refundId === event.data.refundId ? { ...r, status: "FAILED", failureReason: event.data.reason } : r,
        ),
      };
    default:
      return state;
  }
}

const parsed = (json: unknown): Record<string, unknown> => (typeof json === "string" ? JSON.parse(json) : json) as Record<string, unknown>;

/** A stored order (this shape, or the aggregate's whole state as rows held before) as reconciliation reads it. */
export function reconOrder(json: unknown): ReconOrder {
  const o = parsed(json) as unknown as ReconOrder;
  return { orderId: o.orderId, status: o.status, refundedAmount: o.refundedAmount };
}

/** A stored payment (this shape, or the aggregate's whole state as rows held before) as reconciliation reads it. */
export function reconPayment(json: unknown): ReconPayment {
  const p = parsed(json) as unknown as ReconPayment;
  return {
    paymentId: p.paymentId,
    orderId: p.orderId,
    capturedAmount: p.capturedAmount,
    refundedAmount: p.refundedAmount,
    refunds: p.refunds,
    captureAfterVoid: p.captureAfterVoid,
  };
}
