// The search read model: one document per product (stream product-<sku>), with availability
// from the inventory streams (in stock when any warehouse has available > 0) and popularity from
// the order streams (units of orders placed in the 30 days before the latest sale, cancelled
// orders not counted). The embedded engine (src/search/postgres) queries these tables directly;
// the Elasticsearch engine is fed from them (./shipper.ts).
//
// Every applied event that changes a document adds one to its `version` and marks it for
// shipping; each source row keeps the stream revision it was last changed by, so a redelivered
// event changes nothing (the same rule as every SQL read model, see ../projection.ts).

import type { InventoryEvent } from "../../aggregates/inventory.js";
import type { OrderEvent } from "../../aggregates/order.js";
import type { ProductEvent } from "../../aggregates/product.js";
import type { Checkpoint, RecordedEvent } from "../../eventstore/port.js";
import type { SqlExecutor } from "../../infrastructure/sql/sql-client.js";
import { deletionVariants } from "../../search/fuzzy.js";
import { indexTokens, normalisedName } from "../../search/normalise.js";
import type { SearchDocument } from "../../search/port.js";
import { ident, int, iso, type Projection } from "../projection.js";
import { COUNTED_STOCK_EVENTS, stockDeltas } from "../stock-counters.js";
import { countSale, popularityAt, popularityWindowSchema, readPopularityWindows, writePopularityWindows } from "./popularity-window.js";

export const SEARCH_TABLES = {
  documents: "search_documents",
  stock: "search_stock",
  sales: "search_sales",
  terms: "search_terms",
  variants: "search_term_variants",
  shipments: "search_shipments",
  popularity: "search_popularity",
} as const;
export type SearchTables = { readonly [K in keyof typeof SEARCH_TABLES]: string };

export { POPULARITY_WINDOW_DAYS } from "./popularity-window.js";

const PRODUCT_TYPES = ["ProductCreated", "ProductPriceChanged", "ProductDetailsChanged", "ProductDeactivated", "ProductReactivated"];
const STOCK_TYPES: readonly string[] = COUNTED_STOCK_EVENTS;
const ORDER_TYPES = ["OrderPlaced", "OrderCancelled"];

/**
 * What the SQL read model serves. "embedded": the embedded engine's queries (weighted terms, the
 * typo vocabulary, and the GIN and sort indexes over the documents). "elasticsearch": only the
 * shipper and rebuilds (each document and its version); the terms are left empty, the vocabulary
 * is not written and the query indexes do not exist, since Elasticsearch answers the searches.
 * A model built as "elasticsearch" cannot serve the embedded engine until rebuilt (./mode.ts).
 */
export type SearchModelMode = "embedded" | "elasticsearch";

/** The indexes only the embedded engine's queries use. */
function queryIndexes(t: SearchTables): string {
  const d = ident(t.documents);
  return `
    CREATE INDEX ${d}_terms_idx ON ${d} USING gin (terms);
    CREATE INDEX ${d}_category_idx ON ${d} USING gin (category);
    CREATE INDEX ${d}_attributes_idx ON ${d} USING gin (attribute_pairs);
    CREATE INDEX ${d}_price_idx ON ${d} (price, sku);
    CREATE INDEX ${d}_created_idx ON ${d} (created_at, sku);
    CREATE INDEX ${d}_name_idx ON ${d} (name_normalised text_pattern_ops);`;
}

/**
 * What each committed batch changed, for the Elasticsearch index: one row per transaction (its
 * id) with the SKUs whose documents it changed. The projector hands the same documents to the
 * shipper in memory (./direct-shipper.ts), which deletes the row once they are in the index; a
 * row left behind (a crash, Elasticsearch down) is shipped from the tables by ./shipper.ts.
 */
function shipmentsSchema(t: SearchTables): string {
  return `CREATE TABLE ${ident(t.shipments)} (tx xid8 PRIMARY KEY, skus text[] NOT NULL, queued_at timestamptz NOT NULL DEFAULT now());`;
}

