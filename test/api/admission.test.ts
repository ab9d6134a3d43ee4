// Admission control: while the order pipeline (saga partitions and SQL read models) is behind the
// log by more than ADMISSION_MAX_LAG_EVENTS / _SECONDS, POST /api/orders and POST
// /api/cart/checkout answer 503 problem+json with Retry-After and write nothing; reads, the
// payment webhook and ops routes still answer; /health/ready and /metrics show the lag and the
// gate. The pipeline is made to fall behind for real: the saga is stopped and the log grows.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { saveCheckpoint } from "../../src/processing/processor.js";
import { address, backends, createStorage, eventually, seedProduct, startApp, type Storage, type TestApp } from "./harness.js";

describe.each(backends())("admission control (%s)", (backend) => {
  let storage: Storage;
  let app: TestApp;
  beforeAll(async () => {
    storage = await createStorage(backend);
    app = await startApp(storage, { ADMISSION_MAX_LAG_EVENTS: "10", ADMISSION_MAX_LAG_SECONDS: "0" });
  });
  afterAll(async () => {
    await app?.close();
    await storage?.dispose();
  });

  it("refuses new orders with 503 + Retry-After while the pipeline is behind, writing nothing, and admits them again once it has caught up", async () => {
    const customer = await app.token("customer", "c-adm");
    const ops = await app.token("ops", "ops-1");
    await seedProduct(app, "ADM-1", 10_000, 1_000);
    const order = { items: [{ sku: "ADM-1", quantity: 1 }], shippingAddress: address, paymentMethod: "UPI" };
    const first = await app.request("POST", "/api/orders", { token: customer, body: order });
    expect(first.status).toBe(202);
    await eventually(
      async () => (await app.request("GET", `/api/orders/${first.body.orderId}`, { token: customer })).status === 200,
      15_000,
      "the order to be readable",
    );

    // This instance gives up its units of work (saga partitions, projectors) and nobody else takes
    // them; the log keeps growing (stock receipts), so the pipeline falls behind.
    await app.built.ownership.stop();
    const admin = await app.token("admin", "a-1");
    for (let i = 0; i < 12; i++) {
      const r = await app.request("POST", "/api/inventory/ADM-1/receipts", { token: admin, body: { warehouseId: `w-${i}`, quantity: 1 } });
      expect(r.status).toBe(201);
    }
    const ready = await eventually(
      async () => {
        const r = await app.request("GET", "/health/ready");
        return r.status === 200 && r.body.dependencies.admission.open === false ? r : undefined;
      },
      15_000,
      "the gate to close",
    );
    expect(ready.body.dependencies.admission).toMatchObject({ status: "up", open: false, maxLagEvents: 10 });
    expect(ready.body.dependencies.admission.events).toBeGreaterThan(10);

    const before = await app.eventCount();
    const refused = await app.request("POST", "/api/orders", {
      token: customer,
      body: order,
      headers: { "idempotency-key": "adm-refused-1" },
    });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("content-type")).toContain("application/problem+json");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(refused.body).toMatchObject({ status: 503, title: "Service Unavailable" });
    expect(refused.body.lagEvents).toBeGreaterThan(10);
    // Cart checkout too, with a real cart.
    expect((await app.request("POST", "/api/cart/items", { token: customer, body: { sku: "ADM-1", quantity: 1 } })).status).toBe(200);
    const afterCart = await app.eventCount();
    const checkout = await app.request("POST", "/api/cart/checkout", {
      token: customer,
      body: { shippingAddress: address, paymentMethod: "UPI" },
    });
    expect(checkout.status).toBe(503);
    expect(checkout.headers.get("retry-after")).not.toBeNull();
    expect(await app.eventCount()).toBe(afterCart);
    expect(afterCart - before).toBe(1); // only the cart item: the refused order and checkout wrote nothing

    // Never refused for lag: reads, ops routes, the payment webhook.
    expect((await app.request("GET", `/api/orders/${first.body.orderId}`, { token: customer })).status).toBe(200);
    expect((await app.request("GET", "/api/orders", { token: ops })).status).toBe(200);
    const hook = await app.webhook({
      id: "evt_adm_1",
      type: "payment.captured",
      created: new Date().toISOString(),
      data: { paymentId: "pay-unknown", gatewayPaymentId: "g", amount: 1, currency: "INR" },
    });
    expect(hook.status).not.toBe(503);
    expect(hook.status).toBeLessThan(500);
    const metrics = await app.request("GET", "/metrics");
    expect(metrics.text).toMatch(/^order_admission_open 0$/m);
    expect(metrics.text).toMatch(/^order_admission_refused [1-9]\d*$/m);
    expect(Number(/^order_pipeline_lag_events (\d+)/m.exec(metrics.text)?.[1])).toBeGreaterThan(10);

    // The pipeline catches up (every checkpoint reaches the head): orders are admitted again.
    const head = await app.built.store.headCheckpoint();
    const names = [...app.built.saga.partitions, ...app.built.projections.projectors].map((p) => p.name);
    for (const name of names) await saveCheckpoint(app.built.sql, name, head);
    await eventually(
      async () => (await app.request("GET", "/health/ready")).body?.dependencies?.admission?.open === true,
      15_000,
      "the gate to open",
    );
    const again = await app.request("POST", "/api/orders", { token: customer, body: order });
    expect(again.status).toBe(202);
    expect((await app.request("GET", "/metrics")).text).toMatch(/^order_admission_open 1$/m);
  });
});

describe("admission configuration", () => {
  it("defaults to 10 s and 1,000 events; 0 turns a bound off; other values are refused naming the variable", () => {
    expect(loadConfig({})).toMatchObject({ admissionMaxLagSeconds: 10, admissionMaxLagEvents: 1_000 });
    expect(loadConfig({ ADMISSION_MAX_LAG_SECONDS: "0", ADMISSION_MAX_LAG_EVENTS: "0" })).toMatchObject({
      admissionMaxLagSeconds: 0,
      admissionMaxLagEvents: 0,
    });
    expect(() => loadConfig({ ADMISSION_MAX_LAG_SECONDS: "1.5" })).toThrow(/ADMISSION_MAX_LAG_SECONDS/);
    expect(() => loadConfig({ ADMISSION_MAX_LAG_EVENTS: "-3" })).toThrow(/ADMISSION_MAX_LAG_EVENTS/);
  });
});
