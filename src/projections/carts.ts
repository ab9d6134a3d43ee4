// Read model of carts: one row per customer (stream cart-<customerId>) with its items and
// coupon. Totals are computed by the query from the items and the coupon, with the Cart
// aggregate's own rules (src/aggregates/cart.ts).

import type { CartEvent } from "../aggregates/cart.js";
import type { RecordedEvent } from "../eventstore/port.js";
import type { SqlExecutor } from "../infrastructure/sql/sql-client.js";
import { ident, recordedAs, type Projection } from "./projection.js";

export const CART_TABLES = { carts: "rm_carts", items: "rm_cart_items" } as const;
export type CartTables = { readonly [K in keyof typeof CART_TABLES]: string };

function schema(t: CartTables): string {
  const c = ident(t.carts);
  const i = ident(t.items);
  return `
    CREATE TABLE ${c} (
      customer_id text PRIMARY KEY,
      status text NOT NULL,
      currency text NOT NULL,
      coupon jsonb,
      last_order_id text,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      revision bigint NOT NULL
    );
    CREATE TABLE ${i} (
      customer_id text NOT NULL,
      sku text NOT NULL,
      seq bigint NOT NULL,
      quantity int NOT NULL,
      unit_price bigint NOT NULL,
      PRIMARY KEY (customer_id, sku)
    );`;
}

async function apply(recorded: RecordedEvent, sql: SqlExecutor, t: CartTables = CART_TABLES): Promise<void> {
  const event = recordedAs<CartEvent>(recorded);
  const { customerId, at } = event.data;
  const c = ident(t.carts);
  const i = ident(t.items);

  // Creates the cart on its first event, or advances it; nothing more when the event is not newer than the row.
  const { rows } = await sql.query(
    `INSERT INTO ${c} AS cur (customer_id, status, currency, created_at, updated_at, revision)
     VALUES ($1, 'OPEN', 'INR', $2::timestamptz, $2::timestamptz, $3::bigint)
     ON CONFLICT (customer_id) DO UPDATE SET updated_at = EXCLUDED.updated_at, revision = EXCLUDED.revision
     WHERE cur.revision < EXCLUDED.revision
     RETURNING 1 AS ok`,
    [customerId, at, event.revision],
  );
  if (rows.length === 0) return;
  const cart = (sets: string, params: readonly unknown[] = []) =>
    sql.query(`UPDATE ${c} SET ${sets} WHERE customer_id = $1`, [customerId, ...params]);

  switch (event.type) {
    case "CartItemAdded":
      await cart("status = 'OPEN', currency = $2", [event.data.currency]);
      await sql.query(
        `INSERT INTO ${i} AS cur (customer_id, sku, seq, quantity, unit_price) VALUES ($1, $2, $3::bigint, $4::int, $5::bigint)
         ON CONFLICT (customer_id, sku) DO UPDATE SET quantity = cur.quantity + EXCLUDED.quantity, unit_price = EXCLUDED.unit_price`,
        [customerId, event.data.sku, event.revision, event.data.quantity, event.data.unitPrice],
      );
      return;
    case "CartItemQuantityChanged":
      await cart("status = 'OPEN'");
      await sql.query(`UPDATE ${i} SET quantity = $3::int WHERE customer_id = $1 AND sku = $2`, [
        customerId,
        event.data.sku,
        event.data.quantity,
      ]);
      return;
    case "CartItemRemoved":
      await cart("status = 'OPEN'");
      await sql.query(`DELETE FROM ${i} WHERE customer_id = $1 AND sku = $2`, [customerId, event.data.sku]);
      return;
    case "CouponApplied":
      await cart("status = CASE WHEN status = 'ABANDONED' THEN 'OPEN' ELSE status END, coupon = $2::jsonb", [
        JSON.stringify(event.data.coupon),
      ]);
      return;
    case "CouponRemoved":
      await cart("coupon = NULL");
      return;
    case "CartCheckedOut":
      await cart("status = 'CHECKED_OUT', coupon = NULL, last_order_id = $2", [event.data.orderId]);
      await sql.query(`DELETE FROM ${i} WHERE customer_id = $1`, [customerId]);
      return;
    case "CartAbandoned":
      await cart("status = 'ABANDONED'");
      return;
    default:
      return;
  }
}

export const cartsProjection: Projection<CartTables> = {
  name: "projections/carts",
  filter: { streamCategories: ["cart"] },
  tables: CART_TABLES,
  schema,
  migrations: [{ id: "projections/carts/001-tables", sql: schema(CART_TABLES) }],
  apply,
};
