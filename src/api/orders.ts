// Orders: place (customer/admin), read with ETag, list, cancel, ship/deliver (ops), returns,
// receive a return (ops), and the audit history from the event log.

import { Type, type Static } from "@sinclair/typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { fold } from "../aggregates/decider.js";
import { orderDecider, streamId as orderStream, type Order, type OrderEvent, type OrderState } from "../aggregates/order.js";
import { cancelOrder, deliverOrder, placeOrder, receiveReturn, requestReturn, shipOrder } from "../commands/orders.js";
import { loadAggregate } from "../commands/load.js";
import type { EventStore } from "../eventstore/port.js";
import { orderEventsAsOf, orderHistory } from "../queries/order-history.js";
import { takeClaimForOrder, type ClaimedOrder } from "../flash-sales/claim-orders.js";
import { ClaimId } from "./flash-sales.js";
import { hasRole, principalOf, requireRoles, secretKey, type Principal } from "./auth.js";
import { commandContext, etag, ifMatch, readYourWrites, written, type ApiDeps } from "./deps.js";
import { requestId } from "./idempotency.js";
import { notFound, notImplemented } from "./problem.js";
import { OrderAccepted, OrderHistory, OrderList, OrderResource, problems } from "./responses.js";
import { Id, IsoTime, NonEmpty, PaymentMethod, Quantity, ShippingAddress, Sku, WaitForQuery } from "./schemas.js";

const Line = Type.Object({ sku: Sku, quantity: Quantity }, { additionalProperties: false });

export const PlaceOrderBody = Type.Object(
  {
    items: Type.Array(Line, { minItems: 1, maxItems: 50 }),
    shippingAddress: ShippingAddress,
    paymentMethod: PaymentMethod,
    customerId: Type.Optional(Id),
    flashSaleClaimId: Type.Optional({
      ...ClaimId,
      description: "a flash-sale claim of this customer: the order's one item is the claim's SKU and quantity, at the sale price",
    }),
  },
  { additionalProperties: false },
);

const OrderParams = Type.Object({ orderId: Id });
const ReturnParams = Type.Object({ orderId: Id, returnId: Id });
const CancelBody = Type.Object({ reason: NonEmpty(500) }, { additionalProperties: false });
const ShipBody = Type.Object({ carrier: NonEmpty(100), trackingNumber: NonEmpty(100) }, { additionalProperties: false });
const EmptyBody = Type.Union([Type.Object({}, { additionalProperties: false }), Type.Null()]);
const ReturnBody = Type.Object(
  { items: Type.Array(Line, { minItems: 1, maxItems: 50 }), reason: NonEmpty(500) },
  { additionalProperties: false },
);
const ListQuery = Type.Object(
  {
    status: Type.Optional(
      Type.Union(
        ["CREATED", "PAYMENT_PENDING", "CONFIRMED", "PROCESSING", "SHIPPED", "DELIVERED", "CANCELLED", "RETURN_REQUESTED", "RETURNED"].map(
          (s) => Type.Literal(s),
        ),
      ),
    ),
    customerId: Type.Optional(Id),
    from: Type.Optional(IsoTime),
    to: Type.Optional(IsoTime),
    page: Type.Optional(Type.String({ pattern: "^[1-9][0-9]{0,3}$", description: "1-9999" })),
    size: Type.Optional(Type.String({ pattern: "^([1-9]|[1-9][0-9]|100)$", description: "1-100" })),
    waitFor: Type.Optional(Type.String({ maxLength: 100 })),
  },
  { additionalProperties: false },
);
/** A log position as the history's events show it (`position`): "as of" that event, exactly, even among events of one millisecond. */
const LogPosition = Type.String({
  pattern: "^[0-9]{1,40}:[0-9]{1,40}$",
  description: "a log position (an event's `position` in the history)",
});
const HistoryQuery = Type.Object({ asOf: Type.Optional(Type.Union([IsoTime, LogPosition])) }, { additionalProperties: false });

/**
 * The order resource from the order's own state, for the one read no read model holds: the state
 * as of a past time in the audit history (?asOf). Every current read comes from src/queries/orders.ts.
 */
