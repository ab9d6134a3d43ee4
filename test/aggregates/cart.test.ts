import { describe, expect, it } from "vitest";
import {
  cartDecider,
  cartTotals,
  discountFor,
  streamId,
  type CartCommand,
  type CartEvent,
  type Coupon,
} from "../../src/aggregates/cart.js";
import { specFor } from "./given-when-then.js";

const { given } = specFor(cartDecider);

const at = "2026-01-01T10:00:00.000Z";
const customerId = "c-1";
const c = <T extends CartCommand["type"]>(
  type: T,
  rest: Omit<Extract<CartCommand, { type: T }>, "type" | "customerId" | "at"> & { at?: string },
) => ({ type, customerId, at, ...rest }) as Extract<CartCommand, { type: T }>;

const added = (sku: string, quantity: number, unitPrice: number): CartEvent => ({
  type: "CartItemAdded",
  data: { customerId, sku, quantity, unitPrice, currency: "INR", at },
});
const tenOff: Coupon = { code: "TEN", kind: "percent", value: 10, minOrderAmount: 50_000, expiresAt: "2026-02-01T00:00:00.000Z" };
const couponApplied = (coupon: Coupon): CartEvent => ({ type: "CouponApplied", data: { customerId, coupon, at } });
const checkedOut: CartEvent = {
  type: "CartCheckedOut",
  data: {
    customerId,
    orderId: "o-1",
    items: [{ sku: "A", quantity: 2, unitPrice: 30_000 }],
    subtotal: 60_000,
    discountAmount: 0,
    totalAmount: 60_000,
    currency: "INR",
    at,
  },
};

describe("Cart stream id and totals", () => {
  it("is cart-<customerId>", () => expect(streamId("c-1")).toBe("cart-c-1"));
  it("computes percent and flat discounts in whole minor units, never above the subtotal", () => {
    expect(discountFor({ code: "P", kind: "percent", value: 15 }, 999)).toBe(149);
    expect(discountFor({ code: "F", kind: "flat", value: 5_000 }, 3_000)).toBe(3_000);
    expect(discountFor({ code: "F", kind: "flat", value: 5_000, minOrderAmount: 10_000 }, 9_999)).toBe(0);
    expect(discountFor(undefined, 100)).toBe(0);
  });
});

describe("AddCartItem", () => {
  it("adds a line", () => {
    const { state } = given([])
      .when(c("AddCartItem", { sku: "A", quantity: 2, unitPrice: 30_000 }))
      .then([added("A", 2, 30_000)]);
    expect(state).toMatchObject({ status: "OPEN", customerId, items: [{ sku: "A", quantity: 2, unitPrice: 30_000 }] });
    expect(cartTotals(state)).toEqual({ subtotal: 60_000, discountAmount: 0, totalAmount: 60_000 });
  });
  it("adds to an existing line and takes the latest price", () => {
    const { state } = given([added("A", 2, 30_000), added("B", 1, 100)])
      .when(c("AddCartItem", { sku: "A", quantity: 1, unitPrice: 29_000 }))
      .then([added("A", 1, 29_000)]);
    expect(state.items).toEqual([
      { sku: "A", quantity: 3, unitPrice: 29_000 },
      { sku: "B", quantity: 1, unitPrice: 100 },
    ]);
  });
  it("reopens an abandoned cart and starts a new basket after checkout", () => {
    expect(
      given([added("A", 1, 100), { type: "CartAbandoned", data: { customerId, at } }])
        .when(c("AddCartItem", { sku: "B", quantity: 1, unitPrice: 100 }))
        .then([added("B", 1, 100)]).state.status,
    ).toBe("OPEN");
    const { state } = given([added("A", 2, 30_000), checkedOut])
      .when(c("AddCartItem", { sku: "B", quantity: 1, unitPrice: 100 }))
      .then([added("B", 1, 100)]);
    expect(state).toMatchObject({ status: "OPEN", items: [{ sku: "B", quantity: 1, unitPrice: 100 }], checkedOutOrders: ["o-1"] });
  });
  it("rejects bad quantities, prices, currencies and the wrong customer", () => {
    given([])
      .when(c("AddCartItem", { sku: "A", quantity: 0, unitPrice: 100 }))
      .thenThrows("invalid_quantity");
    given([])
      .when(c("AddCartItem", { sku: "A", quantity: 1, unitPrice: 0 }))
      .thenThrows("invalid_amount");
    given([])
      .when(c("AddCartItem", { sku: "", quantity: 1, unitPrice: 1 }))
      .thenThrows("invalid_field");
    given([added("A", 1, 100)])
      .when(c("AddCartItem", { sku: "B", quantity: 1, unitPrice: 100, currency: "USD" }))
      .thenThrows("currency_mismatch", "OPEN");
    given([added("A", 1, 100)])
      .when({ ...c("AddCartItem", { sku: "B", quantity: 1, unitPrice: 100 }), customerId: "c-2" })
      .thenThrows("wrong_stream");
    given([])
      .when(c("AddCartItem", { sku: "A", quantity: 1, unitPrice: 100, at: "now" }))
      .thenThrows("invalid_time");
  });
});

