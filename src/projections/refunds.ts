// The refunds read model behind refund reconciliation (src/queries/refunds.ts): per payment and
// per order the aggregate's own state (folded with the aggregate's evolve, so it cannot drift
// from what the command side decides), plus the rows a date window is looked up by: each
// refund with its request and processing time, each capture with its time, and the time of
// every payment event ("activity": a payment is checked for mismatches in a window when
// something happened to it in that window).

import { orderDecider, type OrderEvent, type OrderState } from "../aggregates/order.js";
import { paymentDecider, type Payment, type PaymentEvent, type PaymentState } from "../aggregates/payment.js";
import type { RecordedEvent } from "../eventstore/port.js";
import type { SqlExecutor } from "../infrastructure/sql/sql-client.js";
import { ident, type Projection } from "./projection.js";

export const REFUND_TABLES = {
  payments: "rm_recon_payments",
  orders: "rm_recon_orders",
  refunds: "rm_recon_refunds",
  captures: "rm_recon_captures",
  activity: "rm_recon_activity",
} as const;
export type RefundTables = { readonly [K in keyof typeof REFUND_TABLES]: string };

function schema(t: RefundTables): string {
  const [p, o, r, c, a] = [ident(t.payments), ident(t.orders), ident(t.refunds), ident(t.captures), ident(t.activity)];
  return `
    CREATE TABLE ${p} (
      payment_id text PRIMARY KEY,
      order_id text NOT NULL,
      state jsonb NOT NULL,
      first_position text NOT NULL,
      revision bigint NOT NULL
    );
    CREATE TABLE ${o} (
      order_id text PRIMARY KEY,
      state jsonb NOT NULL,
      revision bigint NOT NULL
    );
    CREATE TABLE ${r} (
      payment_id text NOT NULL,
      refund_id text NOT NULL,
      seq int NOT NULL,
      status text NOT NULL,
      amount bigint NOT NULL,
      requested_at timestamptz NOT NULL,
      processed_at timestamptz,
      refund jsonb NOT NULL,
      PRIMARY KEY (payment_id, refund_id)
    );
    CREATE INDEX ${r}_requested_idx ON ${r} (requested_at);
    CREATE INDEX ${r}_processed_idx ON ${r} (processed_at) WHERE status = 'PROCESSED';
    CREATE TABLE ${c} (
      payment_id text NOT NULL,
      revision bigint NOT NULL,
      amount bigint NOT NULL,
      at timestamptz NOT NULL,
      PRIMARY KEY (payment_id, revision)
    );
    CREATE INDEX ${c}_at_idx ON ${c} (at);
    CREATE TABLE ${a} (
      payment_id text NOT NULL,
      revision bigint NOT NULL,
      at timestamptz NOT NULL,
      PRIMARY KEY (payment_id, revision)
    );
    CREATE INDEX ${a}_at_idx ON ${a} (at, payment_id);`;
}

/** The time an event happened: its `data.at` when it has one, else when it was stored (as the log scan has it). */
export const eventTime = (e: Pick<RecordedEvent, "data" | "recordedAt">): Date => {
  const at = (e.data as { at?: unknown } | null)?.at;
  const ms = typeof at === "string" ? Date.parse(at) : Number.NaN;
  return Number.isNaN(ms) ? e.recordedAt : new Date(ms);
};

/** Payment state as JSON: its set of seen gateway events becomes a list. */
const paymentToJson = (p: Payment): string => JSON.stringify({ ...p, seenGatewayEvents: [...p.seenGatewayEvents] });
export const paymentFromJson = (json: unknown): PaymentState => {
  const value = (typeof json === "string" ? JSON.parse(json) : json) as Payment & { seenGatewayEvents: string[] };
  return { ...value, seenGatewayEvents: new Set(value.seenGatewayEvents) };
};
export const orderFromJson = (json: unknown): OrderState => (typeof json === "string" ? JSON.parse(json) : json) as OrderState;

