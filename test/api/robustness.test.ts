// Bad input, idempotency keys, If-Match, and a restart in the middle of a flow.

import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signWebhook } from "../../src/payments/webhook-signature.js";
import { address, backends, createStorage, seedProduct, startApp, WEBHOOK_SECRET, type Storage, type TestApp } from "./harness.js";
import { awaitStatus, paymentEvent, placeOrder } from "./flow.js";

const order = (over: Record<string, unknown> = {}) => ({
  items: [{ sku: "GOOD-1", quantity: 1 }],
  shippingAddress: address,
  paymentMethod: "UPI",
  ...over,
});

interface Case {
  name: string;
  /** The status this request must get: a regression to another 4xx (401, 404...) fails. */
  status: number;
  method?: string;
  path?: string;
  role?: "customer" | "admin" | "ops" | "finance";
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
  webhook?: boolean;
}

const cases: Case[] = [
  { name: "malformed JSON", status: 400, raw: '{"items": [' },
  { name: "JSON array instead of an object", status: 400, raw: "[]" },
  { name: "JSON string instead of an object", status: 400, raw: '"order"' },
  { name: "empty body", status: 400, raw: "" },
  { name: "prototype pollution attempt", status: 400, raw: '{"__proto__": {"admin": true}, "items": []}' },
  { name: "missing items", status: 400, body: { shippingAddress: address, paymentMethod: "UPI" } },
  { name: "empty items", status: 400, body: order({ items: [] }) },
  { name: "items not an array", status: 400, body: order({ items: { sku: "GOOD-1", quantity: 1 } }) },
  { name: "too many items", status: 400, body: order({ items: Array.from({ length: 51 }, (_, i) => ({ sku: `S-${i}`, quantity: 1 })) }) },
  { name: "missing shippingAddress", status: 400, body: { items: [{ sku: "GOOD-1", quantity: 1 }], paymentMethod: "UPI" } },
  { name: "missing paymentMethod", status: 400, body: { items: [{ sku: "GOOD-1", quantity: 1 }], shippingAddress: address } },
  { name: "extra top-level field", status: 400, body: order({ discount: 100 }) },
  { name: "client-side unitPrice", status: 400, body: order({ items: [{ sku: "GOOD-1", quantity: 1, unitPrice: 1 }] }) },
  { name: "extra address field", status: 400, body: order({ shippingAddress: { ...address, country: "IN" } }) },
  { name: "zero quantity", status: 400, body: order({ items: [{ sku: "GOOD-1", quantity: 0 }] }) },
  { name: "negative quantity", status: 400, body: order({ items: [{ sku: "GOOD-1", quantity: -1 }] }) },
  { name: "fractional quantity", status: 400, body: order({ items: [{ sku: "GOOD-1", quantity: 1.5 }] }) },
  { name: "quantity as a string", status: 400, body: order({ items: [{ sku: "GOOD-1", quantity: "2" }] }) },
  { name: "huge quantity", status: 400, body: order({ items: [{ sku: "GOOD-1", quantity: 1_000_000_000 }] }) },
  { name: "quantity beyond safe integers", status: 400, raw: JSON.stringify(order()).replace('"quantity":1', '"quantity":1e309') },
  { name: "null quantity", status: 400, body: order({ items: [{ sku: "GOOD-1", quantity: null }] }) },
  { name: "missing sku", status: 400, body: order({ items: [{ quantity: 1 }] }) },
  { name: "empty sku", status: 400, body: order({ items: [{ sku: "", quantity: 1 }] }) },
  { name: "numeric sku", status: 400, body: order({ items: [{ sku: 123, quantity: 1 }] }) },
  { name: "unknown SKU", status: 422, body: order({ items: [{ sku: "NO-SUCH-SKU", quantity: 1 }] }) },
  {
    name: "the same SKU twice",
    status: 422,
    body: order({
      items: [
        { sku: "GOOD-1", quantity: 1 },
        { sku: "GOOD-1", quantity: 2 },
      ],
    }),
  },
  { name: "unknown payment method", status: 400, body: order({ paymentMethod: "BITCOIN" }) },
  { name: "lower-case payment method", status: 400, body: order({ paymentMethod: "upi" }) },
  { name: "bad pincode", status: 400, body: order({ shippingAddress: { ...address, pincode: "abc" } }) },
  { name: "bad phone", status: 400, body: order({ shippingAddress: { ...address, phone: "call me" } }) },
  { name: "blank address name", status: 400, body: order({ shippingAddress: { ...address, name: "   " } }) },
  { name: "bad customerId", status: 400, body: order({ customerId: "../../etc" }) },
  { name: "oversized body", status: 413, raw: JSON.stringify(order({ shippingAddress: { ...address, line2: "x".repeat(70_000) } })) },
  { name: "text/plain body", status: 400, raw: JSON.stringify(order()), headers: { "content-type": "text/plain" } },
  { name: "XML body", status: 415, raw: "<order/>", headers: { "content-type": "application/xml" } },
  { name: "Idempotency-Key of 256 characters", status: 400, body: order(), headers: { "idempotency-key": "k".repeat(256) } },
  { name: "empty Idempotency-Key", status: 400, body: order(), headers: { "idempotency-key": "" } },
  { name: "order id with spaces", status: 400, method: "GET", path: "/api/orders/bad%20id" },
  { name: "list with a bad date", status: 400, method: "GET", path: "/api/orders?from=not-a-date" },
  { name: "list with size 0", status: 400, method: "GET", path: "/api/orders?size=0" },
  { name: "list with an unknown status", status: 400, method: "GET", path: "/api/orders?status=LOST" },
  { name: "list with an unknown parameter", status: 400, method: "GET", path: "/api/orders?sort=desc" },
  { name: "badly encoded URL", status: 400, method: "GET", path: "/api/orders/%00%ff" },
  { name: "truncated percent escape", status: 400, method: "GET", path: "/api/orders/%E0%A4%A" },
  { name: "path parameter over the router's limit", status: 414, method: "GET", path: `/api/orders/${"o".repeat(200)}` },
  { name: "history with a bad asOf", status: 400, method: "GET", path: "/api/orders/o-1/history?asOf=yesterday" },
  { name: "history with a half position as asOf", status: 400, method: "GET", path: "/api/orders/o-1/history?asOf=0001:" },
  {
    name: "product with a negative price",
    status: 400,
    path: "/api/products",
    role: "admin",
    body: { sku: "N-1", name: "n", category: [], price: -5 },
  },
  {
    name: "product with a fractional price",
    status: 400,
    path: "/api/products",
    role: "admin",
    body: { sku: "N-1", name: "n", category: [], price: 10.5 },
  },
  { name: "product without a name", status: 400, path: "/api/products", role: "admin", body: { sku: "N-1", category: [], price: 500 } },
  {
    name: "product SKU with a space",
    status: 400,
    path: "/api/products",
    role: "admin",
    body: { sku: "N 1", name: "n", category: [], price: 500 },
  },
  {
    name: "product with a bad currency",
    status: 400,
    path: "/api/products",
    role: "admin",
    body: { sku: "N-1", name: "n", category: [], price: 500, currency: "rupees" },
  },
  { name: "empty PATCH", status: 400, method: "PATCH", path: "/api/products/GOOD-1", role: "admin", body: {} },
  { name: "PATCH of an unknown product", status: 404, method: "PATCH", path: "/api/products/NOPE-1", role: "admin", body: { price: 100 } },
  {
    name: "zero stock receipt",
    status: 400,
    path: "/api/inventory/GOOD-1/receipts",
    role: "admin",
    body: { warehouseId: "w-1", quantity: 0 },
  },
  {
    name: "stock receipt for an unknown SKU",
    status: 422,
    path: "/api/inventory/NOPE-1/receipts",
    role: "admin",
    body: { warehouseId: "w-1", quantity: 5 },
  },
  { name: "coupon with an unknown kind", status: 400, path: "/api/coupons", role: "admin", body: { code: "X1", kind: "bogo", value: 1 } },
  {
    name: "coupon with a bad expiry date",
    status: 400,
    path: "/api/coupons",
    role: "admin",
    body: { code: "X1", kind: "flat", value: 1, expiresAt: "tomorrow" },
  },
  { name: "coupon of 150 percent", status: 422, path: "/api/coupons", role: "admin", body: { code: "X1", kind: "percent", value: 150 } },
  { name: "cart item with a negative quantity", status: 400, path: "/api/cart/items", body: { sku: "GOOD-1", quantity: -2 } },
  { name: "cart quantity as words", status: 400, method: "PUT", path: "/api/cart/items/GOOD-1", body: { quantity: "three" } },
  { name: "cart item of an unknown SKU", status: 422, path: "/api/cart/items", body: { sku: "NOPE-1", quantity: 1 } },
  { name: "cancel without a reason", status: 400, path: "/api/orders/o-1/cancel", body: {} },
  {
    name: "return of zero units",
    status: 400,
    path: "/api/orders/o-1/returns",
    body: { items: [{ sku: "GOOD-1", quantity: 0 }], reason: "x" },
  },
  { name: "ship with a blank carrier", status: 400, path: "/api/orders/o-1/ship", role: "ops", body: { carrier: "", trackingNumber: "t" } },
  {
    name: "reconciliation with a bad date",
    status: 400,
    method: "GET",
    path: "/api/finance/refunds/reconciliation?from=2026-13-45&to=x",
    role: "finance",
  },
  { name: "signed webhook that is not JSON", status: 400, webhook: true, raw: "{not json" },
  {
    name: "signed webhook without data",
    status: 400,
    webhook: true,
    raw: JSON.stringify({ id: "evt-x", type: "payment.captured", created: new Date().toISOString() }),
  },
  {
    name: "signed webhook with an unknown type",
    status: 400,
    webhook: true,
    raw: JSON.stringify({
      id: "evt-y",
      type: "payment.exploded",
      created: new Date().toISOString(),
      data: { paymentId: "p-1", amount: 1, currency: "INR" },
    }),
  },
];

