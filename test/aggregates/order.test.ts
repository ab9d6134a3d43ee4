import { describe, expect, it } from "vitest";
import {
  orderDecider,
  refundableFor,
  streamId,
  type Order,
  type OrderCommand,
  type OrderEvent,
  type OrderState,
  type OrderStatus,
} from "../../src/aggregates/order.js";
import { specFor } from "./given-when-then.js";

const { given } = specFor(orderDecider);

const at = "2026-01-01T10:00:00.000Z";
const deliveredAt = "2026-01-05T10:00:00.000Z";
const TEN_DAYS = 10 * 24 * 60 * 60 * 1000;
const orderId = "o-1";
const address = { name: "Asha", line1: "1 MG Road", city: "Bengaluru", state: "KA", pincode: "560001", phone: "+919800000000" };

const c = <T extends OrderCommand["type"]>(
  type: T,
  rest: Omit<Extract<OrderCommand, { type: T }>, "type" | "orderId" | "at"> & { at?: string },
) => ({ type, orderId, at, ...rest }) as Extract<OrderCommand, { type: T }>;

const place = c("PlaceOrder", {
  customerId: "c-1",
  lines: [
    { sku: "A", quantity: 2, unitPrice: 50_000 },
    { sku: "B", quantity: 1, unitPrice: 20_000 },
  ],
  discountAmount: 12_000,
  couponCode: "TEN",
  paymentMethod: "UPI",
  shippingAddress: address,
});
const placed: OrderEvent = {
  type: "OrderPlaced",
  data: {
    orderId,
    customerId: "c-1",
    lines: [
      { sku: "A", quantity: 2, unitPrice: 50_000 },
      { sku: "B", quantity: 1, unitPrice: 20_000 },
    ],
    subtotal: 120_000,
    discountAmount: 12_000,
    totalAmount: 108_000,
    currency: "INR",
    couponCode: "TEN",
    paymentMethod: "UPI",
    paymentRequired: true,
    shippingAddress: address,
    at,
  },
};
const placedCod: OrderEvent = {
  type: "OrderPlaced",
  data: { ...(placed.data as Extract<OrderEvent, { type: "OrderPlaced" }>["data"]), paymentMethod: "COD", paymentRequired: false },
};
const paymentPending: OrderEvent = {
  type: "OrderPaymentPending",
  data: { orderId, paymentId: "pay-1", paymentUrl: "https://pay.example/1", at },
};
const confirmed: OrderEvent = { type: "OrderConfirmed", data: { orderId, paymentId: "pay-1", capturedAmount: 108_000, at } };
const processing: OrderEvent = { type: "OrderProcessingStarted", data: { orderId, shipmentId: "sh-1", warehouseId: "BLR-1", at } };
const shipped: OrderEvent = { type: "OrderShipped", data: { orderId, carrier: "Ekart", trackingNumber: "EK123", at } };
const delivered: OrderEvent = { type: "OrderDelivered", data: { orderId, at: deliveredAt } };
const cancelled: OrderEvent = {
  type: "OrderCancelled",
  data: { orderId, reason: "PAYMENT_TIMEOUT", previousStatus: "PAYMENT_PENDING", refundDue: 0, at },
};
const returnAll: OrderEvent = {
  type: "OrderReturnRequested",
  data: {
    orderId,
    returnId: "ret-1",
    lines: [
      { sku: "A", quantity: 2, unitPrice: 50_000 },
      { sku: "B", quantity: 1, unitPrice: 20_000 },
    ],
    reason: "DAMAGED",
    refundAmount: 108_000,
    at: deliveredAt,
  },
};
const returnReceived: OrderEvent = { type: "OrderReturnReceived", data: { orderId, returnId: "ret-1", at: deliveredAt } };
const returnedAll: OrderEvent = { type: "OrderReturned", data: { orderId, returnId: "ret-1", fullyReturned: true, at: deliveredAt } };
const refundRequested = (refundId: string, amount: number, returnId?: string): OrderEvent => ({
  type: "OrderRefundRequested",
  data: { orderId, refundId, amount, reason: "RETURN", ...(returnId ? { returnId } : {}), at },
});

