// Test support: a store and SQL client (PGlite or a throwaway PostgreSQL database) and helpers
// that drive the real deciders through handleCommand, so the read models see real events.

import { randomUUID } from "node:crypto";
import { cartDecider, streamId as cartStream, type CartCommand } from "../../src/aggregates/cart.js";
import type { Decider, DomainEvent } from "../../src/aggregates/decider.js";
import { inventoryDecider, streamId as inventoryStream, type InventoryCommand } from "../../src/aggregates/inventory.js";
import { orderDecider, streamId as orderStream, type OrderCommand } from "../../src/aggregates/order.js";
import { paymentDecider, streamId as paymentStream, type PaymentCommand } from "../../src/aggregates/payment.js";
import { productDecider, streamId as productStream, type ProductCommand } from "../../src/aggregates/product.js";
import { handleCommand } from "../../src/commands/handle-command.js";
import type { Checkpoint, EventStore } from "../../src/eventstore/port.js";
import type { SqlClient } from "../../src/infrastructure/sql/sql-client.js";

export interface Backend {
  store: EventStore;
  sql: SqlClient;
  close(): Promise<void>;
}

const BASE = Date.parse("2026-03-01T10:00:00.000Z");
/** A fixed instant, `minutes` after the scenario's start. */
export const at = (minutes: number): string => new Date(BASE + minutes * 60_000).toISOString();

export const address = { name: "Asha", line1: "1 MG Road", city: "Bengaluru", state: "KA", pincode: "560001", phone: "9999999999" };

type Without<C> = C extends unknown ? Omit<C, "at"> : never;

/** Drives the aggregates; every call returns the commit position of what it appended. */
export class World {
  last: Checkpoint = "";
  constructor(readonly store: EventStore) {}

  private async run<C, E extends DomainEvent, S>(decider: Decider<C, E, S>, streamId: string, command: C): Promise<Checkpoint> {
    const result = await handleCommand(this.store, decider, { streamId, command, commandId: randomUUID(), actor: "test:projections" });
    if (result.position && result.position > this.last) this.last = result.position;
    return result.position ?? "";
  }

  order = (minute: number, command: Without<OrderCommand>) =>
    this.run(orderDecider, orderStream(command.orderId), { ...command, at: at(minute) } as OrderCommand);
  payment = (minute: number, command: Without<PaymentCommand>) =>
    this.run(paymentDecider, paymentStream(command.paymentId), { ...command, at: at(minute) } as PaymentCommand);
  product = (minute: number, command: Without<ProductCommand>) =>
    this.run(productDecider, productStream(command.sku), { ...command, at: at(minute) } as ProductCommand);
  stock = (minute: number, command: Without<InventoryCommand>) =>
    this.run(inventoryDecider, inventoryStream(command.sku, command.warehouseId), { ...command, at: at(minute) } as InventoryCommand);
  cart = (minute: number, command: Without<CartCommand>) =>
    this.run(cartDecider, cartStream(command.customerId), { ...command, at: at(minute) } as CartCommand);
}