/** The tables as the first migration created them (documents, stock, sales, terms, variants). */
function schema(t: SearchTables, fullText = true): string {
  const d = ident(t.documents);
  const s = ident(t.stock);
  const o = ident(t.sales);
  const w = ident(t.terms);
  const v = ident(t.variants);
  return `
    CREATE TABLE ${d} (
      sku text PRIMARY KEY,
      name text NOT NULL,
      description text,
      brand text,
      category text[] NOT NULL,
      price bigint NOT NULL,
      currency text NOT NULL,
      attributes jsonb NOT NULL,
      attribute_pairs text[] NOT NULL,
      active boolean NOT NULL,
      available bigint NOT NULL,
      in_stock boolean NOT NULL,
      popularity bigint NOT NULL,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      name_normalised text NOT NULL,
      terms tsvector NOT NULL,
      product_revision bigint NOT NULL,
      version bigint NOT NULL,
      ship_pending boolean NOT NULL
    );
    ${fullText ? queryIndexes(t) : ""}
    CREATE INDEX ${d}_pending_idx ON ${d} (sku) WHERE ship_pending;
    CREATE TABLE ${s} (
      sku text NOT NULL,
      warehouse_id text NOT NULL,
      available bigint NOT NULL,
      revision bigint NOT NULL,
      PRIMARY KEY (sku, warehouse_id)
    );
    CREATE TABLE ${o} (
      order_id text NOT NULL,
      sku text NOT NULL,
      units bigint NOT NULL,
      placed_at timestamptz NOT NULL,
      cancelled boolean NOT NULL,
      PRIMARY KEY (order_id, sku)
    );
    CREATE INDEX ${o}_sku_idx ON ${o} (sku, placed_at);
    CREATE TABLE ${w} (term text PRIMARY KEY);
    CREATE TABLE ${v} (variant text NOT NULL, term text NOT NULL, PRIMARY KEY (variant, term));`;
}

type Row = Record<string, unknown>;

interface ProductFields {
  name: string;
  description: string | null;
  brand: string | null;
  category: string[];
  price: number;
  currency: string;
  attributes: Record<string, string | number | boolean>;
  active: boolean;
}

/** A document as the fold of a batch holds it: what is stored plus what this batch changed. */
interface DocumentState extends ProductFields {
  sku: string;
  available: number;
  inStock: boolean;
  popularity: number;
  createdAt: string;
  updatedAt: string;
  productRevision: number;
  version: number;
  /** The product's own fields (and so its terms) changed in this batch, or it was created: written whole. */
  productChanged: boolean;
  /** Only availability or popularity changed in this batch. */
  countersChanged: boolean;
}

/**
 * A DocumentState built property by property, always in the same order. Not `{ ...fields, sku, … }`:
 * V8 built each of those spread-and-extended objects slowly (bench:search's profile: 30 to 200 µs
 * a document, most of the fold of a 10,000-event batch, and garbage behind it).
 */
function documentState(
  fields: ProductFields,
  c: Pick<DocumentState, "sku" | "available" | "inStock" | "popularity" | "createdAt" | "updatedAt" | "version">,
  productRevision: number,
  productChanged: boolean,
): DocumentState {
  return {
    name: fields.name,
    description: fields.description,
    brand: fields.brand,
    category: fields.category,
    price: fields.price,
    currency: fields.currency,
    attributes: fields.attributes,
    active: fields.active,
    sku: c.sku,
    available: c.available,
    inStock: c.inStock,
    popularity: c.popularity,
    createdAt: c.createdAt,
    updatedAt: c.updatedAt,
    productRevision,
    version: c.version,
    productChanged,
    countersChanged: false,
  };
}

interface StockRow {
  sku: string;
  warehouseId: string;
  available: number;
  revision: number;
  changed: boolean;
  /** Read back from the table (written as an update); otherwise new in this batch (a plain insert). */
  stored: boolean;
}

interface SaleRow {
  orderId: string;
  sku: string;
  units: number;
  placedAt: number;
  cancelled: boolean;
  /** Not in the table yet (inserted at the end of the batch). */
  inserted: boolean;
  /** Stored as not cancelled, cancelled in this batch. */
  cancelledNow: boolean;
}

const attributePairs = (attributes: ProductFields["attributes"]): string[] =>
  Object.entries(attributes).map(([k, v]) => `${k}=${String(v)}`);

const DOCUMENT_COLUMNS =
  "sku, name, description, brand, category, price, currency, attributes, active, available, in_stock, popularity, created_at, updated_at, version";
