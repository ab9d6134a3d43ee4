// Read model of carts: one row per customer (stream cart-<customerId>) with its items and
// coupon. Totals are computed by the query from the items and the coupon, with the Cart
// aggregate's own rules (src/aggregates/cart.ts).

import type { CartEvent } from "../aggregates/cart.js";
import type { RecordedEvent } from "../eventstore/port.js";
import type { SqlExecutor } from "../infrastructure/sql/sql-client.js";
import { ident, isoText, recordedAs, type Projection } from "./projection.js";
import { deleteRows, keyOf, loadRows, RowSet, upsertRows, type Columns, type Row } from "./rows.js";

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

const CART_COLUMNS: Columns = {
  customer_id: "text",
  status: "text",
  currency: "text",
  coupon: "jsonb",
  last_order_id: "text",
  created_at: "timestamptz",
  updated_at: "timestamptz",
  revision: "bigint",
};
const ITEM_COLUMNS: Columns = { customer_id: "text", sku: "text", seq: "bigint", quantity: "int", unit_price: "bigint" };

/** `apply` folded over a page in memory: carts upserted, items deleted and upserted, one statement each. */
async function applyBatch(events: readonly RecordedEvent[], sql: SqlExecutor, t: CartTables = CART_TABLES): Promise<void> {
  if (events.length === 0) return;
  const customers = [...new Set(events.map((e) => (e.data as { customerId: string }).customerId))];
  // One after another: `sql` is a transaction's one connection.
  const cartRows = await loadRows(sql, t.carts, CART_COLUMNS, "customer_id", customers);
  const itemRows = await loadRows(sql, t.items, ITEM_COLUMNS, "customer_id", customers);
  const carts = new RowSet(cartRows, (r) => r.customer_id as string);
  const items = new RowSet(itemRows, (r) => keyOf(r.customer_id, r.sku));
  const removed = new Map<string, readonly [string, string]>();
  const remove = (key: string, row: Row) => {
    items.rows.delete(key);
    items.dirty.delete(key);
    removed.set(key, [row.customer_id as string, row.sku as string]);
  };
  for (const recorded of events) {
    const event = recordedAs<CartEvent>(recorded);
    const { customerId } = event.data;
    const at = isoText(event.data.at);
    const found = carts.get(customerId);
    if (found && (found.revision as number) >= event.revision) continue;
    const cart = found ?? { customer_id: customerId, status: "OPEN", currency: "INR", coupon: null, last_order_id: null, created_at: at };
    Object.assign(cart, { updated_at: at, revision: event.revision });
    carts.set(customerId, cart);
    switch (event.type) {
      case "CartItemAdded": {
        Object.assign(cart, { status: "OPEN", currency: event.data.currency });
        const key = keyOf(customerId, event.data.sku);
        const item = items.get(key);
        if (item) items.set(key, { ...item, quantity: (item.quantity as number) + event.data.quantity, unit_price: event.data.unitPrice });
        else
          items.set(key, {
            customer_id: customerId,
            sku: event.data.sku,
            seq: event.revision,
            quantity: event.data.quantity,
            unit_price: event.data.unitPrice,
          });
        removed.delete(key);
        break;
      }
      case "CartItemQuantityChanged": {
        cart.status = "OPEN";
        const key = keyOf(customerId, event.data.sku);
        const item = items.get(key);
        if (item) items.set(key, { ...item, quantity: event.data.quantity });
        break;
      }
      case "CartItemRemoved": {
        cart.status = "OPEN";
        const key = keyOf(customerId, event.data.sku);
        const item = items.get(key);
        if (item) remove(key, item);
        break;
      }
      case "CouponApplied":
        Object.assign(cart, { status: cart.status === "ABANDONED" ? "OPEN" : cart.status, coupon: event.data.coupon });
        break;
      case "CouponRemoved":
        cart.coupon = null;
        break;
      case "CartCheckedOut":
        Object.assign(cart, { status: "CHECKED_OUT", coupon: null, last_order_id: event.data.orderId });
        for (const [key, item] of [...items.rows]) if (item.customer_id === customerId) remove(key, item);
        break;
      case "CartAbandoned":
        cart.status = "ABANDONED";
        break;
      default:
        break;
    }
  }
  await upsertRows(sql, t.carts, CART_COLUMNS, ["customer_id"], carts.changed(), { guard: "revision" });
  await deleteRows(sql, t.items, ["customer_id", "sku"], [...removed.values()]);
  await upsertRows(sql, t.items, ITEM_COLUMNS, ["customer_id", "sku"], items.changed());
}

export const cartsProjection: Projection<CartTables> = {
  name: "projections/carts",
  filter: { streamCategories: ["cart"] },
  tables: CART_TABLES,
  schema,
  migrations: [{ id: "projections/carts/001-tables", sql: schema(CART_TABLES) }],
  apply,
  applyBatch,
};
