// When admission control refuses new orders (the order pipeline is behind), flash-sale claims
// still answer at once, and the claim's hold covers the wait: the order with the claim gets 503
// problem+json with Retry-After and writes nothing, then goes through once the pipeline is back.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { saveCheckpoint } from "../../src/processing/processor.js";
import { address, backends, createStorage, eventually, seedProduct, startApp, type Storage, type TestApp } from "../api/harness.js";

describe.each(backends())("flash-sale claims under admission control (%s)", (backend) => {
  let storage: Storage;
  let app: TestApp;
  beforeAll(async () => {
    storage = await createStorage(backend);
    app = await startApp(storage, { ADMISSION_MAX_LAG_EVENTS: "10", ADMISSION_MAX_LAG_SECONDS: "0", RATE_LIMIT_PER_MINUTE: "0" });
  });
  afterAll(async () => {
    await app?.close();
    await storage?.dispose();
  });

  it("claims answer 201 while orders get 503 + Retry-After (writing nothing); the claim's hold outlasts the wait and its order goes through after", async () => {
    const admin = await app.token("admin", "a-1");
    const buyer = await app.token("customer", "c-fs-adm");
    await seedProduct(app, "FS-ADM", 99_900, 10);
    const now = Date.now();
    const sale = await app.request("POST", "/api/flash-sales", {
      token: admin,
      body: {
        saleId: "sale-adm",
        sku: "FS-ADM",
        warehouseId: "w-blr",
        quantity: 5,
        price: 49_900,
        startsAt: new Date(now - 60_000).toISOString(),
        endsAt: new Date(now + 600_000).toISOString(),
        perCustomerLimit: 2,
        holdTtlMs: 300_000,
      },
    });
    expect(sale.status, sale.text).toBe(201);

    // Nobody runs the saga or the projectors any more; the log grows: the pipeline falls behind.
    await app.built.ownership.stop();
    for (let i = 0; i < 12; i++) {
      const r = await app.request("POST", "/api/inventory/FS-ADM/receipts", { token: admin, body: { warehouseId: `w-${i}`, quantity: 1 } });
      expect(r.status).toBe(201);
    }
    await eventually(
      async () => (await app.request("GET", "/health/ready")).body?.dependencies?.admission?.open === false,
      30_000,
      "the gate to close",
    );

    const claim = await app.request("POST", "/api/flash-sales/sale-adm/claims", { token: buyer, body: { quantity: 1 } });
    expect(claim.status, claim.text).toBe(201);
    const order = {
      items: [{ sku: "FS-ADM", quantity: 1 }],
      shippingAddress: address,
      paymentMethod: "UPI",
      flashSaleClaimId: claim.body.claimId,
    };
    const before = await app.eventCount();
    const refused = await app.request("POST", "/api/orders", { token: buyer, body: order });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("content-type")).toContain("application/problem+json");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(await app.eventCount()).toBe(before);
    // The hold covers the wait: it ends long after the Retry-After.
    expect(Date.parse(claim.body.expiresAt) - Date.now()).toBeGreaterThan(Number(refused.headers.get("retry-after")) * 1000);

    const head = await app.built.store.headCheckpoint();
    for (const p of [...app.built.saga.partitions, ...app.built.projections.projectors]) await saveCheckpoint(app.built.sql, p.name, head);
    await eventually(
      async () => (await app.request("GET", "/health/ready")).body?.dependencies?.admission?.open === true,
      30_000,
      "the gate to open",
    );
    const placed = await app.request("POST", "/api/orders", { token: buyer, body: order });
    expect(placed.status, placed.text).toBe(202);
  }, 90_000);
});
