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

/** A stored category (jsonb, or its text from a driver that does not parse it) as a path. */
function categoryPath(stored: unknown): string[] {
  const parsed = typeof stored === "string" ? (JSON.parse(stored) as unknown) : stored;
  return Array.isArray(parsed) ? parsed.map(String) : [];
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

/** A SKU's stock facts as a batch holds them: every warehouse's row, and its low-stock threshold. */
interface SkuStock {
  /** undefined: not read yet in this batch (or its product changed since). */
  threshold: number | null | undefined;
  warehouses: Map<string, { available: number; revision: number }>;
  changed: Set<string>;
}

/**
 * What one batch of the translator remembers between its events, written in one statement per
 * table at the batch's end (saveBatchFacts) instead of several per event:
 *   - orders placed earlier in the batch;
 *   - the category paths read so far (a lookup per order line was most of a batch's time; a
 *     product event of the batch forgets its SKU's);
 *   - each touched SKU's stock rows and threshold, read once per batch: an inventory event cost
 *     three or four statements (about 5 per order in bench:checkout), now none.
 */
export class TranslationBatch {
  readonly orders = new Map<string, OrderFacts>();
  readonly categories = new Map<string, string[]>();
  readonly stock = new Map<string, SkuStock>();

  async stockOf(sql: SqlExecutor, sku: string): Promise<SkuStock> {
    let known = this.stock.get(sku);
    if (!known) {
      const { rows } = await sql.query<{ warehouse_id: string; available: string | number; revision: string | number }>(
        "SELECT warehouse_id, available, revision FROM integration_stock_facts WHERE sku = $1",
        [sku],
      );
      known = {
        threshold: undefined,
        warehouses: new Map(rows.map((r) => [r.warehouse_id, { available: Number(r.available), revision: Number(r.revision) }])),
        changed: new Set(),
      };
      this.stock.set(sku, known);
    }
    return known;
  }

  async thresholdOf(sql: SqlExecutor, sku: string, stock: SkuStock): Promise<number> {
    if (stock.threshold === undefined) {
      const { rows } = await sql.query<{ low_stock_threshold: number | null }>(
        "SELECT low_stock_threshold FROM integration_product_facts WHERE sku = $1",
        [sku],
      );
      stock.threshold = rows[0]?.low_stock_threshold ?? null;
    }
    return stock.threshold ?? DEFAULT_LOW_STOCK_THRESHOLD;
  }

  /**
   * Reads up front, in one statement per table, what the batch's events will ask for: the stock
   * rows of every SKU an inventory event changes, and the category and threshold of those SKUs and
   * of every SKU an order line names. Asked one by one they were up to three round trips per SKU
   * inside the batch's transaction (2.4 statements per order in bench:checkout). What the batch
   * learns later (a product event) is read again on demand, as before.
   */
  async prefetch(sql: SqlExecutor, events: readonly RecordedEvent[]): Promise<void> {
    const stockSkus = new Set<string>();
    const productSkus = new Set<string>();
    for (const event of events) {
      const d = (event.data ?? {}) as Data;
      if (event.type === "OrderPlaced") for (const line of (d.lines ?? []) as { sku: unknown }[]) productSkus.add(String(line.sku));
      else if (event.streamId.startsWith("inventory-") && availableChange(event)) stockSkus.add(String(d.sku));
    }
    const unreadStock = [...stockSkus].filter((sku) => !this.stock.has(sku));
    if (unreadStock.length > 0) {
      const { rows } = await sql.query<{ sku: string; warehouse_id: string; available: string | number; revision: string | number }>(
        "SELECT sku, warehouse_id, available, revision FROM integration_stock_facts WHERE sku = ANY($1::text[])",
        [unreadStock],
      );
      for (const sku of unreadStock) this.stock.set(sku, { threshold: undefined, warehouses: new Map(), changed: new Set() });
      for (const r of rows)
        this.stock.get(r.sku)!.warehouses.set(r.warehouse_id, { available: Number(r.available), revision: Number(r.revision) });
    }
    const unreadProducts = [...new Set([...productSkus, ...stockSkus])].filter(
      (sku) => !this.categories.has(sku) || this.stock.get(sku)?.threshold === undefined,
    );
    if (unreadProducts.length === 0) return;
    const { rows } = await sql.query<{ sku: string; category: unknown; low_stock_threshold: number | null }>(
      "SELECT sku, category, low_stock_threshold FROM integration_product_facts WHERE sku = ANY($1::text[])",
      [unreadProducts],
    );
    const bySku = new Map(rows.map((r) => [r.sku, r]));
    for (const sku of unreadProducts) {
      const row = bySku.get(sku);
      this.categories.set(sku, categoryPath(row?.category));
      const stock = this.stock.get(sku);
      if (stock) stock.threshold = row?.low_stock_threshold ?? null;
    }
  }

  /** A product event of the batch: its category and threshold are read again when next needed. */
  productChanged(sku: string): void {
    this.categories.delete(sku);
    const stock = this.stock.get(sku);
    if (stock) stock.threshold = undefined;
  }
}

/** Writes what the batch learned (orders placed, stock rows changed), in the batch's transaction. */
export async function saveBatchFacts(sql: SqlExecutor, batch: TranslationBatch): Promise<void> {
  await saveOrderFacts(sql, batch);
  const rows = [...batch.stock].flatMap(([sku, s]) => [...s.changed].map((wh) => ({ sku, wh, ...s.warehouses.get(wh)! })));
  if (rows.length === 0) return;
  await sql.query(
    `INSERT INTO integration_stock_facts (sku, warehouse_id, available, revision)
     SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[])
     ON CONFLICT (sku, warehouse_id) DO UPDATE SET available = excluded.available, revision = excluded.revision
     WHERE integration_stock_facts.revision < excluded.revision`,
    [rows.map((r) => r.sku), rows.map((r) => r.wh), rows.map((r) => r.available), rows.map((r) => r.revision)],
  );
}

async function saveOrderFacts(sql: SqlExecutor, batch: TranslationBatch): Promise<void> {
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
 * Records what `event` teaches (in `batch`, saved by saveBatchFacts in the same transaction) and
 * returns the facts its translation needs.
 */
export async function learn(
  sql: SqlExecutor,
  event: RecordedEvent,
  batch: TranslationBatch,
  cache?: OrderFactsCache,
): Promise<TranslationFacts> {
  const d = (event.data ?? {}) as Data;
  const facts: TranslationFacts = {
    async order(orderId) {
      const cached = batch.orders.get(orderId) ?? cache?.get(orderId);
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
      const known = batch.categories.get(sku);
      if (known) return known;
      const { rows } = await sql.query<{ category: unknown }>("SELECT category FROM integration_product_facts WHERE sku = $1", [sku]);
      const path = categoryPath(rows[0]?.category);
      batch.categories.set(sku, path);
      return path;
    },
  };

  switch (event.type) {
    case "OrderPlaced": {
      const placed: OrderFacts = { customerId: String(d.customerId), currency: String(d.currency), totalAmount: Number(d.totalAmount) };
      cache?.set(String(d.orderId), placed);
      // The first placed event of an order wins, as ON CONFLICT DO NOTHING does.
      if (!batch.orders.has(String(d.orderId))) batch.orders.set(String(d.orderId), placed);
      return facts;
    }
    case "ProductCreated":
      batch.productChanged(String(d.sku));
      await sql.query(
        `INSERT INTO integration_product_facts (sku, category, low_stock_threshold, revision) VALUES ($1, $2::jsonb, $3, $4)
         ON CONFLICT (sku) DO UPDATE SET category = excluded.category, low_stock_threshold = excluded.low_stock_threshold, revision = excluded.revision
         WHERE integration_product_facts.revision < excluded.revision`,
        [d.sku, JSON.stringify(d.category ?? []), thresholdFrom(d.attributes), event.revision],
      );
      return facts;
    case "ProductDetailsChanged": {
      batch.productChanged(String(d.sku));
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
  const stock = await batch.stockOf(sql, sku);
  const row = stock.warehouses.get(warehouseId);
  if (row && row.revision >= event.revision) return facts; // already learned
  const before = row?.available ?? 0;
  const after = "set" in change ? change.set : before + change.delta;
  let totalBefore = 0;
  for (const w of stock.warehouses.values()) totalBefore += w.available;
  const totalAfter = totalBefore - before + after;
  stock.warehouses.set(warehouseId, { available: after, revision: event.revision });
  stock.changed.add(warehouseId);
  if (totalAfter < totalBefore) {
    const threshold = await batch.thresholdOf(sql, sku, stock);
    if (totalBefore >= threshold && totalAfter < threshold) facts.lowStockCrossing = { sku, warehouseId, available: totalAfter, threshold };
  }
  return facts;
}
