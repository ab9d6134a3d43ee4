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

/**
 * Applies a page of events: reads the states the page touches in one query per table, folds the
 * events in memory in log order, and writes each table back with one set-based statement.
 * `apply` is a page of one, so a live projector and a rebuild share every rule.
 */
async function applyBatch(events: readonly RecordedEvent[], sql: SqlExecutor, t: RefundTables = REFUND_TABLES): Promise<void> {
  const paymentIds = [
    ...new Set(
      events
        .filter((e) => e.streamId.startsWith("payment-"))
        .map((e) => (e.data as { paymentId?: unknown }).paymentId)
        .filter((id): id is string => typeof id === "string"),
    ),
  ];
  const orderIds = [...new Set(events.filter((e) => e.streamId.startsWith("order-")).map((e) => e.streamId.slice("order-".length)))];
  // One after another: `sql` is a transaction's one connection.
  const paymentRows =
    paymentIds.length === 0
      ? { rows: [] }
      : await sql.query<{ payment_id: string; state: unknown; revision: string | number }>(
          `SELECT payment_id, state, revision FROM ${ident(t.payments)} WHERE payment_id = ANY($1::text[])`,
          [paymentIds],
        );
  const orderRows =
    orderIds.length === 0
      ? { rows: [] }
      : await sql.query<{ order_id: string; state: unknown; revision: string | number }>(
          `SELECT order_id, state, revision FROM ${ident(t.orders)} WHERE order_id = ANY($1::text[])`,
          [orderIds],
        );
  const payments = new Map(
    paymentRows.rows.map((r) => [
      r.payment_id,
      { state: paymentFromJson(r.state), revision: Number(r.revision), firstPosition: null as string | null, dirty: false },
    ]),
  );
  const orders = new Map(
    orderRows.rows.map((r) => [r.order_id, { state: orderFromJson(r.state), revision: Number(r.revision), dirty: false }]),
  );
  const activity: [string, number, string][] = [];
  const captures: [string, number, number, string][] = [];
  const refunds = new Map<string, { paymentId: string; seq: number; refund: Payment["refunds"][number] }>();

  for (const event of events) {
    if (event.streamId.startsWith("order-")) {
      const orderId = event.streamId.slice("order-".length);
      const row = orders.get(orderId);
      if (row && row.revision >= event.revision) continue; // already applied
      const after = orderDecider.evolve(row ? row.state : orderDecider.initialState, { type: event.type, data: event.data } as OrderEvent);
      if (after.status === "NONE") continue;
      orders.set(orderId, { state: after, revision: event.revision, dirty: true });
      continue;
    }
    if (!event.streamId.startsWith("payment-")) continue;
    const paymentId = (event.data as { paymentId?: unknown }).paymentId;
    if (typeof paymentId !== "string") continue;
    const row = payments.get(paymentId);
    if (row && row.revision >= event.revision) continue;
    const after = paymentDecider.evolve(row ? row.state : paymentDecider.initialState, {
      type: event.type,
      data: event.data,
    } as PaymentEvent);
    if (after.status === "NONE") continue; // an event before the payment was initiated changes nothing (as in the aggregate)
    payments.set(paymentId, {
      state: after,
      revision: event.revision,
      firstPosition: row ? row.firstPosition : event.position,
      dirty: true,
    });
    const at = eventTime(event).toISOString();
    activity.push([paymentId, event.revision, at]);
    if (event.type === "PaymentCaptured") captures.push([paymentId, event.revision, (event.data as { amount: number }).amount, at]);
    if (event.type.startsWith("Refund")) {
      const seq = after.refunds.findIndex((r) => r.refundId === (event.data as { refundId?: unknown }).refundId);
      const refund = after.refunds[seq];
      if (refund) refunds.set(`${paymentId}\u0000${refund.refundId}`, { paymentId, seq, refund });
    }
  }

  const changedPayments = [...payments].filter(([, p]) => p.dirty);
  if (changedPayments.length > 0) {
    const live = changedPayments.map(([id, p]) => [id, p.state as Payment, p] as const);
    // first_position is kept from the row's first insert (a page that meets a stored payment passes null and leaves it).
    await sql.query(
      `INSERT INTO ${ident(t.payments)} (payment_id, order_id, state, first_position, revision)
       SELECT id, o, st, coalesce(fp, ''), r FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::text[], $5::bigint[]) AS x(id, o, st, fp, r)
       ON CONFLICT (payment_id) DO UPDATE SET state = excluded.state, revision = excluded.revision`,
      [
        live.map((x) => x[0]),
        live.map((x) => x[1].orderId),
        live.map((x) => paymentToJson(x[1])),
        live.map((x) => x[2].firstPosition),
        live.map((x) => x[2].revision),
      ],
    );
  }
  const changedOrders = [...orders].filter(([, o]) => o.dirty);
  if (changedOrders.length > 0) {
    await sql.query(
      `INSERT INTO ${ident(t.orders)} (order_id, state, revision) SELECT * FROM unnest($1::text[], $2::jsonb[], $3::bigint[])
       ON CONFLICT (order_id) DO UPDATE SET state = excluded.state, revision = excluded.revision`,
      [changedOrders.map(([id]) => id), changedOrders.map(([, o]) => JSON.stringify(o.state)), changedOrders.map(([, o]) => o.revision)],
    );
  }
  if (activity.length > 0) {
    await sql.query(
      `INSERT INTO ${ident(t.activity)} (payment_id, revision, at) SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[]) ON CONFLICT DO NOTHING`,
      [activity.map((a) => a[0]), activity.map((a) => a[1]), activity.map((a) => a[2])],
    );
  }
  if (captures.length > 0) {
    await sql.query(
      `INSERT INTO ${ident(t.captures)} (payment_id, revision, amount, at) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::timestamptz[]) ON CONFLICT DO NOTHING`,
      [captures.map((c) => c[0]), captures.map((c) => c[1]), captures.map((c) => c[2]), captures.map((c) => c[3])],
    );
  }
  if (refunds.size > 0) {
    const list = [...refunds.values()];
    await sql.query(
      `INSERT INTO ${ident(t.refunds)} (payment_id, refund_id, seq, status, amount, requested_at, processed_at, refund)
       SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::bigint[], $6::timestamptz[], $7::timestamptz[], $8::jsonb[])
       ON CONFLICT (payment_id, refund_id) DO UPDATE SET status = excluded.status, amount = excluded.amount, processed_at = excluded.processed_at, refund = excluded.refund`,
      [
        list.map((r) => r.paymentId),
        list.map((r) => r.refund.refundId),
        list.map((r) => r.seq),
        list.map((r) => r.refund.status),
        list.map((r) => r.refund.amount),
        list.map((r) => r.refund.requestedAt),
        list.map((r) => r.refund.processedAt ?? null),
        list.map((r) => JSON.stringify(r.refund)),
      ],
    );
  }
}

const apply = (event: RecordedEvent, sql: SqlExecutor, t: RefundTables = REFUND_TABLES): Promise<void> => applyBatch([event], sql, t);

export const refundsProjection: Projection<RefundTables> = {
  name: "projections/refunds",
  filter: { streamCategories: ["payment", "order"] },
  tables: REFUND_TABLES,
  schema,
  migrations: [{ id: "projections/refunds/001-tables", sql: schema(REFUND_TABLES) }],
  apply,
  applyBatch,
};
