import { describe, expect, it } from "vitest";
import { productDecider, streamId, type ProductCommand, type ProductEvent } from "../../src/aggregates/product.js";
import { specFor } from "./given-when-then.js";

const { given } = specFor(productDecider);

const at = "2026-01-01T10:00:00.000Z";
const later = "2026-01-02T10:00:00.000Z";
const create: ProductCommand = {
  type: "CreateProduct",
  sku: "IPH-15",
  name: "iPhone 15",
  description: "A phone",
  category: ["Electronics", "Mobiles"],
  brand: "Apple",
  price: 7_999_900,
  attributes: { colour: "black", storageGb: 128, refurbished: false },
  at,
};
const created: ProductEvent = {
  type: "ProductCreated",
  data: {
    sku: "IPH-15",
    name: "iPhone 15",
    description: "A phone",
    category: ["Electronics", "Mobiles"],
    brand: "Apple",
    attributes: { colour: "black", storageGb: 128, refurbished: false },
    price: 7_999_900,
    currency: "INR",
    at,
  },
};
const deactivated: ProductEvent = { type: "ProductDeactivated", data: { sku: "IPH-15", at } };

describe("Product stream id", () => {
  it("is product-<sku>", () => expect(streamId("IPH-15")).toBe("product-IPH-15"));
});

describe("CreateProduct", () => {
  it("creates an active product", () => {
    const { state } = given([]).when(create).then([created]);
    expect(state).toMatchObject({ status: "ACTIVE", sku: "IPH-15", price: 7_999_900, currency: "INR", createdAt: at, updatedAt: at });
  });
  it("creates a minimal product", () => {
    given([])
      .when({ type: "CreateProduct", sku: "PEN", name: "Pen", category: [], price: 1_000, currency: "INR", at })
      .then([{ type: "ProductCreated", data: { sku: "PEN", name: "Pen", category: [], price: 1_000, currency: "INR", at } }]);
    given([])
      .when({ type: "CreateProduct", sku: "PEN", name: "Pen", price: 1_000, at } as ProductCommand)
      .then([{ type: "ProductCreated", data: { sku: "PEN", name: "Pen", category: [], price: 1_000, currency: "INR", at } }]);
  });
  it("rejects an existing SKU", () => {
    given([created]).when(create).thenThrows("product_already_exists", "ACTIVE");
    given([created, deactivated]).when(create).thenThrows("product_already_exists", "INACTIVE");
  });
  it("rejects bad input", () => {
    given([])
      .when({ ...create, price: 0 })
      .thenThrows("invalid_amount");
    given([])
      .when({ ...create, price: 10.5 })
      .thenThrows("invalid_amount");
    given([])
      .when({ ...create, name: "" })
      .thenThrows("invalid_field");
    given([])
      .when({ ...create, sku: " " })
      .thenThrows("invalid_field");
    given([])
      .when({ ...create, currency: "inr" })
      .thenThrows("invalid_currency");
    given([])
      .when({ ...create, category: "Mobiles" as never })
      .thenThrows("invalid_field");
    given([])
      .when({ ...create, category: [""] })
      .thenThrows("invalid_field");
    given([])
      .when({ ...create, description: 5 as never })
      .thenThrows("invalid_field");
    given([])
      .when({ ...create, brand: "" })
      .thenThrows("invalid_field");
    given([])
      .when({ ...create, attributes: [] as never })
      .thenThrows("invalid_field");
    given([])
      .when({ ...create, attributes: { nested: {} } as never })
      .thenThrows("invalid_field");
    given([])
      .when({ ...create, at: "now" })
      .thenThrows("invalid_time");
  });
});

describe("ChangeProductPrice", () => {
  it("changes the price", () => {
    const { state } = given([created])
      .when({ type: "ChangeProductPrice", sku: "IPH-15", price: 6_999_900, at: later })
      .then([
        { type: "ProductPriceChanged", data: { sku: "IPH-15", price: 6_999_900, previousPrice: 7_999_900, currency: "INR", at: later } },
      ]);
    expect(state).toMatchObject({ price: 6_999_900, updatedAt: later });
  });
  it("does nothing when the price is the same", () => {
    given([created]).when({ type: "ChangeProductPrice", sku: "IPH-15", price: 7_999_900, at }).thenNothing();
  });
  it("rejects a price that is not a positive integer", () => {
    given([created]).when({ type: "ChangeProductPrice", sku: "IPH-15", price: -5, at }).thenThrows("invalid_amount", "ACTIVE");
    given([created]).when({ type: "ChangeProductPrice", sku: "IPH-15", price: 99.99, at }).thenThrows("invalid_amount", "ACTIVE");
  });
  it("rejects an unknown product and a command for another SKU", () => {
    given([]).when({ type: "ChangeProductPrice", sku: "IPH-15", price: 5, at }).thenThrows("product_not_found", "NONE");
    given([created]).when({ type: "ChangeProductPrice", sku: "IPH-16", price: 5, at }).thenThrows("wrong_stream");
  });
});

