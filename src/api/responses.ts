// The API's response bodies as TypeBox schemas. Routes declare them under `schema.response`, so
// /docs/json describes every answer (clients can generate typed SDKs) and Fastify serialises with
// them. Serialising with a schema drops what the schema does not name: every field a route sends
// is named here, and where a body is open-ended (attributes, event data, readiness detail) the
// schema says so with additionalProperties.

import { Type, type TSchema } from "@sinclair/typebox";
import type { RouteOptions } from "fastify";

/** A string from a fixed list, documented as an enum and serialised as a plain string. */
const OneOf = (values: readonly string[], description?: string) =>
  Type.String({ enum: [...values], ...(description ? { description } : {}) });
/** OpenAPI 3.0 spells "or null" as nullable. */
const Nullable = (schema: TSchema) => Type.Unsafe<unknown>({ ...schema, nullable: true });

const Time = Type.String({ format: "date-time" });
const Minor = Type.Integer({ description: "minor units (paise)" });

export const ORDER_STATUSES = [
  "CREATED",
  "PAYMENT_PENDING",
  "CONFIRMED",
  "PROCESSING",
  "SHIPPED",
  "DELIVERED",
  "CANCELLED",
  "RETURN_REQUESTED",
  "RETURNED",
] as const;
const PAYMENT_STATUSES_OF_ORDER = ["NOT_REQUIRED", "PENDING", "CAPTURED", "FAILED", "PARTIALLY_REFUNDED", "REFUNDED", "VOIDED"];

/** RFC 9457 problem details; routes add members such as `field`, `rule`, `currentStatus`. */
export const ProblemBody = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    field: Type.Optional(Type.String({ description: "the offending field, for bad input" })),
  },
  { additionalProperties: true, description: "RFC 9457 problem details (application/problem+json), with extension members" },
);

const PROBLEM_TITLES: Record<number, string> = {
  400: "Bad request: malformed JSON, a missing or extra field, a wrong type, a badly encoded URL",
  401: "Missing, invalid or expired bearer token (or webhook signature)",
  403: "The token lacks the role this needs",
  404: "Not found (another customer's order is not found too)",
  409: "Conflicts with the resource's current state, or an Idempotency-Key still in flight",
  412: "If-Match does not name the current version",
  413: "Body over 64 KiB",
  414: "A path parameter over the router's limit",
  415: "Unsupported content type",
  422: "Well-formed but not acceptable (unknown SKU, coupon, Idempotency-Key reused with another body)",
  429: "Over the rate limit (Retry-After)",
  500: "Unexpected error",
  501: "Not built yet",
  503: "A dependency is unavailable (Retry-After)",
};

const problemResponse = (status: number) => ({
  description: PROBLEM_TITLES[status] ?? "Problem",
  content: { "application/problem+json": { schema: ProblemBody } },
});

/** Problem responses by status, for a route's `schema.response`. */
export const problems = (...statuses: number[]): Record<number, ReturnType<typeof problemResponse>> =>
  Object.fromEntries(statuses.map((s) => [s, problemResponse(s)]));

const isProblemSchema = (s: unknown): boolean => {
  const props = (s as { properties?: Record<string, unknown> } | null)?.properties;
  return !!props && "title" in props && "status" in props && "detail" in props && "type" in props;
};

/**
 * onRoute: every route documents the problems any route can answer (400 bad URL or input, 414,
 * 500; 401/403/429 unless the route is public, `security: []`), and a problem schema a route
 * declared as plain JSON is filed under application/problem+json, what is actually sent.
 */
export function documentProblems(route: RouteOptions): void {
  const schema = route.schema as { response?: Record<string, unknown>; security?: unknown[]; hide?: boolean } | undefined;
  if (!schema || schema.hide || !schema.response) return;
  const response = schema.response;
  for (const [status, declared] of Object.entries(response)) {
    if (Number(status) >= 400 && isProblemSchema(declared)) response[status] = problemResponse(Number(status));
  }
  const isPublic = Array.isArray(schema.security) && schema.security.length === 0;
  for (const status of [400, 414, 500, ...(isPublic ? [] : [401, 403, 429])]) response[status] ??= problemResponse(status);
}

/** X-Commit-Position of a write: where its events sit in the log (pass it as ?waitFor= to read your own write). */
const Position = Nullable(
  Type.String({ description: "commit position of the write's last event (also in X-Commit-Position); null when nothing was written" }),
);

