// Read model of payments and their refunds: one row per payment (stream payment-<paymentId>).
// Mirrors the Payment aggregate's evolve (src/aggregates/payment.ts) in SQL.

import type { PaymentEvent } from "../aggregates/payment.js";
import type { RecordedEvent } from "../eventstore/port.js";
import type { SqlExecutor } from "../infrastructure/sql/sql-client.js";
import { applyFold } from "./fold.js";
import { paymentsFold } from "./payments-batch.js";
import { advance, ident, recordedAs, type Projection } from "./projection.js";

export const PAYMENT_TABLES = { payments: "rm_payments", refunds: "rm_payment_refunds" } as const;
export type PaymentTables = { readonly [K in keyof typeof PAYMENT_TABLES]: string };

function schema(t: PaymentTables): string {
  const p = ident(t.payments);
  const r = ident(t.refunds);
  return `
    CREATE TABLE ${p} (
      payment_id text PRIMARY KEY,
      order_id text NOT NULL,
      amount bigint NOT NULL,
      currency text NOT NULL,
      method text NOT NULL,
      status text NOT NULL,
      captured_amount bigint NOT NULL DEFAULT 0,
      refunded_amount bigint NOT NULL DEFAULT 0,
      payment_url text,
      gateway_reference text,
      gateway_payment_id text,
      capture_after_void boolean NOT NULL DEFAULT false,
      failure_reason text,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      revision bigint NOT NULL
    );
    CREATE INDEX ${p}_order_idx ON ${p} (order_id);
    CREATE TABLE ${r} (
      payment_id text NOT NULL,
      refund_id text NOT NULL,
      seq bigint NOT NULL,
      amount bigint NOT NULL,
      status text NOT NULL,
      reason text NOT NULL,
      failure_reason text,
      requested_at timestamptz NOT NULL,
      processed_at timestamptz,
      PRIMARY KEY (payment_id, refund_id)
    );`;
}

async function apply(recorded: RecordedEvent, sql: SqlExecutor, t: PaymentTables = PAYMENT_TABLES): Promise<void> {
  const event = recordedAs<PaymentEvent>(recorded);
  const d = event.data;

  if (event.type === "PaymentInitiated") {
    const p = event.data;
    await sql.query(
      `INSERT INTO ${ident(t.payments)} (payment_id, order_id, amount, currency, method, status, payment_url, gateway_reference, created_at, updated_at, revision)
       VALUES ($1, $2, $3::bigint, $4, $5, 'INITIATED', $6, $7, $8::timestamptz, $8::timestamptz, $9::bigint)
       ON CONFLICT (payment_id) DO NOTHING`,
      [p.paymentId, p.orderId, p.amount, p.currency, p.method, p.paymentUrl ?? null, p.gatewayReference ?? null, p.at, event.revision],
    );
    return;
  }

  const step = (sets = "", params: readonly unknown[] = []) =>
    advance(sql, t.payments, "payment_id", d.paymentId, event, d.at, sets, params);

  switch (event.type) {
    case "PaymentAuthorized":
      await step("status = 'AUTHORIZED', gateway_payment_id = coalesce($4::text, gateway_payment_id)", [
        event.data.gatewayPaymentId ?? null,
      ]);
      return;
    case "PaymentCaptured":
      await step("status = 'CAPTURED', captured_amount = $4::bigint, gateway_payment_id = coalesce($5::text, gateway_payment_id)", [
        event.data.amount,
        event.data.gatewayPaymentId ?? null,
      ]);
      return;
    case "CaptureAfterVoidFlagged":
      await step("capture_after_void = true");
      return;
    case "PaymentFailed":
      await step("status = 'FAILED', failure_reason = $4::text", [event.data.reason]);
      return;
    case "PaymentVoided":
      await step("status = 'VOIDED'");
      return;
    case "RefundRequested":
      if (!(await step())) return;
      await sql.query(
        `INSERT INTO ${ident(t.refunds)} (payment_id, refund_id, seq, amount, status, reason, requested_at)
         VALUES ($1, $2, $3::bigint, $4::bigint, 'PENDING', $5, $6::timestamptz) ON CONFLICT DO NOTHING`,
        [d.paymentId, event.data.refundId, event.revision, event.data.amount, event.data.reason, d.at],
      );
      return;
    case "RefundProcessed":
      if (
        !(await step(
          `refunded_amount = refunded_amount + $4::bigint,
           status = CASE WHEN refunded_amount + $4::bigint >= captured_amount THEN 'REFUNDED' ELSE 'PARTIALLY_REFUNDED' END`,
          [event.data.amount],
        ))
      )
        return;
      await sql.query(
        `UPDATE ${ident(t.refunds)} SET status = 'PROCESSED', processed_at = $3::timestamptz WHERE payment_id = $1 AND refund_id = $2`,
        [d.paymentId, event.data.refundId, d.at],
      );
      return;
    case "RefundFailed":
      if (!(await step())) return;
      await sql.query(`UPDATE ${ident(t.refunds)} SET status = 'FAILED', failure_reason = $3 WHERE payment_id = $1 AND refund_id = $2`, [
        d.paymentId,
        event.data.refundId,
        event.data.reason,
      ]);
      return;
    default:
      // GatewayEventIgnored and types unknown here: only the revision and updated_at move.
      await step();
  }
}

export const paymentsProjection: Projection<PaymentTables> = {
  name: "projections/payments",
  filter: { streamCategories: ["payment"] },
  tables: PAYMENT_TABLES,
  schema,
  migrations: [{ id: "projections/payments/001-tables", sql: schema(PAYMENT_TABLES) }],
  apply,
  applyBatch: (events, sql, t = PAYMENT_TABLES) => applyFold(paymentsFold, events, sql, t),
  fold: paymentsFold,
};
