// Read model of orders: one row per order (stream order-<orderId>) with its lines, refunds and returns.
// Mirrors the Order aggregate's evolve (src/aggregates/order.ts) in SQL.

import type { OrderEvent } from "../aggregates/order.js";
import type { RecordedEvent } from "../eventstore/port.js";
import type { SqlExecutor } from "../infrastructure/sql/sql-client.js";
import { applyFold } from "./fold.js";
import { ordersFold } from "./orders-batch.js";
import { advance, ident, recordedAs, type Projection } from "./projection.js";

export const ORDER_TABLES = {
  orders: "rm_orders",
  lines: "rm_order_lines",
  refunds: "rm_order_refunds",
  returns: "rm_order_returns",
} as const;
export type OrderTables = { readonly [K in keyof typeof ORDER_TABLES]: string };

function schema(t: OrderTables): string {
  return baseSchema(t) + returnsSchema(t);
}

/** The returns of an order (GET /api/orders/{orderId} shows them since the single order is read here too). */
function returnsSchema(t: OrderTables): string {
  return `
    CREATE TABLE ${ident(t.returns)} (
      order_id text NOT NULL,
      return_id text NOT NULL,
      seq bigint NOT NULL,
      status text NOT NULL,
      refund_amount bigint NOT NULL,
      reason text NOT NULL,
      lines jsonb NOT NULL,
      refund_id text,
      requested_at timestamptz NOT NULL,
      PRIMARY KEY (order_id, return_id)
    );`;
}

/** The tables as migration 001 created them (kept as they were: applied migrations never change). */
function baseSchema(t: OrderTables): string {
  const o = ident(t.orders);
  const l = ident(t.lines);
  const r = ident(t.refunds);
  return `
    CREATE TABLE ${o} (
      order_id text PRIMARY KEY,
      customer_id text NOT NULL,
      status text NOT NULL,
      payment_status text NOT NULL,
      fulfillment_status text NOT NULL,
      subtotal bigint NOT NULL,
      discount_amount bigint NOT NULL,
      total_amount bigint NOT NULL,
      captured_amount bigint NOT NULL DEFAULT 0,
      refunded_amount bigint NOT NULL DEFAULT 0,
      currency text NOT NULL,
      coupon_code text,
      payment_method text NOT NULL,
      payment_required boolean NOT NULL,
      shipping_address jsonb NOT NULL,
      payment_id text,
      payment_url text,
      shipment_id text,
      warehouse_id text,
      carrier text,
      tracking_number text,
      shipment_status text,
      cancellation_reason text,
      cancellation_note text,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      delivered_at timestamptz,
      revision bigint NOT NULL
    );
    CREATE INDEX ${o}_customer_idx ON ${o} (customer_id, created_at DESC);
    CREATE INDEX ${o}_status_idx ON ${o} (status, created_at DESC);
    CREATE INDEX ${o}_created_idx ON ${o} (created_at DESC);
    CREATE TABLE ${l} (
      order_id text NOT NULL,
      line_no int NOT NULL,
      sku text NOT NULL,
      quantity int NOT NULL,
      unit_price bigint NOT NULL,
      PRIMARY KEY (order_id, line_no)
    );
    CREATE TABLE ${r} (
      order_id text NOT NULL,
      refund_id text NOT NULL,
      seq bigint NOT NULL,
      amount bigint NOT NULL,
      status text NOT NULL,
      reason text NOT NULL,
      return_id text,
      requested_at timestamptz NOT NULL,
      processed_at timestamptz,
      PRIMARY KEY (order_id, refund_id)
    );`;
}

