// What the translator remembers from earlier events so later ones can be translated: an order's
// customer and currency, a SKU's category path and low-stock threshold, and each SKU and
// warehouse's available units. Written in the translator's transaction, so facts, outbox rows
// and checkpoint move together; guarded by stream revision, so a redelivered event changes
// nothing. resetTranslator() clears them with the checkpoint: a replay from position 0 rebuilds
// them in order and yields exactly the same integration events (same ids).

import type { RecordedEvent } from "../eventstore/port.js";
import type { Migration } from "../infrastructure/sql/migrations.js";
import type { SqlExecutor } from "../infrastructure/sql/sql-client.js";
import type { OrderFacts, TranslationFacts } from "./translate.js";

/** Threshold of a SKU whose product sets no `lowStockThreshold` attribute. */
export const DEFAULT_LOW_STOCK_THRESHOLD = 5;

export const factsMigrations: readonly Migration[] = [
  {
    id: "integration/002-translator-facts",
    sql: `
      CREATE TABLE integration_order_facts (
        order_id text PRIMARY KEY,
        customer_id text NOT NULL,
        currency text NOT NULL,
        total_amount bigint NOT NULL
      );
      CREATE TABLE integration_product_facts (
        sku text PRIMARY KEY,
        category jsonb NOT NULL,
        low_stock_threshold int,
        revision bigint NOT NULL
      );
      CREATE TABLE integration_stock_facts (
        sku text NOT NULL,
        warehouse_id text NOT NULL,
        available bigint NOT NULL,
        revision bigint NOT NULL,
        PRIMARY KEY (sku, warehouse_id)
      );
    `,
  },
];

export const FACT_TABLES = ["integration_order_facts", "integration_product_facts", "integration_stock_facts"] as const;

type Data = Record<string, unknown>;

/** How an inventory event changes available units: a delta, or a counted absolute value. */
function availableChange(event: RecordedEvent): { delta: number } | { set: number } | undefined {
  const d = event.data as Data;
  const q = Number(d.quantity ?? 0);
  switch (event.type) {
    case "StockReceived":
    case "StockReleased":
    case "StockReservationExpired":
    case "StockRestocked":
      return { delta: q };
    case "StockReserved":
      return { delta: -q };
    case "StockAdjusted":
      return { set: Number(d.countedAvailable) };
    default:
      return undefined;
  }
}

function thresholdFrom(attributes: unknown): number | null {
  const v = (attributes as Data | undefined)?.lowStockThreshold;
  const n = typeof v === "string" ? Number(v) : v;
  return typeof n === "number" && Number.isInteger(n) && n >= 0 ? n : null;
}

/**
 * An order's facts never change once placed, so the translator keeps the recent ones in memory
 * and saves a query on each later event of the order. (A cached entry whose transaction rolled
 * back is harmless: the same event is handled again and yields the same facts.)
 */
