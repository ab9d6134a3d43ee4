// API-only and worker-only instances on one PostgreSQL database (ROLES), and rate limits shared
// through Redis. The worker runs every unit of work and serves no shop routes; the API instance
// runs none, and its read-your-writes (?waitFor=) waits on the checkpoints the worker stores.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStorage, startApp, type Storage, type TestApp } from "../api/harness.js";
import { address } from "../api/harness.js";
import { missing, server } from "../support/env.js";

const postgres = server("DATABASE_URL");
const redis = server("REDIS_URL");

describe.skipIf(missing(postgres))("an API-only and a worker-only instance on one database", () => {
  let storage: Storage;
  let worker: TestApp;
  let api: TestApp;

  beforeAll(async () => {
    storage = await createStorage("postgres");
    worker = await startApp(storage, { ROLES: "processors", INSTANCE_ID: "worker-1" });
    api = await startApp(storage, { ROLES: "api", INSTANCE_ID: "api-1" });
  });
  afterAll(async () => {
    await api?.close();
    await worker?.close();
    await storage?.dispose();
  });

  it("the worker runs every unit and serves no shop routes; the API instance runs none; both show in /api/ops/instances", async () => {
    const admin = await api.token("admin");
    expect((await worker.request("GET", "/api/orders", { token: admin })).status).toBe(404);
    expect((await worker.request("GET", "/health/ready")).status).toBe(200);
    expect((await api.request("GET", "/health/ready")).status).toBe(200);
    const view = await api.request("GET", "/api/ops/instances", { token: admin });
    expect(view.status).toBe(200);
    const byId = Object.fromEntries(
      (view.body.instances as { instanceId: string; roles: string[]; owns: string[]; live: boolean; self: boolean }[]).map((i) => [
        i.instanceId,
        i,
      ]),
    );
    expect(byId["api-1"]).toMatchObject({ roles: ["api"], owns: [], live: true, self: true });
    expect(byId["worker-1"]).toMatchObject({ roles: ["processors"], live: true, self: false });
    const units = (view.body.leases as { unit: string }[]).map((l) => l.unit);
    expect(units).toEqual(expect.arrayContaining(["deadline-scheduler", "projections/orders", "order-saga/p0of4", "order-saga/p3of4"]));
    expect([...byId["worker-1"]!.owns].sort()).toEqual([...units].sort());
    expect(api.built.ownership.owned()).toEqual([]);
    // The worker's registry route is there too, with its roles checked.
    expect((await worker.request("GET", "/api/ops/instances", { token: admin })).status).toBe(200);
    expect((await worker.request("GET", "/api/ops/instances", { token: await api.token("customer", "c-1") })).status).toBe(403);
    expect((await worker.request("GET", "/api/ops/instances")).status).toBe(401);
  });

  it("an order placed on the API instance is read back there with ?waitFor=, processed by the worker's saga", async () => {
    const admin = await api.token("admin");
    expect(
      (await api.request("POST", "/api/products", { token: admin, body: { sku: "ROLE-1", name: "r", category: ["R"], price: 700 } }))
        .status,
    ).toBe(201);
    const receipt = await api.request("POST", "/api/inventory/ROLE-1/receipts", {
      token: admin,
      body: { warehouseId: "w-1", quantity: 5 },
    });
    expect(receipt.status).toBe(201);
    const me = await api.token("customer", "role-c");
    const placed = await api.request("POST", "/api/orders", {
      token: me,
      body: { items: [{ sku: "ROLE-1", quantity: 2 }], shippingAddress: address, paymentMethod: "UPI" },
    });
    expect(placed.status).toBe(202);
    const position = placed.body.position as string;
    const list = await api.request("GET", `/api/orders?waitFor=${encodeURIComponent(position)}`, { token: me });
    expect(list.status).toBe(200);
    expect(list.body.items.map((o: { orderId: string }) => o.orderId)).toContain(placed.body.orderId);
    // The saga (on the worker) reserves the stock and starts the payment.
    for (let i = 0; ; i++) {
      const order = await api.request("GET", `/api/orders/${placed.body.orderId}`, { token: me });
      if (order.body.status === "PAYMENT_PENDING") break;
      if (i > 100) throw new Error(`order still ${order.body.status}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });
});

describe.skipIf(missing(postgres, redis))("rate limits shared through Redis", () => {
  let storage: Storage;
  const apps: TestApp[] = [];
  beforeAll(async () => {
    storage = await createStorage("postgres");
    apps.push(await startApp(storage, { INSTANCE_ID: "rl-1", RATE_LIMIT_PER_MINUTE: "4", REDIS_URL: redis.value! }));
    apps.push(await startApp(storage, { INSTANCE_ID: "rl-2", RATE_LIMIT_PER_MINUTE: "4", REDIS_URL: redis.value!, ROLES: "api" }));
  });
  afterAll(async () => {
    for (const app of apps.reverse()) await app.close();
    await storage?.dispose();
  });

  it("one caller's requests count once across instances: the fifth, on either instance, is 429 with Retry-After", async () => {
    const [one, two] = apps as [TestApp, TestApp];
    const caller = await one.token("customer", `rl-${Date.now()}-${Math.random().toString(36).slice(2)}`);
    const statuses: number[] = [];
    for (const app of [one, two, one, two]) statuses.push((await app.request("GET", "/api/cart", { token: caller })).status);
    expect(statuses).toEqual([200, 200, 200, 200]);
    const over = await two.request("GET", "/api/cart", { token: caller });
    expect(over.status).toBe(429);
    expect(over.headers.get("retry-after")).toBeTruthy();
    expect(over.headers.get("content-type")).toContain("application/problem+json");
    expect((await one.request("GET", "/api/cart", { token: caller })).status).toBe(429);
  });
});
