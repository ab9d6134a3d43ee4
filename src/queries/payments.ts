// Payment queries (GET /api/payments/{paymentId}) over the payments read model.

import type { SqlExecutor } from "../infrastructure/sql/sql-client.js";
import { int, iso } from "../projections/projection.js";
import { ORDER_TABLES } from "../projections/orders.js";
import { PAYMENT_TABLES } from "../projections/payments.js";

export interface PaymentView {
  paymentId: string;
  orderId: string;
  /** The order's customer (for the owner check); null when the order is not in its read model yet. */
  customerId: string | null;
  amount: number;
  currency: string;
  method: string;
  status: string;
  capturedAmount: number;
  refundedAmount: number;
  refunds: {
    refundId: string;
    amount: number;
    status: string;
    reason: string;
    failureReason?: string;
    requestedAt: string;
    processedAt?: string;
  }[];
  paymentUrl?: string;
  failureReason?: string;
  captureAfterVoid: boolean;
  createdAt: string;
  updatedAt: string;
  version: number;
}

type Row = Record<string, unknown>;

export async function getPayment(sql: SqlExecutor, paymentId: string): Promise<PaymentView | null> {
  const { rows } = await sql.query<Row>(
    `SELECT p.*, o.customer_id FROM ${PAYMENT_TABLES.payments} p LEFT JOIN ${ORDER_TABLES.orders} o ON o.order_id = p.order_id WHERE p.payment_id = $1`,
    [paymentId],
  );
  const p = rows[0];
  if (!p) return null;
  const { rows: refunds } = await sql.query<Row>(`SELECT * FROM ${PAYMENT_TABLES.refunds} WHERE payment_id = $1 ORDER BY seq`, [paymentId]);
  return {
    paymentId: String(p.payment_id),
    orderId: String(p.order_id),
    customerId: p.customer_id == null ? null : String(p.customer_id),
    amount: int(p.amount),
    currency: String(p.currency),
    method: String(p.method),
    status: String(p.status),
    capturedAmount: int(p.captured_amount),
    refundedAmount: int(p.refunded_amount),
    refunds: refunds.map((f) => ({
      refundId: String(f.refund_id),
      amount: int(f.amount),
      status: String(f.status),
      reason: String(f.reason),
      ...(f.failure_reason == null ? {} : { failureReason: String(f.failure_reason) }),
      requestedAt: iso(f.requested_at),
      ...(f.processed_at == null ? {} : { processedAt: iso(f.processed_at) }),
    })),
    ...(p.payment_url == null ? {} : { paymentUrl: String(p.payment_url) }),
    ...(p.failure_reason == null ? {} : { failureReason: String(p.failure_reason) }),
    captureAfterVoid: p.capture_after_void === true,
    createdAt: iso(p.created_at),
    updatedAt: iso(p.updated_at),
    version: int(p.revision),
  };
}

/** GET /api/payments/{paymentId}'s body (docs/CONTRACT.md): the view without what only the server uses (the owner, the late-capture flag). */
export function paymentResource(view: PaymentView): Record<string, unknown> {
  const { customerId: _owner, captureAfterVoid: _late, refunds, ...rest } = view;
  return { ...rest, refunds: refunds.map(({ failureReason: _why, ...refund }) => refund) };
}