describe("ChangeCartItemQuantity", () => {
  it("changes a line's quantity", () => {
    const { state } = given([added("A", 2, 30_000)])
      .when(c("ChangeCartItemQuantity", { sku: "A", quantity: 5 }))
      .then([{ type: "CartItemQuantityChanged", data: { customerId, sku: "A", quantity: 5, previousQuantity: 2, at } }]);
    expect(state.items[0]?.quantity).toBe(5);
  });
  it("does nothing for the same quantity", () => {
    given([added("A", 2, 30_000)])
      .when(c("ChangeCartItemQuantity", { sku: "A", quantity: 2 }))
      .thenNothing();
  });
  it("drops a coupon whose minimum is no longer met", () => {
    const { state } = given([added("A", 2, 30_000), couponApplied(tenOff)])
      .when(c("ChangeCartItemQuantity", { sku: "A", quantity: 1 }))
      .then([
        { type: "CartItemQuantityChanged", data: { customerId, sku: "A", quantity: 1, previousQuantity: 2, at } },
        { type: "CouponRemoved", data: { customerId, code: "TEN", reason: "MIN_ORDER_NOT_MET", at } },
      ]);
    expect(state.coupon).toBeUndefined();
  });
  it("rejects an item not in the cart and a non-positive quantity", () => {
    given([])
      .when(c("ChangeCartItemQuantity", { sku: "A", quantity: 1 }))
      .thenThrows("item_not_in_cart", "OPEN");
    given([added("A", 2, 30_000)])
      .when(c("ChangeCartItemQuantity", { sku: "A", quantity: 0 }))
      .thenThrows("invalid_quantity");
  });
});

describe("RemoveCartItem", () => {
  it("removes a line", () => {
    const { state } = given([added("A", 2, 30_000), added("B", 1, 100)])
      .when(c("RemoveCartItem", { sku: "A" }))
      .then([{ type: "CartItemRemoved", data: { customerId, sku: "A", at } }]);
    expect(state.items).toEqual([{ sku: "B", quantity: 1, unitPrice: 100 }]);
  });
  it("keeps a coupon whose minimum is still met, drops one that is not", () => {
    given([added("A", 2, 30_000), added("B", 1, 100), couponApplied(tenOff)])
      .when(c("RemoveCartItem", { sku: "B" }))
      .then([{ type: "CartItemRemoved", data: { customerId, sku: "B", at } }]);
    given([added("A", 2, 30_000), couponApplied(tenOff)])
      .when(c("RemoveCartItem", { sku: "A" }))
      .then([
        { type: "CartItemRemoved", data: { customerId, sku: "A", at } },
        { type: "CouponRemoved", data: { customerId, code: "TEN", reason: "MIN_ORDER_NOT_MET", at } },
      ]);
  });
  it("rejects an item not in the cart", () => {
    given([added("A", 2, 30_000)])
      .when(c("RemoveCartItem", { sku: "Z" }))
      .thenThrows("item_not_in_cart");
  });
});