const key2 = (a: string, b: string) => `${a}\u0000${b}`;
function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** Adds the words of products to the vocabulary the embedded engine corrects typos against (one statement for the terms, one for their variants). */
async function learnTerms(sql: SqlExecutor, t: SearchTables, products: readonly ProductFields[]): Promise<void> {
  const words = [...new Set(products.flatMap((p) => [p.name, p.brand ?? "", ...p.category, p.description ?? ""].flatMap(indexTokens)))];
  if (words.length === 0) return;
  const { rows } = await sql.query<{ term: string }>(
    `INSERT INTO ${ident(t.terms)} (term) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING RETURNING term`,
    [words],
  );
  if (rows.length === 0) return;
  const variants: string[] = [];
  const terms: string[] = [];
  for (const { term } of rows) {
    for (const variant of deletionVariants(term)) {
      variants.push(variant);
      terms.push(term);
    }
  }
  await sql.query(`INSERT INTO ${ident(t.variants)} (variant, term) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING`, [
    variants,
    terms,
  ]);
}

/**
 * Writes documents whole (created, or their product's fields changed) in one statement. One JSON
 * parameter for all of them: rows of arrays of different lengths (the terms) do not fit unnest.
 * As `json`, not `jsonb`: the server only checks the text on binding and parses it once while
 * reading the records, instead of building a jsonb value of the whole batch first. `stored`:
 * the batch read these rows back (an update of each); otherwise they are new and go in as plain
 * inserts, without a per-row conflict check (a row stored meanwhile fails the batch, which is then
 * replayed event by event, reading it back). Without the embedded engine (`fullText` false) the
 * terms are empty, so no tsvector is built from them.
 */
async function writeWhole(
  sql: SqlExecutor,
  d: string,
  documents: readonly DocumentState[],
  { fullText, pending, stored }: { fullText: boolean; pending: boolean; stored: boolean },
): Promise<void> {
  const rows = documents.map((doc) => ({
    sku: doc.sku,
    name: doc.name,
    description: doc.description,
    brand: doc.brand,
    category: doc.category,
    price: doc.price,
    currency: doc.currency,
    attributes: doc.attributes,
    attribute_pairs: attributePairs(doc.attributes),
    active: doc.active,
    available: doc.available,
    in_stock: doc.inStock,
    popularity: doc.popularity,
    created_at: doc.createdAt,
    updated_at: doc.updatedAt,
    product_revision: doc.productRevision,
    version: doc.version,
    // Weighted terms: the name counts most, then brand and category, then the description.
    ...(fullText
      ? {
          name_normalised: normalisedName(doc.name),
          terms_a: indexTokens(doc.name),
          terms_b: indexTokens([doc.brand ?? "", ...doc.category].join(" ")),
          terms_c: indexTokens(doc.description ?? ""),
        }
      : {}),
  }));
  const terms = fullText
    ? "setweight(array_to_tsvector(x.terms_a), 'A') || setweight(array_to_tsvector(x.terms_b), 'B') || setweight(array_to_tsvector(x.terms_c), 'C')"
    : "''::tsvector";
  await sql.query(
    `INSERT INTO ${d} (sku, name, description, brand, category, price, currency, attributes, attribute_pairs, active, available, in_stock,
                       popularity, created_at, updated_at, name_normalised, terms, product_revision, version, ship_pending)
     SELECT x.sku, x.name, x.description, x.brand, x.category, x.price, x.currency, x.attributes, x.attribute_pairs, x.active, x.available,
            x.in_stock, x.popularity, x.created_at, x.updated_at, coalesce(x.name_normalised, ''), ${terms},
            x.product_revision, x.version, ${pending}
       FROM json_to_recordset($1::json) AS x(sku text, name text, description text, brand text, category text[], price bigint, currency text,
            attributes jsonb, attribute_pairs text[], active boolean, available bigint, in_stock boolean, popularity bigint,
            created_at timestamptz, updated_at timestamptz, name_normalised text, terms_a text[], terms_b text[], terms_c text[],
            product_revision bigint, version bigint)
     ${
       stored
         ? `ON CONFLICT (sku) DO UPDATE SET name = EXCLUDED.name, description = EXCLUDED.description, brand = EXCLUDED.brand,
            category = EXCLUDED.category, price = EXCLUDED.price, currency = EXCLUDED.currency, attributes = EXCLUDED.attributes,
            attribute_pairs = EXCLUDED.attribute_pairs, active = EXCLUDED.active, available = EXCLUDED.available, in_stock = EXCLUDED.in_stock,
            popularity = EXCLUDED.popularity, updated_at = EXCLUDED.updated_at, name_normalised = EXCLUDED.name_normalised,
            terms = EXCLUDED.terms, product_revision = EXCLUDED.product_revision, version = EXCLUDED.version${pending ? ", ship_pending = true" : ""}`
         : ""
     }`,
    [JSON.stringify(rows)],
  );
}

