// The order saga's decisions, given/when/then: given the inputs it has seen, when one more
// arrives, then these commands and deadlines (and this step).

import { describe, expect, it } from "vitest";
import type { OrderLine } from "../../src/aggregates/order.js";
import {
  evolveSaga,
  initialSagaState,
  planAllocations,
  react,
  type Reaction,
  type SagaCommand,
  type SagaInput,
  type SagaState,
} from "../../src/sagas/order-saga.js";

const now = "2026-03-01T10:00:00.000Z";
const ctx = { now, config: { paymentTimeoutMs: 60_000, reservationTtlMs: 120_000 } };
const O = "o1";

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
  return {
    state,
    when(input: SagaInput): Reaction {
      const r = react(state, input, ctx);
      if (!r) throw new Error("react ignored the input");
      return r;
    },
  };
}

/** A one-line summary of a command, for readable expectations. */
function show(c: SagaCommand): string {
  if (c.target === "gateway") return `gateway.${c.op}${c.op === "refund" ? ` ${c.amount}` : ""}`;
  if (c.target === "flashSale") return `flashSale.${c.op} ${c.sku}@${c.warehouseId} x${c.quantity}`;
  const cmd = c.command as unknown as Record<string, unknown>;
  const where = c.target === "inventory" ? ` ${String(cmd.sku)}@${String(cmd.warehouseId)}` : "";
  const extra =
    cmd.reason && c.target === "order" && cmd.type === "CancelOrder"
      ? ` ${String(cmd.reason)}`
      : cmd.type === "RequestRefund" || cmd.type === "RecordRefundRequested"
        ? ` ${String(cmd.amount)}`
        : cmd.quantity !== undefined
          ? ` x${String(cmd.quantity)}`
          : "";
  return `${c.target}.${String(cmd.type)}${where}${extra}`;
}
const commands = (r: Reaction) => r.commands.map(show);

const lines: OrderLine[] = [
  { sku: "A", quantity: 2, unitPrice: 1000 },
  { sku: "B", quantity: 1, unitPrice: 500 },
];
const placed = (over: Partial<Extract<SagaInput, { type: "OrderPlaced" }>["data"]> = {}): SagaInput => ({
  type: "OrderPlaced",
  data: {
    orderId: O,
    lines,
    totalAmount: 2500,
    currency: "INR",
    paymentMethod: "UPI",
    paymentRequired: true,
    at: now,
    stock: {
      A: [{ warehouseId: "w1", available: 5 }],
      B: [
        { warehouseId: "w1", available: 1 },
        { warehouseId: "w2", available: 3 },
      ],
    },
    ...over,
  },
});
const reserved = (sku: string, warehouseId: string, quantity: number): SagaInput => ({
  type: "StockReserved",
  data: { orderId: O, sku, warehouseId, quantity, expiresAt: "2026-03-01T10:02:00.000Z", at: now },
});
const rejected = (sku: string, warehouseId: string, quantity: number): SagaInput => ({
  type: "StockReservationRejected",
  data: { orderId: O, sku, warehouseId, quantity, available: 0, at: now },
});
const stock = (
  type: "StockCommitted" | "StockReleased" | "StockShipped" | "StockReservationExpired",
  sku: string,
  warehouseId: string,
  quantity: number,
): SagaInput => ({ type, data: { orderId: O, sku, warehouseId, quantity, at: now } });
const initiated: SagaInput = {
  type: "PaymentInitiated",
  data: { orderId: O, paymentId: "pay-o1", paymentUrl: "http://gw/pay-o1", at: now },
};
const captured = (amount = 2500): SagaInput => ({ type: "PaymentCaptured", data: { orderId: O, paymentId: "pay-o1", amount, at: now } });
const failed: SagaInput = { type: "PaymentFailed", data: { orderId: O, paymentId: "pay-o1", reason: "declined", at: now } };
const voided: SagaInput = { type: "PaymentVoided", data: { orderId: O, paymentId: "pay-o1", reason: "timeout", at: now } };
const cancelled = (reason: "OUT_OF_STOCK" | "PAYMENT_FAILED" | "PAYMENT_TIMEOUT" | "CUSTOMER_REQUEST"): SagaInput => ({
  type: "OrderCancelled",
  data: { orderId: O, reason, at: now },
});
const deadline = (
  kind: "paymentTimeout" | "reservationExpiry" | "retry",
  extra: { stepId?: string; attempt?: number } = {},
): SagaInput => ({
  type: "DeadlineReached",
  data: { orderId: O, kind, deadlineId: `${O}/${kind}`, dueAt: now, firedAt: "2026-03-01T10:05:00.000Z", ...extra },
});
const refundRequested = (refundId: string, amount: number): SagaInput => ({
  type: "RefundRequested",
  data: { orderId: O, paymentId: "pay-o1", refundId, amount, currency: "INR", reason: "r", at: now },
});

