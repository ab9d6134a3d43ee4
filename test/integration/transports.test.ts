// One contract for both transports: the same domain events, translated on PostgreSQL and
// published by Debezium (through the real Connect worker), and translated on embedded PGlite and
// published by the in-process relay, land on Kafka as identical records: same key, same
// partition, same value bytes, same headers. Each path alone also keeps each order's events in
// order on its key, and the bytes are the stored payload ([] and null included).

import type { Kafka } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { payloadErrors, topicOf } from "../../src/integration/catalog.js";
import { startDebeziumTransport, removeOutboxConnector, slotNameOf } from "../../src/integration/transport/debezium.js";
import { startRelay, type RunningRelay } from "../../src/integration/transport/relay.js";
import { translatorDefinition, migrateIntegration } from "../../src/integration/translator.js";
import { startProcessor, type RunningProcessor } from "../../src/processing/processor.js";
import { missing, server } from "../support/env.js";
import { openPgliteWorld, type StoreWorld } from "../support/stores.js";
import { openPostgresUrlWorld } from "./worlds.js";
import { appendScript, expectedOrderTypes, shopScript } from "./fixtures.js";
import { collect, createTopics, kafkaOf, runId, type SeenRecord } from "./kafka-support.js";

const brokers = server("KAFKA_BROKERS");
const connect = server("KAFKA_CONNECT_URL");
const database = server("DATABASE_URL");

const ORDERS = 9;
const AGGREGATES = ["order", "payment", "inventory", "product"] as const;
// Per order: its order-topic events, 1 capture, 1 refund outcome; plus 1 low-stock and 1 price change.
const expectedCount = Array.from({ length: ORDERS }, (_, i) => expectedOrderTypes(i).length + 2).reduce((a, b) => a + b, 0) + 2;

interface PathResult {
  records: SeenRecord[];
}

