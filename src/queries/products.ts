// Catalog queries (GET /api/products/{sku}) over the products read model, with `available`
// summed over the warehouses of the inventory read model.

import type { SqlExecutor } from "../infrastructure/sql/sql-client.js";
import { INVENTORY_TABLES } from "../projections/inventory.js";
import { PRODUCT_TABLES } from "../projections/products.js";
import { int, iso } from "../projections/projection.js";

export interface ProductView {
  sku: string;
  name: string;
  description?: string;
  category: string[];
  brand?: string;
  price: number;
  currency: string;
  attributes: Record<string, string | number | boolean>;
  status: "ACTIVE" | "INACTIVE";
  active: boolean;
  /** Units available to sell, summed over warehouses. */
  available: number;
  createdAt: string;
  updatedAt: string;
  version: number;
}

type Row = Record<string, unknown>;

const SELECT = `SELECT p.*, coalesce((SELECT sum(i.available) FROM ${INVENTORY_TABLES.levels} i WHERE i.sku = p.sku), 0)::bigint AS available FROM ${PRODUCT_TABLES.products} p`;

export async function getProduct(sql: SqlExecutor, sku: string): Promise<ProductView | null> {
  const { rows } = await sql.query<Row>(`${SELECT} WHERE p.sku = $1`, [sku]);
  return rows[0] ? toView(rows[0]) : null;
}

function toView(r: Row): ProductView {
  const json = (v: unknown) => (typeof v === "string" ? JSON.parse(v) : v);
  return {
    sku: String(r.sku),
    name: String(r.name),
    ...(r.description == null ? {} : { description: String(r.description) }),
    category: (r.category as string[] | null) ?? [],
    ...(r.brand == null ? {} : { brand: String(r.brand) }),
    price: int(r.price),
    currency: String(r.currency),
    attributes: json(r.attributes) as ProductView["attributes"],
    status: r.active === true ? "ACTIVE" : "INACTIVE",
    active: r.active === true,
    available: int(r.available),
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
    version: int(r.revision),
  };
}
