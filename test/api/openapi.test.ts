// The OpenAPI document describes every answer: each operation has a success response schema and
// its problem responses (application/problem+json). Fastify serialises with those schemas, so the
// second half checks that serialising drops nothing: the bodies served equal the read models'
// views (src/queries), and hold every field the streams know.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cartTotals } from "../../src/aggregates/cart.js";
import { orderDecider, type Order } from "../../src/aggregates/order.js";
import { loadCart } from "../../src/commands/cart.js";
import { getProductFromLog } from "../../src/commands/catalog.js";
import { loadAggregate } from "../../src/commands/load.js";
import { cartResource } from "../../src/queries/carts.js";
import { getCart, getInventory, getOrder, getPayment, getProduct, listOrders } from "../../src/queries/index.js";
import { paymentResource } from "../../src/queries/payments.js";
import { awaitStatus, paymentEvent, placeOrder } from "./flow.js";
import { createStorage, seedProduct, startApp, type Storage, type TestApp } from "./harness.js";

interface Operation {
  security?: unknown[];
  responses?: Record<string, { content?: Record<string, { schema?: Record<string, unknown> }> }>;
}

const METHODS = ["get", "put", "post", "delete", "patch"];
const isProblem = (schema: Record<string, unknown> | undefined) => {
  const props = (schema?.properties ?? {}) as Record<string, unknown>;
  return ["type", "title", "status", "detail"].every((k) => k in props);
};

/** What an operation's documentation lacks; empty when it is complete. */
export function undocumented(doc: { paths: Record<string, Record<string, Operation>>; security?: unknown[] }): string[] {
  const gaps: string[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const name = `${method.toUpperCase()} ${path}`;
      const responses = op.responses ?? {};
      const success = Object.entries(responses).filter(([code]) => /^2\d\d$/.test(code));
      if (!success.some(([, r]) => Object.values(r.content ?? {}).some((c) => c.schema && Object.keys(c.schema).length > 0)))
        gaps.push(`${name}: no success response schema`);
      const isPublic = Array.isArray(op.security) ? op.security.length === 0 : (doc.security ?? []).length === 0;
      for (const code of ["400", "500", ...(isPublic ? [] : ["401", "403"])]) {
        if (!isProblem(responses[code]?.content?.["application/problem+json"]?.schema))
          gaps.push(`${name}: no ${code} application/problem+json response`);
      }
      for (const [code, r] of Object.entries(responses)) {
        if (Number(code) >= 400 && !isProblem(r.content?.["application/problem+json"]?.schema))
          gaps.push(`${name}: ${code} is not documented as application/problem+json`);
      }
    }
  }
  return gaps;
}