export const OrderAccepted = Type.Object(
  {
    orderId: Type.String(),
    status: OneOf(ORDER_STATUSES),
    returnId: Type.Optional(Type.String()),
    refundAmount: Type.Optional(Minor),
    position: Position,
  },
  { additionalProperties: false, description: "The command was accepted; the saga carries the order on" },
);

const Line = Type.Object({ sku: Type.String(), quantity: Type.Integer(), unitPrice: Minor }, { additionalProperties: false });

/** One order: from its stream (GET /api/orders/{id}) or from the orders read model (lists); fields only one of them knows are optional. */
export const OrderResource = Type.Object(
  {
    orderId: Type.String(),
    customerId: Type.String(),
    status: OneOf(ORDER_STATUSES),
    paymentStatus: OneOf(PAYMENT_STATUSES_OF_ORDER),
    fulfillmentStatus: Type.String(),
    items: Type.Array(Line),
    subtotal: Minor,
    discountAmount: Minor,
    totalAmount: Minor,
    capturedAmount: Type.Optional(Minor),
    refundedAmount: Minor,
    currency: Type.String(),
    couponCode: Type.Optional(Type.String()),
    payment: Type.Object(
      {
        paymentId: Nullable(Type.String({ description: "null for COD, a zero total, or before the saga starts the payment" })),
        status: Type.String(),
        method: Type.String(),
        paymentUrl: Type.Optional(Type.String()),
      },
      { additionalProperties: false },
    ),
    refunds: Type.Array(
      Type.Object(
        {
          refundId: Type.String(),
          amount: Minor,
          status: Type.String(),
          reason: Type.String(),
          returnId: Type.Optional(Type.String()),
          requestedAt: Type.Optional(Time),
          processedAt: Type.Optional(Time),
        },
        { additionalProperties: false },
      ),
    ),
    returns: Type.Optional(
      Type.Array(
        Type.Object(
          {
            returnId: Type.String(),
            status: Type.String(),
            refundAmount: Minor,
            reason: Type.String(),
            items: Type.Array(Type.Object({ sku: Type.String(), quantity: Type.Integer() }, { additionalProperties: false })),
          },
          { additionalProperties: false },
        ),
      ),
    ),
    shipment: Type.Optional(
      Type.Object(
        {
          carrier: Type.Optional(Type.String()),
          trackingNumber: Type.Optional(Type.String()),
          status: Type.String(),
          shipmentId: Type.Optional(Type.String()),
          warehouseId: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
    ),
    cancellationReason: Type.Optional(Type.String()),
    shippingAddress: Type.Record(Type.String(), Type.String()),
    createdAt: Time,
    updatedAt: Time,
    version: Type.Integer({ description: "the order stream's revision, as in the ETag" }),
  },
  { additionalProperties: false },
);

export const OrderList = Type.Object(
  { total: Type.Integer(), page: Type.Optional(Type.Integer()), size: Type.Optional(Type.Integer()), items: Type.Array(OrderResource) },
  { additionalProperties: false },
);

export const OrderHistory = Type.Object(
  {
    orderId: Type.String(),
    events: Type.Array(
      Type.Object(
        {
          id: Type.String({ description: "the event's id; other events' metadata.causationId may name it" }),
          position: Type.String(),
          streamId: Type.String(),
          revision: Type.Integer(),
          type: Type.String(),
          schemaVersion: Type.Integer(),
          occurredAt: Time,
          data: Type.Any({ description: "the event's own data, as stored" }),
          metadata: Type.Object(
            { correlationId: Type.String(), causationId: Type.String(), actor: Type.String() },
            { additionalProperties: true },
          ),
        },
        { additionalProperties: true },
      ),
    ),
    asOf: Type.Optional(Type.String({ description: "the time (ISO-8601) or the log position asked for" })),
    state: Type.Optional(Nullable(OrderResource)),
  },
  {
    additionalProperties: true,
    description: "Every event of the order, its payment, reservations and saga, in commit order; paging members may follow",
  },
);

const Attributes = Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]));

export const ProductResource = Type.Object(
  {
    sku: Type.String(),
    name: Type.String(),
    description: Type.Optional(Type.String()),
    category: Type.Array(Type.String()),
    brand: Type.Optional(Type.String()),
    attributes: Type.Optional(Attributes),
    price: Minor,
    currency: Type.String(),
    status: OneOf(["ACTIVE", "INACTIVE"]),
    active: Type.Optional(Type.Boolean()),
    available: Type.Optional(Type.Integer({ description: "units available over every warehouse" })),
    createdAt: Time,
    updatedAt: Time,
    version: Type.Integer(),
    position: Type.Optional(Position),
  },
  { additionalProperties: false },
);

