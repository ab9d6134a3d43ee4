// Order, as a decider. Stream: order-<orderId>.
//
// Three statuses are kept apart:
//   status            CREATED -> PAYMENT_PENDING -> CONFIRMED -> PROCESSING -> SHIPPED -> DELIVERED
//                     (COD and zero-total orders go CREATED -> CONFIRMED)
//                     CREATED|PAYMENT_PENDING|CONFIRMED|PROCESSING -> CANCELLED
//                     DELIVERED -> RETURN_REQUESTED -> RETURNED (everything came back)
//                                                  -> DELIVERED (part came back; more may follow)
//   paymentStatus     NOT_REQUIRED | PENDING | CAPTURED | FAILED | PARTIALLY_REFUNDED | REFUNDED | VOIDED
//   fulfillmentStatus UNFULFILLED -> RESERVED -> ALLOCATED -> SHIPPED -> DELIVERED
//                     -> RETURN_REQUESTED -> RETURN_RECEIVED -> RETURNED | PARTIALLY_RETURNED; CANCELLED
//
// The order records what the saga tells it about stock, payment and refunds; it never calls
// anything. Prices come from the catalog inside PlaceOrder; totals are computed here in integer
// minor units. A return's refund amount is the returned lines' value minus their share of the
// order discount, computed so that returning everything refunds exactly the total paid.

import { DomainError, type Decider, type DomainEvent } from "./decider.js";
import {
  illegalTransition,
  isMinorUnits,
  requireCurrency,
  requireDistinct,
  requireInstant,
  requirePaymentMethod,
  requirePositiveAmount,
  requirePositiveQuantity,
  requireText,
  type Currency,
  type PaymentMethod,
} from "./rules.js";

export const ORDER_CATEGORY = "order";

export const streamId = (orderId: string): string => `${ORDER_CATEGORY}-${orderId}`;

export const CANCELLATION_REASONS = [
  "OUT_OF_STOCK",
  "PAYMENT_FAILED",
  "PAYMENT_TIMEOUT",
  "CUSTOMER_REQUEST",
  "ADMIN_REQUEST",
  "FRAUD_SUSPECTED",
] as const;
export type CancellationReason = (typeof CANCELLATION_REASONS)[number];

export interface ShippingAddress {
  name: string;
  line1: string;
  line2?: string;
  city: string;
  state: string;
  pincode: string;
  phone: string;
}

export interface OrderLine {
  sku: string;
  quantity: number;
  /** Minor units, from the catalog when the order was placed. */
  unitPrice: number;
}

/** The flash-sale claim an order was placed with. */
export interface FlashSaleRef {
  saleId: string;
  claimId: string;
  warehouseId: string;
}

export interface ReturnLine {
  sku: string;
  quantity: number;
}

// ---------------------------------------------------------------- commands

interface OrderCommandBase {
  orderId: string;
  at: string;
}

export type OrderCommand =
  | (OrderCommandBase & {
      type: "PlaceOrder";
      customerId: string;
      lines: OrderLine[];
      currency?: Currency;
      discountAmount?: number;
      couponCode?: string;
      paymentMethod: PaymentMethod;
      shippingAddress: ShippingAddress;
      /** Placed with a flash-sale claim: its units come from the sale's reservation, at the sale price. */
      flashSale?: FlashSaleRef;
    })
  | (OrderCommandBase & { type: "MarkPaymentPending"; paymentId: string; paymentUrl?: string })
  /** `payment` is the capture that confirms a prepaid order; absent for COD and zero-total orders. */
  | (OrderCommandBase & { type: "ConfirmOrder"; payment?: { paymentId: string; amount: number } })
  | (OrderCommandBase & { type: "StartProcessing"; shipmentId?: string; warehouseId?: string })
  | (OrderCommandBase & { type: "ShipOrder"; carrier: string; trackingNumber: string })
  | (OrderCommandBase & { type: "DeliverOrder" })
  | (OrderCommandBase & { type: "CancelOrder"; reason: CancellationReason; note?: string })
  | (OrderCommandBase & { type: "RequestReturn"; returnId: string; lines: ReturnLine[]; reason: string; returnWindowMs: number })
  | (OrderCommandBase & { type: "ReceiveReturn"; returnId: string })
  | (OrderCommandBase & { type: "MarkReturned"; returnId: string; refundId?: string })
  | (OrderCommandBase & { type: "RecordPaymentFailed"; paymentId: string; reason: string })
  | (OrderCommandBase & { type: "RecordPaymentVoided"; paymentId: string })
  /** A capture that arrived after the order was cancelled: recorded so the refund is due. */
  | (OrderCommandBase & { type: "RecordPaymentCaptured"; paymentId: string; amount: number })
  | (OrderCommandBase & { type: "RecordRefundRequested"; refundId: string; amount: number; reason: string; returnId?: string })
  | (OrderCommandBase & { type: "RecordRefundProcessed"; refundId: string })
  | (OrderCommandBase & { type: "RecordRefundFailed"; refundId: string; reason: string });