/**
 * Applies a batch of events (in log order) to the search tables: one read of the documents,
 * stock rows and sales the batch touches, a fold of the events over them in memory with exactly
 * the rules of one event at a time (so batching never changes a document or its version), and
 * one set-based write per table. Each source row still keeps the stream revision it was last
 * changed by, so a redelivered event changes nothing.
 */
async function applyBatch(
  events: readonly RecordedEvent[],
  sql: SqlExecutor,
  t: SearchTables = SEARCH_TABLES,
  mode: SearchModelMode = "embedded",
  ship: ShipMark = "pending",
): Promise<Shipment | undefined> {
  const fullText = mode === "embedded";
  const pending = ship === "pending";
  const d = ident(t.documents);
  const skus = new Set<string>();
  const orderIds = new Set<string>();
  let earliest = Number.POSITIVE_INFINITY;
  let latest = Number.NEGATIVE_INFINITY;
  const relevant: RecordedEvent[] = [];
  for (const recorded of events) {
    if (PRODUCT_TYPES.includes(recorded.type) || STOCK_TYPES.includes(recorded.type)) {
      skus.add((recorded.data as { sku: string }).sku);
    } else if (recorded.type === "OrderPlaced") {
      const event = recorded as unknown as RecordedEvent & OrderEvent & { type: "OrderPlaced" };
      orderIds.add(event.data.orderId);
      for (const line of event.data.lines) skus.add(line.sku);
    } else if (recorded.type === "OrderCancelled") {
      orderIds.add((recorded.data as { orderId: string }).orderId);
    } else continue;
    relevant.push(recorded);
    const at = Date.parse((recorded.data as { at: string }).at);
    if (at < earliest) earliest = at;
    if (at > latest) latest = at;
  }
  if (relevant.length === 0) return undefined;

  // Sales: the rows of the orders in this batch (a cancellation names only its order), then those
  // of the touched SKUs that popularity needs one by one (below).
  const sales = new Map<string, SaleRow>();
  const saleRow = (r: Row): SaleRow => ({
    orderId: String(r.order_id),
    sku: String(r.sku),
    units: int(r.units),
    placedAt: Date.parse(iso(r.placed_at)),
    cancelled: r.cancelled === true,
    inserted: false,
    cancelledNow: false,
  });
  if (orderIds.size > 0) {
    const { rows } = await sql.query<Row>(`SELECT * FROM ${ident(t.sales)} WHERE order_id = ANY ($1::text[])`, [[...orderIds]]);
    for (const r of rows) {
      const row = saleRow(r);
      sales.set(key2(row.orderId, row.sku), row);
      skus.add(row.sku);
    }
  }
  const skuList = [...skus];
  // One after another: inside the batch's transaction they share one connection.
  const documentRows = await sql.query<Row>(`SELECT ${DOCUMENT_COLUMNS}, product_revision FROM ${d} WHERE sku = ANY ($1::text[])`, [
    skuList,
  ]);
  const stockRows = await sql.query<Row>(`SELECT * FROM ${ident(t.stock)} WHERE sku = ANY ($1::text[])`, [skuList]);
  const { windows, sales: windowSales } = await readPopularityWindows(sql, t, skuList, earliest, latest);
  const documents = new Map<string, DocumentState>();
  /** The SKUs whose rows were read back (the rest of the documents are new: plain inserts). */
  const storedDocuments = new Set<string>();
  for (const r of documentRows.rows) {
    const doc = toDocument(r);
    documents.set(doc.sku, documentState(doc, doc, int(r.product_revision), false));
    storedDocuments.add(doc.sku);
  }
  const stock = new Map<string, StockRow>();
  const stockOf = new Map<string, StockRow[]>();
  const addStock = (row: StockRow) => {
    stock.set(key2(row.sku, row.warehouseId), row);
    push(stockOf, row.sku, row);
  };
  for (const r of stockRows.rows)
    addStock({
      sku: String(r.sku),
      warehouseId: String(r.warehouse_id),
      available: int(r.available),
      revision: int(r.revision),
      changed: false,
      stored: true,
    });
  for (const r of windowSales) {
    const row = saleRow(r);
    if (!sales.has(key2(row.orderId, row.sku))) sales.set(key2(row.orderId, row.sku), row);
  }
  const salesOf = new Map<string, SaleRow[]>();
  const salesOfOrder = new Map<string, SaleRow[]>();
  const indexSale = (row: SaleRow) => {
    push(salesOf, row.sku, row);
    push(salesOfOrder, row.orderId, row);
  };
  for (const row of sales.values()) indexSale(row);
  const addSale = (row: SaleRow) => {
    sales.set(key2(row.orderId, row.sku), row);
    indexSale(row);
  };

  const availableOf = (sku: string) => (stockOf.get(sku) ?? []).reduce((n, row) => n + Math.max(row.available, 0), 0);
  const popularityOf = (sku: string, at: number) => popularityAt(windows.get(sku)!, salesOf.get(sku) ?? [], at);
  const refreshPopularity = (changedSkus: Iterable<string>, at: number) => {
    for (const sku of new Set(changedSkus)) {
      const doc = documents.get(sku);
      if (!doc) continue;
      const popularity = popularityOf(sku, at);
      if (doc.popularity === popularity) continue;
      doc.popularity = popularity;
      doc.version++;
      doc.countersChanged = true;
    }
  };
  const learned: ProductFields[] = [];

  for (const recorded of relevant) {
    if (PRODUCT_TYPES.includes(recorded.type)) {
      const event = recorded as unknown as RecordedEvent & ProductEvent;
      const { sku, at } = event.data;
      if (event.type === "ProductCreated") {
        const c = event.data;
        const fields: ProductFields = {
          name: c.name,
          description: c.description ?? null,
          brand: c.brand ?? null,
          category: [...c.category],
          price: c.price,
          currency: c.currency,
          attributes: { ...(c.attributes ?? {}) },
          active: true,
        };
        learned.push(fields);
        if (documents.has(sku)) continue;
        const available = availableOf(sku);
        const createdAt = new Date(at).toISOString();
        const counters = {
          sku,
          available,
          inStock: available > 0,
          popularity: popularityOf(sku, Date.parse(at)),
          createdAt,
          updatedAt: createdAt,
          version: 1,
        };
        documents.set(sku, documentState(fields, counters, event.revision, true));
        continue;
      }
      const doc = documents.get(sku);
      if (!doc || doc.productRevision >= event.revision) continue;
      if (event.type === "ProductPriceChanged") doc.price = event.data.price;
      if (event.type === "ProductDeactivated") doc.active = false;
      if (event.type === "ProductReactivated") doc.active = true;
      if (event.type === "ProductDetailsChanged") {
        const c = event.data.changes;
        if (c.name !== undefined) doc.name = c.name;
        if (c.description !== undefined) doc.description = c.description;
        if (c.brand !== undefined) doc.brand = c.brand;
        if (c.category !== undefined) doc.category = [...c.category];
        if (c.attributes !== undefined) doc.attributes = { ...c.attributes };
      }
      doc.updatedAt = new Date(at).toISOString();
      doc.productRevision = event.revision;
      doc.version++;
      doc.productChanged = true;
      learned.push(documentState(doc, doc, doc.productRevision, true));
    } else if (STOCK_TYPES.includes(recorded.type)) {
      const event = recorded as unknown as RecordedEvent & InventoryEvent;
      const { sku, warehouseId } = event.data;
      const delta = stockDeltas(event).available;
      const row = stock.get(key2(sku, warehouseId));
      if (!row) addStock({ sku, warehouseId, available: delta, revision: event.revision, changed: true, stored: false });
      else if (row.revision < event.revision)
        Object.assign(row, { available: row.available + delta, revision: event.revision, changed: true });
      else continue;
      if (delta === 0) continue;
      const doc = documents.get(sku);
      const available = availableOf(sku);
      if (!doc || doc.available === available) continue;
      doc.available = available;
      doc.inStock = available > 0;
      doc.version++;
      doc.countersChanged = true;
    } else if (recorded.type === "OrderPlaced") {
      const event = recorded as unknown as RecordedEvent & OrderEvent & { type: "OrderPlaced" };
      const units = new Map<string, number>();
      for (const line of event.data.lines) units.set(line.sku, (units.get(line.sku) ?? 0) + line.quantity);
      const at = Date.parse(event.data.at);
      const added: string[] = [];
      for (const [sku, n] of units) {
        if (sales.has(key2(event.data.orderId, sku))) continue;
        const sale = { orderId: event.data.orderId, sku, units: n, placedAt: at, cancelled: false, inserted: true, cancelledNow: false };
        addSale(sale);
        countSale(windows.get(sku)!, sale, 1);
        added.push(sku);
      }
      refreshPopularity(added, at);
    } else if (recorded.type === "OrderCancelled") {
      const event = recorded as unknown as RecordedEvent & OrderEvent & { type: "OrderCancelled" };
      const cancelled: string[] = [];
      for (const row of salesOfOrder.get(event.data.orderId) ?? []) {
        if (row.cancelled) continue;
        countSale(windows.get(row.sku)!, row, -1);
        row.cancelled = true;
        if (!row.inserted) row.cancelledNow = true;
        cancelled.push(row.sku);
      }
      refreshPopularity(cancelled, Date.parse(event.data.at));
    }
  }

  if (fullText) await learnTerms(sql, t, learned);
  const newSales = [...sales.values()].filter((s) => s.inserted);
  if (newSales.length > 0)
    await sql.query(
      `INSERT INTO ${ident(t.sales)} (order_id, sku, units, placed_at, cancelled)
       SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[], $5::boolean[]) ON CONFLICT DO NOTHING`,
      [
        newSales.map((s) => s.orderId),
        newSales.map((s) => s.sku),
        newSales.map((s) => s.units),
        newSales.map((s) => new Date(s.placedAt).toISOString()),
        newSales.map((s) => s.cancelled),
      ],
    );
  await writePopularityWindows(sql, t.popularity, windows);
  const cancelledSales = [...sales.values()].filter((s) => s.cancelledNow);
  if (cancelledSales.length > 0)
    await sql.query(
      `UPDATE ${ident(t.sales)} AS s SET cancelled = true FROM unnest($1::text[], $2::text[]) AS x(order_id, sku) WHERE s.order_id = x.order_id AND s.sku = x.sku`,
      [cancelledSales.map((s) => s.orderId), cancelledSales.map((s) => s.sku)],
    );
  // Rows the batch did not read back are new: plain inserts, without a per-row conflict check
  // (a row stored meanwhile by another writer fails the batch, which is then replayed event by event).
  const changedStock = [...stock.values()].filter((r) => r.changed);
  for (const stored of [false, true]) {
    const rows = changedStock.filter((r) => r.stored === stored);
    if (rows.length === 0) continue;
    await sql.query(
      `INSERT INTO ${ident(t.stock)} AS cur (sku, warehouse_id, available, revision)
       SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[])
       ${stored ? "ON CONFLICT (sku, warehouse_id) DO UPDATE SET available = EXCLUDED.available, revision = EXCLUDED.revision" : ""}`,
      [rows.map((r) => r.sku), rows.map((r) => r.warehouseId), rows.map((r) => r.available), rows.map((r) => r.revision)],
    );
  }
  const whole = [...documents.values()].filter((doc) => doc.productChanged);
  for (const stored of [false, true]) {
    const written = whole.filter((doc) => storedDocuments.has(doc.sku) === stored);
    if (written.length > 0) await writeWhole(sql, d, written, { fullText, pending, stored });
  }
  const counters = [...documents.values()].filter((doc) => doc.countersChanged && !doc.productChanged);
  if (counters.length > 0)
    await sql.query(
      `UPDATE ${d} SET available = x.available, in_stock = x.in_stock, popularity = x.popularity, version = x.version${pending ? ", ship_pending = true" : ""}
         FROM unnest($1::text[], $2::bigint[], $3::boolean[], $4::bigint[], $5::bigint[]) AS x(sku, available, in_stock, popularity, version)
        WHERE ${d}.sku = x.sku`,
      [
        counters.map((c) => c.sku),
        counters.map((c) => c.available),
        counters.map((c) => c.inStock),
        counters.map((c) => c.popularity),
        counters.map((c) => c.version),
      ],
    );
  const changed = [...whole, ...counters];
  if (pending || changed.length === 0) return undefined;
  const { rows: queued } = await sql.query<{ tx: string }>(
    `INSERT INTO ${ident(t.shipments)} AS cur (tx, skus) VALUES (pg_current_xact_id(), $1::text[])
     ON CONFLICT (tx) DO UPDATE SET skus = cur.skus || EXCLUDED.skus RETURNING tx::text AS tx`,
    [changed.map((doc) => doc.sku)],
  );
  return { tx: queued[0]!.tx, position: relevant.at(-1)!.position, documents: changed.map(searchDocument) };
}