const history: Record<OrderStatus, OrderEvent[]> = {
  CREATED: [placed],
  PAYMENT_PENDING: [placed, paymentPending],
  CONFIRMED: [placed, paymentPending, confirmed],
  PROCESSING: [placed, paymentPending, confirmed, processing],
  SHIPPED: [placed, paymentPending, confirmed, processing, shipped],
  DELIVERED: [placed, paymentPending, confirmed, processing, shipped, delivered],
  CANCELLED: [placed, paymentPending, cancelled],
  RETURN_REQUESTED: [placed, paymentPending, confirmed, processing, shipped, delivered, returnAll],
  RETURNED: [placed, paymentPending, confirmed, processing, shipped, delivered, returnAll, returnReceived, returnedAll],
};
const ALL = Object.keys(history) as OrderStatus[];

const order = (state: OrderState): Order => {
  if (state.status === "NONE") throw new Error("no order");
  return state;
};

/** Every status outside `allowed` rejects the command as an illegal transition naming the status. */
function rejectsOutside(command: OrderCommand, allowed: readonly OrderStatus[]): void {
  for (const status of ALL.filter((s) => !allowed.includes(s)))
    given(history[status]).when(command).thenThrows("illegal_transition", status);
}

describe("Order stream id", () => {
  it("is order-<orderId>", () => expect(streamId("o-1")).toBe("order-o-1"));
});

describe("PlaceOrder", () => {
  it("places an order with totals computed from the catalog prices", () => {
    const { state } = given([]).when(place).then([placed]);
    expect(order(state)).toMatchObject({
      status: "CREATED",
      paymentStatus: "PENDING",
      fulfillmentStatus: "UNFULFILLED",
      subtotal: 120_000,
      discountAmount: 12_000,
      totalAmount: 108_000,
      capturedAmount: 0,
      refundedAmount: 0,
      placedAt: at,
    });
  });
  it("places a COD order that needs no online payment", () => {
    const { state } = given([])
      .when({ ...place, paymentMethod: "COD" })
      .then([placedCod]);
    expect(order(state).paymentStatus).toBe("NOT_REQUIRED");
  });
  it("places a zero-total order that needs no payment, without discount", () => {
    const { state } = given([])
      .when({
        ...place,
        lines: [{ sku: "A", quantity: 1, unitPrice: 100 }],
        discountAmount: 100,
        couponCode: undefined as never,
        shippingAddress: { ...address, line2: "Flat 2" },
      })
      .then([
        {
          type: "OrderPlaced",
          data: {
            orderId,
            customerId: "c-1",
            lines: [{ sku: "A", quantity: 1, unitPrice: 100 }],
            subtotal: 100,
            discountAmount: 100,
            totalAmount: 0,
            currency: "INR",
            paymentMethod: "UPI",
            paymentRequired: false,
            shippingAddress: { ...address, line2: "Flat 2" },
            at,
          },
        },
      ]);
    expect(order(state).paymentStatus).toBe("NOT_REQUIRED");
  });
  it("places an order without a discount", () => {
    const { discountAmount: _none, couponCode: _code, ...noDiscount } = place;
    const { couponCode: _c, ...data } = placed.data as Extract<OrderEvent, { type: "OrderPlaced" }>["data"];
    const { state } = given([])
      .when(noDiscount)
      .then([{ type: "OrderPlaced", data: { ...data, discountAmount: 0, totalAmount: 120_000 } }]);
    expect(order(state).totalAmount).toBe(120_000);
  });
  it("rejects placing the same order twice", () => {
    given([placed]).when(place).thenThrows("order_already_placed", "CREATED");
  });
  it("rejects bad lines, amounts, methods and addresses", () => {
    const g = given([]);
    g.when({ ...place, lines: [] }).thenThrows("invalid_field", "NONE");
    g.when({ ...place, lines: undefined as never }).thenThrows("invalid_field");
    g.when({ ...place, lines: [{ sku: "A", quantity: 0, unitPrice: 1 }] }).thenThrows("invalid_quantity");
    g.when({ ...place, lines: [{ sku: "A", quantity: 2.5, unitPrice: 1 }] }).thenThrows("invalid_quantity");
    g.when({ ...place, lines: [{ sku: "A", quantity: 1, unitPrice: 10.25 }] }).thenThrows("invalid_amount");
    g.when({ ...place, lines: [{ sku: "", quantity: 1, unitPrice: 1 }] }).thenThrows("invalid_field");
    g.when({
      ...place,
      lines: [
        { sku: "A", quantity: 1, unitPrice: 1 },
        { sku: "A", quantity: 1, unitPrice: 1 },
      ],
    }).thenThrows("invalid_duplicate");
    g.when({ ...place, lines: [{ sku: "A", quantity: 2 ** 40, unitPrice: 2 ** 20 }] }).thenThrows("invalid_amount");
    g.when({ ...place, discountAmount: 120_001 }).thenThrows("invalid_amount");
    g.when({ ...place, discountAmount: -1 }).thenThrows("invalid_amount");
    g.when({ ...place, paymentMethod: "BITCOIN" as never }).thenThrows("invalid_payment_method");
    g.when({ ...place, currency: "US" }).thenThrows("invalid_currency");
    g.when({ ...place, customerId: "" }).thenThrows("invalid_field");
    g.when({ ...place, shippingAddress: undefined as never }).thenThrows("invalid_field");
    g.when({ ...place, shippingAddress: { ...address, pincode: "" } }).thenThrows("invalid_field");
    g.when({ ...place, shippingAddress: { ...address, line2: 7 as never } }).thenThrows("invalid_field");
    g.when({ ...place, orderId: "" }).thenThrows("invalid_field");
    g.when({ ...place, at: "tomorrow" }).thenThrows("invalid_time");
  });
});