// ---------------------------------------------------------------- events

export type OrderPlaced = DomainEvent<
  "OrderPlaced",
  {
    orderId: string;
    customerId: string;
    lines: OrderLine[];
    subtotal: number;
    discountAmount: number;
    totalAmount: number;
    currency: Currency;
    couponCode?: string;
    paymentMethod: PaymentMethod;
    /** false for COD and for orders whose total is zero. */
    paymentRequired: boolean;
    shippingAddress: ShippingAddress;
    flashSale?: FlashSaleRef;
    at: string;
  }
>;
export type OrderPaymentPending = DomainEvent<
  "OrderPaymentPending",
  { orderId: string; paymentId: string; paymentUrl?: string; at: string }
>;
export type OrderConfirmed = DomainEvent<"OrderConfirmed", { orderId: string; paymentId?: string; capturedAmount: number; at: string }>;
export type OrderProcessingStarted = DomainEvent<
  "OrderProcessingStarted",
  { orderId: string; shipmentId?: string; warehouseId?: string; at: string }
>;
export type OrderShipped = DomainEvent<"OrderShipped", { orderId: string; carrier: string; trackingNumber: string; at: string }>;
export type OrderDelivered = DomainEvent<"OrderDelivered", { orderId: string; at: string }>;
/** `refundDue`: captured money not yet promised back, which the saga must refund. */
export type OrderCancelled = DomainEvent<
  "OrderCancelled",
  { orderId: string; reason: CancellationReason; previousStatus: OrderStatus; refundDue: number; note?: string; at: string }
>;
export type OrderReturnRequested = DomainEvent<
  "OrderReturnRequested",
  { orderId: string; returnId: string; lines: OrderLine[]; reason: string; refundAmount: number; at: string }
>;
export type OrderReturnReceived = DomainEvent<"OrderReturnReceived", { orderId: string; returnId: string; at: string }>;
export type OrderReturned = DomainEvent<
  "OrderReturned",
  { orderId: string; returnId: string; refundId?: string; fullyReturned: boolean; at: string }
>;
export type OrderPaymentFailed = DomainEvent<"OrderPaymentFailed", { orderId: string; paymentId: string; reason: string; at: string }>;
export type OrderPaymentVoided = DomainEvent<"OrderPaymentVoided", { orderId: string; paymentId: string; at: string }>;
export type OrderPaymentCaptured = DomainEvent<
  "OrderPaymentCaptured",
  { orderId: string; paymentId: string; amount: number; refundDue: number; at: string }
>;
export type OrderRefundRequested = DomainEvent<
  "OrderRefundRequested",
  { orderId: string; refundId: string; amount: number; reason: string; returnId?: string; at: string }
>;
export type OrderRefundProcessed = DomainEvent<"OrderRefundProcessed", { orderId: string; refundId: string; amount: number; at: string }>;
export type OrderRefundFailed = DomainEvent<
  "OrderRefundFailed",
  { orderId: string; refundId: string; amount: number; reason: string; at: string }
>;

export type OrderEvent =
  | OrderPlaced
  | OrderPaymentPending
  | OrderConfirmed
  | OrderProcessingStarted
  | OrderShipped
  | OrderDelivered
  | OrderCancelled
  | OrderReturnRequested
  | OrderReturnReceived
  | OrderReturned
  | OrderPaymentFailed
  | OrderPaymentVoided
  | OrderPaymentCaptured
  | OrderRefundRequested
  | OrderRefundProcessed
  | OrderRefundFailed;

