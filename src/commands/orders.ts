// Order commands issued through the API. Prices come from the catalog (the products' streams),
// never from the client. What follows a command (reservations, payment, refunds, restock) is the
// order saga's work.

import { DomainError } from "../aggregates/decider.js";
import {
  orderDecider,
  streamId as orderStream,
  type CancellationReason,
  type ReturnLine,
  type ShippingAddress,
} from "../aggregates/order.js";
import type { PaymentMethod } from "../aggregates/rules.js";
import { catalogPrices } from "./catalog.js";
import { nowIso, type CommandContext } from "./context.js";
import { envelope } from "./envelope.js";
import { handleCommand } from "./handle-command.js";

export interface PlaceOrderInput {
  orderId: string;
  customerId: string;
  items: { sku: string; quantity: number }[];
  shippingAddress: ShippingAddress;
  paymentMethod: PaymentMethod;
  coupon?: { code: string; discountFor: (subtotal: number) => number };
  /** An order from a flash-sale claim (already taken at the gate): the sale's price instead of the catalog's. */
  flashSale?: { saleId: string; claimId: string; warehouseId: string; price: number; currency: string };
}

export async function placeOrder(ctx: CommandContext, input: PlaceOrderInput) {
  const skus = input.items.map((i) => i.sku);
  if (new Set(skus).size !== skus.length) throw new DomainError("invalid_duplicate", "items lists the same SKU more than once");
  const sale = input.flashSale;
  const prices = sale
    ? new Map(skus.map((sku) => [sku, { price: sale.price, currency: sale.currency }]))
    : await catalogPrices(ctx.store, skus);
  const currencies = new Set([...prices.values()].map((p) => p.currency));
  if (currencies.size > 1) throw new DomainError("invalid_currency", "an order's items must share one currency");
  const lines = input.items.map((i) => ({ sku: i.sku, quantity: i.quantity, unitPrice: prices.get(i.sku)!.price }));
  const subtotal = lines.reduce((s, l) => s + l.quantity * l.unitPrice, 0);
  if (!Number.isSafeInteger(subtotal)) throw new DomainError("invalid_amount", "the order total is too large");
  const discountAmount = input.coupon ? input.coupon.discountFor(subtotal) : 0;
  return handleCommand(
    ctx.store,
    orderDecider,
    envelope(ctx, orderStream(input.orderId), {
      type: "PlaceOrder",
      orderId: input.orderId,
      customerId: input.customerId,
      lines,
      currency: [...currencies][0],
      discountAmount,
      ...(input.coupon ? { couponCode: input.coupon.code } : {}),
      paymentMethod: input.paymentMethod,
      shippingAddress: input.shippingAddress,
      ...(sale ? { flashSale: { saleId: sale.saleId, claimId: sale.claimId, warehouseId: sale.warehouseId } } : {}),
      at: nowIso(ctx),
    }),
    // A new order's stream is new: no read before the append. An order id seen before (a retried
    // request) fails the append, and the command is then decided over the stream as it is.
    { known: { state: orderDecider.initialState, revision: -1, events: [] } },
  );
}

const orderCommand = (
  ctx: CommandContext,
  orderId: string,
  command: Parameters<typeof orderDecider.decide>[0],
  expectedRevision?: number,
) =>
  // A command on an existing order continues the order's conversation unless the caller names one.
  handleCommand(
    ctx.store,
    orderDecider,
    envelope({ ...ctx, correlationId: ctx.correlationId ?? `order:${orderId}` }, orderStream(orderId), command, expectedRevision),
  );

export const cancelOrder = (
  ctx: CommandContext,
  orderId: string,
  input: { reason: CancellationReason; note?: string },
  expectedRevision?: number,
) =>
  orderCommand(
    ctx,
    orderId,
    { type: "CancelOrder", orderId, reason: input.reason, ...(input.note === undefined ? {} : { note: input.note }), at: nowIso(ctx) },
    expectedRevision,
  );

export const shipOrder = (
  ctx: CommandContext,
  orderId: string,
  input: { carrier: string; trackingNumber: string },
  expectedRevision?: number,
) =>
  orderCommand(
    ctx,
    orderId,
    { type: "ShipOrder", orderId, carrier: input.carrier, trackingNumber: input.trackingNumber, at: nowIso(ctx) },
    expectedRevision,
  );

export const deliverOrder = (ctx: CommandContext, orderId: string, expectedRevision?: number) =>
  orderCommand(ctx, orderId, { type: "DeliverOrder", orderId, at: nowIso(ctx) }, expectedRevision);

export const requestReturn = (
  ctx: CommandContext,
  orderId: string,
  input: { returnId: string; lines: ReturnLine[]; reason: string; returnWindowMs: number },
  expectedRevision?: number,
) =>
  orderCommand(
    ctx,
    orderId,
    {
      type: "RequestReturn",
      orderId,
      returnId: input.returnId,
      lines: input.lines,
      reason: input.reason,
      returnWindowMs: input.returnWindowMs,
      at: nowIso(ctx),
    },
    expectedRevision,
  );

export const receiveReturn = (ctx: CommandContext, orderId: string, returnId: string, expectedRevision?: number) =>
  orderCommand(ctx, orderId, { type: "ReceiveReturn", orderId, returnId, at: nowIso(ctx) }, expectedRevision);
