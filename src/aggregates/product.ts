// Product: one catalog entry, as a decider. Stream: product-<sku>.
//
// The SKU is unique because the stream is: creating a product whose stream already has events is
// rejected. Prices are positive integers in minor units; the currency is fixed at creation.
// ACTIVE <-> INACTIVE; details and price may change in either status.

import { DomainError, type Decider, type DomainEvent } from "./decider.js";
import { illegalTransition, requireCurrency, requireInstant, requirePositiveAmount, requireText, type Currency } from "./rules.js";

export const PRODUCT_CATEGORY = "product";

export const streamId = (sku: string): string => `${PRODUCT_CATEGORY}-${sku}`;

export type AttributeValue = string | number | boolean;
export type Attributes = Readonly<Record<string, AttributeValue>>;

// ---------------------------------------------------------------- commands

export interface ProductDetails {
  name: string;
  description?: string;
  /** Category path, broadest first, e.g. ["Electronics", "Mobiles"]. */
  category: readonly string[];
  brand?: string;
  attributes?: Attributes;
}

export type ProductCommand =
  | ({ type: "CreateProduct"; sku: string; price: number; currency?: Currency; at: string } & ProductDetails)
  | { type: "ChangeProductPrice"; sku: string; price: number; at: string }
  | ({ type: "ChangeProductDetails"; sku: string; at: string } & Partial<ProductDetails>)
  | { type: "DeactivateProduct"; sku: string; reason?: string; at: string }
  | { type: "ReactivateProduct"; sku: string; at: string };

// ---------------------------------------------------------------- events

export type ProductCreated = DomainEvent<"ProductCreated", { sku: string; price: number; currency: Currency; at: string } & ProductDetails>;
export type ProductPriceChanged = DomainEvent<
  "ProductPriceChanged",
  { sku: string; price: number; previousPrice: number; currency: Currency; at: string }
>;
/** Only the fields that changed. */
export type ProductDetailsChanged = DomainEvent<"ProductDetailsChanged", { sku: string; changes: Partial<ProductDetails>; at: string }>;
export type ProductDeactivated = DomainEvent<"ProductDeactivated", { sku: string; reason?: string; at: string }>;
export type ProductReactivated = DomainEvent<"ProductReactivated", { sku: string; at: string }>;

export type ProductEvent = ProductCreated | ProductPriceChanged | ProductDetailsChanged | ProductDeactivated | ProductReactivated;

export const productSchemaVersions: Readonly<Record<ProductEvent["type"], number>> = {
  ProductCreated: 1,
  ProductPriceChanged: 1,
  ProductDetailsChanged: 1,
  ProductDeactivated: 1,
  ProductReactivated: 1,
};

// ---------------------------------------------------------------- state

export type ProductStatus = "ACTIVE" | "INACTIVE";

export interface Product extends ProductDetails {
  status: ProductStatus;
  sku: string;
  price: number;
  currency: Currency;
  createdAt: string;
  updatedAt: string;
}

export type ProductState = { status: "NONE" } | Product;

export const initialProductState: ProductState = { status: "NONE" };

// ---------------------------------------------------------------- decide