function orderView(o: Order, revision: number): Record<string, unknown> {
  return {
    orderId: o.orderId,
    customerId: o.customerId,
    status: o.status,
    paymentStatus: o.paymentStatus,
    fulfillmentStatus: o.fulfillmentStatus,
    items: o.lines.map((l) => ({ sku: l.sku, quantity: l.quantity, unitPrice: l.unitPrice })),
    subtotal: o.subtotal,
    discountAmount: o.discountAmount,
    totalAmount: o.totalAmount,
    refundedAmount: o.refundedAmount,
    currency: o.currency,
    ...(o.couponCode ? { couponCode: o.couponCode } : {}),
    payment: {
      paymentId: o.payment?.paymentId ?? null,
      status: o.paymentStatus,
      method: o.paymentMethod,
      ...(o.payment?.paymentUrl ? { paymentUrl: o.payment.paymentUrl } : {}),
    },
    refunds: o.refunds.map((r) => ({
      refundId: r.refundId,
      amount: r.amount,
      status: r.status,
      reason: r.reason,
      ...(r.returnId ? { returnId: r.returnId } : {}),
    })),
    returns: o.returns.map((r) => ({
      returnId: r.returnId,
      status: r.status,
      refundAmount: r.refundAmount,
      reason: r.reason,
      items: r.lines.map((l) => ({ sku: l.sku, quantity: l.quantity })),
    })),
    ...(o.shipment?.carrier || o.shipment?.trackingNumber
      ? {
          shipment: {
            carrier: o.shipment.carrier,
            trackingNumber: o.shipment.trackingNumber,
            status: o.fulfillmentStatus === "DELIVERED" ? "DELIVERED" : "SHIPPED",
          },
        }
      : {}),
    ...(o.cancellationReason ? { cancellationReason: o.cancellationReason } : {}),
    shippingAddress: o.shippingAddress,
    createdAt: o.placedAt,
    updatedAt: o.updatedAt,
    version: revision,
  };
}

const STAFF_READERS = ["ops", "auditor", "finance"] as const;

/** The order if this principal may see it; another customer's order is "not found". */
export async function visibleOrder(
  store: EventStore,
  principal: Principal,
  orderId: string,
  staff: readonly ("ops" | "auditor" | "finance")[] = STAFF_READERS,
) {
  const loaded = await loadAggregate(store, orderDecider, orderStream(orderId));
  const state = loaded.state;
  if (state.status === "NONE") throw notFound(`order ${orderId}`);
  if (!hasRole(principal, ...staff) && state.customerId !== principal.sub) throw notFound(`order ${orderId}`);
  return { order: state, revision: loaded.revision, events: loaded.events };
}

