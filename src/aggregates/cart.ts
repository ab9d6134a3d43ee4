// Cart: a customer's basket, as a decider. Stream: cart-<customerId>.
//
// One stream per customer holds the basket over time. Checking out hands the items to an order
// and empties the basket (status CHECKED_OUT): the same basket cannot be checked out twice, and an
// order id is never checked out twice. Adding an item afterwards starts filling the basket again
// (status OPEN). An ABANDONED basket (marked by the abandonment timer) keeps its items and is OPEN
// again as soon as the customer touches it.
//
// Prices and coupon definitions come in with the commands (from the catalog and the coupon
// registry); the cart computes subtotal, discount and total in integer minor units.

import { DomainError, type Decider, type DomainEvent } from "./decider.js";
import {
  DEFAULT_CURRENCY,
  illegalTransition,
  isMinorUnits,
  requireCurrency,
  requireInstant,
  requirePositiveAmount,
  requirePositiveQuantity,
  requireText,
  type Currency,
} from "./rules.js";

export const CART_CATEGORY = "cart";

export const streamId = (customerId: string): string => `${CART_CATEGORY}-${customerId}`;

export interface Coupon {
  code: string;
  kind: "percent" | "flat";
  /** percent: 1..100; flat: minor units off. */
  value: number;
  /** The subtotal (minor units) the cart must reach; 0 when absent. */
  minOrderAmount?: number;
  /** Exclusive: the coupon no longer applies at or after this instant. */
  expiresAt?: string;
}

export interface CartLine {
  sku: string;
  quantity: number;
  /** Minor units, from the catalog when the item was last added. */
  unitPrice: number;
}

// ---------------------------------------------------------------- commands

interface CartCommandBase {
  customerId: string;
  at: string;
}

export type CartCommand =
  | (CartCommandBase & { type: "AddCartItem"; sku: string; quantity: number; unitPrice: number; currency?: Currency })
  | (CartCommandBase & { type: "ChangeCartItemQuantity"; sku: string; quantity: number })
  | (CartCommandBase & { type: "RemoveCartItem"; sku: string })
  | (CartCommandBase & { type: "ApplyCoupon"; coupon: Coupon })
  | (CartCommandBase & { type: "RemoveCoupon" })
  | (CartCommandBase & { type: "CheckOutCart"; orderId: string })
  | (CartCommandBase & { type: "AbandonCart" });

// ---------------------------------------------------------------- events

export type CouponRemovalReason = "CUSTOMER_REQUEST" | "MIN_ORDER_NOT_MET";

/** `quantity` is the number added; the line's price becomes `unitPrice`. */
export type CartItemAdded = DomainEvent<
  "CartItemAdded",
  { customerId: string; sku: string; quantity: number; unitPrice: number; currency: Currency; at: string }
>;
export type CartItemQuantityChanged = DomainEvent<
  "CartItemQuantityChanged",
  { customerId: string; sku: string; quantity: number; previousQuantity: number; at: string }
>;
export type CartItemRemoved = DomainEvent<"CartItemRemoved", { customerId: string; sku: string; at: string }>;
export type CouponApplied = DomainEvent<"CouponApplied", { customerId: string; coupon: Coupon; at: string }>;
export type CouponRemoved = DomainEvent<"CouponRemoved", { customerId: string; code: string; reason: CouponRemovalReason; at: string }>;
export type CartCheckedOut = DomainEvent<
  "CartCheckedOut",
  {
    customerId: string;
    orderId: string;
    items: CartLine[];
    subtotal: number;
    discountAmount: number;
    totalAmount: number;
    currency: Currency;
    couponCode?: string;
    at: string;
  }
>;
export type CartAbandoned = DomainEvent<"CartAbandoned", { customerId: string; at: string }>;

export type CartEvent =
  | CartItemAdded
  | CartItemQuantityChanged
  | CartItemRemoved
  | CouponApplied
  | CouponRemoved
  | CartCheckedOut
  | CartAbandoned;

export const cartSchemaVersions: Readonly<Record<CartEvent["type"], number>> = {
  CartItemAdded: 1,
  CartItemQuantityChanged: 1,
  CartItemRemoved: 1,
  CouponApplied: 1,
  CouponRemoved: 1,
  CartCheckedOut: 1,
  CartAbandoned: 1,
};

// ---------------------------------------------------------------- state

export type CartStatus = "OPEN" | "ABANDONED" | "CHECKED_OUT";

export interface CartState {
  status: CartStatus;
  /** null until the stream's first event. */
  customerId: string | null;
  items: readonly CartLine[];
  currency: Currency;
  coupon?: Coupon;
  /** Orders this cart was checked out into, oldest first. */
  checkedOutOrders: readonly string[];
  updatedAt?: string;
}