export const orderSchemaVersions: Readonly<Record<OrderEvent["type"], number>> = {
  OrderPlaced: 1,
  OrderPaymentPending: 1,
  OrderConfirmed: 1,
  OrderProcessingStarted: 1,
  OrderShipped: 1,
  OrderDelivered: 1,
  OrderCancelled: 1,
  OrderReturnRequested: 1,
  OrderReturnReceived: 1,
  OrderReturned: 1,
  OrderPaymentFailed: 1,
  OrderPaymentVoided: 1,
  OrderPaymentCaptured: 1,
  OrderRefundRequested: 1,
  OrderRefundProcessed: 1,
  OrderRefundFailed: 1,
};

// ---------------------------------------------------------------- state

export type OrderStatus =
  | "CREATED"
  | "PAYMENT_PENDING"
  | "CONFIRMED"
  | "PROCESSING"
  | "SHIPPED"
  | "DELIVERED"
  | "CANCELLED"
  | "RETURN_REQUESTED"
  | "RETURNED";
export type OrderPaymentStatus = "NOT_REQUIRED" | "PENDING" | "CAPTURED" | "FAILED" | "PARTIALLY_REFUNDED" | "REFUNDED" | "VOIDED";
export type FulfillmentStatus =
  | "UNFULFILLED"
  | "RESERVED"
  | "ALLOCATED"
  | "SHIPPED"
  | "DELIVERED"
  | "RETURN_REQUESTED"
  | "RETURN_RECEIVED"
  | "PARTIALLY_RETURNED"
  | "RETURNED"
  | "CANCELLED";

export interface OrderRefund {
  refundId: string;
  amount: number;
  status: "PENDING" | "PROCESSED" | "FAILED";
  reason: string;
  returnId?: string;
  requestedAt: string;
  processedAt?: string;
}

export interface OrderReturn {
  returnId: string;
  lines: OrderLine[];
  reason: string;
  refundAmount: number;
  status: "REQUESTED" | "RECEIVED" | "COMPLETED";
  refundId?: string;
  requestedAt: string;
}

export interface Shipment {
  shipmentId?: string;
  warehouseId?: string;
  carrier?: string;
  trackingNumber?: string;
}

export interface Order {
  status: OrderStatus;
  paymentStatus: OrderPaymentStatus;
  fulfillmentStatus: FulfillmentStatus;
  orderId: string;
  customerId: string;
  lines: readonly OrderLine[];
  subtotal: number;
  discountAmount: number;
  totalAmount: number;
  currency: Currency;
  couponCode?: string;
  paymentMethod: PaymentMethod;
  paymentRequired: boolean;
  shippingAddress: ShippingAddress;
  flashSale?: FlashSaleRef;
  payment?: { paymentId: string; paymentUrl?: string };
  capturedAmount: number;
  refundedAmount: number;
  refunds: readonly OrderRefund[];
  shipment?: Shipment;
  cancellationReason?: CancellationReason;
  returns: readonly OrderReturn[];
  placedAt: string;
  deliveredAt?: string;
  updatedAt: string;
}

export type OrderState = { status: "NONE" } | Order;

export const initialOrderState: OrderState = { status: "NONE" };

const CANCELLABLE: readonly OrderStatus[] = ["CREATED", "PAYMENT_PENDING", "CONFIRMED", "PROCESSING"];

/** Refunds requested and not failed. */
export const promisedRefunds = (o: Order): number => o.refunds.filter((r) => r.status !== "FAILED").reduce((sum, r) => sum + r.amount, 0);

/** Units of each SKU already taken back by a return (requested, received or completed). */
export function returnedQuantities(o: Order): Map<string, number> {
  const returned = new Map<string, number>();
  for (const r of o.returns) for (const l of r.lines) returned.set(l.sku, (returned.get(l.sku) ?? 0) + l.quantity);
  return returned;
}

/**
 * What returning these quantities (cumulative, per SKU) is worth: their value minus their
 * pro-rata share of the order discount, rounded down. Refunding the difference between two
 * cumulative values telescopes, so returning everything refunds exactly `totalAmount`.
 */