describe.skipIf(missing(brokers, connect, database))("integration event transports (Debezium and relay) publish identical records", () => {
  const run = runId();
  const script = shopScript(run, ORDERS);
  const kafka: Kafka = kafkaOf(brokers.value ?? "");
  const namespaces = { debezium: `t_dbz_${run}`, relay: `t_rel_${run}` };
  const connectorName = `test-outbox-${run}`;
  const worlds: StoreWorld[] = [];
  const processors: RunningProcessor[] = [];
  let relay: RunningRelay | undefined;
  let pgWorld: StoreWorld | undefined;
  const results: Partial<Record<"debezium" | "relay", PathResult>> = {};

  beforeAll(async () => {
    const admin = kafka.admin();
    await admin.connect();
    await createTopics(admin, [
      ...AGGREGATES.map((a) => topicOf(a, namespaces.debezium)),
      ...AGGREGATES.map((a) => topicOf(a, namespaces.relay)),
    ]);
    await admin.disconnect();
  });

  afterAll(async () => {
    await relay?.stop();
    for (const p of processors) await p.stop().catch(() => undefined);
    if (pgWorld)
      await removeOutboxConnector({ connectUrl: connect.value ?? "", name: connectorName, sql: pgWorld.sql }).catch((e: unknown) =>
        console.warn(e),
      );
    for (const w of worlds) await w.close().catch(() => undefined);
    const admin = kafka.admin();
    await admin.connect();
    await admin
      .deleteTopics({
        topics: [...AGGREGATES.map((a) => topicOf(a, namespaces.debezium)), ...AGGREGATES.map((a) => topicOf(a, namespaces.relay))],
      })
      .catch(() => undefined);
    await admin.disconnect();
  });

  const topicsOf = (ns: string) => AGGREGATES.map((a) => topicOf(a, ns));

  it("Debezium path: PostgreSQL, outbox rows captured from the WAL, the table stays empty", async () => {
    const world = await openPostgresUrlWorld();
    pgWorld = world;
    worlds.push(world);
    await migrateIntegration(pgWorld.sql);
    const transport = startDebeziumTransport({
      connectUrl: connect.value ?? "",
      name: connectorName,
      databaseUrl: world.url,
      namespace: namespaces.debezium,
      sql: pgWorld.sql,
    });
    await transport.registered;
    await waitForSlot(pgWorld, slotNameOf(connectorName));
    processors.push(await startProcessor(translatorDefinition({ mode: transport.outboxMode }), { store: pgWorld.store, sql: pgWorld.sql }));
    const head = await appendScript(pgWorld.store, script);
    await processors.at(-1)!.caughtUpTo(head, 60_000);
    const { rows } = await pgWorld.sql.query<{ n: number }>("SELECT count(*)::int AS n FROM outbox");
    expect(rows[0]?.n).toBe(0);
    results.debezium = { records: await collect(kafka, topicsOf(namespaces.debezium), (s) => s.length >= expectedCount) };
    expect(results.debezium.records).toHaveLength(expectedCount);
    expect((await transport.status()).state).toBe("RUNNING");
  }, 240_000);

  it("relay path: embedded PGlite, the in-process kafkajs relay drains the outbox", async () => {
    const world = await openPgliteWorld();
    worlds.push(world);
    await migrateIntegration(world.sql);
    relay = startRelay({ sql: world.sql, brokers: (brokers.value ?? "").split(","), namespace: namespaces.relay });
    processors.push(await startProcessor(translatorDefinition({ mode: relay.outboxMode }), { store: world.store, sql: world.sql }));
    const head = await appendScript(world.store, script);
    await processors.at(-1)!.caughtUpTo(head, 60_000);
    await relay.drained(60_000);
    results.relay = { records: await collect(kafka, topicsOf(namespaces.relay), (s) => s.length >= expectedCount) };
    expect(results.relay.records).toHaveLength(expectedCount);
  }, 240_000);

  for (const path of ["debezium", "relay"] as const) {
    it(`${path}: each order's events arrive in order on its key, valid against their schemas, with CloudEvents headers`, () => {
      const records = results[path]?.records ?? [];
      expect(records.length).toBe(expectedCount);
      const ns = namespaces[path];
      for (const [i, orderId] of script.orderIds.entries()) {
        const onKey = records
          .filter((r) => r.topic === topicOf("order", ns) && r.key === orderId)
          .sort((a, b) => Number(a.offset) - Number(b.offset));
        expect(new Set(onKey.map((r) => r.partition)).size).toBe(1);
        expect(onKey.map((r) => r.headers.ce_type)).toEqual(expectedOrderTypes(i));
        const payments = records
          .filter((r) => r.topic === topicOf("payment", ns) && r.key === orderId)
          .sort((a, b) => Number(a.offset) - Number(b.offset));
        expect(payments.map((r) => r.headers.ce_type)).toEqual([
          "commerce.payment.captured.v1",
          i % 3 === 2 ? "commerce.payment.refund_failed.v1" : "commerce.payment.refund_processed.v1",
        ]);
      }
      const low = records.filter((r) => r.topic === topicOf("inventory", ns));
      expect(low.map((r) => [r.key, r.headers.ce_type, JSON.parse(r.value.toString()).available])).toEqual([
        [`PHONE-${run}`, "commerce.inventory.low_stock.v1", 2],
      ]);
      const price = records.filter((r) => r.topic === topicOf("product", ns));
      expect(price.map((r) => [r.key, r.headers.ce_type])).toEqual([[`PHONE-${run}`, "commerce.product.price_changed.v1"]]);

      for (const r of records) {
        expect(Object.keys(r.headers).sort()).toEqual([
          "causationid",
          "ce_id",
          "ce_source",
          "ce_specversion",
          "ce_time",
          "ce_type",
          "content-type",
          "correlationid",
          "id",
          "traceparent",
        ]);
        expect(r.headers.ce_specversion).toBe("1.0");
        expect(r.headers["content-type"]).toBe("application/json");
        expect(r.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
        expect(r.headers.id).toBe(r.headers.ce_id);
        const payload = JSON.parse(r.value.toString("utf8")) as unknown;
        expect(payloadErrors(r.headers.ce_type ?? "", payload)).toEqual([]);
      }
      // [] and null arrive as stored: the unknown SKU's category, the absent coupon and line2.
      const placed = JSON.parse(records.find((r) => r.headers.ce_type === "commerce.order.placed.v1")!.value.toString()) as {
        items: { category: string[] }[];
        couponCode: null;
        shippingAddress: { line2: null };
      };
      expect(placed.items.map((i) => i.category)).toEqual([["Electronics", "Mobiles"], []]);
      expect(placed.couponCode).toBeNull();
      expect(placed.shippingAddress.line2).toBeNull();
      // Internal fields never leave: payment URLs, gateway ids, notes.
      const all = records.map((r) => r.value.toString()).join("\n");
      expect(all).not.toMatch(/paymentUrl|gatewayEventId|internal note|internal\/pay/);
    });
  }

  it("both transports produce identical keys, partitions, value bytes and headers", () => {
    const normal = (path: "debezium" | "relay") =>
      (results[path]?.records ?? [])
        .map((r) => ({
          topic: r.topic.replace(namespaces[path], "NS"),
          partition: r.partition,
          key: r.key,
          value: r.value.toString("base64"),
          headers: r.headers,
        }))
        .sort((a, b) => (a.headers.ce_id ?? "").localeCompare(b.headers.ce_id ?? ""));
    const dbz = normal("debezium");
    expect(dbz).toHaveLength(expectedCount);
    expect(normal("relay")).toEqual(dbz);
  });
});

async function waitForSlot(world: StoreWorld, slot: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { rows } = await world.sql.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", [slot]);
    if (rows.length) return;
    if (Date.now() > deadline) throw new Error(`slot ${slot} never appeared`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