/** A document of the fold as the port's SearchDocument (what toDocument reads back from its row). */
const searchDocument = (doc: DocumentState): SearchDocument => ({
  sku: doc.sku,
  name: doc.name,
  description: doc.description,
  brand: doc.brand,
  category: doc.category,
  price: doc.price,
  currency: doc.currency,
  attributes: doc.attributes,
  active: doc.active,
  available: doc.available,
  inStock: doc.inStock,
  popularity: doc.popularity,
  createdAt: doc.createdAt,
  updatedAt: doc.updatedAt,
  version: doc.version,
});

/**
 * How a batch marks the documents it changed for the Elasticsearch index: "pending" sets each
 * row's ship_pending (the shipper reads them back from the table; rebuilds and servers without
 * Elasticsearch); "queued" writes one search_shipments row for the transaction and returns the
 * documents, for the shipper to send straight from memory once the transaction has committed.
 */
export type ShipMark = "pending" | "queued";

/** What a committed batch changed: its transaction (the search_shipments key), its last position and the documents as written. */
export interface Shipment {
  tx: string;
  position: Checkpoint;
  documents: SearchDocument[];
}

/** The columns `toDocument` reads (what the shipper selects). */
export const SEARCH_DOCUMENT_COLUMNS = DOCUMENT_COLUMNS;