export function refundableFor(o: Pick<Order, "lines" | "subtotal" | "discountAmount">, quantities: ReadonlyMap<string, number>): number {
  const gross = o.lines.reduce((sum, l) => sum + (quantities.get(l.sku) ?? 0) * l.unitPrice, 0);
  const discountShare = o.subtotal === 0 ? 0 : Number((BigInt(o.discountAmount) * BigInt(gross)) / BigInt(o.subtotal));
  return gross - discountShare;
}

// ---------------------------------------------------------------- decide

function decide(command: OrderCommand, state: OrderState): OrderEvent[] {
  const orderId = requireText(command.orderId, "orderId", state.status);
  const atMs = requireInstant(command.at, "at", state.status);
  const { at } = command;

  if (command.type === "PlaceOrder") {
    if (state.status !== "NONE") throw new DomainError("order_already_placed", `order ${orderId} already exists`, state.status);
    return [placed(command)];
  }
  if (state.status === "NONE") throw new DomainError("order_not_found", `no order ${orderId}`, "NONE");
  if (orderId !== state.orderId)
    throw new DomainError("wrong_stream", `command for order ${orderId} sent to order ${state.orderId}`, state.status);
  const o = state;

  switch (command.type) {
    case "MarkPaymentPending": {
      if (o.status !== "CREATED") throw illegalTransition("MarkPaymentPending", o.status);
      if (!o.paymentRequired)
        throw new DomainError(
          "payment_not_required",
          `order ${orderId} is ${o.paymentMethod} with total ${o.totalAmount}: no online payment`,
          o.status,
        );
      const paymentId = requireText(command.paymentId, "paymentId", o.status);
      return [
        {
          type: "OrderPaymentPending",
          data: { orderId, paymentId, ...(command.paymentUrl === undefined ? {} : { paymentUrl: command.paymentUrl }), at },
        },
      ];
    }

    case "ConfirmOrder": {
      if (!o.paymentRequired) {
        if (o.status !== "CREATED") throw illegalTransition("ConfirmOrder", o.status);
        if (command.payment) throw new DomainError("payment_not_required", `order ${orderId} takes no online payment`, o.status);
        return [{ type: "OrderConfirmed", data: { orderId, capturedAmount: 0, at } }];
      }
      if (o.status !== "PAYMENT_PENDING") throw illegalTransition("ConfirmOrder", o.status);
      if (!command.payment) throw new DomainError("payment_required", `order ${orderId} is confirmed by its payment's capture`, o.status);
      const amount = requirePositiveAmount(command.payment.amount, "payment.amount", o.status);
      requirePayment(o, command.payment.paymentId);
      if (amount !== o.totalAmount)
        throw new DomainError("capture_amount_mismatch", `captured ${amount}, the order total is ${o.totalAmount}`, o.status);
      return [{ type: "OrderConfirmed", data: { orderId, paymentId: command.payment.paymentId, capturedAmount: amount, at } }];
    }

    case "StartProcessing":
      if (o.status !== "CONFIRMED") throw illegalTransition("StartProcessing", o.status);
      return [
        {
          type: "OrderProcessingStarted",
          data: {
            orderId,
            ...(command.shipmentId === undefined ? {} : { shipmentId: command.shipmentId }),
            ...(command.warehouseId === undefined ? {} : { warehouseId: command.warehouseId }),
            at,
          },
        },
      ];

    case "ShipOrder":
      if (o.status !== "PROCESSING") throw illegalTransition("ShipOrder", o.status);
      return [
        {
          type: "OrderShipped",
          data: {
            orderId,
            carrier: requireText(command.carrier, "carrier", o.status),
            trackingNumber: requireText(command.trackingNumber, "trackingNumber", o.status),
            at,
          },
        },
      ];

    case "DeliverOrder":
      if (o.status !== "SHIPPED") throw illegalTransition("DeliverOrder", o.status);
      return [{ type: "OrderDelivered", data: { orderId, at } }];

    case "CancelOrder": {
      if (!CANCELLATION_REASONS.includes(command.reason))
        throw new DomainError(
          "invalid_reason",
          `reason must be one of ${CANCELLATION_REASONS.join(", ")}, got ${String(command.reason)}`,
          o.status,
        );
      if (!CANCELLABLE.includes(o.status)) throw illegalTransition("CancelOrder", o.status);
      return [
        {
          type: "OrderCancelled",
          data: {
            orderId,
            reason: command.reason,
            previousStatus: o.status,
            refundDue: o.capturedAmount - promisedRefunds(o),
            ...(command.note === undefined ? {} : { note: command.note }),
            at,
          },
        },
      ];
    }

    case "RequestReturn": {
      if (o.status !== "DELIVERED") throw illegalTransition("RequestReturn", o.status);
      const returnId = requireText(command.returnId, "returnId", o.status);
      const reason = requireText(command.reason, "reason", o.status);
      if (!isMinorUnits(command.returnWindowMs))
        throw new DomainError("invalid_field", "returnWindowMs must be a non-negative integer", o.status);
      if (o.returns.some((r) => r.returnId === returnId))
        throw new DomainError("duplicate_return_id", `return ${returnId} already exists`, o.status);
      const closesAt = Date.parse(o.deliveredAt ?? o.updatedAt) + command.returnWindowMs;
      if (atMs > closesAt)
        throw new DomainError("return_window_closed", `the return window closed at ${new Date(closesAt).toISOString()}`, o.status);
      if (!Array.isArray(command.lines) || command.lines.length === 0)
        throw new DomainError("invalid_field", "a return lists at least one line", o.status);
      requireDistinct(command.lines, (l) => l.sku, "lines", o.status);
      const before = returnedQuantities(o);
      const after = new Map(before);
      const lines: OrderLine[] = command.lines.map((l) => {
        const bought = o.lines.find((b) => b.sku === l.sku);
        if (!bought) throw new DomainError("unknown_sku", `${String(l.sku)} is not in order ${orderId}`, o.status);
        const quantity = requirePositiveQuantity(l.quantity, `quantity of ${l.sku}`, o.status);
        const left = bought.quantity - (before.get(l.sku) ?? 0);
        if (quantity > left)
          throw new DomainError("return_quantity_exceeds_purchase", `${l.sku}: ${quantity} asked back, ${left} left to return`, o.status);
        after.set(l.sku, (after.get(l.sku) ?? 0) + quantity);
        return { sku: l.sku, quantity, unitPrice: bought.unitPrice };
      });
      const refundAmount = refundableFor(o, after) - refundableFor(o, before);
      return [{ type: "OrderReturnRequested", data: { orderId, returnId, lines, reason, refundAmount, at } }];
    }

    case "ReceiveReturn": {
      if (o.status !== "RETURN_REQUESTED") throw illegalTransition("ReceiveReturn", o.status);
      const r = returnOf(o, command.returnId);
      if (r.status !== "REQUESTED") throw new DomainError("illegal_transition", `return ${r.returnId} is already ${r.status}`, o.status);
      return [{ type: "OrderReturnReceived", data: { orderId, returnId: r.returnId, at } }];
    }

    case "MarkReturned": {
      if (o.status !== "RETURN_REQUESTED") throw illegalTransition("MarkReturned", o.status);
      const r = returnOf(o, command.returnId);
      if (r.status !== "RECEIVED")
        throw new DomainError("return_not_received", `return ${r.returnId} is ${r.status}: the goods are not back yet`, o.status);
      if (command.refundId !== undefined && !o.refunds.some((f) => f.refundId === command.refundId))
        throw new DomainError("refund_not_found", `no refund ${command.refundId}`, o.status);
      const returned = returnedQuantities(o);
      const fullyReturned = o.lines.every((l) => (returned.get(l.sku) ?? 0) >= l.quantity);
      return [
        {
          type: "OrderReturned",
          data: {
            orderId,
            returnId: r.returnId,
            ...(command.refundId === undefined ? {} : { refundId: command.refundId }),
            fullyReturned,
            at,
          },
        },
      ];
    }

    case "RecordPaymentFailed": {
      requirePayment(o, command.paymentId);
      if (o.paymentStatus !== "PENDING") throw paymentConflict("RecordPaymentFailed", o);
      return [
        {
          type: "OrderPaymentFailed",
          data: { orderId, paymentId: command.paymentId, reason: requireText(command.reason, "reason", o.status), at },
        },
      ];
    }

    case "RecordPaymentVoided": {
      requirePayment(o, command.paymentId);
      if (o.paymentStatus !== "PENDING") throw paymentConflict("RecordPaymentVoided", o);
      return [{ type: "OrderPaymentVoided", data: { orderId, paymentId: command.paymentId, at } }];
    }

    case "RecordPaymentCaptured": {
      if (o.status !== "CANCELLED")
        throw new DomainError(
          "illegal_transition",
          `RecordPaymentCaptured is for captures after cancellation; a ${o.status} order is confirmed by ConfirmOrder`,
          o.status,
        );
      requirePayment(o, command.paymentId);
      const amount = requirePositiveAmount(command.amount, "amount", o.status);
      if (!["PENDING", "FAILED", "VOIDED"].includes(o.paymentStatus)) throw paymentConflict("RecordPaymentCaptured", o);
      return [{ type: "OrderPaymentCaptured", data: { orderId, paymentId: command.paymentId, amount, refundDue: amount, at } }];
    }

    case "RecordRefundRequested": {
      const refundId = requireText(command.refundId, "refundId", o.status);
      const amount = requirePositiveAmount(command.amount, "amount", o.status);
      const reason = requireText(command.reason, "reason", o.status);
      const existing = o.refunds.find((r) => r.refundId === refundId);
      if (existing) {
        if (existing.amount !== amount)
          throw new DomainError("refund_id_conflict", `refund ${refundId} was recorded for ${existing.amount}, not ${amount}`, o.status);
        return [];
      }
      if (o.paymentStatus !== "CAPTURED" && o.paymentStatus !== "PARTIALLY_REFUNDED") throw paymentConflict("RecordRefundRequested", o);
      if (promisedRefunds(o) + amount > o.capturedAmount)
        throw new DomainError("refund_exceeds_capture", `refunds would exceed the captured ${o.capturedAmount}`, o.status);
      if (command.returnId !== undefined) returnOf(o, command.returnId);
      return [
        {
          type: "OrderRefundRequested",
          data: { orderId, refundId, amount, reason, ...(command.returnId === undefined ? {} : { returnId: command.returnId }), at },
        },
      ];
    }

    case "RecordRefundProcessed": {
      const refund = refundOf(o, command.refundId);
      if (refund.status !== "PENDING")
        throw new DomainError("illegal_transition", `refund ${refund.refundId} is already ${refund.status}`, o.status);
      return [{ type: "OrderRefundProcessed", data: { orderId, refundId: refund.refundId, amount: refund.amount, at } }];
    }

    case "RecordRefundFailed": {
      const refund = refundOf(o, command.refundId);
      if (refund.status !== "PENDING")
        throw new DomainError("illegal_transition", `refund ${refund.refundId} is already ${refund.status}`, o.status);
      return [
        {
          type: "OrderRefundFailed",
          data: { orderId, refundId: refund.refundId, amount: refund.amount, reason: requireText(command.reason, "reason", o.status), at },
        },
      ];
    }
  }
}

