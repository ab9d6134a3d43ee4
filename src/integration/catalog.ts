// The public integration events: what other services (notifications, logistics, analytics) may
// rely on. Each type is versioned in its name and has exactly one JSON Schema. A schema never
// changes under a published type: a change is a new type (`...v2`) beside the old one, which
// test/integration/schemas.test.ts enforces against the committed fingerprints in
// src/integration/schema-fingerprints.json.
//
// Personal data (the shipping address and phone) travels only in `commerce.order.placed.v1`,
// which logistics (the delivery address) and notifications (the SMS number) need; every other
// event names the customer by id only.

import { FormatRegistry, Type, type Static, type TObject } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";

/** Aggregate types: one Kafka topic each (`<namespace>.<aggregateType>.events`). */
export const AGGREGATE_TYPES = ["order", "payment", "inventory", "product"] as const;
export type AggregateType = (typeof AGGREGATE_TYPES)[number];

export const DEFAULT_NAMESPACE = "commerce";
export const topicOf = (aggregateType: AggregateType | string, namespace = DEFAULT_NAMESPACE): string =>
  `${namespace}.${aggregateType}.events`;

const Id = Type.String({ minLength: 1 });
const Time = Type.String({ format: "date-time" });
const Minor = Type.Integer({ minimum: 0, description: "money in minor units (paise)" });
const Currency = Type.String({ pattern: "^[A-Z]{3}$" });
const strict = { additionalProperties: false } as const;

const OrderPlaced = Type.Object(
  {
    orderId: Id,
    customerId: Id,
    placedAt: Time,
    items: Type.Array(
      Type.Object(
        {
          sku: Id,
          quantity: Type.Integer({ minimum: 1 }),
          unitPrice: Minor,
          category: Type.Array(Type.String(), { description: "catalog category path, broadest first; [] when the product was unknown" }),
        },
        strict,
      ),
      { minItems: 1 },
    ),
    subtotal: Minor,
    discountAmount: Minor,
    totalAmount: Minor,
    currency: Currency,
    paymentMethod: Type.Union([
      Type.Literal("UPI"),
      Type.Literal("CARD"),
      Type.Literal("NETBANKING"),
      Type.Literal("WALLET"),
      Type.Literal("COD"),
    ]),
    couponCode: Type.Union([Type.String(), Type.Null()]),
    shippingAddress: Type.Object(
      {
        name: Type.String(),
        line1: Type.String(),
        line2: Type.Union([Type.String(), Type.Null()]),
        city: Type.String(),
        state: Type.String(),
        pincode: Type.String(),
        phone: Type.String(),
      },
      { ...strict, description: "personal data: for logistics and customer notifications only" },
    ),
  },
  strict,
);

const OrderConfirmed = Type.Object(
  {
    orderId: Id,
    customerId: Id,
    confirmedAt: Time,
    totalAmount: Minor,
    currency: Currency,
    paymentId: Type.Union([Id, Type.Null()], { description: "null for cash on delivery and zero-total orders" }),
  },
  strict,
);

const OrderCancelled = Type.Object(
  {
    orderId: Id,
    customerId: Id,
    cancelledAt: Time,
    reason: Type.Union(
      ["OUT_OF_STOCK", "PAYMENT_FAILED", "PAYMENT_TIMEOUT", "CUSTOMER_REQUEST", "ADMIN_REQUEST", "FRAUD_SUSPECTED"].map((r) =>
        Type.Literal(r),
      ),
    ),
    previousStatus: Type.String(),
    refundDue: Minor,
    currency: Currency,
  },
  strict,
);

const OrderShipped = Type.Object(
  { orderId: Id, customerId: Id, shippedAt: Time, carrier: Type.String(), trackingNumber: Type.String() },
  strict,
);
const OrderDelivered = Type.Object({ orderId: Id, customerId: Id, deliveredAt: Time }, strict);
const OrderReturned = Type.Object(
  { orderId: Id, customerId: Id, returnId: Id, returnedAt: Time, fullyReturned: Type.Boolean(), refundId: Type.Union([Id, Type.Null()]) },
  strict,
);

const PaymentCaptured = Type.Object(
  {
    paymentId: Id,
    orderId: Id,
    amount: Minor,
    currency: Currency,
    capturedAt: Time,
    late: Type.Boolean({ description: "true when the money arrived after the payment had failed or been voided (it will be refunded)" }),
  },
  strict,
);
const RefundProcessed = Type.Object(
  { refundId: Id, paymentId: Id, orderId: Id, customerId: Id, amount: Minor, currency: Currency, processedAt: Time },
  strict,
);
const RefundFailed = Type.Object(
  { refundId: Id, paymentId: Id, orderId: Id, customerId: Id, amount: Minor, currency: Currency, failedAt: Time, reason: Type.String() },
  strict,
);