describe.each(backends())("robustness (%s)", (backend) => {
  let storage: Storage;
  let app: TestApp;
  let customer: string;
  beforeAll(async () => {
    storage = await createStorage(backend);
    app = await startApp(storage);
    await seedProduct(app, "GOOD-1", 1_000, 1_000);
    customer = await app.token("customer", "c-1");
  });
  afterAll(async () => {
    await app?.close();
    await storage?.dispose();
  });

  it(`answers each of ${cases.length} malformed requests with its own 4xx as problem+json and writes nothing`, async () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
    const before = await app.eventCount();
    const tokens = {
      customer,
      admin: await app.token("admin", "a-1"),
      ops: await app.token("ops", "o-1"),
      finance: await app.token("finance", "f-1"),
    };
    const failures: string[] = [];
    for (const c of cases) {
      let res: Awaited<ReturnType<typeof app.request>>;
      if (c.webhook) {
        res = await app.request("POST", "/api/payments/webhook", {
          raw: c.raw!,
          headers: {
            "content-type": "application/json",
            "x-webhook-signature": signWebhook(WEBHOOK_SECRET, c.raw!, Math.floor(Date.now() / 1000)),
          },
        });
      } else {
        res = await app.request(c.method ?? "POST", c.path ?? "/api/orders", {
          token: tokens[c.role ?? "customer"],
          ...(c.raw !== undefined ? { raw: c.raw } : c.body !== undefined ? { body: c.body } : {}),
          headers: { ...(c.raw !== undefined ? { "content-type": "application/json" } : {}), ...(c.headers ?? {}) },
        });
      }
      const ok =
        res.status === c.status &&
        (res.headers.get("content-type") ?? "").includes("application/problem+json") &&
        res.body?.status === res.status &&
        typeof res.body?.detail === "string" &&
        typeof res.body?.type === "string";
      if (!ok)
        failures.push(`${c.name}: expected ${c.status}, got ${res.status} ${res.headers.get("content-type")} ${res.text.slice(0, 200)}`);
    }
    expect(failures).toEqual([]);
    expect(await app.eventCount()).toBe(before);
  });

  it("answers what is not HTTP at all, and headers over the parser's limit, as problem+json", async () => {
    const { port } = new URL(app.url);
    const rawExchange = (text: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect({ host: "127.0.0.1", port: Number(port) }, () => socket.write(text));
        let answer = "";
        socket.on("data", (d: Buffer) => (answer += d.toString()));
        socket.on("close", () => resolve(answer));
        socket.on("error", reject);
      });
    const garbage = await rawExchange("THIS IS NOT HTTP\r\n\r\n");
    expect(garbage).toMatch(/^HTTP\/1\.1 400 /);
    expect(garbage).toContain("Content-Type: application/problem+json");
    expect(JSON.parse(garbage.slice(garbage.indexOf("\r\n\r\n") + 4))).toMatchObject({ status: 400, title: "Bad Request" });
    const huge = await rawExchange(`GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${"b".repeat(20_000)}\r\n\r\n`);
    expect(huge).toMatch(/^HTTP\/1\.1 431 /);
    expect(huge).toContain("application/problem+json");
  });

  it("names the offending field in a validation problem", async () => {
    const res = await app.request("POST", "/api/orders", { token: customer, body: order({ items: [{ sku: "GOOD-1", quantity: 0 }] }) });
    expect(res.status).toBe(400);
    expect(res.body.field).toBe("items.0.quantity");
    const extra = await app.request("POST", "/api/orders", { token: customer, body: order({ hack: 1 }) });
    expect(extra.body.detail).toContain("hack");
  });

  it("replays the first response for the same Idempotency-Key and body, writing nothing", async () => {
    const headers = { "idempotency-key": "order-key-1" };
    const first = await app.request("POST", "/api/orders", { token: customer, body: order(), headers });
    expect(first.status).toBe(202);
    const count = await app.eventCount();
    const second = await app.request("POST", "/api/orders", { token: customer, body: order(), headers });
    expect(second.status).toBe(202);
    expect(second.text).toBe(first.text);
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    expect(second.headers.get("x-commit-position")).toBe(first.headers.get("x-commit-position"));
    // The saga may be appending meanwhile; no event of the request's own order was added by the retry.
    const orderEvents = async () =>
      (await app.built.store.readStream(`order-${first.body.orderId}`)).filter((e) => e.type === "OrderPlaced").length;
    expect(await orderEvents()).toBe(1);
    expect(await app.eventCount()).toBeGreaterThanOrEqual(count);
    // A 4xx is kept too: the same failing request answers the same.
    const bad1 = await app.request("POST", "/api/orders", {
      token: customer,
      body: order({ items: [{ sku: "NO-SUCH", quantity: 1 }] }),
      headers: { "idempotency-key": "bad-key" },
    });
    const bad2 = await app.request("POST", "/api/orders", {
      token: customer,
      body: order({ items: [{ sku: "NO-SUCH", quantity: 1 }] }),
      headers: { "idempotency-key": "bad-key" },
    });
    expect(bad1.status).toBe(422);
    expect(bad2.text).toBe(bad1.text);
  });

  it("answers 422 for the same key with a different body, and keys are per caller", async () => {
    const headers = { "idempotency-key": "order-key-2" };
    expect((await app.request("POST", "/api/orders", { token: customer, body: order(), headers })).status).toBe(202);
    const placedCount = async () =>
      (await app.built.sql.query<{ n: number }>("SELECT count(*)::int AS n FROM es_events WHERE type = 'OrderPlaced'")).rows[0]!.n;
    const before = await placedCount();
    const other = await app.request("POST", "/api/orders", { token: customer, body: order({ paymentMethod: "CARD" }), headers });
    expect(other.status).toBe(422);
    expect(other.headers.get("content-type")).toContain("application/problem+json");
    // Nothing was written for the mismatch (the saga may still be busy with the first order: count orders placed).
    expect(await placedCount()).toBe(before);
    const someoneElse = await app.request("POST", "/api/orders", {
      token: await app.token("customer", "c-2"),
      body: order({ paymentMethod: "CARD" }),
      headers,
    });
    expect(someoneElse.status).toBe(202);
  });

  it("answers 409 while the first request with the key is in flight, and runs concurrent twins once", async () => {
    await app.built.sql.query("INSERT INTO api_idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3)", [
      "c-1",
      "in-flight-key",
      "x",
    ]);
    const hashOf = async () => {
      const { rows } = await app.built.sql.query<{ request_hash: string }>(
        "SELECT request_hash FROM api_idempotency_keys WHERE key = 'order-key-1'",
      );
      return rows[0]!.request_hash;
    };
    await app.built.sql.query("UPDATE api_idempotency_keys SET request_hash = $1 WHERE key = 'in-flight-key'", [await hashOf()]);
    const busy = await app.request("POST", "/api/orders", {
      token: customer,
      body: order(),
      headers: { "idempotency-key": "in-flight-key" },
    });
    expect(busy.status).toBe(409);
    expect(busy.headers.get("retry-after")).toBe("1");

    const burst = await Promise.all(
      Array.from({ length: 6 }, () =>
        app.request("POST", "/api/orders", {
          token: customer,
          body: order({ paymentMethod: "COD" }),
          headers: { "idempotency-key": "burst-key" },
        }),
      ),
    );
    const statuses = burst.map((r) => r.status);
    expect(statuses.every((s) => s === 202 || s === 409)).toBe(true);
    const ids = new Set(burst.filter((r) => r.status === 202).map((r) => r.body.orderId));
    expect(ids.size).toBe(1);
    const again = await app.request("POST", "/api/orders", {
      token: customer,
      body: order({ paymentMethod: "COD" }),
      headers: { "idempotency-key": "burst-key" },
    });
    expect(again.status).toBe(202);
    expect(ids.has(again.body.orderId)).toBe(true);
  });

  it("applies a write with If-Match only at that version (412 otherwise) and serves the ETag", async () => {
    const placed = await placeOrder(app, customer, [{ sku: "GOOD-1", quantity: 1 }]);
    const pending = await awaitStatus(app, customer, placed.orderId, "PAYMENT_PENDING");
    const got = await app.request("GET", `/api/orders/${placed.orderId}`, { token: customer });
    const tag = got.headers.get("etag")!;
    expect(tag).toBe(`W/"${got.body.version}"`);
    expect(pending.version).toBeGreaterThanOrEqual(1);
    // While the order waits for its payment nothing writes to it: If-None-Match with its ETag is 304.
    // (Checked here, not after the cancel below, which the saga follows with writes of its own.)
    const notModified = await app.request("GET", `/api/orders/${placed.orderId}`, { token: customer, headers: { "if-none-match": tag } });
    expect(notModified.status).toBe(304);
    const stale = await app.request("POST", `/api/orders/${placed.orderId}/cancel`, {
      token: customer,
      body: { reason: "x" },
      headers: { "if-match": 'W/"0"' },
    });
    expect(stale.status).toBe(412);
    expect(stale.headers.get("content-type")).toContain("application/problem+json");
    const garbage = await app.request("POST", `/api/orders/${placed.orderId}/cancel`, {
      token: customer,
      body: { reason: "x" },
      headers: { "if-match": "nonsense" },
    });
    expect(garbage.status).toBe(412);
    const fresh = await app.request("GET", `/api/orders/${placed.orderId}`, { token: customer });
    const ok = await app.request("POST", `/api/orders/${placed.orderId}/cancel`, {
      token: customer,
      body: { reason: "x" },
      headers: { "if-match": fresh.headers.get("etag")! },
    });
    expect([202, 412]).toContain(ok.status); // 412 only if the saga wrote in between
  });

  it("hides another customer's order (404) and lets ops act on any order", async () => {
    const placed = await placeOrder(app, customer, [{ sku: "GOOD-1", quantity: 1 }], "COD");
    const other = await app.token("customer", "c-9");
    // Read once the read model holds the order (the write's position), so the 404 is the owner check's.
    const wait = `?waitFor=${encodeURIComponent(placed.position)}`;
    expect((await app.request("GET", `/api/orders/${placed.orderId}${wait}`, { token: customer })).status).toBe(200);
    expect((await app.request("GET", `/api/orders/${placed.orderId}${wait}`, { token: other })).status).toBe(404);
    expect((await app.request("POST", `/api/orders/${placed.orderId}/cancel`, { token: other, body: { reason: "mine now" } })).status).toBe(
      404,
    );
    expect((await app.request("GET", "/api/orders/no-such-order", { token: customer })).status).toBe(404);
    expect((await app.request("GET", `/api/orders/${placed.orderId}${wait}`, { token: await app.token("ops", "o-1") })).status).toBe(200);
  });
});

