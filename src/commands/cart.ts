// Cart commands (customer). Item prices come from the catalog; coupons from the coupon streams.

import { cartDecider, discountFor, streamId as cartStream, type CartCommand } from "../aggregates/cart.js";
import { DomainError } from "../aggregates/decider.js";
import type { ShippingAddress } from "../aggregates/order.js";
import type { PaymentMethod } from "../aggregates/rules.js";
import { catalogPrices } from "./catalog.js";
import { nowIso, type CommandContext } from "./context.js";
import { couponDefinition, redeemCoupon, usableCoupon } from "./coupons.js";
import { envelope } from "./envelope.js";
import { handleCommand } from "./handle-command.js";
import { loadAggregate } from "./load.js";
import { placeOrder, type PlaceOrderInput } from "./orders.js";

const cartCommand = (ctx: CommandContext, customerId: string, command: CartCommand, commandId = ctx.commandId) =>
  handleCommand(ctx.store, cartDecider, envelope({ ...ctx, commandId }, cartStream(customerId), command));

export async function addCartItem(ctx: CommandContext, customerId: string, input: { sku: string; quantity: number }) {
  const price = (await catalogPrices(ctx.store, [input.sku])).get(input.sku)!;
  return cartCommand(ctx, customerId, {
    type: "AddCartItem",
    customerId,
    sku: input.sku,
    quantity: input.quantity,
    unitPrice: price.price,
    currency: price.currency,
    at: nowIso(ctx),
  });
}

export const changeCartItem = (ctx: CommandContext, customerId: string, sku: string, quantity: number) =>
  cartCommand(ctx, customerId, { type: "ChangeCartItemQuantity", customerId, sku, quantity, at: nowIso(ctx) });

export const removeCartItem = (ctx: CommandContext, customerId: string, sku: string) =>
  cartCommand(ctx, customerId, { type: "RemoveCartItem", customerId, sku, at: nowIso(ctx) });

export async function applyCartCoupon(ctx: CommandContext, customerId: string, code: string) {
  const at = nowIso(ctx);
  const coupon = await usableCoupon(ctx.store, code, Date.parse(at));
  return cartCommand(ctx, customerId, { type: "ApplyCoupon", customerId, coupon, at });
}

export const loadCart = (ctx: Pick<CommandContext, "store">, customerId: string) =>
  loadAggregate(ctx.store, cartDecider, cartStream(customerId));

/**
 * Checkout: redeem the coupon (once per order id), check the basket out, place the order with
 * the catalog's current prices. Every step's id derives from the request, so a retry completes
 * a checkout that stopped half way and repeats nothing.
 */
export async function checkOutCart(
  ctx: CommandContext,
  customerId: string,
  input: { orderId: string; shippingAddress: ShippingAddress; paymentMethod: PaymentMethod; flashSale?: PlaceOrderInput["flashSale"] },
) {
  const { state } = await loadCart(ctx, customerId);
  const already = state.checkedOutOrders.includes(input.orderId);
  if (!already && state.items.length === 0) throw new DomainError("empty_cart", "an empty cart cannot be checked out", state.status);
  let items = state.items.map((l) => ({ sku: l.sku, quantity: l.quantity }));
  let coupon = state.coupon;
  if (already) {
    const { events } = await loadCart(ctx, customerId);
    const out = events.find((e) => e.type === "CartCheckedOut" && (e.data as { orderId?: string }).orderId === input.orderId);
    const data = out?.data as { items: { sku: string; quantity: number }[]; couponCode?: string } | undefined;
    items = data?.items.map((l) => ({ sku: l.sku, quantity: l.quantity })) ?? [];
    coupon = undefined;
    if (data?.couponCode) coupon = await couponDefinition(ctx.store, data.couponCode);
  }
  if (coupon && !already) {
    await redeemCoupon({ ...ctx, commandId: `${ctx.commandId}:coupon` }, { code: coupon.code, orderId: input.orderId, customerId });
  }
  if (!already)
    await cartCommand(
      ctx,
      customerId,
      { type: "CheckOutCart", customerId, orderId: input.orderId, at: nowIso(ctx) },
      `${ctx.commandId}:cart`,
    );
  const c = coupon;
  return placeOrder(
    { ...ctx, commandId: `${ctx.commandId}:order` },
    {
      orderId: input.orderId,
      customerId,
      items,
      shippingAddress: input.shippingAddress,
      paymentMethod: input.paymentMethod,
      ...(c ? { coupon: { code: c.code, discountFor: (subtotal: number) => discountFor(c, subtotal) } } : {}),
      ...(input.flashSale ? { flashSale: input.flashSale } : {}),
    },
  );
}
