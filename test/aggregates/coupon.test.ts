import { describe, expect, it } from "vitest";
import { couponDecider, couponUsable, streamId, type CouponEvent } from "../../src/aggregates/coupon.js";
import { fold } from "../../src/aggregates/decider.js";
import { specFor } from "./given-when-then.js";

const spec = specFor(couponDecider);
const at = "2026-01-01T00:00:00.000Z";
const defined: CouponEvent = {
  type: "CouponDefined",
  data: { code: "SAVE10", kind: "percent", value: 10, maxRedemptions: 2, expiresAt: "2026-02-01T00:00:00.000Z", at },
};
const redeemed = (orderId: string): CouponEvent => ({ type: "CouponRedeemed", data: { code: "SAVE10", orderId, customerId: "c-1", at } });

describe("Coupon", () => {
  it("defines a coupon under its upper-cased code", () => {
    expect(streamId(" save10 ")).toBe("coupon-SAVE10");
    spec
      .given([])
      .when({
        type: "DefineCoupon",
        code: "save10",
        kind: "percent",
        value: 10,
        maxRedemptions: 2,
        expiresAt: "2026-02-01T00:00:00.000Z",
        at,
      })
      .then([defined]);
  });
  it("rejects an existing code", () => {
    spec.given([defined]).when({ type: "DefineCoupon", code: "SAVE10", kind: "flat", value: 100, at }).thenThrows("coupon_already_exists");
  });
  it("rejects malformed definitions", () => {
    spec.given([]).when({ type: "DefineCoupon", code: "X", kind: "percent", value: 101, at }).thenThrows("invalid_field");
    spec.given([]).when({ type: "DefineCoupon", code: "X", kind: "flat", value: 0, at }).thenThrows("invalid_amount");
    spec.given([]).when({ type: "DefineCoupon", code: "bad code!", kind: "flat", value: 5, at }).thenThrows("invalid_field");
    spec
      .given([])
      .when({ type: "DefineCoupon", code: "X", kind: "weird" as "flat", value: 5, at })
      .thenThrows("invalid_field");
  });
  it("redeems once per order, up to maxRedemptions", () => {
    spec
      .given([defined])
      .when({ type: "RedeemCoupon", code: "save10", orderId: "o-1", customerId: "c-1", at })
      .then([redeemed("o-1")]);
    spec
      .given([defined, redeemed("o-1")])
      .when({ type: "RedeemCoupon", code: "SAVE10", orderId: "o-1", customerId: "c-1", at })
      .thenNothing();
    spec
      .given([defined, redeemed("o-1"), redeemed("o-2")])
      .when({ type: "RedeemCoupon", code: "SAVE10", orderId: "o-3", customerId: "c-1", at })
      .thenThrows("coupon_exhausted");
  });
  it("refuses an expired or unknown coupon", () => {
    spec
      .given([defined])
      .when({ type: "RedeemCoupon", code: "SAVE10", orderId: "o-1", customerId: "c-1", at: "2026-02-01T00:00:00.000Z" })
      .thenThrows("coupon_expired");
    spec.given([]).when({ type: "RedeemCoupon", code: "SAVE10", orderId: "o-1", customerId: "c-1", at }).thenThrows("coupon_not_found");
  });
  it("tells whether it is usable", () => {
    const state = fold(couponDecider, [defined, redeemed("o-1")]);
    expect(couponUsable(state, Date.parse(at))).toBe(true);
    expect(couponUsable(fold(couponDecider, [defined, redeemed("o-1"), redeemed("o-2")]), Date.parse(at))).toBe(false);
    expect(couponUsable(state, Date.parse("2026-03-01T00:00:00Z"))).toBe(false);
  });
});
