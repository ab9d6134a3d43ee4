// Refund reconciliation for finance from the refunds read model (src/projections/refunds.ts):
// what was captured and refunded in a window, every refund requested in it, and where the
// payments and the orders disagree. Answers exactly what a scan of the log answers
// (src/queries/refunds-from-log.ts, which `replay reconcile` checks this against), at the cost
// of the window's rows rather than the whole log.

import type { Payment } from "../aggregates/payment.js";
import type { SqlExecutor } from "../infrastructure/sql/sql-client.js";
import { reconOrder, reconPayment, type ReconOrder, type ReconPayment } from "../projections/refund-states.js";
import { REFUND_TABLES } from "../projections/refunds.js";

export interface ReconciliationRefund {
  refundId: string;
  orderId: string;
  paymentId: string;
  amount: number;
  status: string;
  requestedAt: string;
  processedAt?: string;
}

export interface ReconciliationMismatch {
  kind: string;
  orderId: string;
  detail: string;
}

export interface Reconciliation {
  from: string;
  to: string;
  totals: { captured: number; refunded: number; pendingRefunds: number; failedRefunds: number };
  refunds: ReconciliationRefund[];
  mismatches: ReconciliationMismatch[];
}

export interface DateRange {
  from: string;
  to: string;
}

/**
 * Where one payment (with activity in the window) and its order disagree. Reads only the fields of
 * ReconPayment and ReconOrder (what the refunds read model keeps; the log scan passes whole states).
 */
export function paymentMismatches(payment: ReconPayment, order: ReconOrder | { status: "NONE" }): ReconciliationMismatch[] {
  const mismatches: ReconciliationMismatch[] = [];
  const promised = payment.refunds.filter((r) => r.status !== "FAILED").reduce((n, r) => n + r.amount, 0);
  if (promised > payment.capturedAmount)
    mismatches.push({
      kind: "refund_exceeds_capture",
      orderId: payment.orderId,
      detail: `payment ${payment.paymentId}: refunds ${promised} > captured ${payment.capturedAmount}`,
    });
  for (const r of payment.refunds.filter((x) => x.status === "FAILED")) {
    mismatches.push({
      kind: "refund_failed",
      orderId: payment.orderId,
      detail: `refund ${r.refundId} of ${r.amount} failed${r.failureReason ? `: ${r.failureReason}` : ""}`,
    });
  }
  if (order.status === "NONE") {
    mismatches.push({ kind: "order_missing", orderId: payment.orderId, detail: `payment ${payment.paymentId} belongs to no order` });
    return mismatches;
  }
  if ((order.status === "CANCELLED" || payment.captureAfterVoid) && payment.capturedAmount > promised) {
    mismatches.push({
      kind: "captured_not_refunded",
      orderId: order.orderId,
      detail: `order ${order.status}: captured ${payment.capturedAmount}, refunds requested ${promised}`,
    });
  }
  if (order.refundedAmount !== payment.refundedAmount) {
    mismatches.push({
      kind: "order_payment_refund_mismatch",
      orderId: order.orderId,
      detail: `order says refunded ${order.refundedAmount}, payment says ${payment.refundedAmount}`,
    });
  }
  return mismatches;
}

/** Refunds in the order finance reads them: by request time, then as the log has them. */
export const byRequestTime = (a: ReconciliationRefund, b: ReconciliationRefund): number => a.requestedAt.localeCompare(b.requestedAt);

export async function reconcileRefunds(sql: SqlExecutor, range: DateRange): Promise<Reconciliation> {
  const from = new Date(Date.parse(range.from)).toISOString();
  const to = new Date(Date.parse(range.to)).toISOString();
  const t = REFUND_TABLES;
  const [captured, refunded, requested, active] = await Promise.all([
    sql.query<{ n: string | number | null }>(
      `SELECT sum(amount) AS n FROM ${t.captures} WHERE at >= $1::timestamptz AND at < $2::timestamptz`,
      [from, to],
    ),
    sql.query<{ n: string | number | null }>(
      `SELECT sum(amount) AS n FROM ${t.refunds} WHERE status = 'PROCESSED' AND processed_at >= $1::timestamptz AND processed_at < $2::timestamptz`,
      [from, to],
    ),
    sql.query<{ refund: unknown; order_id: string; payment_id: string }>(
      `SELECT r.refund, p.order_id, r.payment_id FROM ${t.refunds} r JOIN ${t.payments} p USING (payment_id)
        WHERE r.requested_at >= $1::timestamptz AND r.requested_at < $2::timestamptz ORDER BY p.first_position, r.seq`,
      [from, to],
    ),
    sql.query<{ payment: unknown; order_state: unknown }>(
      `SELECT p.state AS payment, o.state AS order_state FROM ${t.payments} p LEFT JOIN ${t.orders} o ON o.order_id = p.order_id
        WHERE p.payment_id IN (
          -- Something happened to the payment in the window: its initiation, a capture, or another event
          -- (src/projections/refunds.ts keeps each event's time in one of the three).
          SELECT payment_id FROM ${t.activity} WHERE at >= $1::timestamptz AND at < $2::timestamptz
          UNION ALL SELECT payment_id FROM ${t.captures} WHERE at >= $1::timestamptz AND at < $2::timestamptz
          UNION ALL SELECT payment_id FROM ${t.payments} WHERE initiated_at >= $1::timestamptz AND initiated_at < $2::timestamptz)
        ORDER BY p.first_position`,
      [from, to],
    ),
  ]);
  const totals = {
    captured: Number(captured.rows[0]?.n ?? 0),
    refunded: Number(refunded.rows[0]?.n ?? 0),
    pendingRefunds: 0,
    failedRefunds: 0,
  };
  const refunds: ReconciliationRefund[] = requested.rows.map((row) => {
    const r = (typeof row.refund === "string" ? JSON.parse(row.refund) : row.refund) as Payment["refunds"][number];
    if (r.status === "PENDING") totals.pendingRefunds += r.amount;
    if (r.status === "FAILED") totals.failedRefunds += r.amount;
    return {
      refundId: r.refundId,
      orderId: row.order_id,
      paymentId: row.payment_id,
      amount: r.amount,
      status: r.status,
      requestedAt: r.requestedAt,
      ...(r.processedAt ? { processedAt: r.processedAt } : {}),
    };
  });
  refunds.sort(byRequestTime);
  const mismatches = active.rows.flatMap((row) =>
    paymentMismatches(reconPayment(row.payment), row.order_state === null ? { status: "NONE" } : reconOrder(row.order_state)),
  );
  return { from, to, totals, refunds, mismatches };
}
