// Domain events of a small shop's life, with fixed ids and times, appended straight to a store:
// the same input for every transport, so their records can be compared byte for byte.

import { createHash } from "node:crypto";
import type { EventStore, NewEvent } from "../../src/eventstore/port.js";

const uuidOf = (seed: string): string => {
  const x = createHash("sha256").update(seed).digest("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-4${x.slice(13, 16)}-8${x.slice(17, 20)}-${x.slice(20, 32)}`;
};

export interface ShopScript {
  streams: { streamId: string; events: NewEvent[] }[];
  orderIds: string[];
}

/**
 * `orders` orders of one known product (PHONE-<run>, threshold 3 units) and one SKU the catalog
 * never saw (its category is []). Order i: placed, confirmed, payment captured, shipped,
 * delivered, returned and refunded; every third is cancelled after confirmation instead; the
 * price changes once; stock falls below the threshold once.
 */
export function shopScript(run: string, orders: number, baseTime = Date.parse("2026-11-20T10:00:00.000Z")): ShopScript {
  const sku = `PHONE-${run}`;
  const ghost = `GHOST-${run}`;
  let tick = 0;
  const at = () => new Date(baseTime + 1000 * tick++).toISOString();
  const meta = (correlation: string, n: string) => ({
    correlationId: `corr-${correlation}`,
    causationId: `cmd-${n}`,
    actor: "test:fixture",
  });
  const ev = (seed: string, type: string, data: Record<string, unknown>, correlation: string): NewEvent => ({
    id: uuidOf(`${run}:${seed}`),
    type,
    data: data as never,
    metadata: meta(correlation, seed),
  });
  const streams: ShopScript["streams"] = [];
  const push = (streamId: string, e: NewEvent) => streams.push({ streamId, events: [e] });

  push(
    `product-${sku}`,
    ev(
      "p0",
      "ProductCreated",
      {
        sku,
        name: "Phone",
        category: ["Electronics", "Mobiles"],
        attributes: { lowStockThreshold: 3 },
        price: 50_000,
        currency: "INR",
        at: at(),
      },
      "catalog",
    ),
  );
  push(`inventory-${sku}@w1`, ev("s0", "StockReceived", { sku, warehouseId: "w1", quantity: orders + 2, at: at() }, "stock"));
  const orderIds: string[] = [];
  for (let i = 0; i < orders; i++) {
    const orderId = `o-${run}-${i}`;
    orderIds.push(orderId);
    const paymentId = `pay-${run}-${i}`;
    const order = `order-${orderId}`;
    const c = `order-${i}`;
    push(
      order,
      ev(
        `${i}:placed`,
        "OrderPlaced",
        {
          orderId,
          customerId: `cust-${i % 3}`,
          lines: [
            { sku, quantity: 1, unitPrice: 50_000 },
            { sku: ghost, quantity: 2, unitPrice: 1_000 },
          ],
          subtotal: 52_000,
          discountAmount: 0,
          totalAmount: 52_000,
          currency: "INR",
          paymentMethod: "UPI",
          paymentRequired: true,
          shippingAddress: { name: "Asha", line1: "12 MG Road", city: "Bengaluru", state: "KA", pincode: "560001", phone: "+919800000001" },
          at: at(),
        },
        c,
      ),
    );
    push(
      `inventory-${sku}@w1`,
      ev(`${i}:reserved`, "StockReserved", { sku, warehouseId: "w1", orderId, quantity: 1, expiresAt: at(), at: at() }, c),
    );
    push(
      `payment-${paymentId}`,
      ev(
        `${i}:initiated`,
        "PaymentInitiated",
        { paymentId, orderId, amount: 52_000, currency: "INR", method: "UPI", paymentUrl: "http://internal/pay", at: at() },
        c,
      ),
    );
    push(order, ev(`${i}:pending`, "OrderPaymentPending", { orderId, paymentId, paymentUrl: "http://internal/pay", at: at() }, c));
    push(
      `payment-${paymentId}`,
      ev(
        `${i}:captured`,
        "PaymentCaptured",
        { paymentId, orderId, gatewayEventId: `gw-${i}`, amount: 52_000, currency: "INR", previousStatus: "INITIATED", at: at() },
        c,
      ),
    );
    push(order, ev(`${i}:confirmed`, "OrderConfirmed", { orderId, paymentId, capturedAmount: 52_000, at: at() }, c));
    if (i % 3 === 2) {
      push(
        order,
        ev(
          `${i}:cancelled`,
          "OrderCancelled",
          { orderId, reason: "CUSTOMER_REQUEST", previousStatus: "CONFIRMED", refundDue: 52_000, note: "internal note", at: at() },
          c,
        ),
      );
      push(
        `payment-${paymentId}`,
        ev(
          `${i}:refundReq`,
          "RefundRequested",
          { paymentId, orderId, refundId: `r-${i}`, amount: 52_000, currency: "INR", reason: "cancelled", at: at() },
          c,
        ),
      );
      push(
        `payment-${paymentId}`,
        ev(
          `${i}:refundFailed`,
          "RefundFailed",
          { paymentId, orderId, refundId: `r-${i}`, amount: 52_000, gatewayEventId: `gwr-${i}`, reason: "bank down", at: at() },
          c,
        ),
      );
      continue;
    }
    push(order, ev(`${i}:processing`, "OrderProcessingStarted", { orderId, warehouseId: "w1", at: at() }, c));
    push(order, ev(`${i}:shipped`, "OrderShipped", { orderId, carrier: "BlueDart", trackingNumber: `BD${i}`, at: at() }, c));
    push(order, ev(`${i}:delivered`, "OrderDelivered", { orderId, at: at() }, c));
    push(
      order,
      ev(`${i}:returned`, "OrderReturned", { orderId, returnId: `ret-${i}`, refundId: `r-${i}`, fullyReturned: true, at: at() }, c),
    );
    push(
      `payment-${paymentId}`,
      ev(
        `${i}:refundReq`,
        "RefundRequested",
        { paymentId, orderId, refundId: `r-${i}`, amount: 52_000, currency: "INR", reason: "return", at: at() },
        c,
      ),
    );
    push(
      `payment-${paymentId}`,
      ev(
        `${i}:refunded`,
        "RefundProcessed",
        { paymentId, orderId, refundId: `r-${i}`, amount: 52_000, gatewayEventId: `gwr-${i}`, at: at() },
        c,
      ),
    );
  }
  push(
    `product-${sku}`,
    ev("p1", "ProductPriceChanged", { sku, price: 45_000, previousPrice: 50_000, currency: "INR", at: at() }, "catalog"),
  );
  return { streams, orderIds };
}

/** Appends the script in its order (each event after the previous one committed). */
export async function appendScript(store: EventStore, script: ShopScript): Promise<string> {
  let position = "";
  for (const s of script.streams) position = (await store.appendToStream(s.streamId, s.events)).position;
  return position;
}

/** The integration event types the script must produce, per order. */
export function expectedOrderTypes(i: number): string[] {
  return i % 3 === 2
    ? ["commerce.order.placed.v1", "commerce.order.confirmed.v1", "commerce.order.cancelled.v1"]
    : [
        "commerce.order.placed.v1",
        "commerce.order.confirmed.v1",
        "commerce.order.shipped.v1",
        "commerce.order.delivered.v1",
        "commerce.order.returned.v1",
      ];
}