/** A little of everything, under ids prefixed with `p`: products, stock in two warehouses, orders through their lives, payments with refunds, carts. */
export async function populate(world: World, p: string, minute = 0): Promise<void> {
  await world.product(minute, {
    type: "CreateProduct",
    sku: `${p}-SKU`,
    name: `Item ${p}`,
    category: ["Test"],
    price: 10_000,
    attributes: { p },
  });
  await world.product(minute + 1, { type: "ChangeProductPrice", sku: `${p}-SKU`, price: 9_000 });
  for (const warehouseId of ["BLR", "DEL"]) await world.stock(minute, { type: "ReceiveStock", sku: `${p}-SKU`, warehouseId, quantity: 20 });
  await world.stock(minute + 1, {
    type: "ReserveStock",
    sku: `${p}-SKU`,
    warehouseId: "BLR",
    orderId: `${p}-o1`,
    quantity: 2,
    expiresAt: at(minute + 60),
  });
  await world.stock(minute + 2, { type: "CommitReservation", sku: `${p}-SKU`, warehouseId: "BLR", orderId: `${p}-o1` });
  await world.stock(minute + 3, { type: "ShipStock", sku: `${p}-SKU`, warehouseId: "BLR", orderId: `${p}-o1` });
  await world.stock(minute + 1, {
    type: "ReserveStock",
    sku: `${p}-SKU`,
    warehouseId: "DEL",
    orderId: `${p}-o2`,
    quantity: 1,
    expiresAt: at(minute + 60),
  });
  await world.stock(minute + 2, { type: "ReleaseReservation", sku: `${p}-SKU`, warehouseId: "DEL", orderId: `${p}-o2` });

  await world.order(minute, {
    type: "PlaceOrder",
    orderId: `${p}-o1`,
    customerId: `${p}-c`,
    lines: [{ sku: `${p}-SKU`, quantity: 2, unitPrice: 9_000 }],
    paymentMethod: "UPI",
    shippingAddress: address,
  });
  await world.payment(minute + 1, { type: "InitiatePayment", paymentId: `${p}-pay1`, orderId: `${p}-o1`, amount: 18_000, method: "UPI" });
  await world.order(minute + 1, { type: "MarkPaymentPending", orderId: `${p}-o1`, paymentId: `${p}-pay1` });
  await world.payment(minute + 2, { type: "RecordPaymentCaptured", paymentId: `${p}-pay1`, gatewayEventId: `${p}-g1`, amount: 18_000 });
  await world.order(minute + 2, { type: "ConfirmOrder", orderId: `${p}-o1`, payment: { paymentId: `${p}-pay1`, amount: 18_000 } });
  await world.order(minute + 3, { type: "StartProcessing", orderId: `${p}-o1`, warehouseId: "BLR" });
  await world.order(minute + 4, { type: "ShipOrder", orderId: `${p}-o1`, carrier: "Delhivery", trackingNumber: `${p}-T` });
  await world.order(minute + 5, { type: "DeliverOrder", orderId: `${p}-o1` });
  await world.order(minute + 6, {
    type: "RequestReturn",
    orderId: `${p}-o1`,
    returnId: `${p}-ret`,
    lines: [{ sku: `${p}-SKU`, quantity: 1 }],
    reason: "too big",
    returnWindowMs: 864_000_000,
  });
  await world.order(minute + 7, { type: "ReceiveReturn", orderId: `${p}-o1`, returnId: `${p}-ret` });
  await world.payment(minute + 7, { type: "RequestRefund", paymentId: `${p}-pay1`, refundId: `${p}-rf`, amount: 9_000, reason: "RETURN" });
  await world.order(minute + 7, {
    type: "RecordRefundRequested",
    orderId: `${p}-o1`,
    refundId: `${p}-rf`,
    amount: 9_000,
    reason: "RETURN",
    returnId: `${p}-ret`,
  });
  await world.payment(minute + 8, {
    type: "RecordRefundProcessed",
    paymentId: `${p}-pay1`,
    refundId: `${p}-rf`,
    gatewayEventId: `${p}-g2`,
  });
  await world.order(minute + 8, { type: "RecordRefundProcessed", orderId: `${p}-o1`, refundId: `${p}-rf` });
  await world.order(minute + 8, { type: "MarkReturned", orderId: `${p}-o1`, returnId: `${p}-ret`, refundId: `${p}-rf` });

  await world.order(minute, {
    type: "PlaceOrder",
    orderId: `${p}-o2`,
    customerId: `${p}-c`,
    lines: [{ sku: `${p}-SKU`, quantity: 1, unitPrice: 9_000 }],
    paymentMethod: "COD",
    shippingAddress: address,
  });
  await world.order(minute + 2, { type: "CancelOrder", orderId: `${p}-o2`, reason: "CUSTOMER_REQUEST" });

  await world.cart(minute, { type: "AddCartItem", customerId: `${p}-c`, sku: `${p}-SKU`, quantity: 3, unitPrice: 9_000 });
  await world.cart(minute + 1, { type: "ApplyCoupon", customerId: `${p}-c`, coupon: { code: "FLAT", kind: "flat", value: 1_000 } });
  await world.cart(minute + 2, { type: "ChangeCartItemQuantity", customerId: `${p}-c`, sku: `${p}-SKU`, quantity: 2 });
}