describe("the OpenAPI document and the bodies served with it", () => {
  let storage: Storage;
  let app: TestApp;
  beforeAll(async () => {
    storage = await createStorage("pglite");
    app = await startApp(storage);
  });
  afterAll(async () => {
    await app?.close();
    await storage?.dispose();
  });

  it("gives every operation a success response schema and its problem responses", async () => {
    const doc = await app.request("GET", "/docs/json");
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe("3.0.3");
    const operations = Object.values(doc.body.paths as Record<string, Record<string, unknown>>).flatMap((item) =>
      METHODS.filter((m) => item[m]),
    );
    expect(operations.length).toBeGreaterThanOrEqual(30);
    expect(undocumented(doc.body)).toEqual([]);
  });

  it("finds what a route without a success schema or problem responses lacks", () => {
    const problem = {
      content: { "application/problem+json": { schema: { properties: { type: {}, title: {}, status: {}, detail: {} } } } },
    };
    const doc = {
      paths: {
        "/a": {
          get: {
            responses: {
              200: { content: { "application/json": { schema: { type: "object" } } } },
              400: problem,
              500: problem,
              401: problem,
              403: problem,
            },
          },
        },
        "/b": { get: { responses: { 200: { description: "no schema" }, 400: problem, 500: problem, 401: problem, 403: problem } } },
        "/c": {
          post: {
            security: [],
            responses: {
              201: { content: { "application/json": { schema: { type: "object" } } } },
              400: { content: { "application/json": { schema: { type: "object" } } } },
              500: problem,
            },
          },
        },
      },
      security: [{ bearer: [] }],
    };
    expect(undocumented(doc as Parameters<typeof undocumented>[0])).toEqual([
      "GET /b: no success response schema",
      "POST /c: no 400 application/problem+json response",
      "POST /c: 400 is not documented as application/problem+json",
    ]);
  });

  it("serves the same bodies the routes build: serialising with the schemas drops no field", async () => {
    await seedProduct(app, "SER-1", 12_345, 20, "w-1");
    const admin = await app.token("admin", "a-1");
    await app.request("PATCH", "/api/products/SER-1", {
      token: admin,
      body: { attributes: { colour: "red", weightGrams: 180, waterproof: true }, description: "a case" },
    });
    const customer = await app.token("customer", "c-ser");
    const ops = await app.token("ops", "o-1");
    const placed = await placeOrder(app, customer, [{ sku: "SER-1", quantity: 2 }]);
    const pending = await awaitStatus(app, customer, placed.orderId, "PAYMENT_PENDING");
    expect((await app.webhook(paymentEvent("payment.captured", pending.payment.paymentId, 24_690))).status).toBe(200);
    await awaitStatus(app, customer, placed.orderId, "PROCESSING");
    expect(
      (
        await app.request("POST", `/api/orders/${placed.orderId}/ship`, {
          token: ops,
          body: { carrier: "BlueDart", trackingNumber: "BD1" },
        })
      ).status,
    ).toBe(202);
    expect((await app.request("POST", `/api/orders/${placed.orderId}/deliver`, { token: ops })).status).toBe(202);
    const ret = await app.request("POST", `/api/orders/${placed.orderId}/returns`, {
      token: customer,
      body: { items: [{ sku: "SER-1", quantity: 1 }], reason: "one too many" },
    });
    expect(ret.status).toBe(202);
    expect(ret.body.refundAmount).toBe(12_345);
    await app.request("POST", "/api/cart/items", { token: customer, body: { sku: "SER-1", quantity: 1 } });

    // Reads come from the read models (one serialiser per resource, src/queries); each read waits
    // for the writes above, and must still serve every field the streams know, with their values.
    const store = app.built.store;
    const sql = app.built.sql;
    const head = await store.headCheckpoint();
    const wait = { "x-wait-for": head };
    const served = await app.request("GET", `/api/orders/${placed.orderId}`, { token: customer, headers: wait });
    expect(served.body).toEqual(JSON.parse(JSON.stringify(await getOrder(sql, placed.orderId))));
    const loaded = await loadAggregate(store, orderDecider, `order-${placed.orderId}`);
    const o = loaded.state as Order;
    expect(served.body).toMatchObject(
      JSON.parse(
        JSON.stringify({
          orderId: o.orderId,
          customerId: o.customerId,
          status: o.status,
          paymentStatus: o.paymentStatus,
          fulfillmentStatus: o.fulfillmentStatus,
          items: o.lines.map((l) => ({ sku: l.sku, quantity: l.quantity, unitPrice: l.unitPrice })),
          subtotal: o.subtotal,
          discountAmount: o.discountAmount,
          totalAmount: o.totalAmount,
          refundedAmount: o.refundedAmount,
          currency: o.currency,
          payment: { paymentId: o.payment?.paymentId ?? null, method: o.paymentMethod, paymentUrl: o.payment?.paymentUrl },
          refunds: o.refunds.map((r) => ({ refundId: r.refundId, amount: r.amount, status: r.status, reason: r.reason })),
          returns: o.returns.map((r) => ({
            returnId: r.returnId,
            status: r.status,
            refundAmount: r.refundAmount,
            reason: r.reason,
            items: r.lines.map((l) => ({ sku: l.sku, quantity: l.quantity })),
          })),
          shipment: { carrier: o.shipment?.carrier, trackingNumber: o.shipment?.trackingNumber, status: "DELIVERED" },
          shippingAddress: o.shippingAddress,
          createdAt: o.placedAt,
          updatedAt: o.updatedAt,
          version: loaded.revision,
        }),
      ),
    );
    expect(served.body.returns).toHaveLength(1);
    expect(served.headers.get("etag")).toBe(`W/"${loaded.revision}"`);

    const list = await app.request("GET", `/api/orders?waitFor=${encodeURIComponent(head)}`, { token: customer });
    expect(list.body).toEqual(JSON.parse(JSON.stringify(await listOrders(sql, { customerId: "c-ser", page: 1, size: 20 }))));
    expect(list.body.items[0]).toHaveProperty("capturedAmount", 24_690);
    expect(list.body.items[0]).toEqual(served.body);

    const product = await app.request("GET", "/api/products/SER-1", { token: customer, headers: wait });
    expect(product.body).toEqual(JSON.parse(JSON.stringify(await getProduct(sql, "SER-1"))));
    const found = (await getProductFromLog(store, "SER-1"))!;
    const inventory = (await getInventory(sql, "SER-1"))!;
    expect(product.body).toEqual(
      JSON.parse(JSON.stringify({ ...found.product, active: true, available: inventory.available, version: found.revision })),
    );
    expect(product.body.attributes).toEqual({ colour: "red", weightGrams: 180, waterproof: true });
    const stock = await app.request("GET", "/api/inventory/SER-1", { token: customer, headers: wait });
    expect(stock.body).toEqual(JSON.parse(JSON.stringify(inventory)));

    const cart = await app.request("GET", "/api/cart", { token: customer, headers: wait });
    expect(cart.body).toEqual(JSON.parse(JSON.stringify(cartResource(await getCart(sql, "c-ser")))));
    const { state: c, revision: cartRevision } = await loadCart({ store }, "c-ser");
    expect(cart.body).toEqual({
      customerId: "c-ser",
      status: c.status,
      items: c.items.map((l) => ({ sku: l.sku, quantity: l.quantity, unitPrice: l.unitPrice })),
      ...cartTotals(c),
      currency: c.currency,
      version: cartRevision,
    });

    const payment = await app.request("GET", `/api/payments/${pending.payment.paymentId}`, { token: customer, headers: wait });
    expect(Object.keys(payment.body).sort()).toEqual(
      [
        "paymentId",
        "orderId",
        "amount",
        "currency",
        "method",
        "status",
        "capturedAmount",
        "refundedAmount",
        "refunds",
        "paymentUrl",
        "createdAt",
        "updatedAt",
        "version",
      ].sort(),
    );
    expect(payment.body).toEqual(JSON.parse(JSON.stringify(paymentResource((await getPayment(sql, pending.payment.paymentId))!))));
    const ready = await app.request("GET", "/health/ready");
    expect(ready.body.dependencies.eventStore).toMatchObject({ status: "up", kind: expect.any(String), head: expect.any(String) });
  });
});
