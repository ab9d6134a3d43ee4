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

  order = (minute: number, command: Without<OrderCommand>) => this.run(orderDecider, orderStream(command.orderId), { ...command, at: at(minute) } as OrderCommand);
  payment = (minute: number, command: Without<PaymentCommand>) => this.run(paymentDecider, paymentStream(command.paymentId), { ...command, at: at(minute) } as PaymentCommand);
  product = (minute: number, command: Without<ProductCommand>) => this.run(productDecider, productStream(command.sku), { ...command, at: at(minute) } as ProductCommand);
  stock = (minute: number, command: Without<InventoryCommand>) =>
    this.run(inventoryDecider, inventoryStream(command.sku, command.warehouseId), { ...command, at: at(minute) } as InventoryCommand);
  cart = (minute: number, command: Without<CartCommand>) => this.run(cartDecider, cartStream(command.customerId), { ...command, at: at(minute) } as CartCommand);
}