export class OrderFactsCache {
  private readonly entries = new Map<string, OrderFacts>();
  constructor(private readonly capacity = 20_000) {}
  get(orderId: string): OrderFacts | undefined {
    return this.entries.get(orderId);
  }
  set(orderId: string, facts: OrderFacts): void {
    if (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(orderId, facts);
  }
}

/**
 * What one batch of the translator remembers between its events: orders placed earlier in the
 * batch, whose facts are written in one statement at the batch's end (saveOrderFacts) instead of
 * one INSERT per order, and the category paths read so far (a lookup per order line was most of
 * a batch's time; a product event of the batch forgets its SKU's).
 */
export class TranslationBatch {
  readonly orders = new Map<string, OrderFacts>();
  readonly categories = new Map<string, string[]>();
}

export async function saveOrderFacts(sql: SqlExecutor, batch: TranslationBatch): Promise<void> {
  if (batch.orders.size === 0) return;
  const params: unknown[] = [];
  const tuples = [...batch.orders].map(([orderId, f], i) => {
    params.push(orderId, f.customerId, f.currency, f.totalAmount);
    return `($${4 * i + 1}, $${4 * i + 2}, $${4 * i + 3}, $${4 * i + 4})`;
  });
  await sql.query(
    `INSERT INTO integration_order_facts (order_id, customer_id, currency, total_amount) VALUES ${tuples.join(", ")} ON CONFLICT (order_id) DO NOTHING`,
    params,
  );
}

/**
 * Records what `event` teaches and returns the facts its translation needs. With `batch`, an
 * order's facts are kept there for saveOrderFacts (in the same transaction) instead of inserted.
 */
export async function learn(
  sql: SqlExecutor,
  event: RecordedEvent,
  cache?: OrderFactsCache,
  batch?: TranslationBatch,
): Promise<TranslationFacts> {
  const d = (event.data ?? {}) as Data;
  const facts: TranslationFacts = {
    async order(orderId) {
      const cached = batch?.orders.get(orderId) ?? cache?.get(orderId);
      if (cached) return cached;
      const { rows } = await sql.query<{ customer_id: string; currency: string; total_amount: string | number }>(
        "SELECT customer_id, currency, total_amount FROM integration_order_facts WHERE order_id = $1",
        [orderId],
      );
      const r = rows[0];
      return r
        ? ({ customerId: r.customer_id, currency: r.currency, totalAmount: Number(r.total_amount) } satisfies OrderFacts)
        : undefined;
    },
    async category(sku) {
      const known = batch?.categories.get(sku);
      if (known) return known;
      const { rows } = await sql.query<{ category: unknown }>("SELECT category FROM integration_product_facts WHERE sku = $1", [sku]);
      const c = rows[0]?.category;
      const parsed = typeof c === "string" ? (JSON.parse(c) as unknown) : c;
      const path = Array.isArray(parsed) ? parsed.map(String) : [];
      batch?.categories.set(sku, path);
      return path;
    },
  };

  switch (event.type) {
    case "OrderPlaced": {
      const placed: OrderFacts = { customerId: String(d.customerId), currency: String(d.currency), totalAmount: Number(d.totalAmount) };
      cache?.set(String(d.orderId), placed);
      // The first placed event of an order wins, as ON CONFLICT DO NOTHING does.
      if (batch) {
        if (!batch.orders.has(String(d.orderId))) batch.orders.set(String(d.orderId), placed);
        return facts;
      }
      await sql.query(
        "INSERT INTO integration_order_facts (order_id, customer_id, currency, total_amount) VALUES ($1, $2, $3, $4) ON CONFLICT (order_id) DO NOTHING",
        [d.orderId, d.customerId, d.currency, d.totalAmount],
      );
      return facts;
    }
    case "ProductCreated":
      batch?.categories.delete(String(d.sku));
      await sql.query(
        `INSERT INTO integration_product_facts (sku, category, low_stock_threshold, revision) VALUES ($1, $2::jsonb, $3, $4)
         ON CONFLICT (sku) DO UPDATE SET category = excluded.category, low_stock_threshold = excluded.low_stock_threshold, revision = excluded.revision
         WHERE integration_product_facts.revision < excluded.revision`,
        [d.sku, JSON.stringify(d.category ?? []), thresholdFrom(d.attributes), event.revision],
      );
      return facts;
    case "ProductDetailsChanged": {
      batch?.categories.delete(String(d.sku));
      const changes = (d.changes ?? {}) as Data;
      await sql.query(
        `UPDATE integration_product_facts
            SET category = COALESCE($2::jsonb, category),
                low_stock_threshold = CASE WHEN $3::boolean THEN $4::int ELSE low_stock_threshold END,
                revision = $5
          WHERE sku = $1 AND revision < $5`,
        [
          d.sku,
          changes.category === undefined ? null : JSON.stringify(changes.category),
          changes.attributes !== undefined,
          thresholdFrom(changes.attributes),
          event.revision,
        ],
      );
      return facts;
    }
  }

  const change = event.streamId.startsWith("inventory-") ? availableChange(event) : undefined;
  if (!change) return facts;
  const sku = String(d.sku);
  const warehouseId = String(d.warehouseId);
  const { rows } = await sql.query<{ available: string | number; revision: string | number }>(
    "SELECT available, revision FROM integration_stock_facts WHERE sku = $1 AND warehouse_id = $2",
    [sku, warehouseId],
  );
  const row = rows[0];
  if (row && Number(row.revision) >= event.revision) return facts; // already learned
  const before = Number(row?.available ?? 0);
  const after = "set" in change ? change.set : before + change.delta;
  const { rows: totals } = await sql.query<{ total: string | number | null }>(
    "SELECT sum(available) AS total FROM integration_stock_facts WHERE sku = $1",
    [sku],
  );
  const totalBefore = Number(totals[0]?.total ?? 0);
  const totalAfter = totalBefore - before + after;
  await sql.query(
    `INSERT INTO integration_stock_facts (sku, warehouse_id, available, revision) VALUES ($1, $2, $3, $4)
     ON CONFLICT (sku, warehouse_id) DO UPDATE SET available = excluded.available, revision = excluded.revision`,
    [sku, warehouseId, after, event.revision],
  );
  if (totalAfter < totalBefore) {
    const { rows: p } = await sql.query<{ low_stock_threshold: number | null }>(
      "SELECT low_stock_threshold FROM integration_product_facts WHERE sku = $1",
      [sku],
    );
    const threshold = p[0]?.low_stock_threshold ?? DEFAULT_LOW_STOCK_THRESHOLD;
    if (totalBefore >= threshold && totalAfter < threshold) facts.lowStockCrossing = { sku, warehouseId, available: totalAfter, threshold };
  }
  return facts;
}
