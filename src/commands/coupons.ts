// Coupon commands: define (admin), redeem (at checkout), and the lookup the cart applies.

import { couponDecider, couponUsable, normalizeCode, streamId as couponStream, type CouponDefinition } from "../aggregates/coupon.js";
import type { Coupon } from "../aggregates/cart.js";
import { DomainError } from "../aggregates/decider.js";
import type { EventStore } from "../eventstore/port.js";
import { nowIso, type CommandContext } from "./context.js";
import { envelope } from "./envelope.js";
import { handleCommand } from "./handle-command.js";
import { loadAggregate } from "./load.js";

export async function defineCoupon(ctx: CommandContext, input: CouponDefinition) {
  return handleCommand(
    ctx.store,
    couponDecider,
    envelope(ctx, couponStream(input.code), { type: "DefineCoupon", ...input, at: nowIso(ctx) }),
  );
}

export async function redeemCoupon(ctx: CommandContext, input: { code: string; orderId: string; customerId: string }) {
  return handleCommand(
    ctx.store,
    couponDecider,
    envelope(ctx, couponStream(input.code), { type: "RedeemCoupon", ...input, at: nowIso(ctx) }),
  );
}

/** The coupon's definition whatever its usage (for a checkout being completed after its redemption). */
export async function couponDefinition(store: EventStore, code: string): Promise<Coupon | undefined> {
  const { state } = await loadAggregate(store, couponDecider, couponStream(code));
  if (state.status === "NONE") return undefined;
  return {
    code: state.code,
    kind: state.kind,
    value: state.value,
    ...(state.minOrderAmount === undefined ? {} : { minOrderAmount: state.minOrderAmount }),
    ...(state.expiresAt === undefined ? {} : { expiresAt: state.expiresAt }),
  };
}

/** The coupon as the cart applies it; unknown: invalid (422); expired or used up: 409. */
export async function usableCoupon(store: EventStore, code: string, atMs: number): Promise<Coupon> {
  const { state } = await loadAggregate(store, couponDecider, couponStream(code));
  if (state.status === "NONE") throw new DomainError("invalid_coupon", `unknown coupon ${normalizeCode(code)}`);
  if (!couponUsable(state, atMs))
    throw new DomainError("coupon_unavailable", `coupon ${state.code} has expired or is used up`, "UNAVAILABLE");
  return {
    code: state.code,
    kind: state.kind,
    value: state.value,
    ...(state.minOrderAmount === undefined ? {} : { minOrderAmount: state.minOrderAmount }),
    ...(state.expiresAt === undefined ? {} : { expiresAt: state.expiresAt }),
  };
}