async function applyPayment(event: RecordedEvent, sql: SqlExecutor, t: RefundTables): Promise<void> {
  const paymentId = (event.data as { paymentId?: unknown }).paymentId;
  if (typeof paymentId !== "string") return;
  const { rows } = await sql.query<{ state: unknown; revision: string | number }>(`SELECT state, revision FROM ${ident(t.payments)} WHERE payment_id = $1`, [paymentId]);
  const row = rows[0];
  if (row && Number(row.revision) >= event.revision) return; // already applied
  const before = row ? paymentFromJson(row.state) : paymentDecider.initialState;
  const after = paymentDecider.evolve(before, { type: event.type, data: event.data } as PaymentEvent);
  if (after.status === "NONE") return; // an event before the payment was initiated changes nothing (as in the aggregate)
  await sql.query(
    `INSERT INTO ${ident(t.payments)} (payment_id, order_id, state, first_position, revision) VALUES ($1, $2, $3::jsonb, $4, $5::bigint)
     ON CONFLICT (payment_id) DO UPDATE SET state = excluded.state, revision = excluded.revision`,
    [paymentId, after.orderId, paymentToJson(after), event.position, event.revision],
  );
  const at = eventTime(event).toISOString();
  await sql.query(`INSERT INTO ${ident(t.activity)} (payment_id, revision, at) VALUES ($1, $2::bigint, $3::timestamptz) ON CONFLICT DO NOTHING`, [paymentId, event.revision, at]);
  if (event.type === "PaymentCaptured") {
    await sql.query(`INSERT INTO ${ident(t.captures)} (payment_id, revision, amount, at) VALUES ($1, $2::bigint, $3::bigint, $4::timestamptz) ON CONFLICT DO NOTHING`, [
      paymentId,
      event.revision,
      (event.data as { amount: number }).amount,
      at,
    ]);
  }
  if (event.type.startsWith("Refund")) {
    const seq = after.refunds.findIndex((r) => r.refundId === (event.data as { refundId?: unknown }).refundId);
    const refund = after.refunds[seq];
    if (!refund) return;
    await sql.query(
      `INSERT INTO ${ident(t.refunds)} (payment_id, refund_id, seq, status, amount, requested_at, processed_at, refund)
       VALUES ($1, $2, $3, $4, $5::bigint, $6::timestamptz, $7::timestamptz, $8::jsonb)
       ON CONFLICT (payment_id, refund_id) DO UPDATE SET status = excluded.status, amount = excluded.amount, processed_at = excluded.processed_at, refund = excluded.refund`,
      [paymentId, refund.refundId, seq, refund.status, refund.amount, refund.requestedAt, refund.processedAt ?? null, JSON.stringify(refund)],
    );
  }
}

async function applyOrder(event: RecordedEvent, sql: SqlExecutor, t: RefundTables): Promise<void> {
  const orderId = event.streamId.slice("order-".length);
  const { rows } = await sql.query<{ state: unknown; revision: string | number }>(`SELECT state, revision FROM ${ident(t.orders)} WHERE order_id = $1`, [orderId]);
  const row = rows[0];
  if (row && Number(row.revision) >= event.revision) return;
  const before = row ? orderFromJson(row.state) : orderDecider.initialState;
  const after = orderDecider.evolve(before, { type: event.type, data: event.data } as OrderEvent);
  if (after.status === "NONE") return;
  await sql.query(
    `INSERT INTO ${ident(t.orders)} (order_id, state, revision) VALUES ($1, $2::jsonb, $3::bigint)
     ON CONFLICT (order_id) DO UPDATE SET state = excluded.state, revision = excluded.revision`,
    [orderId, JSON.stringify(after), event.revision],
  );
}

async function apply(event: RecordedEvent, sql: SqlExecutor, t: RefundTables = REFUND_TABLES): Promise<void> {
  if (event.streamId.startsWith("payment-")) return applyPayment(event, sql, t);
  if (event.streamId.startsWith("order-")) return applyOrder(event, sql, t);
}

export const refundsProjection: Projection<RefundTables> = {
  name: "projections/refunds",
  filter: { streamCategories: ["payment", "order"] },
  tables: REFUND_TABLES,
  schema,
  migrations: [{ id: "projections/refunds/001-tables", sql: schema(REFUND_TABLES) }],
  apply,
};
