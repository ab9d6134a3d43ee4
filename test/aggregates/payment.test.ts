import { describe, expect, it } from "vitest";
import {
  committedRefunds,
  paymentDecider,
  streamId,
  type Payment,
  type PaymentCommand,
  type PaymentEvent,
  type PaymentState,
} from "../../src/aggregates/payment.js";
import { specFor } from "./given-when-then.js";

const { given } = specFor(paymentDecider);

const at = "2026-01-01T10:00:00.000Z";
const ids = { paymentId: "pay-1", orderId: "o-1" };

const initiated: PaymentEvent = {
  type: "PaymentInitiated",
  data: { ...ids, amount: 10_000, currency: "INR", method: "UPI", gatewayReference: "gw-ref-1", paymentUrl: "https://pay.example/p/1", at },
};
const authorized: PaymentEvent = { type: "PaymentAuthorized", data: { ...ids, gatewayEventId: "evt-auth", gatewayPaymentId: "gp-1", at } };
const captured = (amount = 10_000, previousStatus: Payment["status"] = "AUTHORIZED"): PaymentEvent => ({
  type: "PaymentCaptured",
  data: { ...ids, gatewayEventId: "evt-cap", amount, currency: "INR", previousStatus, at },
});
const failed: PaymentEvent = { type: "PaymentFailed", data: { ...ids, gatewayEventId: "evt-fail", reason: "DECLINED", at } };
const voided: PaymentEvent = { type: "PaymentVoided", data: { ...ids, reason: "ORDER_CANCELLED", at } };
const refundRequested = (refundId: string, amount: number, reason = "CUSTOMER_REQUEST"): PaymentEvent => ({
  type: "RefundRequested",
  data: { ...ids, refundId, amount, currency: "INR", reason, at },
});
const refundProcessed = (refundId: string, amount: number, gatewayEventId = `evt-${refundId}-ok`): PaymentEvent => ({
  type: "RefundProcessed",
  data: { ...ids, refundId, amount, gatewayEventId, at },
});
const refundFailed = (refundId: string, amount: number): PaymentEvent => ({
  type: "RefundFailed",
  data: { ...ids, refundId, amount, gatewayEventId: `evt-${refundId}-fail`, reason: "BANK_DOWN", at },
});

const c = <T extends PaymentCommand["type"]>(type: T, rest: Omit<Extract<PaymentCommand, { type: T }>, "type" | "paymentId" | "at">) =>
  ({ type, paymentId: "pay-1", at, ...rest }) as Extract<PaymentCommand, { type: T }>;

const payment = (state: PaymentState): Payment => {
  if (state.status === "NONE") throw new Error("no payment");
  return state;
};

describe("Payment stream id", () => {
  it("is payment-<paymentId>", () => expect(streamId("pay-1")).toBe("payment-pay-1"));
});

describe("InitiatePayment", () => {
  it("starts a payment for an order", () => {
    const { state } = given([])
      .when(
        c("InitiatePayment", {
          orderId: "o-1",
          amount: 10_000,
          method: "UPI",
          gatewayReference: "gw-ref-1",
          paymentUrl: "https://pay.example/p/1",
        }),
      )
      .then([initiated]);
    expect(payment(state)).toMatchObject({
      status: "INITIATED",
      amount: 10_000,
      currency: "INR",
      capturedAmount: 0,
      refundedAmount: 0,
      refunds: [],
    });
  });
  it("rejects a second initiation", () => {
    given([initiated])
      .when(c("InitiatePayment", { orderId: "o-1", amount: 10_000, method: "UPI" }))
      .thenThrows("payment_already_initiated", "INITIATED");
  });
  it("rejects bad amounts, methods and currencies", () => {
    given([])
      .when(c("InitiatePayment", { orderId: "o-1", amount: 0, method: "UPI" }))
      .thenThrows("invalid_amount");
    given([])
      .when(c("InitiatePayment", { orderId: "o-1", amount: 99.5, method: "UPI" }))
      .thenThrows("invalid_amount");
    given([])
      .when(c("InitiatePayment", { orderId: "o-1", amount: 100, method: "COD" as never }))
      .thenThrows("invalid_payment_method");
    given([])
      .when(c("InitiatePayment", { orderId: "o-1", amount: 100, method: "CHEQUE" as never }))
      .thenThrows("invalid_payment_method");
    given([])
      .when(c("InitiatePayment", { orderId: "o-1", amount: 100, method: "CARD", currency: "rupees" }))
      .thenThrows("invalid_currency");
    given([])
      .when(c("InitiatePayment", { orderId: "", amount: 100, method: "CARD" }))
      .thenThrows("invalid_field");
    given([])
      .when({ ...c("InitiatePayment", { orderId: "o-1", amount: 100, method: "CARD" }), at: "later" })
      .thenThrows("invalid_time");
  });
});