describe("commands on a missing or different order", () => {
  it("rejects them", () => {
    given([]).when(c("DeliverOrder", {})).thenThrows("order_not_found", "NONE");
    given([placed])
      .when({ ...c("DeliverOrder", {}), orderId: "o-2" })
      .thenThrows("wrong_stream", "CREATED");
  });
});

describe("MarkPaymentPending", () => {
  const cmd = c("MarkPaymentPending", { paymentId: "pay-1", paymentUrl: "https://pay.example/1" });
  it("moves a created order to payment pending with its payment link", () => {
    const { state } = given([placed]).when(cmd).then([paymentPending]);
    expect(order(state)).toMatchObject({
      status: "PAYMENT_PENDING",
      paymentStatus: "PENDING",
      fulfillmentStatus: "RESERVED",
      payment: { paymentId: "pay-1", paymentUrl: "https://pay.example/1" },
    });
  });
  it("works without a payment url", () => {
    given([placed])
      .when(c("MarkPaymentPending", { paymentId: "pay-1" }))
      .then([{ type: "OrderPaymentPending", data: { orderId, paymentId: "pay-1", at } }]);
  });
  it("rejects COD orders and a missing payment id", () => {
    given([placedCod]).when(cmd).thenThrows("payment_not_required", "CREATED");
    given([placed])
      .when(c("MarkPaymentPending", { paymentId: "" }))
      .thenThrows("invalid_field");
  });
  it("is rejected in every other status", () => rejectsOutside(cmd, ["CREATED"]));
});

describe("ConfirmOrder", () => {
  const cmd = c("ConfirmOrder", { payment: { paymentId: "pay-1", amount: 108_000 } });
  it("confirms a prepaid order on its capture", () => {
    const { state } = given(history.PAYMENT_PENDING).when(cmd).then([confirmed]);
    expect(order(state)).toMatchObject({
      status: "CONFIRMED",
      paymentStatus: "CAPTURED",
      capturedAmount: 108_000,
      fulfillmentStatus: "RESERVED",
    });
  });
  it("confirms a COD order straight from created", () => {
    const { state } = given([placedCod])
      .when(c("ConfirmOrder", {}))
      .then([{ type: "OrderConfirmed", data: { orderId, capturedAmount: 0, at } }]);
    expect(order(state)).toMatchObject({ status: "CONFIRMED", paymentStatus: "NOT_REQUIRED", fulfillmentStatus: "RESERVED" });
  });
  it("rejects a COD confirmation carrying a payment or in another status", () => {
    given([placedCod]).when(cmd).thenThrows("payment_not_required", "CREATED");
    given([placedCod, { type: "OrderConfirmed", data: { orderId, capturedAmount: 0, at } }])
      .when(c("ConfirmOrder", {}))
      .thenThrows("illegal_transition", "CONFIRMED");
  });
  it("rejects a prepaid confirmation without the capture, of another payment, or of another amount", () => {
    given(history.PAYMENT_PENDING).when(c("ConfirmOrder", {})).thenThrows("payment_required", "PAYMENT_PENDING");
    given(history.PAYMENT_PENDING)
      .when(c("ConfirmOrder", { payment: { paymentId: "pay-2", amount: 108_000 } }))
      .thenThrows("payment_mismatch", "PAYMENT_PENDING");
    given(history.PAYMENT_PENDING)
      .when(c("ConfirmOrder", { payment: { paymentId: "pay-1", amount: 100_000 } }))
      .thenThrows("capture_amount_mismatch", "PAYMENT_PENDING");
    given(history.PAYMENT_PENDING)
      .when(c("ConfirmOrder", { payment: { paymentId: "pay-1", amount: 0 } }))
      .thenThrows("invalid_amount");
  });
  it("is rejected in every other status", () => rejectsOutside(cmd, ["PAYMENT_PENDING"]));
});