const reservedAll = [placed(), reserved("A", "w1", 2), reserved("B", "w2", 1)];
const paid = [...reservedAll, initiated, captured(), stock("StockCommitted", "A", "w1", 2), stock("StockCommitted", "B", "w2", 1)];

describe("order saga: the way forward", () => {
  it("OrderPlaced -> reserve every line where there is stock, and a reservation-expiry deadline", () => {
    const r = given().when(placed());
    expect(r.status).toBe("RESERVING");
    expect(commands(r)).toEqual(["inventory.ReserveStock A@w1 x2", "inventory.ReserveStock B@w2 x1"]);
    expect(r.commands.every((c) => c.commandId.startsWith("orderSaga-o1/reserve/inventory-"))).toBe(true);
    expect(r.schedule).toEqual([{ kind: "reservationExpiry", deadlineId: "o1/reservationExpiry", dueAt: "2026-03-01T10:02:00.000Z" }]);
  });

  it("a line no single warehouse can serve is split over several", () => {
    expect(
      planAllocations([{ sku: "A", quantity: 5, unitPrice: 1 }], {
        A: [
          { warehouseId: "w1", available: 3 },
          { warehouseId: "w2", available: 4 },
        ],
      }),
    ).toEqual([
      { sku: "A", warehouseId: "w2", quantity: 4 },
      { sku: "A", warehouseId: "w1", quantity: 1 },
    ]);
    // Not enough anywhere: the whole line goes to the fullest warehouse, which will reject it.
    expect(
      planAllocations([{ sku: "A", quantity: 9, unitPrice: 1 }], {
        A: [
          { warehouseId: "w1", available: 3 },
          { warehouseId: "w2", available: 4 },
        ],
      }),
    ).toEqual([{ sku: "A", warehouseId: "w2", quantity: 9 }]);
    expect(planAllocations([{ sku: "A", quantity: 1, unitPrice: 1 }], {})).toBeNull();
  });

  it("waits until every reservation is in", () => {
    const r = given(placed(), reserved("A", "w1", 2)).when(reserved("A", "w1", 2));
    expect(r).toMatchObject({ status: "RESERVING", commands: [] });
  });

  it("all reserved -> start the payment at the gateway, with a payment deadline", () => {
    const r = given(placed(), reserved("A", "w1", 2)).when(reserved("B", "w2", 1));
    expect(r.status).toBe("AWAITING_PAYMENT");
    expect(r.commands).toEqual([
      expect.objectContaining({ target: "gateway", op: "startPayment", paymentId: "pay-o1", amount: 2500, method: "UPI" }),
    ]);
    expect(r.schedule).toEqual([{ kind: "paymentTimeout", deadlineId: "o1/paymentTimeout", dueAt: "2026-03-01T10:01:00.000Z" }]);
  });

  it("PaymentInitiated -> the order is marked PAYMENT_PENDING with the paymentUrl", () => {
    const r = given(...reservedAll).when(initiated);
    expect(r.commands).toEqual([
      expect.objectContaining({
        target: "order",
        command: expect.objectContaining({ type: "MarkPaymentPending", paymentUrl: "http://gw/pay-o1" }),
      }),
    ]);
  });

  it("PaymentCaptured -> confirm, commit the stock, allocate the shipment; the deadlines are cancelled", () => {
    const r = given(...reservedAll, initiated).when(captured());
    expect(r.status).toBe("PROCESSING");
    expect(commands(r)).toEqual([
      "order.ConfirmOrder",
      "inventory.CommitReservation A@w1",
      "inventory.CommitReservation B@w2",
      "order.StartProcessing",
    ]);
    expect(r.commands[0]).toMatchObject({ command: { payment: { paymentId: "pay-o1", amount: 2500 } } });
    expect(r.cancel).toEqual(["o1/paymentTimeout", "o1/reservationExpiry"]);
  });

  it("a capture of another amount than the total cancels the order, whose cancellation refunds it", () => {
    const r = given(...reservedAll, initiated).when(captured(1000));
    expect(r.status).toBe("CANCELLING");
    expect(commands(r)).toEqual(["order.CancelOrder PAYMENT_FAILED"]);
    expect(commands(given(...reservedAll, initiated, captured(1000)).when(cancelled("PAYMENT_FAILED")))).toEqual([
      "inventory.ReleaseReservation A@w1",
      "inventory.ReleaseReservation B@w2",
      "order.RecordPaymentCaptured",
      "payment.RequestRefund 1000",
      "order.RecordRefundRequested 1000",
    ]);
  });

  it("a capture seen twice does nothing the second time", () => {
    expect(given(...paid).when(captured())).toMatchObject({ status: "PROCESSING", commands: [] });
  });

  it("COD: all reserved -> confirmed and processing at once, no payment", () => {
    const r = given(placed({ paymentMethod: "COD", paymentRequired: false }), reserved("A", "w1", 2)).when(reserved("B", "w2", 1));
    expect(r.status).toBe("PROCESSING");
    expect(commands(r)).toEqual([
      "order.ConfirmOrder",
      "inventory.CommitReservation A@w1",
      "inventory.CommitReservation B@w2",
      "order.StartProcessing",
    ]);
    expect(r.commands[0]).toMatchObject({ command: { type: "ConfirmOrder" } });
    expect((r.commands[0] as { command: { payment?: unknown } }).command.payment).toBeUndefined();
  });

  it("OrderShipped -> ship the committed stock", () => {
    const r = given(...paid).when({ type: "OrderShipped", data: { orderId: O, at: now } });
    expect(r.status).toBe("SHIPPED");
    expect(commands(r)).toEqual(["inventory.ShipStock A@w1", "inventory.ShipStock B@w2"]);
  });

  it("ReturnReceived -> restock the returned lines, refund their value, mark returned", () => {
    const delivered = [
      ...paid,
      { type: "OrderShipped", data: { orderId: O, at: now } } as SagaInput,
      stock("StockShipped", "A", "w1", 2),
      stock("StockShipped", "B", "w2", 1),
      { type: "OrderDelivered", data: { orderId: O, at: now } } as SagaInput,
    ];
    const requested: SagaInput = {
      type: "OrderReturnRequested",
      data: { orderId: O, returnId: "ret1", lines: [{ sku: "A", quantity: 1, unitPrice: 1000 }], refundAmount: 1000, at: now },
    };
    expect(given(...delivered).when(requested).status).toBe("RETURNING");
    const r = given(...delivered, requested).when({ type: "OrderReturnReceived", data: { orderId: O, returnId: "ret1", at: now } });
    expect(commands(r)).toEqual([
      "inventory.RestockReturn A@w1 x1",
      "payment.RequestRefund 1000",
      "order.RecordRefundRequested 1000",
      "order.MarkReturned",
    ]);
    expect(r.commands[3]).toMatchObject({ command: { refundId: "o1-return-ret1" } });
    expect(
      given(...delivered, requested).when({ type: "OrderReturned", data: { orderId: O, returnId: "ret1", fullyReturned: true, at: now } })
        .status,
    ).toBe("RETURNED");
    expect(
      given(...delivered, requested).when({ type: "OrderReturned", data: { orderId: O, returnId: "ret1", fullyReturned: false, at: now } })
        .status,
    ).toBe("DELIVERED");
  });
});

