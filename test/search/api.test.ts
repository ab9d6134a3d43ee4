// Search and order status over HTTP through the whole app (embedded engine): read-your-writes with
// waitFor, the response as documented, and bad input answered 400 problem+json naming the parameter.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStorage, seedProduct, startApp, type Storage, type TestApp } from "../api/harness.js";

describe("search API (embedded engine)", () => {
  let storage: Storage;
  let app: TestApp;
  let customer: string;
  let position: string;
  beforeAll(async () => {
    storage = await createStorage("pglite");
    app = await startApp(storage);
    customer = await app.token("customer", "c-search");
    await seedProduct(app, "SRCH-1", 79_900, 5);
    position = await seedProduct(app, "SRCH-2", 129_900, 0);
  }, 120_000);
  afterAll(async () => {
    await app?.close();
    await storage?.dispose();
  });

  const search = (qs: string) => app.request("GET", `/api/search/products?${qs}`, { token: customer });

  it("finds what was just written once waitFor is passed, with facets and a typo", async () => {
    const found = await search(`q=prodct&waitFor=${encodeURIComponent(position)}&sort=price_asc`);
    expect(found.status).toBe(200);
    expect(found.body.total).toBe(2);
    const all = await search(`waitFor=${encodeURIComponent(position)}&sort=price_asc&size=5`);
    expect(all.status).toBe(200);
    expect(all.body.hits.map((h: { sku: string }) => h.sku)).toEqual(["SRCH-1", "SRCH-2"]);
    expect(all.body.hits[0]).toMatchObject({ sku: "SRCH-1", price: 79_900, available: 5, inStock: true });
    expect(all.body.facets.price.reduce((n: number, b: { count: number }) => n + b.count, 0)).toBe(2);
    const inStock = await search("inStock=true");
    expect(inStock.body.hits.map((h: { sku: string }) => h.sku)).toEqual(["SRCH-1"]);
    const suggest = await app.request("GET", "/api/search/suggest?q=prodct", { token: customer });
    expect(suggest.status).toBe(200);
    expect(suggest.body.suggestions).toEqual([
      { text: "Product SRCH-1", sku: "SRCH-1", inStock: true },
      { text: "Product SRCH-2", sku: "SRCH-2", inStock: false },
    ]);
  });

  it.each([
    ["q", `q=${"x".repeat(201)}`],
    ["size", "size=0"],
    ["size", "size=101"],
    ["page", "page=0"],
    ["page", "page=-1"],
    ["sort", "sort=cheapest"],
    ["facets", "facets=colour"],
    ["minPrice", "minPrice=500&maxPrice=100"],
    ["page", "page=101&size=100"],
    ["cursor", "cursor=not-a-cursor"],
  ])("answers 400 problem+json naming %s for %s", async (field, qs) => {
    const response = await search(qs);
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toMatch(/application\/problem\+json/);
    expect(response.body.field).toBe(field);
  });

  it("needs a token, answers order status only to its owner, and documents both routes with response schemas", async () => {
    expect((await app.request("GET", "/api/search/products")).status).toBe(401);
    const missing = await app.request("GET", "/api/orders/no-such-order/status", { token: customer });
    expect(missing.status).toBe(404);
    const docs = await app.request("GET", "/docs/json");
    for (const path of ["/api/search/products", "/api/search/suggest", "/api/orders/{orderId}/status"]) {
      const responses = docs.body.paths[path].get.responses;
      expect(Object.keys(responses)).toEqual(expect.arrayContaining(["200", "400", "401"]));
    }
    const metrics = await app.request("GET", "/metrics");
    expect(metrics.text).toMatch(/read_model_lag_events\{read_model="projections\/search"\} \d+/);
    expect(metrics.text).toMatch(/read_model_lag_seconds\{read_model="projections\/search"\}/);
    const ready = await app.request("GET", "/health/ready");
    expect(JSON.stringify(ready.body)).toContain("projections/search");
  });
});
