import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backends, createStorage, seedProduct, startApp, type Storage, type TestApp } from "./harness.js";

describe.each(backends())("catalog, auth and operations (%s)", (backend) => {
  let storage: Storage;
  let app: TestApp;
  beforeAll(async () => {
    storage = await createStorage(backend);
    app = await startApp(storage);
  });
  afterAll(async () => {
    await app?.close();
    await storage?.dispose();
  });

  it("creates a product, receives stock and serves both with the catalog price", async () => {
    const position = await seedProduct(app, "PHONE-1", 1_999_900, 10);
    expect(position).toBeTruthy();
    const customer = await app.token("customer", "c-1");
    const product = await app.request("GET", `/api/products/PHONE-1?waitFor=${encodeURIComponent(position)}`, { token: customer });
    expect(product.status).toBe(200);
    expect(product.body).toMatchObject({ sku: "PHONE-1", price: 1_999_900, currency: "INR", available: 10, active: true });
    expect(product.headers.get("etag")).toBe('W/"0"');
    const inventory = await app.request("GET", "/api/inventory/PHONE-1", { token: customer, headers: { "x-wait-for": position } });
    expect(inventory.body).toMatchObject({ sku: "PHONE-1", available: 10, reserved: 0, committed: 0 });
    expect(inventory.body.warehouses).toEqual([expect.objectContaining({ warehouseId: "w-blr", available: 10 })]);
  });

  it("answers 409 for an existing SKU or coupon code", async () => {
    const admin = await app.token("admin", "a-1");
    const again = await app.request("POST", "/api/products", {
      token: admin,
      body: { sku: "PHONE-1", name: "dup", category: [], price: 100 },
    });
    expect(again.status).toBe(409);
    expect(again.headers.get("content-type")).toContain("application/problem+json");
    const c1 = await app.request("POST", "/api/coupons", { token: admin, body: { code: "SAVE10", kind: "percent", value: 10 } });
    expect(c1.status).toBe(201);
    const c2 = await app.request("POST", "/api/coupons", { token: admin, body: { code: "save10", kind: "flat", value: 500 } });
    expect(c2.status).toBe(409);
  });

  it("PATCHes a product only at the If-Match version (412 otherwise)", async () => {
    const admin = await app.token("admin", "a-1");
    const stale = await app.request("PATCH", "/api/products/PHONE-1", {
      token: admin,
      body: { price: 1_899_900 },
      headers: { "if-match": 'W/"5"' },
    });
    expect(stale.status).toBe(412);
    const ok = await app.request("PATCH", "/api/products/PHONE-1", {
      token: admin,
      body: { price: 1_899_900 },
      headers: { "if-match": 'W/"0"' },
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ price: 1_899_900, version: 1 });
    expect(ok.headers.get("etag")).toBe('W/"1"');
  });

  it("checks the token and the role on every non-public route", async () => {
    const customer = await app.token("customer", "c-1");
    const ops = await app.token("ops", "o-1");
    const body = { sku: "X-1", name: "x", category: [], price: 100 };
    expect((await app.request("POST", "/api/products", { body })).status).toBe(401);
    expect((await app.request("POST", "/api/products", { body, token: "not-a-jwt" })).status).toBe(401);
    expect((await app.request("POST", "/api/products", { body, headers: { authorization: "Basic abc" } })).status).toBe(401);
    const forged = `${(await app.token("admin")).slice(0, -3)}AAA`;
    expect((await app.request("POST", "/api/products", { body, token: forged })).status).toBe(401);
    expect((await app.request("POST", "/api/products", { body, token: customer })).status).toBe(403);
    expect((await app.request("POST", "/api/products", { body, token: ops })).status).toBe(403);
    expect((await app.request("POST", "/api/coupons", { body: { code: "A", kind: "flat", value: 1 }, token: customer })).status).toBe(403);
    expect(
      (await app.request("POST", "/api/inventory/PHONE-1/receipts", { body: { warehouseId: "w", quantity: 1 }, token: customer })).status,
    ).toBe(403);
    expect((await app.request("GET", "/api/cart")).status).toBe(401);
    expect((await app.request("GET", "/api/cart", { token: ops })).status).toBe(403);
    expect(
      (
        await app.request("GET", "/api/finance/refunds/reconciliation?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z", {
          token: customer,
        })
      ).status,
    ).toBe(403);
    expect(
      (await app.request("POST", "/api/orders/o-x/ship", { body: { carrier: "c", trackingNumber: "t" }, token: customer })).status,
    ).toBe(403);
    expect((await app.request("GET", "/api/orders/o-x/history", { token: ops })).status).toBe(403);
    const denied = await app.request("GET", "/api/cart", { token: ops });
    expect(denied.headers.get("content-type")).toContain("application/problem+json");
    expect(denied.body).toMatchObject({ status: 403, title: "Forbidden" });
  });

  it("serves health, readiness, metrics and the OpenAPI document listing every route", async () => {
    expect((await app.request("GET", "/health/live")).body).toEqual({ status: "ok" });
    const ready = await app.request("GET", "/health/ready");
    expect(ready.status).toBe(200);
    expect(ready.body.dependencies.database.status).toBe("up");
    expect(ready.body.dependencies.eventStore.status).toBe("up");
    const metrics = await app.request("GET", "/metrics");
    expect(metrics.text).toContain("http_request_duration_seconds");
    expect(metrics.text).toContain("process_resident_memory_bytes");
    const doc = await app.request("GET", "/docs/json");
    const paths = Object.keys(doc.body.paths);
    for (const p of [
      "/api/products",
      "/api/products/{sku}",
      "/api/inventory/{sku}/receipts",
      "/api/inventory/{sku}",
      "/api/coupons",
      "/api/search/products",
      "/api/cart",
      "/api/cart/items",
      "/api/cart/items/{sku}",
      "/api/cart/coupon",
      "/api/cart/checkout",
      "/api/orders",
      "/api/orders/{orderId}",
      "/api/orders/{orderId}/cancel",
      "/api/orders/{orderId}/ship",
      "/api/orders/{orderId}/deliver",
      "/api/orders/{orderId}/returns",
      "/api/orders/{orderId}/returns/{returnId}/receive",
      "/api/orders/{orderId}/history",
      "/api/payments/webhook",
      "/api/payments/{paymentId}",
      "/api/finance/refunds/reconciliation",
      "/health/live",
      "/health/ready",
      "/metrics",
    ]) {
      expect(paths, p).toContain(p);
    }
    expect((await app.request("GET", "/docs")).status).toBeLessThan(400);
  });

  it("answers 501 problem+json for what is not built yet, never a fake", async () => {
    const customer = await app.token("customer", "c-1");
    const search = await app.request("GET", "/api/search/products?q=phone", { token: customer });
    expect([200, 501]).toContain(search.status);
    if (search.status === 501) expect(search.headers.get("content-type")).toContain("application/problem+json");
  });

  it("cart: add items at catalog prices, change, remove, apply a coupon", async () => {
    await seedProduct(app, "CASE-1", 50_000, 50);
    const customer = await app.token("customer", "cart-user");
    const added = await app.request("POST", "/api/cart/items", { token: customer, body: { sku: "CASE-1", quantity: 2 } });
    expect(added.status).toBe(200);
    expect(added.body).toMatchObject({ items: [{ sku: "CASE-1", quantity: 2, unitPrice: 50_000 }], subtotal: 100_000 });
    const changed = await app.request("PUT", "/api/cart/items/CASE-1", { token: customer, body: { quantity: 3 } });
    expect(changed.body.subtotal).toBe(150_000);
    const coupon = await app.request("POST", "/api/cart/coupon", { token: customer, body: { code: "SAVE10" } });
    expect(coupon.status).toBe(200);
    expect(coupon.body).toMatchObject({ discountAmount: 15_000, totalAmount: 135_000 });
    const unknown = await app.request("POST", "/api/cart/coupon", { token: customer, body: { code: "NOPE" } });
    expect(unknown.status).toBe(422);
    const removed = await app.request("DELETE", "/api/cart/items/CASE-1", { token: customer });
    expect(removed.body.items).toEqual([]);
    const missing = await app.request("DELETE", "/api/cart/items/CASE-1", { token: customer });
    expect(missing.status).toBe(409);
  });
});

describe("readiness with a configured dependency that is down", () => {
  it("fails readiness (503) naming the dependency, while the process stays up", async () => {
    const storage = await createStorage("pglite");
    // Nothing listens on port 1: the configured Redis is unreachable.
    const app = await startApp(storage, { REDIS_URL: "redis://127.0.0.1:1" });
    try {
      const ready = await app.request("GET", "/health/ready");
      expect(ready.status).toBe(503);
      expect(ready.headers.get("content-type")).toContain("application/problem+json");
      expect(ready.body).toMatchObject({ status: 503, detail: "not ready: redis down" });
      expect(ready.body.dependencies.redis.status).toBe("down");
      expect(ready.body.dependencies.database.status).toBe("up");
      expect((await app.request("GET", "/health/live")).status).toBe(200);
    } finally {
      await app.close();
      await storage.dispose();
    }
  });
});