describe("StartProcessing", () => {
  const cmd = c("StartProcessing", { shipmentId: "sh-1", warehouseId: "BLR-1" });
  it("starts processing a confirmed order (shipment allocated)", () => {
    const { state } = given(history.CONFIRMED).when(cmd).then([processing]);
    expect(order(state)).toMatchObject({
      status: "PROCESSING",
      fulfillmentStatus: "ALLOCATED",
      shipment: { shipmentId: "sh-1", warehouseId: "BLR-1" },
    });
  });
  it("works without shipment details", () => {
    const { state } = given(history.CONFIRMED)
      .when(c("StartProcessing", {}))
      .then([{ type: "OrderProcessingStarted", data: { orderId, at } }]);
    expect(order(state).shipment).toEqual({});
  });
  it("is rejected in every other status", () => rejectsOutside(cmd, ["CONFIRMED"]));
});

describe("ShipOrder", () => {
  const cmd = c("ShipOrder", { carrier: "Ekart", trackingNumber: "EK123" });
  it("ships a processing order", () => {
    const { state } = given(history.PROCESSING).when(cmd).then([shipped]);
    expect(order(state)).toMatchObject({
      status: "SHIPPED",
      fulfillmentStatus: "SHIPPED",
      shipment: { shipmentId: "sh-1", carrier: "Ekart", trackingNumber: "EK123" },
    });
  });
  it("requires carrier and tracking number", () => {
    given(history.PROCESSING)
      .when(c("ShipOrder", { carrier: "", trackingNumber: "EK123" }))
      .thenThrows("invalid_field", "PROCESSING");
    given(history.PROCESSING)
      .when(c("ShipOrder", { carrier: "Ekart", trackingNumber: " " }))
      .thenThrows("invalid_field");
  });
  it("is rejected in every other status (a cancelled order cannot ship)", () => rejectsOutside(cmd, ["PROCESSING"]));
});

describe("DeliverOrder", () => {
  const cmd = c("DeliverOrder", { at: deliveredAt });
  it("delivers a shipped order", () => {
    const { state } = given(history.SHIPPED).when(cmd).then([delivered]);
    expect(order(state)).toMatchObject({ status: "DELIVERED", fulfillmentStatus: "DELIVERED", deliveredAt });
  });
  it("is rejected in every other status", () => rejectsOutside(cmd, ["SHIPPED"]));
});

describe("CancelOrder", () => {
  const cmd = c("CancelOrder", { reason: "CUSTOMER_REQUEST" });
  it("cancels a created order; a prepaid order that never started paying owes nothing", () => {
    const { state } = given([placed])
      .when(c("CancelOrder", { reason: "OUT_OF_STOCK", note: "A unavailable" }))
      .then([
        {
          type: "OrderCancelled",
          data: { orderId, reason: "OUT_OF_STOCK", previousStatus: "CREATED", refundDue: 0, note: "A unavailable", at },
        },
      ]);
    expect(order(state)).toMatchObject({
      status: "CANCELLED",
      fulfillmentStatus: "CANCELLED",
      cancellationReason: "OUT_OF_STOCK",
      paymentStatus: "NOT_REQUIRED",
    });
  });
  it("cancels while payment is pending and keeps the payment pending until it is voided", () => {
    const { state } = given(history.PAYMENT_PENDING)
      .when(c("CancelOrder", { reason: "PAYMENT_TIMEOUT" }))
      .then([cancelled]);
    expect(order(state).paymentStatus).toBe("PENDING");
  });
  it("cancels a confirmed or processing order with the full capture due back", () => {
    given(history.CONFIRMED)
      .when(cmd)
      .then([
        { type: "OrderCancelled", data: { orderId, reason: "CUSTOMER_REQUEST", previousStatus: "CONFIRMED", refundDue: 108_000, at } },
      ]);
    given(history.PROCESSING)
      .when(cmd)
      .then([
        { type: "OrderCancelled", data: { orderId, reason: "CUSTOMER_REQUEST", previousStatus: "PROCESSING", refundDue: 108_000, at } },
      ]);
  });
  it("rejects an unknown reason", () => {
    given([placed])
      .when(c("CancelOrder", { reason: "BORED" as never }))
      .thenThrows("invalid_reason", "CREATED");
  });
  it("is rejected from SHIPPED on", () => rejectsOutside(cmd, ["CREATED", "PAYMENT_PENDING", "CONFIRMED", "PROCESSING"]));
});

