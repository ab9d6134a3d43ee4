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
import type { RecordedEvent } from "../../eventstore/port.js";
import type { SqlExecutor } from "../../infrastructure/sql/sql-client.js";
import { deletionVariants } from "../../search/fuzzy.js";
import { indexTokens, normalisedName } from "../../search/normalise.js";
import type { SearchDocument } from "../../search/port.js";
import { ident, int, iso, type Projection } from "../projection.js";
import { COUNTED_STOCK_EVENTS, stockDeltas } from "../stock-counters.js";

export const SEARCH_TABLES = {
  documents: "search_documents",
  stock: "search_stock",
  sales: "search_sales",
  terms: "search_terms",
  variants: "search_term_variants",
} as const;
export type SearchTables = { readonly [K in keyof typeof SEARCH_TABLES]: string };

export const POPULARITY_WINDOW_DAYS = 30;

const PRODUCT_TYPES = ["ProductCreated", "ProductPriceChanged", "ProductDetailsChanged", "ProductDeactivated", "ProductReactivated"];
const STOCK_TYPES: readonly string[] = COUNTED_STOCK_EVENTS;
const ORDER_TYPES = ["OrderPlaced", "OrderCancelled"];

function schema(t: SearchTables): string {
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
    CREATE INDEX ${d}_terms_idx ON ${d} USING gin (terms);
    CREATE INDEX ${d}_category_idx ON ${d} USING gin (category);
    CREATE INDEX ${d}_attributes_idx ON ${d} USING gin (attribute_pairs);
    CREATE INDEX ${d}_price_idx ON ${d} (price, sku);
    CREATE INDEX ${d}_created_idx ON ${d} (created_at, sku);
    CREATE INDEX ${d}_name_idx ON ${d} (name_normalised text_pattern_ops);
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

/** Weighted terms: the name counts most, then brand and category, then the description. */
function termsSql(p: ProductFields, first: number): { sql: string; params: unknown[] } {
  return {
    sql: `setweight(array_to_tsvector($${first}::text[]), 'A') || setweight(array_to_tsvector($${first + 1}::text[]), 'B') || setweight(array_to_tsvector($${first + 2}::text[]), 'C')`,
    params: [indexTokens(p.name), indexTokens([p.brand ?? "", ...p.category].join(" ")), indexTokens(p.description ?? "")],
  };
}

const attributePairs = (attributes: ProductFields["attributes"]): string[] =>
  Object.entries(attributes).map(([k, v]) => `${k}=${String(v)}`);

/** Adds the words of a product to the vocabulary the embedded engine corrects typos against. */
async function learnTerms(sql: SqlExecutor, t: SearchTables, p: ProductFields): Promise<void> {
  const words = [...new Set([p.name, p.brand ?? "", ...p.category, p.description ?? ""].flatMap(indexTokens))];
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

async function writeProduct(
  sql: SqlExecutor,
  t: SearchTables,
  sku: string,
  p: ProductFields,
  event: RecordedEvent,
  at: string,
  created: boolean,
): Promise<void> {
  const d = ident(t.documents);
  const terms = termsSql(p, 11);
  const fields = [
    p.name,
    p.description,
    p.brand,
    p.category,
    p.price,
    p.currency,
    JSON.stringify(p.attributes),
    attributePairs(p.attributes),
    p.active,
    normalisedName(p.name),
  ];
  if (created) {
    await sql.query(
      `INSERT INTO ${d} (sku, name, description, brand, category, price, currency, attributes, attribute_pairs, active, name_normalised, terms,
                         available, in_stock, popularity, created_at, updated_at, product_revision, version, ship_pending)
       SELECT $14, $1, $2, $3, $4::text[], $5::bigint, $6, $7::jsonb, $8::text[], $9, $10, ${terms.sql},
              st.available, st.available > 0, $15::bigint, $16::timestamptz, $16::timestamptz, $17::bigint, 1, true
         FROM (SELECT coalesce(sum(greatest(available, 0)), 0)::bigint AS available FROM ${ident(t.stock)} WHERE sku = $14) st
       ON CONFLICT (sku) DO NOTHING`,
      [...fields, ...terms.params, sku, await popularityOf(sql, t, sku, at), at, event.revision],
    );
  } else {
    await sql.query(
      `UPDATE ${d} SET name = $1, description = $2, brand = $3, category = $4::text[], price = $5::bigint, currency = $6, attributes = $7::jsonb,
              attribute_pairs = $8::text[], active = $9, name_normalised = $10, terms = ${terms.sql},
              updated_at = $15::timestamptz, product_revision = $16::bigint, version = version + 1, ship_pending = true
        WHERE sku = $14 AND product_revision < $16::bigint`,
      [...fields, ...terms.params, sku, at, event.revision],
    );
  }
  await learnTerms(sql, t, p);
}

async function popularityOf(sql: SqlExecutor, t: SearchTables, sku: string, at: string): Promise<number> {
  const { rows } = await sql.query<{ n: unknown }>(
    `SELECT coalesce(sum(units), 0) AS n FROM ${ident(t.sales)} WHERE sku = $1 AND NOT cancelled AND placed_at > $2::timestamptz - interval '${POPULARITY_WINDOW_DAYS} days' AND placed_at <= $2::timestamptz`,
    [sku, at],
  );
  return int(rows[0]?.n);
}

async function refreshPopularity(sql: SqlExecutor, t: SearchTables, skus: readonly string[], at: string): Promise<void> {
  for (const sku of new Set(skus)) {
    await sql.query(
      `UPDATE ${ident(t.documents)} SET popularity = $2::bigint, version = version + 1, ship_pending = true WHERE sku = $1 AND popularity <> $2::bigint`,
      [sku, await popularityOf(sql, t, sku, at)],
    );
  }
}

async function apply(recorded: RecordedEvent, sql: SqlExecutor, t: SearchTables = SEARCH_TABLES): Promise<void> {
  const d = ident(t.documents);
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
      await writeProduct(sql, t, sku, fields, recorded, at, true);
      return;
    }
    const { rows } = await sql.query<Row>(`SELECT * FROM ${d} WHERE sku = $1 AND product_revision < $2::bigint`, [sku, event.revision]);
    const row = rows[0];
    if (!row) return;
    const current = toDocument(row);
    const next: ProductFields = { ...current };
    if (event.type === "ProductPriceChanged") next.price = event.data.price;
    if (event.type === "ProductDeactivated") next.active = false;
    if (event.type === "ProductReactivated") next.active = true;
    if (event.type === "ProductDetailsChanged") {
      const c = event.data.changes;
      if (c.name !== undefined) next.name = c.name;
      if (c.description !== undefined) next.description = c.description;
      if (c.brand !== undefined) next.brand = c.brand;
      if (c.category !== undefined) next.category = [...c.category];
      if (c.attributes !== undefined) next.attributes = { ...c.attributes };
    }
    await writeProduct(sql, t, sku, next, recorded, at, false);
    return;
  }
  if (STOCK_TYPES.includes(recorded.type)) {
    const event = recorded as unknown as RecordedEvent & InventoryEvent;
    const { sku, warehouseId } = event.data;
    const delta = stockDeltas(event).available;
    const { rows } = await sql.query(
      `INSERT INTO ${ident(t.stock)} AS cur (sku, warehouse_id, available, revision) VALUES ($1, $2, $3::bigint, $4::bigint)
       ON CONFLICT (sku, warehouse_id) DO UPDATE SET available = cur.available + EXCLUDED.available, revision = EXCLUDED.revision
       WHERE cur.revision < EXCLUDED.revision RETURNING 1 AS ok`,
      [sku, warehouseId, delta, event.revision],
    );
    if (rows.length === 0 || delta === 0) return;
    await sql.query(
      `UPDATE ${d} SET available = st.available, in_stock = st.available > 0, version = version + 1, ship_pending = true
         FROM (SELECT coalesce(sum(greatest(available, 0)), 0)::bigint AS available FROM ${ident(t.stock)} WHERE sku = $1) st
        WHERE sku = $1 AND ${d}.available <> st.available`,
      [sku],
    );
    return;
  }
  if (ORDER_TYPES.includes(recorded.type)) {
    const event = recorded as unknown as RecordedEvent & OrderEvent;
    if (event.type === "OrderPlaced") {
      const units = new Map<string, number>();
      for (const line of event.data.lines) units.set(line.sku, (units.get(line.sku) ?? 0) + line.quantity);
      const { rows } = await sql.query<{ sku: string }>(
        `INSERT INTO ${ident(t.sales)} (order_id, sku, units, placed_at, cancelled) SELECT $1, s, u, $4::timestamptz, false FROM unnest($2::text[], $3::bigint[]) AS x(s, u)
         ON CONFLICT DO NOTHING RETURNING sku`,
        [event.data.orderId, [...units.keys()], [...units.values()], event.data.at],
      );
      await refreshPopularity(
        sql,
        t,
        rows.map((r) => r.sku),
        event.data.at,
      );
    } else if (event.type === "OrderCancelled") {
      const { rows } = await sql.query<{ sku: string }>(
        `UPDATE ${ident(t.sales)} SET cancelled = true WHERE order_id = $1 AND NOT cancelled RETURNING sku`,
        [event.data.orderId],
      );
      await refreshPopularity(
        sql,
        t,
        rows.map((r) => r.sku),
        event.data.at,
      );
    }
  }
}

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

export const searchProjection: Projection<SearchTables> = {
  name: "projections/search",
  filter: { streamCategories: ["product", "inventory", "order"], eventTypes: [...PRODUCT_TYPES, ...STOCK_TYPES, ...ORDER_TYPES] },
  tables: SEARCH_TABLES,
  schema,
  migrations: [{ id: "projections/search/001-tables", sql: schema(SEARCH_TABLES) }],
  apply,
};
