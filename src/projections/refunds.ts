// The refunds read model behind refund reconciliation (src/queries/refunds.ts): per payment and
// per order what reconciliation reads of them (./refund-states.ts: a few fields folded by the
// aggregates' own rules, not their whole states), plus the rows a date window is looked up by:
// each refund with its request and processing time, each capture with its time, and the time of
// every other payment event. A payment is checked for mismatches in a window when something
// happened to it in that window: its initiation (the payment's row, `initiated_at`), a capture
// (its capture row) or any other event (an "activity" row). The first two are not repeated as
// activity rows: with one of each for every payment, they were most of the model's rows.

import type { OrderEvent } from "../aggregates/order.js";
import type { PaymentEvent } from "../aggregates/payment.js";
import type { RecordedEvent } from "../eventstore/port.js";
import type { SqlExecutor } from "../infrastructure/sql/sql-client.js";
import { applyFold, type RowFold } from "./fold.js";
import { ident, type Projection } from "./projection.js";
import { isCanonicalIso } from "./sql-text.js";
import { evolveReconOrder, evolveReconPayment, reconOrder, reconPayment, type ReconOrder, type ReconPayment } from "./refund-states.js";
import { keyOf, type Columns } from "./rows.js";

export const REFUND_TABLES = {
  payments: "rm_recon_payments",
  orders: "rm_recon_orders",
  refunds: "rm_recon_refunds",
  captures: "rm_recon_captures",
  activity: "rm_recon_activity",
} as const;
export type RefundTables = { readonly [K in keyof typeof REFUND_TABLES]: string };