function placed(command: Extract<OrderCommand, { type: "PlaceOrder" }>): OrderPlaced {
  const customerId = requireText(command.customerId, "customerId", "NONE");
  if (!Array.isArray(command.lines) || command.lines.length === 0)
    throw new DomainError("invalid_field", "an order has at least one line", "NONE");
  const lines = command.lines.map((l, i) => ({
    sku: requireText(l.sku, `lines[${i}].sku`, "NONE"),
    quantity: requirePositiveQuantity(l.quantity, `lines[${i}].quantity`, "NONE"),
    unitPrice: requirePositiveAmount(l.unitPrice, `lines[${i}].unitPrice`, "NONE"),
  }));
  requireDistinct(lines, (l) => l.sku, "lines", "NONE");
  const subtotal = lines.reduce((sum, l) => sum + l.quantity * l.unitPrice, 0);
  if (!Number.isSafeInteger(subtotal)) throw new DomainError("invalid_amount", "the order total is too large", "NONE");
  const discountAmount = command.discountAmount ?? 0;
  if (!isMinorUnits(discountAmount) || discountAmount > subtotal)
    throw new DomainError("invalid_amount", `discountAmount must be an integer between 0 and the subtotal ${subtotal}`, "NONE");
  const paymentMethod = requirePaymentMethod(command.paymentMethod, "NONE");
  const totalAmount = subtotal - discountAmount;
  return {
    type: "OrderPlaced",
    data: {
      orderId: command.orderId,
      customerId,
      lines,
      subtotal,
      discountAmount,
      totalAmount,
      currency: requireCurrency(command.currency, "NONE"),
      ...(command.couponCode === undefined ? {} : { couponCode: command.couponCode }),
      paymentMethod,
      paymentRequired: paymentMethod !== "COD" && totalAmount > 0,
      shippingAddress: validAddress(command.shippingAddress),
      ...(command.flashSale === undefined ? {} : { flashSale: validFlashSale(command.flashSale, lines) }),
      at: command.at,
    },
  };
}