describe.each(backends())("restart in the middle of a flow (%s)", (backend) => {
  let storage: Storage;
  let app: TestApp | undefined;
  beforeAll(async () => {
    storage = await createStorage(backend);
  });
  afterAll(async () => {
    await app?.close();
    await storage?.dispose();
  });

  it("completes an order whose server was closed and built again on the same data", async () => {
    app = await startApp(storage);
    await seedProduct(app, "R-1", 7_000, 10);
    const customer = await app.token("customer", "c-r");
    const placed = await placeOrder(app, customer, [{ sku: "R-1", quantity: 2 }], "UPI", "restart-key");
    const pending = await awaitStatus(app, customer, placed.orderId, "PAYMENT_PENDING");
    // Placed but not yet picked up by the saga when the server stops.
    const second = await placeOrder(app, customer, [{ sku: "R-1", quantity: 1 }], "COD");
    await app.close();
    app = undefined;

    app = await startApp(storage);
    // The idempotency record survived the restart.
    const replay = await app.request("POST", "/api/orders", {
      token: customer,
      body: { items: [{ sku: "R-1", quantity: 2 }], shippingAddress: address, paymentMethod: "UPI" },
      headers: { "idempotency-key": "restart-key" },
    });
    expect(replay.status).toBe(202);
    expect(replay.body.orderId).toBe(placed.orderId);
    // The simulated gateway's payment page still knows the payment initiated before the restart.
    const page = await app.request("GET", `/simulated-gateway/payments/${pending.payment.paymentId}`);
    expect(page.status).toBe(200);
    expect(page.text).toContain(placed.orderId);
    expect((await app.webhook(paymentEvent("payment.captured", pending.payment.paymentId, 14_000))).status).toBe(200);
    await awaitStatus(app, customer, placed.orderId, "PROCESSING");
    await awaitStatus(app, customer, second.orderId, "PROCESSING");
    const ops = await app.token("ops", "o-1");
    expect(
      (await app.request("POST", `/api/orders/${placed.orderId}/ship`, { token: ops, body: { carrier: "c", trackingNumber: "t" } })).status,
    ).toBe(202);
    expect((await app.request("POST", `/api/orders/${placed.orderId}/deliver`, { token: ops })).status).toBe(202);
    const inventory = await app.request("GET", "/api/inventory/R-1", {
      token: customer,
      headers: { "x-wait-for": await app.built.store.headCheckpoint() },
    });
    expect(inventory.body.available).toBe(7);
  });
});
