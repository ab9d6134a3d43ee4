// Read model of the catalog: one row per product (stream product-<sku>). `available` is not
// stored here: queries join it from the inventory read model.

import type { ProductEvent } from "../aggregates/product.js";
import type { RecordedEvent } from "../eventstore/port.js";
import type { SqlExecutor } from "../infrastructure/sql/sql-client.js";
import { advance, ident, isoText, recordedAs, type Projection } from "./projection.js";
import { loadRows, RowSet, upsertRows, type Columns } from "./rows.js";

export const PRODUCT_TABLES = { products: "rm_products" } as const;
export type ProductTables = { readonly [K in keyof typeof PRODUCT_TABLES]: string };

function schema(t: ProductTables): string {
  const p = ident(t.products);
  return `
    CREATE TABLE ${p} (
      sku text PRIMARY KEY,
      name text NOT NULL,
      description text,
      category text[] NOT NULL,
      brand text,
      price bigint NOT NULL,
      currency text NOT NULL,
      attributes jsonb NOT NULL,
      active boolean NOT NULL,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      revision bigint NOT NULL
    );
    CREATE INDEX ${p}_created_idx ON ${p} (created_at DESC);`;
}

async function apply(recorded: RecordedEvent, sql: SqlExecutor, t: ProductTables = PRODUCT_TABLES): Promise<void> {
  const event = recordedAs<ProductEvent>(recorded);
  const p = ident(t.products);

  if (event.type === "ProductCreated") {
    const d = event.data;
    await sql.query(
      `INSERT INTO ${p} (sku, name, description, category, brand, price, currency, attributes, active, created_at, updated_at, revision)
       VALUES ($1, $2, $3, $4::text[], $5, $6::bigint, $7, $8::jsonb, true, $9::timestamptz, $9::timestamptz, $10::bigint)
       ON CONFLICT (sku) DO NOTHING`,
      [
        d.sku,
        d.name,
        d.description ?? null,
        [...d.category],
        d.brand ?? null,
        d.price,
        d.currency,
        JSON.stringify(d.attributes ?? {}),
        d.at,
        event.revision,
      ],
    );
    return;
  }

  const step = (sets = "", params: readonly unknown[] = []) => advance(sql, p, "sku", event.data.sku, event, event.data.at, sets, params);

  switch (event.type) {
    case "ProductPriceChanged":
      await step("price = $4::bigint", [event.data.price]);
      return;
    case "ProductDetailsChanged": {
      const c = event.data.changes;
      const sets: string[] = [];
      const params: unknown[] = [];
      const set = (column: string, cast: string, value: unknown) => {
        params.push(value);
        sets.push(`${column} = $${params.length + 3}::${cast}`);
      };
      if (c.name !== undefined) set("name", "text", c.name);
      if (c.description !== undefined) set("description", "text", c.description);
      if (c.category !== undefined) set("category", "text[]", [...c.category]);
      if (c.brand !== undefined) set("brand", "text", c.brand);
      if (c.attributes !== undefined) set("attributes", "jsonb", JSON.stringify(c.attributes));
      await step(sets.join(", "), params);
      return;
    }
    case "ProductDeactivated":
      await step("active = false");
      return;
    case "ProductReactivated":
      await step("active = true");
      return;
    default:
      await step();
  }
}

const PRODUCT_COLUMNS: Columns = {
  sku: "text",
  name: "text",
  description: "text",
  category: "text[]",
  brand: "text",
  price: "bigint",
  currency: "text",
  attributes: "jsonb",
  active: "boolean",
  created_at: "timestamptz",
  updated_at: "timestamptz",
  revision: "bigint",
};

/** `apply` folded over a page in memory, one upsert for the page. */
async function applyBatch(events: readonly RecordedEvent[], sql: SqlExecutor, t: ProductTables = PRODUCT_TABLES): Promise<void> {
  if (events.length === 0) return;
  const skus = [...new Set(events.map((e) => (e.data as { sku: string }).sku))];
  const products = new RowSet(await loadRows(sql, t.products, PRODUCT_COLUMNS, "sku", skus), (r) => r.sku as string);
  for (const recorded of events) {
    const event = recordedAs<ProductEvent>(recorded);
    const sku = event.data.sku;
    const row = products.get(sku);
    const at = isoText(event.data.at);
    if (event.type === "ProductCreated") {
      if (row) continue;
      const d = event.data;
      products.set(sku, {
        sku,
        name: d.name,
        description: d.description ?? null,
        category: [...d.category],
        brand: d.brand ?? null,
        price: d.price,
        currency: d.currency,
        attributes: d.attributes ?? {},
        active: true,
        created_at: at,
        updated_at: at,
        revision: event.revision,
      });
      continue;
    }
    if (!row || (row.revision as number) >= event.revision) continue;
    Object.assign(row, { revision: event.revision, updated_at: at });
    products.touch(sku);
    switch (event.type) {
      case "ProductPriceChanged":
        row.price = event.data.price;
        break;
      case "ProductDetailsChanged": {
        const c = event.data.changes;
        if (c.name !== undefined) row.name = c.name;
        if (c.description !== undefined) row.description = c.description;
        if (c.category !== undefined) row.category = [...c.category];
        if (c.brand !== undefined) row.brand = c.brand;
        if (c.attributes !== undefined) row.attributes = c.attributes;
        break;
      }
      case "ProductDeactivated":
        row.active = false;
        break;
      case "ProductReactivated":
        row.active = true;
        break;
      default:
        break;
    }
  }
  await upsertRows(sql, t.products, PRODUCT_COLUMNS, ["sku"], products.changed(), { guard: "revision" });
}

export const productsProjection: Projection<ProductTables> = {
  name: "projections/products",
  filter: { streamCategories: ["product"] },
  tables: PRODUCT_TABLES,
  schema,
  migrations: [{ id: "projections/products/001-tables", sql: schema(PRODUCT_TABLES) }],
  apply,
  applyBatch,
};