export const initialCartState: CartState = {
  status: "OPEN",
  customerId: null,
  items: [],
  currency: DEFAULT_CURRENCY,
  checkedOutOrders: [],
};

export const subtotalOf = (items: readonly CartLine[]): number => items.reduce((sum, l) => sum + l.quantity * l.unitPrice, 0);

/** The discount a coupon gives on a subtotal: percent rounds down to whole minor units; never above the subtotal. */
export function discountFor(coupon: Coupon | undefined, subtotal: number): number {
  if (!coupon || subtotal < (coupon.minOrderAmount ?? 0)) return 0;
  const off = coupon.kind === "percent" ? Math.floor((subtotal * coupon.value) / 100) : coupon.value;
  return Math.min(off, subtotal);
}

export const cartTotals = (cart: CartState): { subtotal: number; discountAmount: number; totalAmount: number } => {
  const subtotal = subtotalOf(cart.items);
  const discountAmount = discountFor(cart.coupon, subtotal);
  return { subtotal, discountAmount, totalAmount: subtotal - discountAmount };
};

// ---------------------------------------------------------------- decide

function decide(command: CartCommand, state: CartState): CartEvent[] {
  const customerId = requireText(command.customerId, "customerId", state.status);
  if (state.customerId !== null && customerId !== state.customerId)
    throw new DomainError("wrong_stream", `command for customer ${customerId} sent to the cart of ${state.customerId}`, state.status);
  const atMs = requireInstant(command.at, "at", state.status);
  const { at } = command;

  switch (command.type) {
    case "AddCartItem": {
      const sku = requireText(command.sku, "sku", state.status);
      const quantity = requirePositiveQuantity(command.quantity, "quantity", state.status);
      const unitPrice = requirePositiveAmount(command.unitPrice, "unitPrice", state.status);
      const currency = requireCurrency(command.currency, state.status);
      if (state.items.length > 0 && currency !== state.currency)
        throw new DomainError("currency_mismatch", `the cart is in ${state.currency}, not ${currency}`, state.status);
      return [{ type: "CartItemAdded", data: { customerId, sku, quantity, unitPrice, currency, at } }];
    }

    case "ChangeCartItemQuantity": {
      const line = lineOf(state, command.sku);
      const quantity = requirePositiveQuantity(command.quantity, "quantity", state.status);
      if (quantity === line.quantity) return [];
      const items = state.items.map((l) => (l.sku === line.sku ? { ...l, quantity } : l));
      return [
        { type: "CartItemQuantityChanged", data: { customerId, sku: line.sku, quantity, previousQuantity: line.quantity, at } },
        ...couponNoLongerMet(state, items, customerId, at),
      ];
    }

    case "RemoveCartItem": {
      const line = lineOf(state, command.sku);
      const items = state.items.filter((l) => l.sku !== line.sku);
      return [{ type: "CartItemRemoved", data: { customerId, sku: line.sku, at } }, ...couponNoLongerMet(state, items, customerId, at)];
    }

    case "ApplyCoupon": {
      const coupon = validCoupon(command.coupon, state.status);
      if (coupon.expiresAt !== undefined && atMs >= Date.parse(coupon.expiresAt))
        throw new DomainError("coupon_expired", `coupon ${coupon.code} expired at ${coupon.expiresAt}`, state.status);
      const subtotal = subtotalOf(state.items);
      if (subtotal < (coupon.minOrderAmount ?? 0)) {
        throw new DomainError(
          "coupon_min_order_not_met",
          `coupon ${coupon.code} needs a subtotal of ${coupon.minOrderAmount}, the cart has ${subtotal}`,
          state.status,
        );
      }
      return [{ type: "CouponApplied", data: { customerId, coupon, at } }];
    }

    case "RemoveCoupon":
      if (!state.coupon) throw new DomainError("no_coupon", "the cart has no coupon", state.status);
      return [{ type: "CouponRemoved", data: { customerId, code: state.coupon.code, reason: "CUSTOMER_REQUEST", at } }];

    case "CheckOutCart": {
      const orderId = requireText(command.orderId, "orderId", state.status);
      if (state.checkedOutOrders.includes(orderId))
        throw new DomainError("already_checked_out", `order ${orderId} was already checked out of this cart`, state.status);
      if (state.status === "CHECKED_OUT") throw illegalTransition("CheckOutCart", state.status);
      if (state.items.length === 0) throw new DomainError("empty_cart", "an empty cart cannot be checked out", state.status);
      const coupon = state.coupon;
      if (coupon?.expiresAt !== undefined && atMs >= Date.parse(coupon.expiresAt)) {
        throw new DomainError(
          "coupon_expired",
          `coupon ${coupon.code} expired at ${coupon.expiresAt}; remove it or apply another`,
          state.status,
        );
      }
      return [
        {
          type: "CartCheckedOut",
          data: {
            customerId,
            orderId,
            items: state.items.map((l) => ({ ...l })),
            ...cartTotals(state),
            currency: state.currency,
            ...(coupon ? { couponCode: coupon.code } : {}),
            at,
          },
        },
      ];
    }

    case "AbandonCart":
      if (state.status !== "OPEN" || state.items.length === 0)
        throw illegalTransition("AbandonCart", state.items.length === 0 ? "EMPTY" : state.status);
      return [{ type: "CartAbandoned", data: { customerId, at } }];
  }
}