/** A document row as the port's SearchDocument. */
export function toDocument(r: Row): SearchDocument {
  const json = (v: unknown) => (typeof v === "string" ? JSON.parse(v) : v);
  return {
    sku: String(r.sku),
    name: String(r.name),
    description: r.description == null ? null : String(r.description),
    brand: r.brand == null ? null : String(r.brand),
    category: (r.category as string[] | null) ?? [],
    price: int(r.price),
    currency: String(r.currency),
    attributes: json(r.attributes) as SearchDocument["attributes"],
    active: r.active === true,
    available: int(r.available),
    inStock: r.in_stock === true,
    popularity: int(r.popularity),
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
    version: int(r.version),
  };
}

/** The search projection building the read model for `mode`; both share the name, tables, checkpoint and migrations. */
export function searchProjectionFor(mode: SearchModelMode): Projection<SearchTables> {
  return {
    name: "projections/search",
    filter: { streamCategories: ["product", "inventory", "order"], eventTypes: [...PRODUCT_TYPES, ...STOCK_TYPES, ...ORDER_TYPES] },
    tables: SEARCH_TABLES,
    schema: (t) => schema(t, mode === "embedded") + shipmentsSchema(t) + popularityWindowSchema(t.popularity),
    // The live tables are first created whole; ./mode.ts drops the query indexes for "elasticsearch".
    migrations: [
      { id: "projections/search/001-tables", sql: schema(SEARCH_TABLES) },
      { id: "projections/search/004-shipments", sql: shipmentsSchema(SEARCH_TABLES) },
      // A model built before: the windows start empty, and each SKU's first batch counts its whole history.
      { id: "projections/search/005-popularity-windows", sql: popularityWindowSchema(SEARCH_TABLES.popularity) },
    ],
    apply: async (event, sql, t = SEARCH_TABLES) => void (await applyBatch([event], sql, t, mode)),
    applyBatch: async (events, sql, t = SEARCH_TABLES) => void (await applyBatch(events, sql, t, mode)),
  };
}

/** The live projector's batch with an Elasticsearch index: the changes queued in search_shipments and returned for shipping from memory. */
export const applyQueued = (
  events: readonly RecordedEvent[],
  sql: SqlExecutor,
  mode: SearchModelMode,
  t: SearchTables = SEARCH_TABLES,
): Promise<Shipment | undefined> => applyBatch(events, sql, t, mode, "queued");

/** The read model the embedded engine queries (the default). */
export const searchProjection: Projection<SearchTables> = searchProjectionFor("embedded");