export const ProductCreated = Type.Object(
  { sku: Type.String(), version: Type.Integer(), position: Position },
  { additionalProperties: false },
);

const Stock = { available: Type.Integer(), reserved: Type.Integer(), committed: Type.Integer() };
export const InventoryResource = Type.Object(
  {
    sku: Type.String(),
    ...Stock,
    warehouses: Type.Array(
      Type.Object(
        { warehouseId: Type.String(), ...Stock, shipped: Type.Optional(Type.Integer()), received: Type.Optional(Type.Integer()) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const StockReceived = Type.Object(
  {
    sku: Type.String(),
    warehouseId: Type.String(),
    received: Type.Integer(),
    available: Type.Integer({ description: "available in that warehouse now" }),
    position: Position,
  },
  { additionalProperties: false },
);

export const CouponDefined = Type.Object(
  { code: Type.String({ description: "upper-cased" }), position: Position },
  { additionalProperties: false },
);

export const CartResource = Type.Object(
  {
    customerId: Type.String(),
    status: OneOf(["OPEN", "ABANDONED", "CHECKED_OUT"]),
    items: Type.Array(Line),
    subtotal: Minor,
    discountAmount: Minor,
    totalAmount: Minor,
    currency: Type.String(),
    coupon: Type.Optional(
      Type.Object(
        {
          code: Type.String(),
          kind: OneOf(["percent", "flat"]),
          value: Type.Integer(),
          minOrderAmount: Type.Optional(Minor),
          expiresAt: Type.Optional(Time),
        },
        { additionalProperties: false },
      ),
    ),
    version: Type.Integer(),
    position: Type.Optional(Position),
  },
  { additionalProperties: false },
);

export const PaymentResource = Type.Object(
  {
    paymentId: Type.String(),
    orderId: Type.String(),
    amount: Minor,
    currency: Type.String(),
    method: Type.String(),
    status: OneOf(["INITIATED", "AUTHORIZED", "CAPTURED", "PARTIALLY_REFUNDED", "REFUNDED", "FAILED", "VOIDED"]),
    capturedAmount: Minor,
    refundedAmount: Minor,
    refunds: Type.Array(
      Type.Object(
        {
          refundId: Type.String(),
          amount: Minor,
          status: OneOf(["PENDING", "PROCESSED", "FAILED"]),
          reason: Type.String(),
          requestedAt: Time,
          processedAt: Type.Optional(Time),
        },
        { additionalProperties: false },
      ),
    ),
    paymentUrl: Type.Optional(Type.String()),
    failureReason: Type.Optional(Type.String()),
    createdAt: Time,
    updatedAt: Time,
    version: Type.Integer(),
  },
  { additionalProperties: false },
);

export const RefundReconciliation = Type.Object(
  {
    from: Time,
    to: Time,
    totals: Type.Object({ captured: Minor, refunded: Minor, pendingRefunds: Minor, failedRefunds: Minor }, { additionalProperties: false }),
    refunds: Type.Array(
      Type.Object(
        {
          refundId: Type.String(),
          orderId: Type.String(),
          paymentId: Type.String(),
          amount: Minor,
          status: Type.String(),
          requestedAt: Time,
          processedAt: Type.Optional(Time),
        },
        { additionalProperties: true },
      ),
    ),
    mismatches: Type.Array(
      Type.Object({ kind: Type.String(), orderId: Type.String(), detail: Type.String() }, { additionalProperties: true }),
    ),
  },
  { additionalProperties: true, description: "Computed from the event log; further members (e.g. how fresh the figures are) may follow" },
);

export const WebhookReceived = Type.Object(
  {
    received: Type.Boolean(),
    id: Type.String(),
    outcome: OneOf(["applied", "ignored", "duplicate"], "duplicate: this event id was seen before; nothing was written"),
  },
  { additionalProperties: false },
);

export const Liveness = Type.Object({ status: Type.Literal("ok") }, { additionalProperties: false });

/** 200 of GET /health/ready; when a dependency is down the answer is a 503 problem carrying the same `dependencies`. */
export const Readiness = Type.Object(
  {
    status: Type.Literal("ready"),
    dependencies: Type.Record(
      Type.String(),
      Type.Object(
        { status: OneOf(["up", "down"]), latencyMs: Type.Integer(), error: Type.Optional(Type.String()) },
        { additionalProperties: true, description: "plus what the check reports (kind, head, lag...)" },
      ),
    ),
  },
  { additionalProperties: false },
);

export const MetricsText = Type.String({ description: "Prometheus text exposition format" });