export async function orderRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const key = secretKey(deps.jwtSecret);
  const customer = requireRoles(key, "customer");
  const anyReader = requireRoles(key, "customer", "ops", "auditor", "finance");
  const ops = requireRoles(key, "ops");
  const historyReaders = requireRoles(key, "customer", "auditor");

  const ownedForWrite = async (request: FastifyRequest, orderId: string) => {
    const p = principalOf(request);
    // Ops may act on any order; a customer only on their own (others' answer 404).
    return visibleOrder(deps.store, p, orderId, ["ops"]);
  };

  app.post<{ Body: Static<typeof PlaceOrderBody> }>(
    "/api/orders",
    {
      schema: {
        tags: ["orders"],
        summary: "Place an order; prices come from the catalog (or the flash sale of flashSaleClaimId)",
        body: PlaceOrderBody,
        response: { 202: OrderAccepted, ...problems(404, 409, 413, 415, 422, 501, 503) },
      },
      onRequest: customer,
    },
    async (request, reply) => {
      deps.admission?.admit(); // before anything is written: 503 while the order pipeline is over its lag bound
      const p = principalOf(request);
      const b = request.body;
      const customerId = b.customerId !== undefined && p.roles.includes("admin") ? b.customerId : p.sub;
      let orderId = requestId(request, "order");
      let flashSale: ClaimedOrder["flashSale"] | undefined;
      if (b.flashSaleClaimId !== undefined) {
        if (!deps.flashSales) throw notImplemented("flash sales");
        ({ orderId, flashSale } = await takeClaimForOrder(deps.flashSales.desk, {
          claimId: b.flashSaleClaimId,
          customerId,
          items: b.items,
        }));
      }
      const result = await placeOrder(commandContext(deps, request), {
        orderId,
        customerId,
        items: b.items,
        shippingAddress: b.shippingAddress,
        paymentMethod: b.paymentMethod,
        ...(flashSale ? { flashSale } : {}),
      });
      reply.header("Location", `/api/orders/${orderId}`);
      return reply.code(202).send({ orderId, status: "CREATED", ...written(reply, result) });
    },
  );

  app.get<{ Params: Static<typeof OrderParams>; Querystring: Static<typeof WaitForQuery> }>(
    "/api/orders/:orderId",
    {
      schema: {
        tags: ["orders"],
        summary:
          "An order (with ETag) from the orders read model; ?waitFor=<a write's position> (or X-Wait-For) first waits for the model to reach that write",
        params: OrderParams,
        querystring: WaitForQuery,
        response: { 200: OrderResource, 304: { description: "If-None-Match names the current version", type: "null" }, ...problems(404) },
      },
      onRequest: anyReader,
    },
    async (request, reply) => {
      await readYourWrites(deps, request);
      const p = principalOf(request);
      const order = await deps.read.getOrder(request.params.orderId);
      // Another customer's order is "not found".
      if (!order || (!hasRole(p, ...STAFF_READERS) && order.customerId !== p.sub)) throw notFound(`order ${request.params.orderId}`);
      reply.header("ETag", etag(order.version));
      if (request.headers["if-none-match"] === etag(order.version)) return reply.code(304).send();
      return order;
    },
  );

  app.get<{ Querystring: Static<typeof ListQuery> }>(
    "/api/orders",
    {
      schema: {
        tags: ["orders"],
        summary: "List orders (a customer sees only their own)",
        querystring: ListQuery,
        response: { 200: OrderList, ...problems(501) },
      },
      onRequest: anyReader,
    },
    async (request) => {
      if (!deps.read.listOrders) throw notImplemented("listing orders");
      await readYourWrites(deps, request);
      const p = principalOf(request);
      const q = request.query;
      const customerId = hasRole(p, ...STAFF_READERS) ? q.customerId : p.sub;
      return deps.read.listOrders({
        ...(q.status ? { status: q.status } : {}),
        ...(customerId ? { customerId } : {}),
        ...(q.from ? { from: q.from } : {}),
        ...(q.to ? { to: q.to } : {}),
        page: q.page ? Number(q.page) : 1,
        size: q.size ? Number(q.size) : 20,
      });
    },
  );

  app.post<{ Params: Static<typeof OrderParams>; Body: Static<typeof CancelBody> }>(
    "/api/orders/:orderId/cancel",
    {
      schema: {
        tags: ["orders"],
        summary: "Cancel before shipping; after payment the saga refunds in full",
        params: OrderParams,
        body: CancelBody,
        response: { 202: OrderAccepted, ...problems(404, 409, 412, 413, 415, 422) },
      },
      onRequest: customer,
    },
    async (request, reply) => {
      const p = principalOf(request);
      const { revision } = await ownedForWrite(request, request.params.orderId);
      const expected = ifMatch(request, revision);
      const result = await cancelOrder(
        commandContext(deps, request),
        request.params.orderId,
        { reason: p.roles.includes("admin") ? "ADMIN_REQUEST" : "CUSTOMER_REQUEST", note: request.body.reason },
        expected,
      );
      return reply.code(202).send({ orderId: request.params.orderId, status: (result.state as Order).status, ...written(reply, result) });
    },
  );

  app.post<{ Params: Static<typeof OrderParams>; Body: Static<typeof ShipBody> }>(
    "/api/orders/:orderId/ship",
    {
      schema: {
        tags: ["orders"],
        summary: "Ship (ops): PROCESSING -> SHIPPED",
        params: OrderParams,
        body: ShipBody,
        response: { 202: OrderAccepted, ...problems(404, 409, 412, 413, 415, 422) },
      },
      onRequest: ops,
    },
    async (request, reply) => {
      const { revision } = await ownedForWrite(request, request.params.orderId);
      const result = await shipOrder(commandContext(deps, request), request.params.orderId, request.body, ifMatch(request, revision));
      return reply.code(202).send({ orderId: request.params.orderId, status: (result.state as Order).status, ...written(reply, result) });
    },
  );

  app.post<{ Params: Static<typeof OrderParams> }>(
    "/api/orders/:orderId/deliver",
    {
      schema: {
        tags: ["orders"],
        summary: "Deliver (ops): SHIPPED -> DELIVERED",
        params: OrderParams,
        body: EmptyBody,
        response: { 202: OrderAccepted, ...problems(404, 409, 412, 413, 415, 422) },
      },
      onRequest: ops,
    },
    async (request, reply) => {
      const { revision } = await ownedForWrite(request, request.params.orderId);
      const result = await deliverOrder(commandContext(deps, request), request.params.orderId, ifMatch(request, revision));
      return reply.code(202).send({ orderId: request.params.orderId, status: (result.state as Order).status, ...written(reply, result) });
    },
  );

  app.post<{ Params: Static<typeof OrderParams>; Body: Static<typeof ReturnBody> }>(
    "/api/orders/:orderId/returns",
    {
      schema: {
        tags: ["orders"],
        summary: "Request a return (owner): only DELIVERED and inside the return window",
        params: OrderParams,
        body: ReturnBody,
        response: { 202: OrderAccepted, ...problems(404, 409, 412, 413, 415, 422) },
      },
      onRequest: customer,
    },
    async (request, reply) => {
      const { revision } = await visibleOrder(deps.store, principalOf(request), request.params.orderId, []);
      const returnId = requestId(request, "return");
      const result = await requestReturn(
        commandContext(deps, request),
        request.params.orderId,
        { returnId, lines: request.body.items, reason: request.body.reason, returnWindowMs: deps.returnWindowMs },
        ifMatch(request, revision),
      );
      const r = (result.state as Order).returns.find((x) => x.returnId === returnId);
      return reply.code(202).send({
        orderId: request.params.orderId,
        returnId,
        refundAmount: r?.refundAmount,
        status: (result.state as Order).status,
        ...written(reply, result),
      });
    },
  );

  app.post<{ Params: Static<typeof ReturnParams> }>(
    "/api/orders/:orderId/returns/:returnId/receive",
    {
      schema: {
        tags: ["orders"],
        summary: "The returned goods are back (ops): restock and refund follow",
        params: ReturnParams,
        body: EmptyBody,
        response: { 202: OrderAccepted, ...problems(404, 409, 412, 413, 415, 422) },
      },
      onRequest: ops,
    },
    async (request, reply) => {
      const { revision } = await ownedForWrite(request, request.params.orderId);
      const result = await receiveReturn(
        commandContext(deps, request),
        request.params.orderId,
        request.params.returnId,
        ifMatch(request, revision),
      );
      return reply.code(202).send({
        orderId: request.params.orderId,
        returnId: request.params.returnId,
        status: (result.state as Order).status,
        ...written(reply, result),
      });
    },
  );

  app.get<{ Params: Static<typeof OrderParams>; Querystring: Static<typeof HistoryQuery> }>(
    "/api/orders/:orderId/history",
    {
      schema: {
        tags: ["audit"],
        summary: "Every event of the order, its payment, reservations and saga; ?asOf adds the state at that time",
        params: OrderParams,
        querystring: HistoryQuery,
        response: { 200: OrderHistory, ...problems(404) },
      },
      onRequest: historyReaders,
    },
    async (request) => {
      const { orderId } = request.params;
      await visibleOrder(deps.store, principalOf(request), orderId, ["auditor"]);
      const events = await orderHistory(deps, orderId);
      const asOf = request.query.asOf;
      const body: Record<string, unknown> = {
        orderId,
        events: events.map((e) => ({
          // The event's id: other events' metadata.causationId names it (the back-office timeline draws which caused which).
          id: e.id,
          position: e.position,
          streamId: e.streamId,
          revision: e.revision,
          type: e.type,
          schemaVersion: e.schemaVersion,
          occurredAt: e.recordedAt.toISOString(),
          data: e.data,
          metadata: { correlationId: e.metadata.correlationId, causationId: e.metadata.causationId, actor: e.metadata.actor },
        })),
      };
      if (asOf !== undefined) {
        const byPosition = /^[0-9]+:[0-9]+$/.test(asOf);
        const upTo = orderEventsAsOf(events, orderId, byPosition ? { position: asOf } : { time: new Date(asOf) });
        const state: OrderState = fold(
          orderDecider,
          upTo.map((e) => ({ type: e.type, data: e.data }) as OrderEvent),
        );
        body.asOf = byPosition ? asOf : new Date(asOf).toISOString();
        body.state = state.status === "NONE" ? null : orderView(state, upTo.at(-1)?.revision ?? -1);
      }
      return body;
    },
  );
}