describe("RequestReturn", () => {
  const returnA = c("RequestReturn", {
    returnId: "ret-1",
    lines: [{ sku: "A", quantity: 1 }],
    reason: "DAMAGED",
    returnWindowMs: TEN_DAYS,
    at: deliveredAt,
  });
  it("requests a partial return with the line's value less its share of the discount", () => {
    const { state } = given(history.DELIVERED)
      .when(returnA)
      .then([
        {
          type: "OrderReturnRequested",
          data: {
            orderId,
            returnId: "ret-1",
            lines: [{ sku: "A", quantity: 1, unitPrice: 50_000 }],
            reason: "DAMAGED",
            refundAmount: 45_000,
            at: deliveredAt,
          },
        },
      ]);
    expect(order(state)).toMatchObject({ status: "RETURN_REQUESTED", fulfillmentStatus: "RETURN_REQUESTED" });
    expect(order(state).returns).toEqual([
      {
        returnId: "ret-1",
        lines: [{ sku: "A", quantity: 1, unitPrice: 50_000 }],
        reason: "DAMAGED",
        refundAmount: 45_000,
        status: "REQUESTED",
        requestedAt: deliveredAt,
      },
    ]);
  });
  it("accepts the last instant of the window and rejects the next", () => {
    const last = new Date(Date.parse(deliveredAt) + TEN_DAYS).toISOString();
    const next = new Date(Date.parse(deliveredAt) + TEN_DAYS + 1).toISOString();
    given(history.DELIVERED)
      .when({ ...returnA, at: last })
      .then([
        {
          type: "OrderReturnRequested",
          data: {
            orderId,
            returnId: "ret-1",
            lines: [{ sku: "A", quantity: 1, unitPrice: 50_000 }],
            reason: "DAMAGED",
            refundAmount: 45_000,
            at: last,
          },
        },
      ]);
    given(history.DELIVERED)
      .when({ ...returnA, at: next })
      .thenThrows("return_window_closed", "DELIVERED");
  });
  it("allows a second return of what is left after a partial return, and never more than bought", () => {
    const partial: OrderEvent[] = [
      ...history.DELIVERED,
      {
        type: "OrderReturnRequested",
        data: {
          orderId,
          returnId: "ret-1",
          lines: [{ sku: "A", quantity: 1, unitPrice: 50_000 }],
          reason: "DAMAGED",
          refundAmount: 45_000,
          at: deliveredAt,
        },
      },
      { type: "OrderReturnReceived", data: { orderId, returnId: "ret-1", at: deliveredAt } },
      { type: "OrderReturned", data: { orderId, returnId: "ret-1", fullyReturned: false, at: deliveredAt } },
    ];
    expect(order(given(partial).state)).toMatchObject({ status: "DELIVERED", fulfillmentStatus: "PARTIALLY_RETURNED" });
    given(partial)
      .when({ ...returnA, returnId: "ret-2", lines: [{ sku: "A", quantity: 2 }] })
      .thenThrows("return_quantity_exceeds_purchase", "DELIVERED");
    given(partial)
      .when({ ...returnA, returnId: "ret-1" })
      .thenThrows("duplicate_return_id");
    const { state } = given(partial)
      .when({
        ...returnA,
        returnId: "ret-2",
        lines: [
          { sku: "A", quantity: 1 },
          { sku: "B", quantity: 1 },
        ],
      })
      .then([
        {
          type: "OrderReturnRequested",
          data: {
            orderId,
            returnId: "ret-2",
            lines: [
              { sku: "A", quantity: 1, unitPrice: 50_000 },
              { sku: "B", quantity: 1, unitPrice: 20_000 },
            ],
            reason: "DAMAGED",
            refundAmount: 63_000,
            at: deliveredAt,
          },
        },
      ]);
    // Both returns together refund exactly what was paid.
    expect(order(state).returns.reduce((sum, r) => sum + r.refundAmount, 0)).toBe(108_000);
  });
  it("rejects bad return lines", () => {
    const g = given(history.DELIVERED);
    g.when({ ...returnA, lines: [] }).thenThrows("invalid_field");
    g.when({ ...returnA, lines: [{ sku: "Z", quantity: 1 }] }).thenThrows("unknown_sku");
    g.when({ ...returnA, lines: [{ sku: "A", quantity: 0 }] }).thenThrows("invalid_quantity");
    g.when({
      ...returnA,
      lines: [
        { sku: "A", quantity: 1 },
        { sku: "A", quantity: 1 },
      ],
    }).thenThrows("invalid_duplicate");
    g.when({ ...returnA, lines: [{ sku: "B", quantity: 2 }] }).thenThrows("return_quantity_exceeds_purchase");
    g.when({ ...returnA, returnId: "" }).thenThrows("invalid_field");
    g.when({ ...returnA, reason: "" }).thenThrows("invalid_field");
    g.when({ ...returnA, returnWindowMs: -1 }).thenThrows("invalid_field");
  });
  it("is rejected unless delivered", () => rejectsOutside(returnA, ["DELIVERED"]));
});