/** The tables as first released (migration 001). */
function baseSchema(t: RefundTables): string {
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

/**
 * A payment's initiation time on its row, in place of an activity row (migration 002). Rows stored
 * before it have none, and their activity rows include the initiation: a window looks in both.
 */
function initiatedSchema(t: RefundTables): string {
  const p = ident(t.payments);
  return `
    ALTER TABLE ${p} ADD COLUMN IF NOT EXISTS initiated_at timestamptz;
    CREATE INDEX IF NOT EXISTS ${p}_initiated_idx ON ${p} (initiated_at);`;
}

const schema = (t: RefundTables): string => baseSchema(t) + initiatedSchema(t);

/** The time an event happened: its `data.at` when it has one, else when it was stored (as the log scan has it). */
export const eventTime = (e: Pick<RecordedEvent, "data" | "recordedAt">): Date => {
  const at = (e.data as { at?: unknown } | null)?.at;
  const ms = typeof at === "string" ? Date.parse(at) : Number.NaN;
  return Number.isNaN(ms) ? e.recordedAt : new Date(ms);
};

/** eventTime as toISOString prints it, without the parse when `data.at` is printed so already (isoText). */
const eventTimeText = (e: Pick<RecordedEvent, "data" | "recordedAt">): string => {
  const at = (e.data as { at?: unknown } | null)?.at;
  return typeof at === "string" && isCanonicalIso(at) ? at : eventTime(e).toISOString();
};

const PAYMENT_COLUMNS: Columns = {
  payment_id: "text",
  order_id: "text",
  state: "jsonb",
  first_position: "text",
  revision: "bigint",
  initiated_at: "timestamptz",
};
const ORDER_COLUMNS: Columns = { order_id: "text", state: "jsonb", revision: "bigint" };
const REFUND_COLUMNS: Columns = {
  payment_id: "text",
  refund_id: "text",
  seq: "int",
  status: "text",
  amount: "bigint",
  requested_at: "timestamptz",
  processed_at: "timestamptz",
  refund: "jsonb",
};
const CAPTURE_COLUMNS: Columns = { payment_id: "text", revision: "bigint", amount: "bigint", at: "timestamptz" };
const ACTIVITY_COLUMNS: Columns = { payment_id: "text", revision: "bigint", at: "timestamptz" };

const paymentIdOf = (e: RecordedEvent): string | null => {
  const id = (e.data as { paymentId?: unknown }).paymentId;
  return e.streamId.startsWith("payment-") && typeof id === "string" ? id : null;
};

/**
 * The states a page (or a rebuild) touches, folded in memory in log order by the aggregates' rules
 * kept to what reconciliation reads (./refund-states.ts), each table written with one set-based
 * statement. `apply` is a page of one, so a live projector and a rebuild share every rule. A state
 * is plain JSON, kept in memory as it is stored.
 */
const refundsFold: RowFold<keyof RefundTables> = {
  tables: {
    payments: {
      columns: PAYMENT_COLUMNS,
      key: ["payment_id"],
      lookup: "payment_id",
      write: "revision",
      // (Rows stored before ./refund-states.ts hold the aggregate's whole state: read as the fields kept.)
      decode: (row) => ({ ...row, state: reconPayment(row.state) }),
    },
    orders: {
      columns: ORDER_COLUMNS,
      key: ["order_id"],
      lookup: "order_id",
      write: "revision",
      decode: (row) => ({ ...row, state: reconOrder(row.state) }),
    },
    // A refund's row is the payment's refund as the fold left it: written whole, never read.
    refunds: { columns: REFUND_COLUMNS, key: ["payment_id", "refund_id"], write: "update" },
    captures: { columns: CAPTURE_COLUMNS, key: ["payment_id", "revision"], write: "insert" },
    activity: { columns: ACTIVITY_COLUMNS, key: ["payment_id", "revision"], write: "insert" },
  },
  needs(events) {
    const payments = new Set<string>();
    const orders = new Set<string>();
    for (const e of events) {
      if (e.streamId.startsWith("order-")) orders.add(e.streamId.slice("order-".length));
      const paymentId = paymentIdOf(e);
      if (paymentId !== null) payments.add(paymentId);
    }
    return { payments, orders };
  },
  fold(events, { payments, orders, refunds, captures, activity }) {
    for (const event of events) {
      if (event.streamId.startsWith("order-")) {
        const orderId = event.streamId.slice("order-".length);
        const row = orders.get(orderId);
        if (row && (row.revision as number) >= event.revision) continue; // already applied
        const after = evolveReconOrder(row?.state as ReconOrder | undefined, { type: event.type, data: event.data } as OrderEvent);
        if (after === undefined) continue;
        orders.set(orderId, { order_id: orderId, state: after, revision: event.revision });
        continue;
      }
      const paymentId = paymentIdOf(event);
      if (paymentId === null) continue;
      const row = payments.get(paymentId);
      if (row && (row.revision as number) >= event.revision) continue;
      const after = evolveReconPayment(row?.state as ReconPayment | undefined, { type: event.type, data: event.data } as PaymentEvent);
      if (after === undefined) continue; // an event before the payment was initiated changes nothing (as in the aggregate)
      const at = eventTimeText(event);
      payments.set(paymentId, {
        payment_id: paymentId,
        // These three kept from the row's first insert (its event initiated the payment).
        order_id: row ? row.order_id : after.orderId,
        state: after,
        first_position: row ? row.first_position : event.position,
        revision: event.revision,
        initiated_at: row ? row.initiated_at : at,
      });
      // The event's time, for the windows it falls in: on the row it created, on its capture row,
      // else on an activity row of its own.
      if (event.type === "PaymentCaptured")
        captures.set(keyOf(paymentId, event.revision), {
          payment_id: paymentId,
          revision: event.revision,
          amount: (event.data as { amount: number }).amount,
          at,
        });
      else if (row) activity.set(keyOf(paymentId, event.revision), { payment_id: paymentId, revision: event.revision, at });
      if (event.type.startsWith("Refund")) {
        const seq = after.refunds.findIndex((r) => r.refundId === (event.data as { refundId?: unknown }).refundId);
        const refund = after.refunds[seq];
        if (refund)
          refunds.set(keyOf(paymentId, refund.refundId), {
            payment_id: paymentId,
            refund_id: refund.refundId,
            seq,
            status: refund.status,
            amount: refund.amount,
            requested_at: refund.requestedAt,
            processed_at: refund.processedAt ?? null,
            refund,
          });
      }
    }
  },
};

const applyBatch = (events: readonly RecordedEvent[], sql: SqlExecutor, t: RefundTables = REFUND_TABLES): Promise<void> =>
  applyFold(refundsFold, events, sql, t);

const apply = (event: RecordedEvent, sql: SqlExecutor, t: RefundTables = REFUND_TABLES): Promise<void> => applyBatch([event], sql, t);

export const refundsProjection: Projection<RefundTables> = {
  name: "projections/refunds",
  filter: { streamCategories: ["payment", "order"] },
  tables: REFUND_TABLES,
  schema,
  migrations: [
    { id: "projections/refunds/001-tables", sql: baseSchema(REFUND_TABLES) },
    { id: "projections/refunds/002-initiated-at", sql: initiatedSchema(REFUND_TABLES) },
  ],
  apply,
  applyBatch,
  fold: refundsFold,
};
