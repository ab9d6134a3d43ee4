// Coupon: a discount code, as a decider. Stream: coupon-<CODE> (codes are upper-cased).
//
// DefineCoupon once per code (an existing code is a conflict); RedeemCoupon once per order id,
// at most maxRedemptions times, never at or after expiresAt. Redeeming again for the same order
// decides nothing (a retried checkout).

import { DomainError, type Decider, type DomainEvent } from "./decider.js";
import { isMinorUnits, requireInstant, requirePositiveAmount, requireText } from "./rules.js";

export const COUPON_CATEGORY = "coupon";

export const normalizeCode = (code: string): string => code.trim().toUpperCase();
export const streamId = (code: string): string => `${COUPON_CATEGORY}-${normalizeCode(code)}`;

export interface CouponDefinition {
  code: string;
  kind: "percent" | "flat";
  /** percent: 1..100; flat: minor units off. */
  value: number;
  minOrderAmount?: number;
  expiresAt?: string;
  maxRedemptions?: number;
}

export type CouponCommand =
  | ({ type: "DefineCoupon"; at: string } & CouponDefinition)
  | { type: "RedeemCoupon"; code: string; orderId: string; customerId: string; at: string };

export type CouponDefined = DomainEvent<"CouponDefined", CouponDefinition & { at: string }>;
export type CouponRedeemed = DomainEvent<"CouponRedeemed", { code: string; orderId: string; customerId: string; at: string }>;
export type CouponEvent = CouponDefined | CouponRedeemed;

export const couponSchemaVersions: Readonly<Record<CouponEvent["type"], number>> = { CouponDefined: 1, CouponRedeemed: 1 };

export type CouponState = { status: "NONE" } | ({ status: "ACTIVE"; redemptions: readonly string[] } & CouponDefinition);

export const initialCouponState: CouponState = { status: "NONE" };

function decide(command: CouponCommand, state: CouponState): CouponEvent[] {
  const code = normalizeCode(requireText(command.code, "code", state.status));
  const atMs = requireInstant(command.at, "at", state.status);
  if (command.type === "DefineCoupon") {
    if (state.status !== "NONE") throw new DomainError("coupon_already_exists", `coupon ${code} already exists`, state.status);
    if (!/^[A-Z0-9_-]{1,64}$/.test(code)) throw new DomainError("invalid_field", "code must be 1-64 letters, digits, '_' or '-'", "NONE");
    if (command.kind !== "percent" && command.kind !== "flat")
      throw new DomainError("invalid_field", `kind must be "percent" or "flat"`, "NONE");
    const value = requirePositiveAmount(command.value, "value", "NONE");
    if (command.kind === "percent" && value > 100) throw new DomainError("invalid_field", "a percent coupon's value is 1 to 100", "NONE");
    if (command.minOrderAmount !== undefined && !isMinorUnits(command.minOrderAmount))
      throw new DomainError("invalid_amount", "minOrderAmount must be a non-negative integer", "NONE");
    if (command.expiresAt !== undefined) requireInstant(command.expiresAt, "expiresAt", "NONE");
    if (command.maxRedemptions !== undefined) requirePositiveAmount(command.maxRedemptions, "maxRedemptions", "NONE");
    return [
      {
        type: "CouponDefined",
        data: {
          code,
          kind: command.kind,
          value,
          ...(command.minOrderAmount === undefined ? {} : { minOrderAmount: command.minOrderAmount }),
          ...(command.expiresAt === undefined ? {} : { expiresAt: command.expiresAt }),
          ...(command.maxRedemptions === undefined ? {} : { maxRedemptions: command.maxRedemptions }),
          at: command.at,
        },
      },
    ];
  }
  if (state.status === "NONE") throw new DomainError("coupon_not_found", `no coupon ${code}`, "NONE");
  const orderId = requireText(command.orderId, "orderId", state.status);
  const customerId = requireText(command.customerId, "customerId", state.status);
  if (state.redemptions.includes(orderId)) return [];
  if (state.expiresAt !== undefined && atMs >= Date.parse(state.expiresAt))
    throw new DomainError("coupon_expired", `coupon ${code} expired at ${state.expiresAt}`, "EXPIRED");
  if (state.maxRedemptions !== undefined && state.redemptions.length >= state.maxRedemptions)
    throw new DomainError("coupon_exhausted", `coupon ${code} was redeemed ${state.maxRedemptions} times already`, "EXHAUSTED");
  return [{ type: "CouponRedeemed", data: { code, orderId, customerId, at: command.at } }];
}

function evolve(state: CouponState, event: CouponEvent): CouponState {
  if (event.type === "CouponDefined") {
    const { at: _at, ...definition } = event.data;
    return { status: "ACTIVE", ...definition, redemptions: [] };
  }
  if (state.status === "NONE") return state;
  return { ...state, redemptions: [...state.redemptions, event.data.orderId] };
}

/** Whether the coupon can still be applied at `atMs` (not expired, not exhausted). */
export const couponUsable = (state: CouponState, atMs: number): boolean =>
  state.status === "ACTIVE" &&
  (state.expiresAt === undefined || atMs < Date.parse(state.expiresAt)) &&
  (state.maxRedemptions === undefined || state.redemptions.length < state.maxRedemptions);

export const couponDecider: Decider<CouponCommand, CouponEvent, CouponState> = {
  category: COUPON_CATEGORY,
  schemaVersions: couponSchemaVersions,
  initialState: initialCouponState,
  decide,
  evolve,
};