describe("refund amounts of returns", () => {
  it("telescope to the total paid whatever the split", () => {
    const o = { lines: [{ sku: "A", quantity: 3, unitPrice: 333 }], subtotal: 999, discountAmount: 100 };
    const one = refundableFor(o, new Map([["A", 1]]));
    const two = refundableFor(o, new Map([["A", 2]])) - one;
    const three = refundableFor(o, new Map([["A", 3]])) - one - two;
    expect([one, two, three]).toEqual([300, 300, 299]);
    expect(one + two + three).toBe(899);
  });
});

describe("ReceiveReturn", () => {
  const cmd = c("ReceiveReturn", { returnId: "ret-1", at: deliveredAt });
  it("records that the goods are back", () => {
    const { state } = given(history.RETURN_REQUESTED).when(cmd).then([returnReceived]);
    expect(order(state)).toMatchObject({ status: "RETURN_REQUESTED", fulfillmentStatus: "RETURN_RECEIVED" });
    expect(order(state).returns[0]?.status).toBe("RECEIVED");
  });
  it("rejects an unknown return and receiving twice", () => {
    given(history.RETURN_REQUESTED)
      .when(c("ReceiveReturn", { returnId: "ret-9" }))
      .thenThrows("return_not_found", "RETURN_REQUESTED");
    given([...history.RETURN_REQUESTED, returnReceived])
      .when(cmd)
      .thenThrows("illegal_transition", "RETURN_REQUESTED");
  });
  it("is rejected unless a return is requested", () => rejectsOutside(cmd, ["RETURN_REQUESTED"]));
});

describe("MarkReturned", () => {
  const cmd = c("MarkReturned", { returnId: "ret-1", at: deliveredAt });
  it("completes a full return: the order is RETURNED", () => {
    const { state } = given([...history.RETURN_REQUESTED, returnReceived])
      .when(cmd)
      .then([returnedAll]);
    expect(order(state)).toMatchObject({ status: "RETURNED", fulfillmentStatus: "RETURNED" });
    expect(order(state).returns[0]?.status).toBe("COMPLETED");
  });
  it("links the refund that paid for the return", () => {
    const { state } = given([...history.RETURN_REQUESTED, returnReceived, refundRequested("rf-1", 108_000, "ret-1")])
      .when(c("MarkReturned", { returnId: "ret-1", refundId: "rf-1", at: deliveredAt }))
      .then([{ type: "OrderReturned", data: { orderId, returnId: "ret-1", refundId: "rf-1", fullyReturned: true, at: deliveredAt } }]);
    expect(order(state).returns[0]).toMatchObject({ status: "COMPLETED", refundId: "rf-1" });
  });
  it("rejects before the goods are back, an unknown return and an unknown refund", () => {
    given(history.RETURN_REQUESTED).when(cmd).thenThrows("return_not_received", "RETURN_REQUESTED");
    given([...history.RETURN_REQUESTED, returnReceived])
      .when(c("MarkReturned", { returnId: "ret-9" }))
      .thenThrows("return_not_found");
    given([...history.RETURN_REQUESTED, returnReceived])
      .when(c("MarkReturned", { returnId: "ret-1", refundId: "rf-9" }))
      .thenThrows("refund_not_found");
  });
  it("is rejected unless a return is requested", () => rejectsOutside(cmd, ["RETURN_REQUESTED"]));
});