const LowStock = Type.Object(
  {
    sku: Id,
    available: Type.Integer({ description: "units available over every warehouse after the change" }),
    threshold: Type.Integer({ minimum: 0 }),
    warehouseId: Type.String({ description: "the warehouse whose change crossed the threshold" }),
    at: Time,
  },
  strict,
);

const PriceChanged = Type.Object(
  { productId: Id, sku: Id, price: Minor, previousPrice: Minor, currency: Currency, changedAt: Time },
  strict,
);

export interface IntegrationEventType<S extends TObject = TObject> {
  /** The CloudEvents `type`, e.g. `commerce.order.confirmed.v1`. */
  type: string;
  aggregateType: AggregateType;
  /** The domain event it is translated from. */
  from: string;
  summary: string;
  schema: S;
  /** Consumers that need the personal data it carries; empty when it carries none. */
  personalDataFor: readonly string[];
}

const define = <S extends TObject>(e: IntegrationEventType<S>) => e;

export const INTEGRATION_EVENTS = {
  orderPlaced: define({
    type: "commerce.order.placed.v1",
    aggregateType: "order",
    from: "OrderPlaced",
    summary: "An order was placed (prices from the catalog).",
    schema: OrderPlaced,
    personalDataFor: ["logistics", "notifications"],
  }),
  orderConfirmed: define({
    type: "commerce.order.confirmed.v1",
    aggregateType: "order",
    from: "OrderConfirmed",
    summary: "The order's payment was captured (or it needs none): it will be fulfilled.",
    schema: OrderConfirmed,
    personalDataFor: [],
  }),
  orderCancelled: define({
    type: "commerce.order.cancelled.v1",
    aggregateType: "order",
    from: "OrderCancelled",
    summary: "The order was cancelled, with the reason; refundDue is what will be refunded.",
    schema: OrderCancelled,
    personalDataFor: [],
  }),
  orderShipped: define({
    type: "commerce.order.shipped.v1",
    aggregateType: "order",
    from: "OrderShipped",
    summary: "The order left the warehouse with a carrier.",
    schema: OrderShipped,
    personalDataFor: [],
  }),
  orderDelivered: define({
    type: "commerce.order.delivered.v1",
    aggregateType: "order",
    from: "OrderDelivered",
    summary: "The order reached the customer.",
    schema: OrderDelivered,
    personalDataFor: [],
  }),
  orderReturned: define({
    type: "commerce.order.returned.v1",
    aggregateType: "order",
    from: "OrderReturned",
    summary: "A return of the order was completed (goods back, refund requested).",
    schema: OrderReturned,
    personalDataFor: [],
  }),
  paymentCaptured: define({
    type: "commerce.payment.captured.v1",
    aggregateType: "payment",
    from: "PaymentCaptured",
    summary: "The gateway captured the payment's money.",
    schema: PaymentCaptured,
    personalDataFor: [],
  }),
  refundProcessed: define({
    type: "commerce.payment.refund_processed.v1",
    aggregateType: "payment",
    from: "RefundProcessed",
    summary: "A refund was paid out by the gateway.",
    schema: RefundProcessed,
    personalDataFor: [],
  }),
  refundFailed: define({
    type: "commerce.payment.refund_failed.v1",
    aggregateType: "payment",
    from: "RefundFailed",
    summary: "The gateway refused a refund.",
    schema: RefundFailed,
    personalDataFor: [],
  }),
  lowStock: define({
    type: "commerce.inventory.low_stock.v1",
    aggregateType: "inventory",
    from: "StockReserved|StockAdjusted",
    summary: "A SKU's available units (all warehouses) fell below its threshold (product attribute lowStockThreshold, default 5).",
    schema: LowStock,
    personalDataFor: [],
  }),
  priceChanged: define({
    type: "commerce.product.price_changed.v1",
    aggregateType: "product",
    from: "ProductPriceChanged",
    summary: "A product's catalog price changed.",
    schema: PriceChanged,
    personalDataFor: [],
  }),
} as const;

export type IntegrationEventName = keyof typeof INTEGRATION_EVENTS;
export type IntegrationPayload<N extends IntegrationEventName> = Static<(typeof INTEGRATION_EVENTS)[N]["schema"]>;

export const integrationEventTypes: readonly IntegrationEventType[] = Object.values(INTEGRATION_EVENTS);

export const eventTypeByName = (type: string): IntegrationEventType | undefined => integrationEventTypes.find((e) => e.type === type);

// TypeBox checks formats only when told how; date-time is the one the schemas use.
if (!FormatRegistry.Has("date-time"))
  FormatRegistry.Set(
    "date-time",
    (v) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v) && !Number.isNaN(Date.parse(v)),
  );

/** Why a payload does not match its type's schema ([] when it does, or names the unknown type). */
export function payloadErrors(type: string, payload: unknown): string[] {
  const def = eventTypeByName(type);
  if (!def) return [`unknown integration event type ${type}`];
  return [...Value.Errors(def.schema, payload)].map((e) => `${e.path || "/"} ${e.message}`);
}
