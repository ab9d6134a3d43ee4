// Where an order's events live outside its own streams: one row per event of a payment, an
// inventory stream (its reservations), a cart or a coupon that names the order in `data.orderId`.
// Inventory streams are shared by every order of a SKU and warehouse, so reading them whole for
// one order's history would grow with the shop; this index lets the history query
// (src/queries/order-history.ts) read exactly the order's events from them by revision.
// The order's own streams (order-<id>, orderSaga-<id>, orderSagaInbox-<id>) are read directly and
// are indexed only for events that name another order.

import type { RecordedEvent, StoredLogQuery } from "../eventstore/port.js";
import { streamCategory } from "../eventstore/port.js";
import type { SqlExecutor } from "../infrastructure/sql/sql-client.js";
import { applyFold, type RowFold } from "./fold.js";
import { ident, type Projection } from "./projection.js";
import { keyOf } from "./rows.js";

export const ORDER_HISTORY_TABLES = { index: "rm_order_history" } as const;
export type OrderHistoryTables = { readonly [K in keyof typeof ORDER_HISTORY_TABLES]: string };

/** Categories whose streams are one order's own: read whole by the history query. */
// (The saga's categories are spelled out: projections may not import src/sagas; a test checks they agree.)
export const ORDER_OWN_CATEGORIES = ["order", "orderSaga", "orderSagaInbox"] as const;
/** Categories whose events belong to an order when they name it. */
export const ORDER_RELATED_CATEGORIES = ["payment", "inventory", "cart", "coupon"] as const;

function schema(t: OrderHistoryTables): string {
  const i = ident(t.index);
  return `
    CREATE TABLE ${i} (
      order_id text NOT NULL,
      stream_id text NOT NULL,
      revision bigint NOT NULL,
      position text NOT NULL,
      PRIMARY KEY (order_id, stream_id, revision)
    );`;
}

/** The order an event names, when it must be indexed (null otherwise). */
export function indexedOrderOf(event: Pick<RecordedEvent, "streamId" | "data">): string | null {
  const data = event.data as { orderId?: unknown } | null;
  const orderId = data !== null && typeof data === "object" && typeof data.orderId === "string" ? data.orderId : null;
  if (orderId === null) return null;
  const category = streamCategory(event.streamId);
  if ((ORDER_RELATED_CATEGORIES as readonly string[]).includes(category)) return orderId;
  // An order's own stream naming another order (none today; kept so the history stays complete).
  if ((ORDER_OWN_CATEGORIES as readonly string[]).includes(category) && event.streamId !== `${category}-${orderId}`) return orderId;
  return null;
}

async function apply(event: RecordedEvent, sql: SqlExecutor, t: OrderHistoryTables = ORDER_HISTORY_TABLES): Promise<void> {
  const orderId = indexedOrderOf(event);
  if (orderId === null) return;
  // The key is the event's place in its stream, so a redelivered event changes nothing.
  await sql.query(
    `INSERT INTO ${ident(t.index)} (order_id, stream_id, revision, position) VALUES ($1, $2, $3::bigint, $4) ON CONFLICT DO NOTHING`,
    [orderId, event.streamId, event.revision, event.position],
  );
}

/** `apply` as a fold: a page's (or a rebuild's) index rows inserted together. */
const orderHistoryFold: RowFold<"index"> = {
  tables: {
    index: {
      columns: { order_id: "text", stream_id: "text", revision: "bigint", position: "text" },
      key: ["order_id", "stream_id", "revision"],
      write: "insert",
    },
  },
  needs: () => ({}),
  fold(events, { index }) {
    for (const event of events) {
      const orderId = indexedOrderOf(event);
      if (orderId !== null)
        index.set(keyOf(orderId, event.streamId, event.revision), {
          order_id: orderId,
          stream_id: event.streamId,
          revision: event.revision,
          position: event.position,
        });
    }
  },
};

/**
 * `indexedOrderOf` in SQL, for a rebuild: the database builds the whole index from the log beside
 * it, on the other core, while the rebuild's Node process reads and folds the other models. On the
 * 1M-event benchmark log, leaving this model out of a rebuild took its Node CPU from 27.4 s to
 * 21.9 s (its fold and writes, and the saga streams read for it alone); the statement costs the
 * server about 3.7 s, in parallel (ADR 0009). No ON CONFLICT: the key holds the event's stream and
 * revision, unique in the log, and the table is fresh.
 */
function backfill(log: StoredLogQuery, t: OrderHistoryTables): StoredLogQuery {
  const related = log.params.length + 1;
  return {
    text: `INSERT INTO ${ident(t.index)} (order_id, stream_id, revision, position)
           SELECT e.data->>'orderId', e.stream_id, e.revision, e.position FROM (${log.text}) e
            WHERE jsonb_typeof(e.data->'orderId') = 'string'
              AND (e.category = ANY ($${related}::text[]) OR e.stream_id <> e.category || '-' || (e.data->>'orderId'))`,
    params: [...log.params, ORDER_RELATED_CATEGORIES],
  };
}

export const orderHistoryProjection: Projection<OrderHistoryTables> = {
  name: "projections/order-history",
  filter: { streamCategories: [...ORDER_OWN_CATEGORIES, ...ORDER_RELATED_CATEGORIES] },
  tables: ORDER_HISTORY_TABLES,
  schema,
  migrations: [{ id: "projections/order-history/001-tables", sql: schema(ORDER_HISTORY_TABLES) }],
  apply,
  applyBatch: (events, sql, t = ORDER_HISTORY_TABLES) => applyFold(orderHistoryFold, events, sql, t),
  fold: orderHistoryFold,
  backfill,
};