describe("RecordPaymentFailed and RecordPaymentVoided", () => {
  it("records a failed payment (the saga then cancels)", () => {
    const { state } = given(history.PAYMENT_PENDING)
      .when(c("RecordPaymentFailed", { paymentId: "pay-1", reason: "DECLINED" }))
      .then([{ type: "OrderPaymentFailed", data: { orderId, paymentId: "pay-1", reason: "DECLINED", at } }]);
    expect(order(state)).toMatchObject({ status: "PAYMENT_PENDING", paymentStatus: "FAILED" });
  });
  it("records a voided payment after cancellation", () => {
    const { state } = given(history.CANCELLED)
      .when(c("RecordPaymentVoided", { paymentId: "pay-1" }))
      .then([{ type: "OrderPaymentVoided", data: { orderId, paymentId: "pay-1", at } }]);
    expect(order(state).paymentStatus).toBe("VOIDED");
  });
  it("rejects another payment and a payment that is no longer pending", () => {
    given(history.PAYMENT_PENDING)
      .when(c("RecordPaymentFailed", { paymentId: "pay-2", reason: "x" }))
      .thenThrows("payment_mismatch");
    given([placed])
      .when(c("RecordPaymentFailed", { paymentId: "pay-1", reason: "x" }))
      .thenThrows("payment_mismatch", "CREATED");
    given(history.CONFIRMED)
      .when(c("RecordPaymentFailed", { paymentId: "pay-1", reason: "x" }))
      .thenThrows("illegal_transition", "CONFIRMED");
    given(history.CONFIRMED)
      .when(c("RecordPaymentVoided", { paymentId: "pay-1" }))
      .thenThrows("illegal_transition", "CONFIRMED");
    given(history.PAYMENT_PENDING)
      .when(c("RecordPaymentFailed", { paymentId: "pay-1", reason: "" }))
      .thenThrows("invalid_field");
  });
});

describe("RecordPaymentCaptured (a capture after cancellation)", () => {
  const cmd = c("RecordPaymentCaptured", { paymentId: "pay-1", amount: 108_000 });
  it("records the capture on a cancelled order so the refund is due", () => {
    const { state } = given(history.CANCELLED)
      .when(cmd)
      .then([{ type: "OrderPaymentCaptured", data: { orderId, paymentId: "pay-1", amount: 108_000, refundDue: 108_000, at } }]);
    expect(order(state)).toMatchObject({ status: "CANCELLED", paymentStatus: "CAPTURED", capturedAmount: 108_000 });
  });
  it("also after the payment was voided or failed", () => {
    given([...history.CANCELLED, { type: "OrderPaymentVoided", data: { orderId, paymentId: "pay-1", at } }])
      .when(cmd)
      .then([{ type: "OrderPaymentCaptured", data: { orderId, paymentId: "pay-1", amount: 108_000, refundDue: 108_000, at } }]);
  });
  it("rejects it on an order that is not cancelled, for another payment, twice, or with a bad amount", () => {
    given(history.PAYMENT_PENDING).when(cmd).thenThrows("illegal_transition", "PAYMENT_PENDING");
    given(history.CANCELLED)
      .when(c("RecordPaymentCaptured", { paymentId: "pay-2", amount: 1 }))
      .thenThrows("payment_mismatch");
    given(history.CANCELLED)
      .when(c("RecordPaymentCaptured", { paymentId: "pay-1", amount: 0 }))
      .thenThrows("invalid_amount");
    given([
      ...history.CANCELLED,
      { type: "OrderPaymentCaptured", data: { orderId, paymentId: "pay-1", amount: 108_000, refundDue: 108_000, at } },
    ])
      .when(cmd)
      .thenThrows("illegal_transition", "CANCELLED");
  });
});

