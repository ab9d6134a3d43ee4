// Cart queries (GET /api/cart) over the carts read model. Totals follow the Cart aggregate's
// own rules (subtotal, coupon discount rounded down, never above the subtotal).

import { discountFor, type Coupon } from "../aggregates/cart.js";
import type { SqlExecutor } from "../infrastructure/sql/sql-client.js";
import { CART_TABLES } from "../projections/carts.js";
import { int, iso } from "../projections/projection.js";

export interface CartView {
  customerId: string;
  status: "OPEN" | "ABANDONED" | "CHECKED_OUT";
  items: { sku: string; quantity: number; unitPrice: number; lineTotal: number }[];
  coupon: Coupon | null;
  subtotal: number;
  discountAmount: number;
  totalAmount: number;
  currency: string;
  /** Set once the cart was checked out: the order it became (the latest). */
  lastOrderId: string | null;
  updatedAt: string | null;
  /** The cart stream's revision; -1 for a customer who never touched a cart. */
  version: number;
}

/** The customer's cart; an empty OPEN cart when they have none yet. */
export async function getCart(sql: SqlExecutor, customerId: string): Promise<CartView> {
  const { rows } = await sql.query<Record<string, unknown>>(`SELECT * FROM ${CART_TABLES.carts} WHERE customer_id = $1`, [customerId]);
  const cart = rows[0];
  if (!cart) {
    return {
      customerId,
      status: "OPEN",
      items: [],
      coupon: null,
      subtotal: 0,
      discountAmount: 0,
      totalAmount: 0,
      currency: "INR",
      lastOrderId: null,
      updatedAt: null,
      version: -1,
    };
  }
  const { rows: lines } = await sql.query<Record<string, unknown>>(
    `SELECT * FROM ${CART_TABLES.items} WHERE customer_id = $1 ORDER BY seq, sku`,
    [customerId],
  );
  const items = lines.map((l) => ({
    sku: String(l.sku),
    quantity: int(l.quantity),
    unitPrice: int(l.unit_price),
    lineTotal: int(l.quantity) * int(l.unit_price),
  }));
  const coupon = (typeof cart.coupon === "string" ? JSON.parse(cart.coupon) : (cart.coupon ?? null)) as Coupon | null;
  const subtotal = items.reduce((sum, l) => sum + l.lineTotal, 0);
  const discountAmount = discountFor(coupon ?? undefined, subtotal);
  return {
    customerId,
    status: String(cart.status) as CartView["status"],
    items,
    coupon,
    subtotal,
    discountAmount,
    totalAmount: subtotal - discountAmount,
    currency: String(cart.currency),
    lastOrderId: cart.last_order_id == null ? null : String(cart.last_order_id),
    updatedAt: iso(cart.updated_at),
    version: int(cart.revision),
  };
}

/** GET /api/cart's body (docs/CONTRACT.md): the lines' unit prices and the totals, the coupon when one applies. */
export function cartResource(view: CartView): Record<string, unknown> {
  return {
    customerId: view.customerId,
    status: view.status,
    items: view.items.map((l) => ({ sku: l.sku, quantity: l.quantity, unitPrice: l.unitPrice })),
    subtotal: view.subtotal,
    discountAmount: view.discountAmount,
    totalAmount: view.totalAmount,
    currency: view.currency,
    ...(view.coupon ? { coupon: view.coupon } : {}),
    version: view.version,
  };
}
