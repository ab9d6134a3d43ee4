// Domain events -> public integration events. What a consumer may see is chosen field by field
// here (never a spread of the domain event), so internal fields (payment URLs, gateway ids,
// saga bookkeeping, notes) cannot leak by accident. Anything the domain event lacks (the
// customer of a shipped order, the category of a SKU) comes from the translator's own facts,
// which it keeps from earlier events in the same transaction as the outbox rows.

import type { CancellationReason, OrderPlaced } from "../aggregates/order.js";
import type { RecordedEvent } from "../eventstore/port.js";
import { INTEGRATION_EVENTS, type IntegrationEventName, type IntegrationPayload } from "./catalog.js";
import { integrationEventId, traceparentOf, type IntegrationEvent } from "./envelope.js";

export interface OrderFacts {
  customerId: string;
  currency: string;
  totalAmount: number;
}

/** What the translator remembers, read inside its transaction. */
export interface TranslationFacts {
  order(orderId: string): Promise<OrderFacts | undefined>;
  /** The category path of a SKU; [] when unknown. */
  category(sku: string): Promise<string[]>;
  /** Set when this event made the SKU's available units (all warehouses) fall below its threshold. */
  lowStockCrossing?: { sku: string; warehouseId: string; available: number; threshold: number };
}

type Data = Record<string, unknown>;

const str = (v: unknown): string => String(v);
const num = (v: unknown): number => Number(v);

function build<N extends IntegrationEventName>(
  name: N,
  source: RecordedEvent,
  key: string,
  payload: IntegrationPayload<N>,
  time: string,
): IntegrationEvent {
  const def = INTEGRATION_EVENTS[name];
  return {
    id: integrationEventId(source.id, def.type),
    type: def.type,
    source: `/commerce/${def.aggregateType}`,
    time,
    aggregateType: def.aggregateType,
    key,
    payload,
    correlationId: source.metadata.correlationId,
    causationId: source.id,
    traceparent: traceparentOf(source.metadata.traceId, source.metadata.correlationId, source.id),
  };
}

/** The business time of the fact: the domain event's `at`, else when it was recorded. */
const timeOf = (e: RecordedEvent): string => {
  const at = (e.data as Data | null)?.at;
  return typeof at === "string" && !Number.isNaN(Date.parse(at)) ? new Date(at).toISOString() : e.recordedAt.toISOString();
};

/** The integration events one domain event becomes (most become none). */
export async function translate(event: RecordedEvent, facts: TranslationFacts): Promise<IntegrationEvent[]> {
  const d = (event.data ?? {}) as Data;
  const at = timeOf(event);
  const withOrder = async (orderId: string, make: (o: OrderFacts) => IntegrationEvent): Promise<IntegrationEvent[]> => {
    const o = await facts.order(orderId);
    // An order placed before the translator existed and not replayed: nothing to say about it.
    return o ? [make(o)] : [];
  };

  switch (event.type) {
    case "OrderPlaced": {
      const p = d as unknown as OrderPlaced["data"];
      const items = await Promise.all(
        p.lines.map(async (l) => ({ sku: l.sku, quantity: l.quantity, unitPrice: l.unitPrice, category: await facts.category(l.sku) })),
      );
      const a = p.shippingAddress;
      return [
        build(
          "orderPlaced",
          event,
          p.orderId,
          {
            orderId: p.orderId,
            customerId: p.customerId,
            placedAt: at,
            items,
            subtotal: p.subtotal,
            discountAmount: p.discountAmount,
            totalAmount: p.totalAmount,
            currency: p.currency,
            paymentMethod: p.paymentMethod,
            couponCode: p.couponCode ?? null,
            shippingAddress: {
              name: a.name,
              line1: a.line1,
              line2: a.line2 ?? null,
              city: a.city,
              state: a.state,
              pincode: a.pincode,
              phone: a.phone,
            },
          },
          at,
        ),
      ];
    }
    case "OrderConfirmed":
      return withOrder(str(d.orderId), (o) =>
        build(
          "orderConfirmed",
          event,
          str(d.orderId),
          {
            orderId: str(d.orderId),
            customerId: o.customerId,
            confirmedAt: at,
            totalAmount: o.totalAmount,
            currency: o.currency,
            paymentId: d.paymentId === undefined ? null : str(d.paymentId),
          },
          at,
        ),
      );
    case "OrderCancelled":
      return withOrder(str(d.orderId), (o) =>
        build(
          "orderCancelled",
          event,
          str(d.orderId),
          {
            orderId: str(d.orderId),
            customerId: o.customerId,
            cancelledAt: at,
            reason: d.reason as CancellationReason,
            previousStatus: str(d.previousStatus),
            refundDue: num(d.refundDue),
            currency: o.currency,
          },
          at,
        ),
      );
    case "OrderShipped":
      return withOrder(str(d.orderId), (o) =>
        build(
          "orderShipped",
          event,
          str(d.orderId),
          {
            orderId: str(d.orderId),
            customerId: o.customerId,
            shippedAt: at,
            carrier: str(d.carrier),
            trackingNumber: str(d.trackingNumber),
          },
          at,
        ),
      );
    case "OrderDelivered":
      return withOrder(str(d.orderId), (o) =>
        build("orderDelivered", event, str(d.orderId), { orderId: str(d.orderId), customerId: o.customerId, deliveredAt: at }, at),
      );
    case "OrderReturned":
      return withOrder(str(d.orderId), (o) =>
        build(
          "orderReturned",
          event,
          str(d.orderId),
          {
            orderId: str(d.orderId),
            customerId: o.customerId,
            returnId: str(d.returnId),
            returnedAt: at,
            fullyReturned: d.fullyReturned === true,
            refundId: d.refundId === undefined ? null : str(d.refundId),
          },
          at,
        ),
      );
    case "PaymentCaptured":
      return [
        build(
          "paymentCaptured",
          event,
          str(d.orderId),
          {
            paymentId: str(d.paymentId),
            orderId: str(d.orderId),
            amount: num(d.amount),
            currency: str(d.currency),
            capturedAt: at,
            late: d.previousStatus === "FAILED" || d.previousStatus === "VOIDED",
          },
          at,
        ),
      ];
    case "RefundProcessed":
      return withOrder(str(d.orderId), (o) =>
        build(
          "refundProcessed",
          event,
          str(d.orderId),
          {
            refundId: str(d.refundId),
            paymentId: str(d.paymentId),
            orderId: str(d.orderId),
            customerId: o.customerId,
            amount: num(d.amount),
            currency: o.currency,
            processedAt: at,
          },
          at,
        ),
      );
    case "RefundFailed":
      return withOrder(str(d.orderId), (o) =>
        build(
          "refundFailed",
          event,
          str(d.orderId),
          {
            refundId: str(d.refundId),
            paymentId: str(d.paymentId),
            orderId: str(d.orderId),
            customerId: o.customerId,
            amount: num(d.amount),
            currency: o.currency,
            failedAt: at,
            reason: str(d.reason),
          },
          at,
        ),
      );
    case "ProductPriceChanged":
      return [
        build(
          "priceChanged",
          event,
          str(d.sku),
          {
            productId: str(d.sku),
            sku: str(d.sku),
            price: num(d.price),
            previousPrice: num(d.previousPrice),
            currency: str(d.currency),
            changedAt: at,
          },
          at,
        ),
      ];
    default: {
      const c = facts.lowStockCrossing;
      return c
        ? [
            build(
              "lowStock",
              event,
              c.sku,
              { sku: c.sku, available: c.available, threshold: c.threshold, warehouseId: c.warehouseId, at },
              at,
            ),
          ]
        : [];
    }
  }
}