describe("refunds the order shows", () => {
  const cancelledAfterCapture = [
    ...history.CONFIRMED,
    {
      type: "OrderCancelled",
      data: { orderId, reason: "CUSTOMER_REQUEST", previousStatus: "CONFIRMED", refundDue: 108_000, at },
    } as OrderEvent,
  ];
  it("records a requested refund", () => {
    const { state } = given(cancelledAfterCapture)
      .when(c("RecordRefundRequested", { refundId: "rf-1", amount: 108_000, reason: "RETURN" }))
      .then([refundRequested("rf-1", 108_000)]);
    expect(order(state).refunds).toEqual([{ refundId: "rf-1", amount: 108_000, status: "PENDING", reason: "RETURN", requestedAt: at }]);
  });
  it("links a refund to its return", () => {
    const { state } = given([...history.RETURN_REQUESTED, returnReceived])
      .when(c("RecordRefundRequested", { refundId: "rf-1", amount: 108_000, reason: "RETURN", returnId: "ret-1" }))
      .then([refundRequested("rf-1", 108_000, "ret-1")]);
    expect(order(state).returns[0]?.refundId).toBe("rf-1");
  });
  it("is a no-op for the same refund id and amount, a conflict for another amount", () => {
    given([...cancelledAfterCapture, refundRequested("rf-1", 8_000)])
      .when(c("RecordRefundRequested", { refundId: "rf-1", amount: 8_000, reason: "x" }))
      .thenNothing();
    given([...cancelledAfterCapture, refundRequested("rf-1", 8_000)])
      .when(c("RecordRefundRequested", { refundId: "rf-1", amount: 9_000, reason: "x" }))
      .thenThrows("refund_id_conflict");
  });
  it("never promises more than the capture", () => {
    given([...cancelledAfterCapture, refundRequested("rf-1", 100_000)])
      .when(c("RecordRefundRequested", { refundId: "rf-2", amount: 8_001, reason: "x" }))
      .thenThrows("refund_exceeds_capture", "CANCELLED");
  });
  it("rejects refunds of an uncaptured order, bad input and an unknown return", () => {
    given(history.PAYMENT_PENDING)
      .when(c("RecordRefundRequested", { refundId: "rf-1", amount: 1, reason: "x" }))
      .thenThrows("illegal_transition", "PAYMENT_PENDING");
    given(cancelledAfterCapture)
      .when(c("RecordRefundRequested", { refundId: "", amount: 1, reason: "x" }))
      .thenThrows("invalid_field");
    given(cancelledAfterCapture)
      .when(c("RecordRefundRequested", { refundId: "rf-1", amount: 0, reason: "x" }))
      .thenThrows("invalid_amount");
    given(cancelledAfterCapture)
      .when(c("RecordRefundRequested", { refundId: "rf-1", amount: 1, reason: "" }))
      .thenThrows("invalid_field");
    given(cancelledAfterCapture)
      .when(c("RecordRefundRequested", { refundId: "rf-1", amount: 1, reason: "x", returnId: "ret-9" }))
      .thenThrows("return_not_found");
  });
  it("records processed refunds: partially refunded, then refunded", () => {
    const partly = given([...cancelledAfterCapture, refundRequested("rf-1", 8_000)])
      .when(c("RecordRefundProcessed", { refundId: "rf-1" }))
      .then([{ type: "OrderRefundProcessed", data: { orderId, refundId: "rf-1", amount: 8_000, at } }]);
    expect(order(partly.state)).toMatchObject({ paymentStatus: "PARTIALLY_REFUNDED", refundedAmount: 8_000 });
    expect(order(partly.state).refunds[0]).toMatchObject({ status: "PROCESSED", processedAt: at });
    const fully = given([
      ...cancelledAfterCapture,
      refundRequested("rf-1", 8_000),
      { type: "OrderRefundProcessed", data: { orderId, refundId: "rf-1", amount: 8_000, at } },
      refundRequested("rf-2", 100_000),
    ])
      .when(c("RecordRefundProcessed", { refundId: "rf-2" }))
      .then([{ type: "OrderRefundProcessed", data: { orderId, refundId: "rf-2", amount: 100_000, at } }]);
    expect(order(fully.state)).toMatchObject({ paymentStatus: "REFUNDED", refundedAmount: 108_000 });
  });
  it("records failed refunds", () => {
    const { state } = given([...cancelledAfterCapture, refundRequested("rf-1", 8_000)])
      .when(c("RecordRefundFailed", { refundId: "rf-1", reason: "BANK_DOWN" }))
      .then([{ type: "OrderRefundFailed", data: { orderId, refundId: "rf-1", amount: 8_000, reason: "BANK_DOWN", at } }]);
    expect(order(state).refunds[0]?.status).toBe("FAILED");
  });
  it("rejects settling a refund twice or an unknown one", () => {
    const settled = [
      ...cancelledAfterCapture,
      refundRequested("rf-1", 8_000),
      { type: "OrderRefundFailed", data: { orderId, refundId: "rf-1", amount: 8_000, reason: "x", at } } as OrderEvent,
    ];
    given(settled)
      .when(c("RecordRefundProcessed", { refundId: "rf-1" }))
      .thenThrows("illegal_transition", "CANCELLED");
    given(settled)
      .when(c("RecordRefundFailed", { refundId: "rf-1", reason: "x" }))
      .thenThrows("illegal_transition");
    given(cancelledAfterCapture)
      .when(c("RecordRefundProcessed", { refundId: "rf-9" }))
      .thenThrows("refund_not_found");
  });
});

describe("evolve", () => {
  it("ignores events before the order exists", () => {
    expect(orderDecider.evolve({ status: "NONE" }, delivered)).toEqual({ status: "NONE" });
  });
});