describe("commands on a payment that does not exist or another payment", () => {
  it("rejects them", () => {
    given([])
      .when(c("VoidPayment", { reason: "x" }))
      .thenThrows("payment_not_found", "NONE");
    given([initiated])
      .when({ ...c("VoidPayment", { reason: "x" }), paymentId: "pay-2" })
      .thenThrows("wrong_stream");
  });
});

describe("RecordPaymentAuthorized", () => {
  it("authorizes an initiated payment", () => {
    const { state } = given([initiated])
      .when(c("RecordPaymentAuthorized", { gatewayEventId: "evt-auth", gatewayPaymentId: "gp-1" }))
      .then([authorized]);
    expect(payment(state)).toMatchObject({ status: "AUTHORIZED", gatewayPaymentId: "gp-1" });
  });
  it("ignores a repeated gateway event id", () => {
    given([initiated, authorized])
      .when(c("RecordPaymentAuthorized", { gatewayEventId: "evt-auth" }))
      .thenNothing();
  });
  it("records a late authorization after capture as ignored", () => {
    const { state } = given([initiated, captured(10_000, "INITIATED")])
      .when(c("RecordPaymentAuthorized", { gatewayEventId: "evt-auth-late" }))
      .then([
        {
          type: "GatewayEventIgnored",
          data: {
            ...ids,
            gatewayEventId: "evt-auth-late",
            gatewayEventType: "payment.authorized",
            reason: "STALE",
            statusAtArrival: "CAPTURED",
            at,
          },
        },
      ]);
    expect(payment(state).status).toBe("CAPTURED");
    expect(payment(state).seenGatewayEvents.has("evt-auth-late")).toBe(true);
  });
  it("rejects an empty gateway event id", () => {
    given([initiated])
      .when(c("RecordPaymentAuthorized", { gatewayEventId: "" }))
      .thenThrows("invalid_field");
  });
});

describe("RecordPaymentCaptured", () => {
  it("captures an authorized payment", () => {
    const { state } = given([initiated, authorized])
      .when(c("RecordPaymentCaptured", { gatewayEventId: "evt-cap", amount: 10_000 }))
      .then([captured()]);
    expect(payment(state)).toMatchObject({ status: "CAPTURED", capturedAmount: 10_000 });
  });
  it("captures straight from initiated and keeps the gateway payment id", () => {
    const { state } = given([initiated])
      .when(c("RecordPaymentCaptured", { gatewayEventId: "evt-cap", amount: 10_000, gatewayPaymentId: "gp-9", currency: "INR" }))
      .then([
        {
          type: "PaymentCaptured",
          data: {
            ...ids,
            gatewayEventId: "evt-cap",
            gatewayPaymentId: "gp-9",
            amount: 10_000,
            currency: "INR",
            previousStatus: "INITIATED",
            at,
          },
        },
      ]);
    expect(payment(state).gatewayPaymentId).toBe("gp-9");
  });
  it("records money that arrives after a failure (the order saga refunds it)", () => {
    given([initiated, failed])
      .when(c("RecordPaymentCaptured", { gatewayEventId: "evt-cap", amount: 10_000 }))
      .then([captured(10_000, "FAILED")]);
  });
  it("records a capture after void and flags it for refund", () => {
    const { state } = given([initiated, voided])
      .when(c("RecordPaymentCaptured", { gatewayEventId: "evt-cap", amount: 10_000 }))
      .then([captured(10_000, "VOIDED"), { type: "CaptureAfterVoidFlagged", data: { ...ids, amount: 10_000, currency: "INR", at } }]);
    expect(payment(state)).toMatchObject({ status: "CAPTURED", captureAfterVoid: true, capturedAmount: 10_000 });
  });
  it("captures at most once: a second capture is recorded as ignored", () => {
    const { state } = given([initiated, captured()])
      .when(c("RecordPaymentCaptured", { gatewayEventId: "evt-cap-2", amount: 10_000 }))
      .then([
        {
          type: "GatewayEventIgnored",
          data: {
            ...ids,
            gatewayEventId: "evt-cap-2",
            gatewayEventType: "payment.captured",
            reason: "ALREADY_CAPTURED",
            statusAtArrival: "CAPTURED",
            amount: 10_000,
            at,
          },
        },
      ]);
    expect(payment(state).capturedAmount).toBe(10_000);
  });
  it("ignores a repeated capture event id", () => {
    given([initiated, captured()])
      .when(c("RecordPaymentCaptured", { gatewayEventId: "evt-cap", amount: 10_000 }))
      .thenNothing();
  });
  it("rejects a capture above the amount, in another currency, or not positive", () => {
    given([initiated])
      .when(c("RecordPaymentCaptured", { gatewayEventId: "e", amount: 10_001 }))
      .thenThrows("capture_exceeds_amount", "INITIATED");
    given([initiated])
      .when(c("RecordPaymentCaptured", { gatewayEventId: "e", amount: 10_000, currency: "USD" }))
      .thenThrows("currency_mismatch");
    given([initiated])
      .when(c("RecordPaymentCaptured", { gatewayEventId: "e", amount: 0 }))
      .thenThrows("invalid_amount");
  });
});