function validFlashSale(f: FlashSaleRef, lines: readonly OrderLine[]): FlashSaleRef {
  if (lines.length !== 1)
    throw new DomainError("invalid_field", "an order with a flash-sale claim has the claim's SKU as its only line", "NONE");
  return {
    saleId: requireText(f.saleId, "flashSale.saleId", "NONE"),
    claimId: requireText(f.claimId, "flashSale.claimId", "NONE"),
    warehouseId: requireText(f.warehouseId, "flashSale.warehouseId", "NONE"),
  };
}

function validAddress(a: ShippingAddress): ShippingAddress {
  if (typeof a !== "object" || a === null) throw new DomainError("invalid_field", "shippingAddress is required", "NONE");
  const field = (name: keyof ShippingAddress) => requireText(a[name], `shippingAddress.${name}`, "NONE");
  if (a.line2 !== undefined && typeof a.line2 !== "string")
    throw new DomainError("invalid_field", "shippingAddress.line2 must be a string", "NONE");
  return {
    name: field("name"),
    line1: field("line1"),
    ...(a.line2 === undefined ? {} : { line2: a.line2 }),
    city: field("city"),
    state: field("state"),
    pincode: field("pincode"),
    phone: field("phone"),
  };
}

function requirePayment(o: Order, paymentId: string): void {
  if (o.payment?.paymentId !== paymentId) {
    throw new DomainError(
      "payment_mismatch",
      `payment ${paymentId} is not the payment of order ${o.orderId} (${o.payment?.paymentId ?? "none"})`,
      o.status,
    );
  }
}