describe("ApplyCoupon and RemoveCoupon", () => {
  it("applies a percent coupon", () => {
    const { state } = given([added("A", 2, 30_000)])
      .when(c("ApplyCoupon", { coupon: tenOff }))
      .then([couponApplied(tenOff)]);
    expect(cartTotals(state)).toEqual({ subtotal: 60_000, discountAmount: 6_000, totalAmount: 54_000 });
  });
  it("applies a flat coupon without minimum or expiry, replacing the previous one", () => {
    const flat: Coupon = { code: "FLAT50", kind: "flat", value: 5_000 };
    const { state } = given([added("A", 2, 30_000), couponApplied(tenOff)])
      .when(c("ApplyCoupon", { coupon: flat }))
      .then([couponApplied(flat)]);
    expect(cartTotals(state).discountAmount).toBe(5_000);
  });
  it("rejects an expired coupon and one whose minimum is not met", () => {
    given([added("A", 2, 30_000)])
      .when(c("ApplyCoupon", { coupon: tenOff, at: "2026-02-01T00:00:00.000Z" }))
      .thenThrows("coupon_expired");
    given([added("A", 1, 30_000)])
      .when(c("ApplyCoupon", { coupon: tenOff }))
      .thenThrows("coupon_min_order_not_met", "OPEN");
  });
  it("rejects malformed coupons", () => {
    const g = given([added("A", 2, 30_000)]);
    g.when(c("ApplyCoupon", { coupon: undefined as never })).thenThrows("invalid_coupon");
    g.when(c("ApplyCoupon", { coupon: { ...tenOff, kind: "bogo" as never } })).thenThrows("invalid_coupon");
    g.when(c("ApplyCoupon", { coupon: { ...tenOff, value: 101 } })).thenThrows("invalid_coupon");
    g.when(c("ApplyCoupon", { coupon: { ...tenOff, value: 0 } })).thenThrows("invalid_amount");
    g.when(c("ApplyCoupon", { coupon: { ...tenOff, code: "" } })).thenThrows("invalid_field");
    g.when(c("ApplyCoupon", { coupon: { ...tenOff, minOrderAmount: -1 } })).thenThrows("invalid_amount");
    g.when(c("ApplyCoupon", { coupon: { ...tenOff, expiresAt: "never" } })).thenThrows("invalid_time");
  });
  it("removes the coupon on request", () => {
    const { state } = given([added("A", 2, 30_000), couponApplied(tenOff)])
      .when(c("RemoveCoupon", {}))
      .then([{ type: "CouponRemoved", data: { customerId, code: "TEN", reason: "CUSTOMER_REQUEST", at } }]);
    expect(state.coupon).toBeUndefined();
  });
  it("rejects removing a coupon that is not there", () => {
    given([added("A", 2, 30_000)])
      .when(c("RemoveCoupon", {}))
      .thenThrows("no_coupon", "OPEN");
  });
  it("reopens an abandoned cart", () => {
    expect(
      given([added("A", 2, 30_000), { type: "CartAbandoned", data: { customerId, at } }])
        .when(c("ApplyCoupon", { coupon: tenOff }))
        .then([couponApplied(tenOff)]).state.status,
    ).toBe("OPEN");
  });
});

describe("CheckOutCart", () => {
  it("checks out the items with their totals and empties the cart", () => {
    const { state } = given([added("A", 2, 30_000), couponApplied(tenOff)])
      .when(c("CheckOutCart", { orderId: "o-1" }))
      .then([
        {
          type: "CartCheckedOut",
          data: {
            customerId,
            orderId: "o-1",
            items: [{ sku: "A", quantity: 2, unitPrice: 30_000 }],
            subtotal: 60_000,
            discountAmount: 6_000,
            totalAmount: 54_000,
            currency: "INR",
            couponCode: "TEN",
            at,
          },
        },
      ]);
    expect(state).toMatchObject({ status: "CHECKED_OUT", items: [], checkedOutOrders: ["o-1"] });
    expect(state.coupon).toBeUndefined();
  });
  it("checks out once: a second checkout is rejected", () => {
    given([added("A", 2, 30_000), checkedOut])
      .when(c("CheckOutCart", { orderId: "o-2" }))
      .thenThrows("illegal_transition", "CHECKED_OUT");
    given([added("A", 2, 30_000), checkedOut, added("B", 1, 100)])
      .when(c("CheckOutCart", { orderId: "o-1" }))
      .thenThrows("already_checked_out", "OPEN");
  });
  it("rejects an empty cart", () => {
    given([])
      .when(c("CheckOutCart", { orderId: "o-1" }))
      .thenThrows("empty_cart", "OPEN");
  });
  it("rejects a coupon that expired since it was applied", () => {
    given([added("A", 2, 30_000), couponApplied(tenOff)])
      .when(c("CheckOutCart", { orderId: "o-1", at: "2026-03-01T00:00:00.000Z" }))
      .thenThrows("coupon_expired");
  });
  it("checks out an abandoned cart", () => {
    given([added("A", 2, 30_000), { type: "CartAbandoned", data: { customerId, at } }])
      .when(c("CheckOutCart", { orderId: "o-1" }))
      .then([checkedOut]);
  });
  it("requires an order id", () => {
    given([added("A", 2, 30_000)])
      .when(c("CheckOutCart", { orderId: "" }))
      .thenThrows("invalid_field");
  });
});

describe("AbandonCart", () => {
  it("marks an open cart with items abandoned", () => {
    const { state } = given([added("A", 2, 30_000)])
      .when(c("AbandonCart", {}))
      .then([{ type: "CartAbandoned", data: { customerId, at } }]);
    expect(state.status).toBe("ABANDONED");
  });
  it("rejects abandoning an empty, checked-out or abandoned cart", () => {
    given([]).when(c("AbandonCart", {})).thenThrows("illegal_transition", "EMPTY");
    given([added("A", 2, 30_000), checkedOut])
      .when(c("AbandonCart", {}))
      .thenThrows("illegal_transition", "EMPTY");
    given([added("A", 2, 30_000), { type: "CartAbandoned", data: { customerId, at } }])
      .when(c("AbandonCart", {}))
      .thenThrows("illegal_transition", "ABANDONED");
  });
});
