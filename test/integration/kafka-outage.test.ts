// Kafka unavailable for 30 s, on a broker of the test's own (the shared one stays up for
// everyone else): the app (PostgreSQL, in-process relay) keeps taking orders throughout, the
// outbox grows while the broker is down, then drains once it is back, and every order's events
// reach Kafka and the notifications consumer. Also the routes of the integration events.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Parser } from "@asyncapi/parser";
import { topicOf } from "../../src/integration/catalog.js";
import { address, createStorage, eventually, seedProduct, startApp, type Storage, type TestApp } from "../api/harness.js";
import { missing, server } from "../support/env.js";
import { collect, kafkaOf, runId, sleep } from "./kafka-support.js";
import { ownKafkaBroker, ownServersAvailable, type OwnProcess } from "./own-servers.js";

const database = server("DATABASE_URL");
const brokers = server("KAFKA_BROKERS");

describe.skipIf(missing(database, brokers))("Kafka stopped for 30 s", () => {
  const namespace = `t_out_${runId()}`;
  let broker: OwnProcess;
  let storage: Storage;
  let app: TestApp;
  const backlog = async () => (await app.built.sql.query<{ n: number }>("SELECT count(*)::int AS n FROM outbox")).rows[0]!.n;

  beforeAll(async () => {
    if (!ownServersAvailable()) throw new Error("infra/local/.work has no Kafka jars: run npm run infra:up first");
    broker = await ownKafkaBroker();
    await broker.start();
    storage = await createStorage("postgres");
    app = await startApp(storage, {
      KAFKA_BROKERS: broker.address,
      KAFKA_NAMESPACE: namespace,
      KAFKA_CONSUMERS: "notifications,analytics",
      // What is under test is Kafka's absence; the admission gate refuses orders when the order
      // pipeline (saga, read models) lags on a starved machine, which says nothing about Kafka.
      ADMISSION_MAX_LAG_SECONDS: "0",
      ADMISSION_MAX_LAG_EVENTS: "0",
    });
  }, 180_000);

  afterAll(async () => {
    await app?.close();
    await storage?.dispose();
    await broker?.dispose();
  });

  it("serves the AsyncAPI document, and guards notifications and analytics by role", async () => {
    const doc = await app.request("GET", "/docs/asyncapi.json");
    expect(doc.status).toBe(200);
    const { diagnostics } = await new Parser().parse(doc.text);
    expect(diagnostics.filter((d) => d.severity === 0)).toEqual([]);
    expect((await app.request("GET", "/api/me/notifications")).status).toBe(401);
    const customer = await app.token("customer", "c-out");
    expect((await app.request("GET", "/api/analytics/sales", { token: customer })).status).toBe(403);
    const analyst = await app.token("analyst", "an-1");
    const bad = await app.request("GET", "/api/analytics/sales?granularity=week", { token: analyst });
    expect(bad.status).toBe(400);
    expect(bad.headers.get("content-type")).toMatch(/application\/problem\+json/);
    const backwards = await app.request("GET", "/api/analytics/sales?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", {
      token: analyst,
    });
    expect(backwards.status).toBe(400);
    expect(backwards.body.field).toBe("from");
    const docs = await app.request("GET", "/docs/json");
    expect(Object.keys(docs.body.paths)).toEqual(
      expect.arrayContaining(["/api/me/notifications", "/api/analytics/sales", "/docs/asyncapi.json"]),
    );
    expect(docs.body.paths["/api/analytics/sales"].get.responses["200"]).toBeDefined();
  });

  it("takes orders while Kafka is down; the outbox grows, then drains; nothing is lost", async () => {
    const sku = `OUT-${runId()}`;
    await seedProduct(app, sku, 10_000, 500);
    const customer = await app.token("customer", "c-out");
    const orderIds: string[] = [];
    const place = async () => {
      const res = await app.request("POST", "/api/orders", {
        token: customer,
        body: { items: [{ sku, quantity: 1 }], paymentMethod: "COD", shippingAddress: address },
      });
      expect(res.status, res.text).toBe(202);
      orderIds.push(res.body.orderId as string);
    };
    for (let i = 0; i < 3; i++) await place();
    await eventually(
      async () =>
        (await backlog()) === 0 && (await app.request("GET", "/api/me/notifications", { token: customer })).body.items.length >= 6,
      60_000,
      "the first orders' notifications",
    );

    await broker.kill();
    const sizes: number[] = [];
    const downUntil = Date.now() + 30_000;
    while (Date.now() < downUntil) {
      await place();
      sizes.push(await backlog());
      await sleep(1_000);
    }
    // Orders kept coming (one a second) and their events piled up in the outbox.
    expect(orderIds.length).toBeGreaterThanOrEqual(3 + 25);
    expect(sizes.at(-1)!).toBeGreaterThan(sizes[2]!);
    expect(Math.max(...sizes)).toBeGreaterThanOrEqual(25);
    const ready = await app.request("GET", "/health/ready");
    expect(ready.status).toBe(503);

    await broker.start();
    await eventually(async () => (await backlog()) === 0, 120_000, "the outbox to drain");
    const placed = await collect(
      kafkaOf(broker.address),
      [topicOf("order", namespace)],
      (s) => orderIds.every((id) => s.some((r) => r.key === id && r.headers.ce_type === "commerce.order.placed.v1")),
      90_000,
    );
    for (const id of orderIds) {
      const mine = placed.filter((r) => r.key === id).map((r) => r.headers.ce_type);
      expect(mine.slice(0, 2)).toEqual(["commerce.order.placed.v1", "commerce.order.confirmed.v1"]);
    }
    // Every order's confirmation reached the customer (email and SMS), once.
    const items = await eventually(
      async () => {
        const list = (await app.request("GET", "/api/me/notifications", { token: customer })).body.items as {
          orderId: string;
          template: string;
        }[];
        return list.length >= orderIds.length * 2 ? list : undefined;
      },
      90_000,
      "a confirmation for every order",
    );
    expect(items.filter((m) => m.template === "order_confirmed")).toHaveLength(orderIds.length * 2);
    expect(new Set(items.map((m) => m.orderId))).toEqual(new Set(orderIds));
    const analyst = await app.token("analyst", "an-1");
    const sales = await app.request("GET", `/api/analytics/sales?granularity=hour&from=${new Date(Date.now() - 3600_000).toISOString()}`, {
      token: analyst,
    });
    expect(sales.status).toBe(200);
    expect(sales.body.buckets.reduce((n: number, b: { orders: number }) => n + b.orders, 0)).toBe(orderIds.length);
  }, 300_000);
});
