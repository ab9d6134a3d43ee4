// What each event changes in the Redis read models, as plain operations on hashes (computed
// here, applied by the guarded Lua script in ./script.ts):
// - `card:<sku>`   the product card of GET /api/products/{sku} (fields JSON-encoded);
// - `stock:<sku>`  availability summed over warehouses plus `w:<warehouse>:<counter>` per warehouse;
// - `order:<id>`   the order status of GET /api/orders/{orderId}/status (with its owner).
// Every operation carries the event's log position; the script applies it only when the hash's
// stored position is lower, so a redelivered or older event changes nothing.

import type { InventoryEvent } from "../../aggregates/inventory.js";
import type { OrderEvent } from "../../aggregates/order.js";
import type { ProductEvent } from "../../aggregates/product.js";
import type { RecordedEvent } from "../../eventstore/port.js";
import { COUNTED_STOCK_EVENTS, stockDeltas } from "../stock-counters.js";

export interface HotOperation {
  /** Logical key, e.g. "card:SKU-1" (the script prefixes the generation). */
  key: string;
  /** Log position of the event. */
  position: string;
  /** Fields to set (values are strings). */
  set?: Record<string, string>;
  /** Fields to add to. */
  add?: Record<string, number>;
  /** A processed refund: add it to refundedAmount and derive paymentStatus from capturedAmount. */
  refund?: number;
  /** An order cancelled before any payment started: paymentStatus PENDING becomes NOT_REQUIRED. */
  cancelUnpaid?: boolean;
}

export const PRODUCT_EVENTS = [
  "ProductCreated",
  "ProductPriceChanged",
  "ProductDetailsChanged",
  "ProductDeactivated",
  "ProductReactivated",
];
export const ORDER_STATUS_EVENTS = [
  "OrderPlaced",
  "OrderPaymentPending",
  "OrderConfirmed",
  "OrderProcessingStarted",
  "OrderShipped",
  "OrderDelivered",
  "OrderCancelled",
  "OrderReturnRequested",
  "OrderReturned",
  "OrderPaymentFailed",
  "OrderPaymentVoided",
  "OrderPaymentCaptured",
  "OrderRefundProcessed",
];
export const HOT_EVENT_TYPES = [...PRODUCT_EVENTS, ...COUNTED_STOCK_EVENTS, ...ORDER_STATUS_EVENTS];

const json = (v: unknown) => JSON.stringify(v);

/** The aggregate a hot key belongs to: events of one key are applied in log order. */
export function hotKeyOf(event: RecordedEvent): string | undefined {
  const data = event.data as { sku?: string; orderId?: string } | null;
  if (event.streamId.startsWith("order-")) return data?.orderId ? `order:${data.orderId}` : undefined;
  return data?.sku ? `sku:${data.sku}` : undefined;
}

export function hotOperations(recorded: RecordedEvent): HotOperation[] {
  const position = recorded.position;
  const version = String(recorded.revision);
  if (PRODUCT_EVENTS.includes(recorded.type)) {
    const event = recorded as unknown as RecordedEvent & ProductEvent;
    const key = `card:${event.data.sku}`;
    const stamp = { updatedAt: json(event.data.at), version };
    switch (event.type) {
      case "ProductCreated": {
        const d = event.data;
        return [
          {
            key,
            position,
            set: {
              sku: json(d.sku),
              name: json(d.name),
              description: json(d.description ?? null),
              category: json(d.category),
              brand: json(d.brand ?? null),
              price: json(d.price),
              currency: json(d.currency),
              attributes: json(d.attributes ?? {}),
              active: "true",
              createdAt: json(d.at),
              ...stamp,
            },
          },
        ];
      }
      case "ProductPriceChanged":
        return [{ key, position, set: { price: json(event.data.price), ...stamp } }];
      case "ProductDetailsChanged":
        return [
          { key, position, set: { ...Object.fromEntries(Object.entries(event.data.changes).map(([k, v]) => [k, json(v)])), ...stamp } },
        ];
      case "ProductDeactivated":
        return [{ key, position, set: { active: "false", ...stamp } }];
      case "ProductReactivated":
        return [{ key, position, set: { active: "true", ...stamp } }];
    }
  }
  if ((COUNTED_STOCK_EVENTS as readonly string[]).includes(recorded.type)) {
    const event = recorded as unknown as RecordedEvent & InventoryEvent;
    const d = stockDeltas(event);
    const w = `w:${event.data.warehouseId}`;
    return [
      {
        key: `stock:${event.data.sku}`,
        position,
        add: {
          available: d.available,
          reserved: d.reserved,
          committed: d.committed,
          [`${w}:available`]: d.available,
          [`${w}:reserved`]: d.reserved,
          [`${w}:committed`]: d.committed,
        },
      },
    ];
  }
  if (ORDER_STATUS_EVENTS.includes(recorded.type)) {
    const event = recorded as unknown as RecordedEvent & OrderEvent;
    const key = `order:${event.data.orderId}`;
    const stamp = { updatedAt: event.data.at, version };
    const status = (s: string, extra: Record<string, string> = {}): HotOperation[] => [
      { key, position, set: { status: s, ...extra, ...stamp } },
    ];
    switch (event.type) {
      case "OrderPlaced":
        return [
          {
            key,
            position,
            set: {
              orderId: event.data.orderId,
              customerId: event.data.customerId,
              status: "CREATED",
              paymentStatus: event.data.paymentRequired ? "PENDING" : "NOT_REQUIRED",
              capturedAmount: "0",
              refundedAmount: "0",
              paymentStarted: "false",
              ...stamp,
            },
          },
        ];
      case "OrderPaymentPending":
        return status("PAYMENT_PENDING", { paymentStatus: "PENDING", paymentStarted: "true" });
      case "OrderConfirmed":
        return event.data.paymentId === undefined
          ? status("CONFIRMED")
          : status("CONFIRMED", { paymentStatus: "CAPTURED", capturedAmount: String(event.data.capturedAmount) });
      case "OrderProcessingStarted":
        return status("PROCESSING");
      case "OrderShipped":
        return status("SHIPPED");
      case "OrderDelivered":
        return status("DELIVERED");
      case "OrderCancelled":
        return [{ key, position, set: { status: "CANCELLED", ...stamp }, cancelUnpaid: true }];
      case "OrderReturnRequested":
        return status("RETURN_REQUESTED");
      case "OrderReturned":
        return status(event.data.fullyReturned ? "RETURNED" : "DELIVERED");
      case "OrderPaymentFailed":
        return [{ key, position, set: { paymentStatus: "FAILED", ...stamp } }];
      case "OrderPaymentVoided":
        return [{ key, position, set: { paymentStatus: "VOIDED", ...stamp } }];
      case "OrderPaymentCaptured":
        return [{ key, position, set: { paymentStatus: "CAPTURED", capturedAmount: String(event.data.amount), ...stamp } }];
      case "OrderRefundProcessed":
        return [{ key, position, set: stamp, refund: event.data.amount }];
    }
  }
  return [];
}