describe("RecordPaymentFailed", () => {
  it("fails an open payment", () => {
    const { state } = given([initiated, authorized])
      .when(c("RecordPaymentFailed", { gatewayEventId: "evt-fail", reason: "DECLINED" }))
      .then([failed]);
    expect(payment(state)).toMatchObject({ status: "FAILED", failureReason: "DECLINED" });
  });
  it("changes nothing when it arrives after the capture (recorded as ignored)", () => {
    const { state } = given([initiated, captured()])
      .when(c("RecordPaymentFailed", { gatewayEventId: "evt-fail", reason: "DECLINED" }))
      .then([
        {
          type: "GatewayEventIgnored",
          data: {
            ...ids,
            gatewayEventId: "evt-fail",
            gatewayEventType: "payment.failed",
            reason: "STALE",
            statusAtArrival: "CAPTURED",
            at,
          },
        },
      ]);
    expect(payment(state)).toMatchObject({ status: "CAPTURED", capturedAmount: 10_000 });
  });
  it("requires a reason", () => {
    given([initiated])
      .when(c("RecordPaymentFailed", { gatewayEventId: "evt-fail", reason: "" }))
      .thenThrows("invalid_field");
  });
});

describe("VoidPayment", () => {
  it("voids an open payment", () => {
    const { state } = given([initiated, authorized])
      .when(c("VoidPayment", { reason: "ORDER_CANCELLED" }))
      .then([voided]);
    expect(payment(state).status).toBe("VOIDED");
  });
  it("rejects voiding a captured, failed or voided payment", () => {
    given([initiated, captured()])
      .when(c("VoidPayment", { reason: "x" }))
      .thenThrows("illegal_transition", "CAPTURED");
    given([initiated, failed])
      .when(c("VoidPayment", { reason: "x" }))
      .thenThrows("illegal_transition", "FAILED");
    given([initiated, voided])
      .when(c("VoidPayment", { reason: "x" }))
      .thenThrows("illegal_transition", "VOIDED");
  });
});

describe("RequestRefund", () => {
  it("requests a partial refund", () => {
    const { state } = given([initiated, captured()])
      .when(c("RequestRefund", { refundId: "r-1", amount: 4_000, reason: "CUSTOMER_REQUEST" }))
      .then([refundRequested("r-1", 4_000)]);
    expect(payment(state).refunds).toEqual([
      { refundId: "r-1", amount: 4_000, status: "PENDING", reason: "CUSTOMER_REQUEST", requestedAt: at },
    ]);
    expect(committedRefunds(payment(state))).toBe(4_000);
  });
  it("is a no-op for the same refund id and amount", () => {
    given([initiated, captured(), refundRequested("r-1", 4_000)])
      .when(c("RequestRefund", { refundId: "r-1", amount: 4_000, reason: "again" }))
      .thenNothing();
  });
  it("rejects the same refund id with another amount", () => {
    given([initiated, captured(), refundRequested("r-1", 4_000)])
      .when(c("RequestRefund", { refundId: "r-1", amount: 5_000, reason: "x" }))
      .thenThrows("refund_id_conflict");
  });
  it("never promises more than the capture", () => {
    given([initiated, captured(), refundRequested("r-1", 6_000)])
      .when(c("RequestRefund", { refundId: "r-2", amount: 4_001, reason: "x" }))
      .thenThrows("refund_exceeds_capture", "CAPTURED");
    given([initiated, captured(), refundRequested("r-1", 6_000)])
      .when(c("RequestRefund", { refundId: "r-2", amount: 4_000, reason: "x" }))
      .then([refundRequested("r-2", 4_000, "x")]);
  });
  it("frees the amount of a failed refund", () => {
    given([initiated, captured(), refundRequested("r-1", 10_000), refundFailed("r-1", 10_000)])
      .when(c("RequestRefund", { refundId: "r-2", amount: 10_000, reason: "CUSTOMER_REQUEST" }))
      .then([refundRequested("r-2", 10_000)]);
  });
  it("rejects refunding a payment that was not captured", () => {
    given([initiated])
      .when(c("RequestRefund", { refundId: "r-1", amount: 1, reason: "x" }))
      .thenThrows("illegal_transition", "INITIATED");
    given([initiated, voided])
      .when(c("RequestRefund", { refundId: "r-1", amount: 1, reason: "x" }))
      .thenThrows("illegal_transition", "VOIDED");
  });
  it("rejects bad input", () => {
    given([initiated, captured()])
      .when(c("RequestRefund", { refundId: "", amount: 1, reason: "x" }))
      .thenThrows("invalid_field");
    given([initiated, captured()])
      .when(c("RequestRefund", { refundId: "r-1", amount: -1, reason: "x" }))
      .thenThrows("invalid_amount");
    given([initiated, captured()])
      .when(c("RequestRefund", { refundId: "r-1", amount: 1, reason: "" }))
      .thenThrows("invalid_field");
  });
});

