// The query side: plain functions over the SQL read models, returning the JSON shapes of docs/CONTRACT.md.

export { getCart, type CartView } from "./carts.js";
export { getInventory, type InventoryView } from "./inventory.js";
export { getOrder, listOrders, type OrderView } from "./orders.js";
export { getPayment, type PaymentView } from "./payments.js";
export { getProduct, type ProductView } from "./products.js";