function lineOf(state: CartState, sku: string): CartLine {
  const line = state.items.find((l) => l.sku === sku);
  if (!line) throw new DomainError("item_not_in_cart", `${sku} is not in the cart`, state.status);
  return line;
}

/** When a change drops the subtotal below the coupon's minimum, the coupon goes with it. */
function couponNoLongerMet(state: CartState, items: readonly CartLine[], customerId: string, at: string): CouponRemoved[] {
  const coupon = state.coupon;
  if (!coupon || subtotalOf(items) >= (coupon.minOrderAmount ?? 0)) return [];
  return [{ type: "CouponRemoved", data: { customerId, code: coupon.code, reason: "MIN_ORDER_NOT_MET", at } }];
}

function validCoupon(coupon: Coupon, status: string): Coupon {
  if (typeof coupon !== "object" || coupon === null) throw new DomainError("invalid_coupon", "coupon must be given", status);
  const code = requireText(coupon.code, "coupon.code", status);
  if (coupon.kind !== "percent" && coupon.kind !== "flat")
    throw new DomainError("invalid_coupon", `coupon kind must be "percent" or "flat", got ${String(coupon.kind)}`, status);
  const value = requirePositiveAmount(coupon.value, "coupon.value", status);
  if (coupon.kind === "percent" && value > 100)
    throw new DomainError("invalid_coupon", `a percent coupon takes 1..100, got ${value}`, status);
  if (coupon.minOrderAmount !== undefined && !isMinorUnits(coupon.minOrderAmount))
    throw new DomainError("invalid_amount", "coupon.minOrderAmount must be a non-negative integer", status);
  if (coupon.expiresAt !== undefined) requireInstant(coupon.expiresAt, "coupon.expiresAt", status);
  return {
    code,
    kind: coupon.kind,
    value,
    ...(coupon.minOrderAmount === undefined ? {} : { minOrderAmount: coupon.minOrderAmount }),
    ...(coupon.expiresAt === undefined ? {} : { expiresAt: coupon.expiresAt }),
  };
}

// ---------------------------------------------------------------- evolve

function evolve(state: CartState, event: CartEvent): CartState {
  const s: CartState = { ...state, customerId: event.data.customerId, updatedAt: event.data.at };
  switch (event.type) {
    case "CartItemAdded": {
      const { sku, quantity, unitPrice, currency } = event.data;
      const existing = s.items.find((l) => l.sku === sku);
      const items = existing
        ? s.items.map((l) => (l.sku === sku ? { sku, quantity: l.quantity + quantity, unitPrice } : l))
        : [...s.items, { sku, quantity, unitPrice }];
      return { ...s, status: "OPEN", items, currency };
    }
    case "CartItemQuantityChanged":
      return { ...s, status: "OPEN", items: s.items.map((l) => (l.sku === event.data.sku ? { ...l, quantity: event.data.quantity } : l)) };
    case "CartItemRemoved":
      return { ...s, status: "OPEN", items: s.items.filter((l) => l.sku !== event.data.sku) };
    case "CouponApplied":
      return { ...s, status: s.status === "ABANDONED" ? "OPEN" : s.status, coupon: event.data.coupon };
    case "CouponRemoved": {
      const { coupon: _removed, ...rest } = s;
      return rest;
    }
    case "CartCheckedOut": {
      const { coupon: _used, ...rest } = s;
      return { ...rest, status: "CHECKED_OUT", items: [], checkedOutOrders: [...s.checkedOutOrders, event.data.orderId] };
    }
    case "CartAbandoned":
      return { ...s, status: "ABANDONED" };
  }
}

export const cartDecider: Decider<CartCommand, CartEvent, CartState> = {
  category: CART_CATEGORY,
  schemaVersions: cartSchemaVersions,
  initialState: initialCartState,
  decide,
  evolve,
};