describe("ChangeProductDetails", () => {
  it("records only the fields that changed", () => {
    const { state } = given([created])
      .when({
        type: "ChangeProductDetails",
        sku: "IPH-15",
        name: "iPhone 15 (2023)",
        brand: "Apple",
        category: ["Electronics", "Phones"],
        attributes: { colour: "black", storageGb: 128, refurbished: false },
        at: later,
      })
      .then([
        {
          type: "ProductDetailsChanged",
          data: { sku: "IPH-15", changes: { name: "iPhone 15 (2023)", category: ["Electronics", "Phones"] }, at: later },
        },
      ]);
    expect(state).toMatchObject({ name: "iPhone 15 (2023)", category: ["Electronics", "Phones"], brand: "Apple" });
  });
  it("changes description and attributes", () => {
    given([created])
      .when({ type: "ChangeProductDetails", sku: "IPH-15", description: "Better", attributes: { colour: "blue" }, at })
      .then([
        { type: "ProductDetailsChanged", data: { sku: "IPH-15", changes: { description: "Better", attributes: { colour: "blue" } }, at } },
      ]);
    given([created])
      .when({ type: "ChangeProductDetails", sku: "IPH-15", attributes: { colour: "black", storageGb: 128, refurbished: true }, at })
      .then([
        {
          type: "ProductDetailsChanged",
          data: { sku: "IPH-15", changes: { attributes: { colour: "black", storageGb: 128, refurbished: true } }, at },
        },
      ]);
    given([created])
      .when({ type: "ChangeProductDetails", sku: "IPH-15", attributes: { colour: "black", storageGb: 128, waterproof: false }, at })
      .then([
        {
          type: "ProductDetailsChanged",
          data: { sku: "IPH-15", changes: { attributes: { colour: "black", storageGb: 128, waterproof: false } }, at },
        },
      ]);
  });
  it("sets a field the product did not have", () => {
    const minimal: ProductEvent = {
      type: "ProductCreated",
      data: { sku: "PEN", name: "Pen", category: [], price: 1_000, currency: "INR", at },
    };
    given([minimal])
      .when({ type: "ChangeProductDetails", sku: "PEN", attributes: { ink: "blue" }, category: ["Stationery"], at })
      .then([
        { type: "ProductDetailsChanged", data: { sku: "PEN", changes: { attributes: { ink: "blue" }, category: ["Stationery"] }, at } },
      ]);
  });
  it("does nothing when nothing changes", () => {
    given([created])
      .when({ type: "ChangeProductDetails", sku: "IPH-15", name: "iPhone 15", category: ["Electronics", "Mobiles"], at })
      .thenNothing();
  });
  it("rejects a command with no field and a bad field", () => {
    given([created]).when({ type: "ChangeProductDetails", sku: "IPH-15", at }).thenThrows("invalid_field", "ACTIVE");
    given([created]).when({ type: "ChangeProductDetails", sku: "IPH-15", name: "", at }).thenThrows("invalid_field");
  });
});

describe("DeactivateProduct and ReactivateProduct", () => {
  it("deactivates an active product", () => {
    const { state } = given([created])
      .when({ type: "DeactivateProduct", sku: "IPH-15", reason: "DISCONTINUED", at })
      .then([{ type: "ProductDeactivated", data: { sku: "IPH-15", reason: "DISCONTINUED", at } }]);
    expect(state.status).toBe("INACTIVE");
  });
  it("rejects deactivating twice", () => {
    given([created, deactivated]).when({ type: "DeactivateProduct", sku: "IPH-15", at }).thenThrows("illegal_transition", "INACTIVE");
  });
  it("reactivates an inactive product", () => {
    const { state } = given([created, deactivated])
      .when({ type: "ReactivateProduct", sku: "IPH-15", at })
      .then([{ type: "ProductReactivated", data: { sku: "IPH-15", at } }]);
    expect(state.status).toBe("ACTIVE");
  });
  it("rejects reactivating an active product", () => {
    given([created]).when({ type: "ReactivateProduct", sku: "IPH-15", at }).thenThrows("illegal_transition", "ACTIVE");
  });
  it("deactivates without a reason", () => {
    given([created]).when({ type: "DeactivateProduct", sku: "IPH-15", at }).then([deactivated]);
  });
});

describe("evolve", () => {
  it("ignores events before the product exists", () => {
    expect(productDecider.evolve({ status: "NONE" }, deactivated)).toEqual({ status: "NONE" });
  });
});