describe("order saga: the API ahead of the saga", () => {
  it("ReturnReceived read before the StockShipped the saga's own ShipStock produced -> still restocks", () => {
    // Shipping, delivery, the return and its receipt were appended while the saga lagged: the
    // saga reads them before the StockShipped events its ship step caused.
    const shippedOnly = [
      ...paid,
      { type: "OrderShipped", data: { orderId: O, at: now } } as SagaInput,
      { type: "OrderDelivered", data: { orderId: O, at: now } } as SagaInput,
    ];
    const requested: SagaInput = {
      type: "OrderReturnRequested",
      data: { orderId: O, returnId: "ret1", lines: [{ sku: "A", quantity: 1, unitPrice: 1000 }], refundAmount: 1000, at: now },
    };
    const r = given(...shippedOnly, requested).when({ type: "OrderReturnReceived", data: { orderId: O, returnId: "ret1", at: now } });
    expect(commands(r)).toEqual([
      "inventory.RestockReturn A@w1 x1",
      "payment.RequestRefund 1000",
      "order.RecordRefundRequested 1000",
      "order.MarkReturned",
    ]);
  });
});

describe("order saga: failures and compensations", () => {
  it("no warehouse stocks a SKU -> cancel OUT_OF_STOCK at once", () => {
    const r = given().when(placed({ stock: { A: [{ warehouseId: "w1", available: 5 }] } }));
    expect(r.status).toBe("CANCELLING");
    expect(commands(r)).toEqual(["order.CancelOrder OUT_OF_STOCK"]);
  });

  it("StockReservationRejected -> cancel OUT_OF_STOCK (the release follows OrderCancelled)", () => {
    const r = given(placed(), reserved("A", "w1", 2)).when(rejected("B", "w2", 1));
    expect(r.status).toBe("CANCELLING");
    expect(commands(r)).toEqual(["order.CancelOrder OUT_OF_STOCK"]);
  });

  it("OrderCancelled -> release every live reservation, cancel the deadlines", () => {
    const r = given(placed(), reserved("A", "w1", 2), rejected("B", "w2", 1)).when(cancelled("OUT_OF_STOCK"));
    expect(r.status).toBe("CANCELLED");
    expect(commands(r)).toEqual(["inventory.ReleaseReservation A@w1"]);
    expect(r.cancel).toEqual(["o1/paymentTimeout", "o1/reservationExpiry"]);
  });

  it("a reservation that lands after the cancellation is released", () => {
    const r = given(placed(), rejected("B", "w2", 1), cancelled("OUT_OF_STOCK"), stock("StockReleased", "A", "w1", 2)).when(
      reserved("A", "w1", 2),
    );
    expect(commands(r)).toEqual(["inventory.ReleaseReservation A@w1"]);
  });

  it("PaymentFailed -> record it on the order and cancel PAYMENT_FAILED", () => {
    const r = given(...reservedAll, initiated).when(failed);
    expect(r.status).toBe("CANCELLING");
    expect(commands(r)).toEqual(["order.RecordPaymentFailed", "order.CancelOrder PAYMENT_FAILED"]);
    // ...and the cancellation releases the stock, with no void (the payment already failed).
    expect(commands(given(...reservedAll, initiated, failed).when(cancelled("PAYMENT_FAILED")))).toEqual([
      "inventory.ReleaseReservation A@w1",
      "inventory.ReleaseReservation B@w2",
    ]);
  });

  it("a payment failure after the capture changes nothing but the record", () => {
    const r = given(...paid).when(failed);
    expect(r.status).toBe("PROCESSING");
    expect(commands(r)).toEqual(["order.RecordPaymentFailed"]);
  });

  it("payment deadline -> cancel PAYMENT_TIMEOUT; the cancellation voids the payment and releases the stock", () => {
    const r = given(...reservedAll, initiated).when(deadline("paymentTimeout"));
    expect(r.status).toBe("CANCELLING");
    expect(commands(r)).toEqual(["order.CancelOrder PAYMENT_TIMEOUT"]);
    const c = given(...reservedAll, initiated, deadline("paymentTimeout")).when(cancelled("PAYMENT_TIMEOUT"));
    expect(commands(c)).toEqual(["payment.VoidPayment", "inventory.ReleaseReservation A@w1", "inventory.ReleaseReservation B@w2"]);
  });

  it("a payment deadline after the capture is moot", () => {
    expect(given(...paid).when(deadline("paymentTimeout"))).toMatchObject({ status: "PROCESSING", commands: [] });
  });

  it("reservation expiry while unpaid -> expire the reservations and cancel", () => {
    const r = given(...reservedAll, initiated).when(deadline("reservationExpiry"));
    expect(commands(r)).toEqual([
      "inventory.ExpireReservation A@w1",
      "inventory.ExpireReservation B@w2",
      "order.CancelOrder PAYMENT_TIMEOUT",
    ]);
    expect(given(...paid).when(deadline("reservationExpiry")).commands).toEqual([]);
  });

  it("PaymentVoided -> record it on the order and void at the gateway", () => {
    expect(commands(given(...reservedAll, initiated, deadline("paymentTimeout"), cancelled("PAYMENT_TIMEOUT")).when(voided))).toEqual([
      "order.RecordPaymentVoided",
      "gateway.void",
    ]);
  });

  it("a capture after the cancellation is refunded in full", () => {
    const r = given(...reservedAll, initiated, deadline("paymentTimeout"), cancelled("PAYMENT_TIMEOUT"), voided).when(captured());
    expect(commands(r)).toEqual(["order.RecordPaymentCaptured", "payment.RequestRefund 2500", "order.RecordRefundRequested 2500"]);
    // ...once: the cancellation seen afterwards has nothing left to refund.
    expect(commands(given(...reservedAll, initiated, deadline("paymentTimeout"), captured()).when(cancelled("PAYMENT_TIMEOUT")))).toEqual([
      "inventory.ReleaseReservation A@w1",
      "inventory.ReleaseReservation B@w2",
    ]);
  });

  it("customer cancel before payment -> void and release", () => {
    expect(commands(given(...reservedAll, initiated).when(cancelled("CUSTOMER_REQUEST")))).toEqual([
      "payment.VoidPayment",
      "inventory.ReleaseReservation A@w1",
      "inventory.ReleaseReservation B@w2",
    ]);
  });

  it("customer cancel after capture -> un-commit the stock and refund in full", () => {
    const r = given(...paid).when(cancelled("CUSTOMER_REQUEST"));
    expect(r.status).toBe("CANCELLED");
    expect(commands(r)).toEqual([
      "inventory.ReleaseReservation A@w1",
      "inventory.ReleaseReservation B@w2",
      "order.RecordPaymentCaptured",
      "payment.RequestRefund 2500",
      "order.RecordRefundRequested 2500",
    ]);
  });

  it("RefundRequested -> refund at the gateway; RefundProcessed -> recorded on the order", () => {
    expect(commands(given(...paid, cancelled("CUSTOMER_REQUEST")).when(refundRequested("o1-refund-cancel", 2500)))).toEqual([
      "gateway.refund 2500",
    ]);
    expect(
      commands(
        given(...paid, cancelled("CUSTOMER_REQUEST"), refundRequested("o1-refund-cancel", 2500)).when({
          type: "RefundProcessed",
          data: { orderId: O, paymentId: "pay-o1", refundId: "o1-refund-cancel", amount: 2500, at: now },
        }),
      ),
    ).toEqual(["order.RecordRefundProcessed"]);
  });

  it("RefundFailed -> recorded and parked; resuming asks for the same amount under a new refund id", () => {
    const failedRefund: SagaInput = {
      type: "RefundFailed",
      data: { orderId: O, paymentId: "pay-o1", refundId: "o1-refund-cancel", amount: 2500, reason: "bank down", at: now },
    };
    const g = given(...paid, cancelled("CUSTOMER_REQUEST"), refundRequested("o1-refund-cancel", 2500));
    const r = g.when(failedRefund);
    expect(commands(r)).toEqual(["order.RecordRefundFailed"]);
    expect(r.park?.error).toContain("bank down");
    const after = given(...paid, cancelled("CUSTOMER_REQUEST"), refundRequested("o1-refund-cancel", 2500), failedRefund);
    expect(after.state.failure).toMatchObject({ parked: true });
    const resumed = after.when({ type: "SagaResumeRequested", data: { orderId: O, by: "ops", at: now } });
    expect(commands(resumed)).toEqual(["payment.RequestRefund 2500", "order.RecordRefundRequested 2500"]);
    expect(resumed.retryOf).toBe(after.state.failure?.stepId);
  });

  it("a gateway failure is retried by its retry deadline, and parked failures wait for a resume", () => {
    const g = given(...paid, cancelled("CUSTOMER_REQUEST"), refundRequested("o1-refund-cancel", 2500));
    const failedStep = g.state;
    const cmds = g.when(refundRequested("o1-refund-cancel", 2500)).commands;
    const withFailure = (parked: boolean) =>
      evolveSaga(failedStep, {
        type: "SagaCommandFailed",
        data: { stepId: "s-x", attempt: 2, error: "down", commands: cmds, parked, at: now },
      });
    const retry = react(withFailure(false), deadline("retry", { stepId: "s-x", attempt: 2 }), ctx);
    expect(retry?.commands.map(show)).toEqual(["gateway.refund 2500"]);
    expect(retry?.retryOf).toBe("s-x");
    expect(react(withFailure(true), deadline("retry", { stepId: "s-x", attempt: 2 }), ctx)?.commands).toEqual([]);
    expect(react(withFailure(false), deadline("retry", { stepId: "other" }), ctx)?.commands).toEqual([]);
    const recovered = evolveSaga(withFailure(true), { type: "SagaRecovered", data: { stepId: "s-x", at: now } });
    expect(recovered.failure).toBeUndefined();
  });

  it("ignores inputs for an order it never saw placed", () => {
    expect(react(initialSagaState, captured(), ctx)).toBeNull();
  });
});