const paymentConflict = (command: string, o: Order): DomainError =>
  new DomainError(
    "illegal_transition",
    `${command} is not allowed when the order is ${o.status} and its payment ${o.paymentStatus}`,
    o.status,
  );

function returnOf(o: Order, returnId: string): OrderReturn {
  const r = o.returns.find((x) => x.returnId === returnId);
  if (!r) throw new DomainError("return_not_found", `order ${o.orderId} has no return ${returnId}`, o.status);
  return r;
}

function refundOf(o: Order, refundId: string): OrderRefund {
  const r = o.refunds.find((x) => x.refundId === refundId);
  if (!r) throw new DomainError("refund_not_found", `order ${o.orderId} has no refund ${refundId}`, o.status);
  return r;
}

// ---------------------------------------------------------------- evolve

function evolve(state: OrderState, event: OrderEvent): OrderState {
  if (event.type === "OrderPlaced") {
    const { at, ...d } = event.data;
    return {
      ...d,
      status: "CREATED",
      paymentStatus: d.paymentRequired ? "PENDING" : "NOT_REQUIRED",
      fulfillmentStatus: "UNFULFILLED",
      capturedAmount: 0,
      refundedAmount: 0,
      refunds: [],
      returns: [],
      placedAt: at,
      updatedAt: at,
    };
  }
  if (state.status === "NONE") return state;
  const o: Order = { ...state, updatedAt: event.data.at };

  switch (event.type) {
    case "OrderPaymentPending":
      return {
        ...o,
        status: "PAYMENT_PENDING",
        fulfillmentStatus: "RESERVED",
        paymentStatus: "PENDING",
        payment: { paymentId: event.data.paymentId, ...(event.data.paymentUrl === undefined ? {} : { paymentUrl: event.data.paymentUrl }) },
      };
    case "OrderConfirmed":
      return {
        ...o,
        status: "CONFIRMED",
        fulfillmentStatus: "RESERVED",
        ...(event.data.paymentId === undefined ? {} : { paymentStatus: "CAPTURED", capturedAmount: event.data.capturedAmount }),
      };
    case "OrderProcessingStarted":
      return {
        ...o,
        status: "PROCESSING",
        fulfillmentStatus: "ALLOCATED",
        shipment: {
          ...(event.data.shipmentId === undefined ? {} : { shipmentId: event.data.shipmentId }),
          ...(event.data.warehouseId === undefined ? {} : { warehouseId: event.data.warehouseId }),
        },
      };
    case "OrderShipped":
      return {
        ...o,
        status: "SHIPPED",
        fulfillmentStatus: "SHIPPED",
        shipment: { ...o.shipment, carrier: event.data.carrier, trackingNumber: event.data.trackingNumber },
      };
    case "OrderDelivered":
      return { ...o, status: "DELIVERED", fulfillmentStatus: "DELIVERED", deliveredAt: event.data.at };
    case "OrderCancelled":
      return {
        ...o,
        status: "CANCELLED",
        fulfillmentStatus: "CANCELLED",
        cancellationReason: event.data.reason,
        // A prepaid order cancelled before any payment was started owes nothing.
        paymentStatus: o.paymentStatus === "PENDING" && !o.payment ? "NOT_REQUIRED" : o.paymentStatus,
      };
    case "OrderReturnRequested":
      return {
        ...o,
        status: "RETURN_REQUESTED",
        fulfillmentStatus: "RETURN_REQUESTED",
        returns: [
          ...o.returns,
          {
            returnId: event.data.returnId,
            lines: event.data.lines,
            reason: event.data.reason,
            refundAmount: event.data.refundAmount,
            status: "REQUESTED",
            requestedAt: event.data.at,
          },
        ],
      };
    case "OrderReturnReceived":
      return {
        ...o,
        fulfillmentStatus: "RETURN_RECEIVED",
        returns: o.returns.map((r) => (r.returnId === event.data.returnId ? { ...r, status: "RECEIVED" } : r)),
      };
    case "OrderReturned":
      return {
        ...o,
        status: event.data.fullyReturned ? "RETURNED" : "DELIVERED",
        fulfillmentStatus: event.data.fullyReturned ? "RETURNED" : "PARTIALLY_RETURNED",
        returns: o.returns.map((r) =>
          r.returnId === event.data.returnId
            ? { ...r, status: "COMPLETED", ...(event.data.refundId === undefined ? {} : { refundId: event.data.refundId }) }
            : r,
        ),
      };
    case "OrderPaymentFailed":
      return { ...o, paymentStatus: "FAILED" };
    case "OrderPaymentVoided":
      return { ...o, paymentStatus: "VOIDED" };
    case "OrderPaymentCaptured":
      return { ...o, paymentStatus: "CAPTURED", capturedAmount: event.data.amount };
    case "OrderRefundRequested":
      return {
        ...o,
        refunds: [
          ...o.refunds,
          {
            refundId: event.data.refundId,
            amount: event.data.amount,
            status: "PENDING",
            reason: event.data.reason,
            ...(event.data.returnId === undefined ? {} : { returnId: event.data.returnId }),
            requestedAt: event.data.at,
          },
        ],
        returns:
          event.data.returnId === undefined
            ? o.returns
            : o.returns.map((r) => (r.returnId === event.data.returnId ? { ...r, refundId: event.data.refundId } : r)),
      };
    case "OrderRefundProcessed": {
      const refundedAmount = o.refundedAmount + event.data.amount;
      return {
        ...o,
        refundedAmount,
        paymentStatus: refundedAmount >= o.capturedAmount ? "REFUNDED" : "PARTIALLY_REFUNDED",
        refunds: o.refunds.map((r) => (r.refundId === event.data.refundId ? { ...r, status: "PROCESSED", processedAt: event.data.at } : r)),
      };
    }
    case "OrderRefundFailed":
      return { ...o, refunds: o.refunds.map((r) => (r.refundId === event.data.refundId ? { ...r, status: "FAILED" } : r)) };
  }
}

export const orderDecider: Decider<OrderCommand, OrderEvent, OrderState> = {
  category: ORDER_CATEGORY,
  schemaVersions: orderSchemaVersions,
  initialState: initialOrderState,
  decide,
  evolve,
};