async function apply(recorded: RecordedEvent, sql: SqlExecutor, t: OrderTables = ORDER_TABLES): Promise<void> {
  const event = recordedAs<OrderEvent>(recorded);
  const d = event.data;
  const o = t.orders;

  if (event.type === "OrderPlaced") {
    const p = event.data;
    const { rows } = await sql.query(
      `INSERT INTO ${ident(o)} (order_id, customer_id, status, payment_status, fulfillment_status, subtotal, discount_amount, total_amount,
         currency, coupon_code, payment_method, payment_required, shipping_address, created_at, updated_at, revision)
       VALUES ($1, $2, 'CREATED', $3, 'UNFULFILLED', $4::bigint, $5::bigint, $6::bigint, $7, $8, $9, $10::boolean, $11::jsonb, $12::timestamptz, $12::timestamptz, $13::bigint)
       ON CONFLICT (order_id) DO NOTHING RETURNING 1 AS ok`,
      [
        p.orderId,
        p.customerId,
        p.paymentRequired ? "PENDING" : "NOT_REQUIRED",
        p.subtotal,
        p.discountAmount,
        p.totalAmount,
        p.currency,
        p.couponCode ?? null,
        p.paymentMethod,
        p.paymentRequired,
        JSON.stringify(p.shippingAddress),
        p.at,
        event.revision,
      ],
    );
    if (rows.length === 0) return;
    for (const [index, line] of p.lines.entries()) {
      await sql.query(
        `INSERT INTO ${ident(t.lines)} (order_id, line_no, sku, quantity, unit_price) VALUES ($1, $2::int, $3, $4::int, $5::bigint) ON CONFLICT DO NOTHING`,
        [p.orderId, index, line.sku, line.quantity, line.unitPrice],
      );
    }
    return;
  }

  const step = (sets = "", params: readonly unknown[] = []) => advance(sql, o, "order_id", d.orderId, event, d.at, sets, params);

  switch (event.type) {
    case "OrderPaymentPending":
      await step(
        "status = 'PAYMENT_PENDING', fulfillment_status = 'RESERVED', payment_status = 'PENDING', payment_id = $4::text, payment_url = $5::text",
        [event.data.paymentId, event.data.paymentUrl ?? null],
      );
      return;
    case "OrderConfirmed":
      if (event.data.paymentId === undefined) await step("status = 'CONFIRMED', fulfillment_status = 'RESERVED'");
      else
        await step("status = 'CONFIRMED', fulfillment_status = 'RESERVED', payment_status = 'CAPTURED', captured_amount = $4::bigint", [
          event.data.capturedAmount,
        ]);
      return;
    case "OrderProcessingStarted":
      await step(
        "status = 'PROCESSING', fulfillment_status = 'ALLOCATED', shipment_id = $4::text, warehouse_id = $5::text, shipment_status = 'ALLOCATED'",
        [event.data.shipmentId ?? null, event.data.warehouseId ?? null],
      );
      return;
    case "OrderShipped":
      await step(
        "status = 'SHIPPED', fulfillment_status = 'SHIPPED', carrier = $4::text, tracking_number = $5::text, shipment_status = 'SHIPPED'",
        [event.data.carrier, event.data.trackingNumber],
      );
      return;
    case "OrderDelivered":
      await step("status = 'DELIVERED', fulfillment_status = 'DELIVERED', shipment_status = 'DELIVERED', delivered_at = $3::timestamptz");
      return;
    case "OrderCancelled":
      await step(
        `status = 'CANCELLED', fulfillment_status = 'CANCELLED', cancellation_reason = $4::text, cancellation_note = $5::text,
         payment_status = CASE WHEN payment_status = 'PENDING' AND payment_id IS NULL THEN 'NOT_REQUIRED' ELSE payment_status END`,
        [event.data.reason, event.data.note ?? null],
      );
      return;
    case "OrderReturnRequested":
      if (!(await step("status = 'RETURN_REQUESTED', fulfillment_status = 'RETURN_REQUESTED'"))) return;
      await sql.query(
        `INSERT INTO ${ident(t.returns)} (order_id, return_id, seq, status, refund_amount, reason, lines, requested_at)
         VALUES ($1, $2, $3::bigint, 'REQUESTED', $4::bigint, $5, $6::jsonb, $7::timestamptz) ON CONFLICT DO NOTHING`,
        [
          d.orderId,
          event.data.returnId,
          event.revision,
          event.data.refundAmount,
          event.data.reason,
          JSON.stringify(event.data.lines.map((l) => ({ sku: l.sku, quantity: l.quantity }))),
          d.at,
        ],
      );
      return;
    case "OrderReturnReceived":
      if (!(await step("fulfillment_status = 'RETURN_RECEIVED'"))) return;
      await sql.query(`UPDATE ${ident(t.returns)} SET status = 'RECEIVED' WHERE order_id = $1 AND return_id = $2`, [
        d.orderId,
        event.data.returnId,
      ]);
      return;
    case "OrderReturned":
      if (
        !(await step(
          event.data.fullyReturned
            ? "status = 'RETURNED', fulfillment_status = 'RETURNED'"
            : "status = 'DELIVERED', fulfillment_status = 'PARTIALLY_RETURNED'",
        ))
      )
        return;
      await sql.query(`UPDATE ${ident(t.returns)} SET status = 'COMPLETED', refund_id = $3 WHERE order_id = $1 AND return_id = $2`, [
        d.orderId,
        event.data.returnId,
        event.data.refundId ?? null,
      ]);
      return;
    case "OrderPaymentFailed":
      await step("payment_status = 'FAILED'");
      return;
    case "OrderPaymentVoided":
      await step("payment_status = 'VOIDED'");
      return;
    case "OrderPaymentCaptured":
      await step("payment_status = 'CAPTURED', captured_amount = $4::bigint", [event.data.amount]);
      return;
    case "OrderRefundRequested":
      if (!(await step())) return;
      await sql.query(
        `INSERT INTO ${ident(t.refunds)} (order_id, refund_id, seq, amount, status, reason, return_id, requested_at)
         VALUES ($1, $2, $3::bigint, $4::bigint, 'PENDING', $5, $6, $7::timestamptz) ON CONFLICT DO NOTHING`,
        [d.orderId, event.data.refundId, event.revision, event.data.amount, event.data.reason, event.data.returnId ?? null, d.at],
      );
      return;
    case "OrderRefundProcessed":
      if (
        !(await step(
          `refunded_amount = refunded_amount + $4::bigint,
           payment_status = CASE WHEN refunded_amount + $4::bigint >= captured_amount THEN 'REFUNDED' ELSE 'PARTIALLY_REFUNDED' END`,
          [event.data.amount],
        ))
      )
        return;
      await sql.query(
        `UPDATE ${ident(t.refunds)} SET status = 'PROCESSED', processed_at = $3::timestamptz WHERE order_id = $1 AND refund_id = $2`,
        [d.orderId, event.data.refundId, d.at],
      );
      return;
    case "OrderRefundFailed":
      if (!(await step())) return;
      await sql.query(`UPDATE ${ident(t.refunds)} SET status = 'FAILED' WHERE order_id = $1 AND refund_id = $2`, [
        d.orderId,
        event.data.refundId,
      ]);
      return;
    default:
      // An event type this model does not know yet: advance the revision so it is not re-examined.
      await step();
  }
}

export const ordersProjection: Projection<OrderTables> = {
  name: "projections/orders",
  filter: { streamCategories: ["order"] },
  tables: ORDER_TABLES,
  schema,
  migrations: [
    { id: "projections/orders/001-tables", sql: baseSchema(ORDER_TABLES) },
    // Returns joined the model later: create their table, then empty the model and forget its
    // checkpoint so the projector replays the log and fills the returns of existing orders too.
    {
      id: "projections/orders/002-returns",
      sql: `${returnsSchema(ORDER_TABLES)}
        TRUNCATE ${ORDER_TABLES.orders}, ${ORDER_TABLES.lines}, ${ORDER_TABLES.refunds};
        DELETE FROM processor_checkpoints WHERE name = 'projections/orders';`,
    },
  ],
  apply,
  applyBatch: (events, sql, t = ORDER_TABLES) => applyFold(ordersFold, events, sql, t),
  fold: ordersFold,
};
