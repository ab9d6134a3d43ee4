// Order queries over the orders read model, in the JSON shape of docs/CONTRACT.md
// (GET /api/orders/{orderId} and GET /api/orders).

import type { SqlExecutor } from "../infrastructure/sql/sql-client.js";
import { int, iso } from "../projections/projection.js";
import { ORDER_TABLES } from "../projections/orders.js";
import { PAYMENT_TABLES } from "../projections/payments.js";

export interface OrderView {
  orderId: string;
  customerId: string;
  status: string;
  paymentStatus: string;
  fulfillmentStatus: string;
  items: { sku: string; quantity: number; unitPrice: number }[];
  subtotal: number;
  discountAmount: number;
  totalAmount: number;
  capturedAmount: number;
  refundedAmount: number;
  currency: string;
  couponCode?: string;
  /** `paymentId` is null for orders without an online payment (COD, zero total, or not started yet). */
  payment: { paymentId: string | null; status: string; method: string; paymentUrl?: string };
  refunds: {
    refundId: string;
    amount: number;
    status: string;
    reason: string;
    returnId?: string;
    requestedAt: string;
    processedAt?: string;
  }[];
  returns: { returnId: string; status: string; refundAmount: number; reason: string; items: { sku: string; quantity: number }[] }[];
  shipment?: { carrier: string; trackingNumber: string; status: string; shipmentId?: string; warehouseId?: string };
  cancellationReason?: string;
  shippingAddress: Record<string, string>;
  createdAt: string;
  updatedAt: string;
  /** The order stream's revision (the ETag's version). */
  version: number;
}

export interface ListOrdersFilter {
  status?: string;
  customerId?: string;
  /** ISO time, inclusive, on createdAt. */
  from?: string;
  /** ISO time, exclusive, on createdAt. */
  to?: string;
  /** 1-based; default 1. */
  page?: number;
  /** 1..100; default 20. */
  size?: number;
}

export interface OrderList {
  total: number;
  page: number;
  size: number;
  items: OrderView[];
}

type Row = Record<string, unknown>;

// An order with its lines, refunds and returns in one statement (each a JSON array): a GET is one
// round trip, not four (order-tracking pages poll it; bench:checkout's gateway stand-in does too).
const children = (table: string, order: string) =>
  `(SELECT coalesce(json_agg(c ORDER BY c.${order}), '[]'::json) FROM ${table} c WHERE c.order_id = o.order_id)`;
const SELECT = `SELECT o.*, p.status AS payment_row_status,
    ${children(ORDER_TABLES.lines, "line_no")} AS child_lines,
    ${children(ORDER_TABLES.refunds, "seq")} AS child_refunds,
    ${children(ORDER_TABLES.returns, "seq")} AS child_returns
  FROM ${ORDER_TABLES.orders} o LEFT JOIN ${PAYMENT_TABLES.payments} p ON p.payment_id = o.payment_id`;

export async function getOrder(sql: SqlExecutor, orderId: string): Promise<OrderView | null> {
  const { rows } = await sql.query<Row>(`${SELECT} WHERE o.order_id = $1`, [orderId]);
  return rows[0] ? toView(rows[0]) : null;
}

export async function listOrders(sql: SqlExecutor, filter: ListOrdersFilter = {}): Promise<OrderList> {
  const page = Math.max(1, Math.floor(filter.page ?? 1));
  const size = Math.min(100, Math.max(1, Math.floor(filter.size ?? 20)));
  const conditions: string[] = [];
  const params: unknown[] = [];
  const where = (condition: string, value: unknown) => {
    params.push(value);
    conditions.push(condition.replace("?", `$${params.length}`));
  };
  if (filter.status !== undefined) where("o.status = ?::text", filter.status);
  if (filter.customerId !== undefined) where("o.customer_id = ?::text", filter.customerId);
  if (filter.from !== undefined) where("o.created_at >= ?::timestamptz", filter.from);
  if (filter.to !== undefined) where("o.created_at < ?::timestamptz", filter.to);
  const clause = conditions.length > 0 ? `WHERE ${conditions.join(" AND ")}` : "";
  const { rows: counted } = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${ORDER_TABLES.orders} o ${clause}`, params);
  const { rows } = await sql.query<Row>(
    `${SELECT} ${clause} ORDER BY o.created_at DESC, o.order_id LIMIT ${size} OFFSET ${(page - 1) * size}`,
    params,
  );
  return { total: counted[0]?.n ?? 0, page, size, items: rows.map(toView) };
}

const jsonRows = (value: unknown): Row[] => (typeof value === "string" ? JSON.parse(value) : value) as Row[];

function toView(r: Row): OrderView {
  const lines = jsonRows(r.child_lines);
  const refunds = jsonRows(r.child_refunds);
  const returns = jsonRows(r.child_returns);
  const text = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : String(v));
  const paymentUrl = text(r.payment_url);
  const couponCode = text(r.coupon_code);
  const cancellationReason = text(r.cancellation_reason);
  const shipmentId = text(r.shipment_id);
  const warehouseId = text(r.warehouse_id);
  return {
    orderId: String(r.order_id),
    customerId: String(r.customer_id),
    status: String(r.status),
    paymentStatus: String(r.payment_status),
    fulfillmentStatus: String(r.fulfillment_status),
    items: lines.map((l) => ({ sku: String(l.sku), quantity: int(l.quantity), unitPrice: int(l.unit_price) })),
    subtotal: int(r.subtotal),
    discountAmount: int(r.discount_amount),
    totalAmount: int(r.total_amount),
    capturedAmount: int(r.captured_amount),
    refundedAmount: int(r.refunded_amount),
    currency: String(r.currency),
    ...(couponCode === undefined ? {} : { couponCode }),
    payment: {
      paymentId: text(r.payment_id) ?? null,
      // The payment's own status when its read model has it, else what the order knows.
      status: text(r.payment_row_status) ?? String(r.payment_status),
      method: String(r.payment_method),
      ...(paymentUrl === undefined ? {} : { paymentUrl }),
    },
    refunds: refunds.map((f) => {
      const returnId = text(f.return_id);
      return {
        refundId: String(f.refund_id),
        amount: int(f.amount),
        status: String(f.status),
        reason: String(f.reason),
        ...(returnId === undefined ? {} : { returnId }),
        requestedAt: iso(f.requested_at),
        ...(f.processed_at == null ? {} : { processedAt: iso(f.processed_at) }),
      };
    }),
    returns: returns.map((x) => ({
      returnId: String(x.return_id),
      status: String(x.status),
      refundAmount: int(x.refund_amount),
      reason: String(x.reason),
      items: (typeof x.lines === "string" ? JSON.parse(x.lines) : x.lines) as { sku: string; quantity: number }[],
    })),
    ...(r.carrier == null
      ? {}
      : {
          shipment: {
            carrier: String(r.carrier),
            trackingNumber: String(r.tracking_number),
            status: String(r.shipment_status),
            ...(shipmentId === undefined ? {} : { shipmentId }),
            ...(warehouseId === undefined ? {} : { warehouseId }),
          },
        }),
    ...(cancellationReason === undefined ? {} : { cancellationReason }),
    shippingAddress: (typeof r.shipping_address === "string" ? JSON.parse(r.shipping_address) : r.shipping_address) as Record<
      string,
      string
    >,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
    version: int(r.revision),
  };
}