function decide(command: ProductCommand, state: ProductState): ProductEvent[] {
  const sku = requireText(command.sku, "sku", state.status);
  requireInstant(command.at, "at", state.status);
  const { at } = command;

  if (command.type === "CreateProduct") {
    if (state.status !== "NONE") throw new DomainError("product_already_exists", `product ${sku} already exists`, state.status);
    const details = validDetails(command, "NONE");
    return [
      {
        type: "ProductCreated",
        data: {
          sku,
          name: requireText(command.name, "name", "NONE"),
          ...details,
          category: details.category ?? [],
          price: requirePositiveAmount(command.price, "price", "NONE"),
          currency: requireCurrency(command.currency, "NONE"),
          at,
        },
      },
    ];
  }

  if (state.status === "NONE") throw new DomainError("product_not_found", `no product ${sku}`, "NONE");
  if (sku !== state.sku) throw new DomainError("wrong_stream", `command for ${sku} sent to product ${state.sku}`, state.status);

  switch (command.type) {
    case "ChangeProductPrice": {
      const price = requirePositiveAmount(command.price, "price", state.status);
      if (price === state.price) return [];
      return [{ type: "ProductPriceChanged", data: { sku, price, previousPrice: state.price, currency: state.currency, at } }];
    }
    case "ChangeProductDetails": {
      const requested = validDetails(command, state.status);
      if (command.name !== undefined) requested.name = requireText(command.name, "name", state.status);
      if (Object.keys(requested).length === 0)
        throw new DomainError("invalid_field", "name, description, category, brand or attributes must be given", state.status);
      const changes: Partial<ProductDetails> = {};
      for (const [field, value] of Object.entries(requested) as [keyof ProductDetails, ProductDetails[keyof ProductDetails]][]) {
        if (!sameValue(value, state[field])) Object.assign(changes, { [field]: value });
      }
      if (Object.keys(changes).length === 0) return [];
      return [{ type: "ProductDetailsChanged", data: { sku, changes, at } }];
    }
    case "DeactivateProduct":
      if (state.status !== "ACTIVE") throw illegalTransition("DeactivateProduct", state.status);
      return [{ type: "ProductDeactivated", data: { sku, ...(command.reason === undefined ? {} : { reason: command.reason }), at } }];
    case "ReactivateProduct":
      if (state.status !== "INACTIVE") throw illegalTransition("ReactivateProduct", state.status);
      return [{ type: "ProductReactivated", data: { sku, at } }];
  }
}

/** The optional detail fields of a command, checked; absent fields stay absent. */
function validDetails(command: Partial<ProductDetails>, status: string): Partial<ProductDetails> {
  const details: Partial<ProductDetails> = {};
  if (command.description !== undefined) {
    if (typeof command.description !== "string") throw new DomainError("invalid_field", "description must be a string", status);
    details.description = command.description;
  }
  if (command.brand !== undefined) details.brand = requireText(command.brand, "brand", status);
  if (command.category !== undefined) {
    if (!Array.isArray(command.category)) throw new DomainError("invalid_field", "category must be an array of names", status);
    details.category = command.category.map((c, i) => requireText(c, `category[${i}]`, status));
  }
  if (command.attributes !== undefined) {
    const a: unknown = command.attributes;
    if (typeof a !== "object" || a === null || Array.isArray(a))
      throw new DomainError("invalid_field", "attributes must be an object", status);
    for (const [key, value] of Object.entries(a)) {
      if (!["string", "number", "boolean"].includes(typeof value))
        throw new DomainError("invalid_field", `attribute ${key} must be a string, number or boolean`, status);
    }
    details.attributes = { ...(a as Attributes) };
  }
  return details;
}

/** Structural equality for detail values (strings, arrays of strings, flat attribute maps). */
function sameValue(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => x === b[i]);
  if (a !== null && b !== null && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a);
    return (
      ka.length === Object.keys(b).length &&
      ka.every((k) => Object.hasOwn(b, k) && (a as Record<string, unknown>)[k] === (b as Record<string, unknown>)[k])
    );
  }
  return a === b;
}

// ---------------------------------------------------------------- evolve

function evolve(state: ProductState, event: ProductEvent): ProductState {
  if (event.type === "ProductCreated") {
    const { at, ...product } = event.data;
    return { ...product, status: "ACTIVE", createdAt: at, updatedAt: at };
  }
  if (state.status === "NONE") return state;
  const p: Product = { ...state, updatedAt: event.data.at };
  switch (event.type) {
    case "ProductPriceChanged":
      return { ...p, price: event.data.price };
    case "ProductDetailsChanged":
      return { ...p, ...event.data.changes };
    case "ProductDeactivated":
      return { ...p, status: "INACTIVE" };
    case "ProductReactivated":
      return { ...p, status: "ACTIVE" };
  }
}

export const productDecider: Decider<ProductCommand, ProductEvent, ProductState> = {
  category: PRODUCT_CATEGORY,
  schemaVersions: productSchemaVersions,
  initialState: initialProductState,
  decide,
  evolve,
};