describe("RecordRefundProcessed", () => {
  it("processes a partial refund", () => {
    const { state } = given([initiated, captured(), refundRequested("r-1", 4_000)])
      .when(c("RecordRefundProcessed", { refundId: "r-1", gatewayEventId: "evt-r-1-ok" }))
      .then([refundProcessed("r-1", 4_000)]);
    expect(payment(state)).toMatchObject({ status: "PARTIALLY_REFUNDED", refundedAmount: 4_000 });
    expect(payment(state).refunds[0]).toMatchObject({ status: "PROCESSED", processedAt: at });
  });
  it("marks the payment refunded when everything came back", () => {
    const { state } = given([
      initiated,
      captured(),
      refundRequested("r-1", 4_000),
      refundProcessed("r-1", 4_000),
      refundRequested("r-2", 6_000),
    ])
      .when(c("RecordRefundProcessed", { refundId: "r-2", gatewayEventId: "evt-r-2-ok" }))
      .then([refundProcessed("r-2", 6_000)]);
    expect(payment(state)).toMatchObject({ status: "REFUNDED", refundedAmount: 10_000, capturedAmount: 10_000 });
  });
  it("ignores a repeated gateway event id", () => {
    given([initiated, captured(), refundRequested("r-1", 4_000), refundProcessed("r-1", 4_000)])
      .when(c("RecordRefundProcessed", { refundId: "r-1", gatewayEventId: "evt-r-1-ok" }))
      .thenNothing();
  });
  it("records a processed notice for a failed refund as ignored", () => {
    given([initiated, captured(), refundRequested("r-1", 4_000), refundFailed("r-1", 4_000)])
      .when(c("RecordRefundProcessed", { refundId: "r-1", gatewayEventId: "evt-late" }))
      .then([
        {
          type: "GatewayEventIgnored",
          data: {
            ...ids,
            gatewayEventId: "evt-late",
            gatewayEventType: "refund.processed",
            reason: "STALE",
            statusAtArrival: "CAPTURED",
            refundId: "r-1",
            amount: 4_000,
            at,
          },
        },
      ]);
  });
  it("rejects an unknown refund", () => {
    given([initiated, captured()])
      .when(c("RecordRefundProcessed", { refundId: "r-9", gatewayEventId: "e" }))
      .thenThrows("refund_not_found", "CAPTURED");
  });
});

describe("RecordRefundFailed", () => {
  it("fails a pending refund and frees its amount", () => {
    const { state } = given([initiated, captured(), refundRequested("r-1", 4_000)])
      .when(c("RecordRefundFailed", { refundId: "r-1", gatewayEventId: "evt-r-1-fail", reason: "BANK_DOWN" }))
      .then([refundFailed("r-1", 4_000)]);
    expect(payment(state).refunds[0]).toMatchObject({ status: "FAILED", failureReason: "BANK_DOWN" });
    expect(committedRefunds(payment(state))).toBe(0);
  });
  it("records a failure notice for a processed refund as ignored", () => {
    const { state } = given([initiated, captured(), refundRequested("r-1", 4_000), refundProcessed("r-1", 4_000)])
      .when(c("RecordRefundFailed", { refundId: "r-1", gatewayEventId: "evt-late", reason: "x" }))
      .then([
        {
          type: "GatewayEventIgnored",
          data: {
            ...ids,
            gatewayEventId: "evt-late",
            gatewayEventType: "refund.failed",
            reason: "STALE",
            statusAtArrival: "PARTIALLY_REFUNDED",
            refundId: "r-1",
            amount: 4_000,
            at,
          },
        },
      ]);
    expect(payment(state).refundedAmount).toBe(4_000);
  });
  it("requires a reason", () => {
    given([initiated, captured(), refundRequested("r-1", 4_000)])
      .when(c("RecordRefundFailed", { refundId: "r-1", gatewayEventId: "e", reason: " " }))
      .thenThrows("invalid_field");
  });
});

describe("evolve", () => {
  it("ignores events before the payment exists", () => {
    expect(paymentDecider.evolve({ status: "NONE" }, voided)).toEqual({ status: "NONE" });
  });
});
