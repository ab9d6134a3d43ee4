// Smoke test of the outbox connector file itself (infra/debezium/outbox-connector.json, through
// our register function and the real Connect worker): rows written by the app's outbox code in
// "capture" mode (inserted and deleted in one transaction) reach Kafka routed by aggregate type,
// keyed, with the payload's bytes unchanged ([] and null included, which Debezium's JSON
// expansion would have dropped), and the table stays empty. The connector's heartbeat writes
// outbox_heartbeat, so the slot's position moves even when no events flow.

import { randomUUID } from "node:crypto";
import { Kafka, logLevel } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPgClient } from "../../src/infrastructure/sql/pg-client.js";
import type { SqlClient } from "../../src/infrastructure/sql/sql-client.js";
import { topicOf } from "../../src/integration/catalog.js";
import { payloadBytes, type IntegrationEvent } from "../../src/integration/envelope.js";
import { OUTBOX_DDL, writeOutbox } from "../../src/integration/outbox.js";
import { removeOutboxConnector, replicationSlotLag, slotNameOf, startDebeziumTransport } from "../../src/integration/transport/debezium.js";
import { collect, createTopics, runId, sleep } from "../integration/kafka-support.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { missing, server } from "../support/env.js";

const brokers = server("KAFKA_BROKERS");
const connect = server("KAFKA_CONNECT_URL");
const database = server("DATABASE_URL");

describe.skipIf(missing(brokers, connect, database))("Debezium outbox connector smoke", () => {
  const run = runId();
  const namespace = `smoke_${run}`;
  const connectorName = `smoke-outbox-${run}`;
  const kafka = new Kafka({ clientId: `smoke-${run}`, brokers: (brokers.value ?? "").split(","), logLevel: logLevel.NOTHING });
  let db: TestDatabase | undefined;
  let sql: SqlClient | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    sql = createPgClient({ connectionString: db.url, max: 4 });
    await sql.exec(OUTBOX_DDL);
    const admin = kafka.admin();
    await admin.connect();
    await createTopics(
      admin,
      ["order", "payment"].map((t) => topicOf(t, namespace)),
      1,
    );
    await admin.disconnect();
    const transport = startDebeziumTransport({
      connectUrl: connect.value ?? "",
      name: connectorName,
      databaseUrl: db.url,
      namespace,
      sql,
      overrides: { "heartbeat.interval.ms": "1000" },
    });
    await transport.registered;
    const deadline = Date.now() + 60_000;
    while ((await replicationSlotLag(sql)).every((s) => s.slot !== slotNameOf(connectorName))) {
      if (Date.now() > deadline) throw new Error("no replication slot");
      await sleep(250);
    }
  });

  afterAll(async () => {
    if (sql)
      await removeOutboxConnector({ connectUrl: connect.value ?? "", name: connectorName, sql }).catch((e: unknown) => console.warn(e));
    await sql?.close();
    await db?.drop();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: ["order", "payment"].map((t) => topicOf(t, namespace)) }).catch(() => undefined);
    await admin.disconnect();
  });

  it("routes rows to a topic per aggregate type, keyed, with payload bytes unchanged, and keeps the table empty", async () => {
    const event = (aggregateType: "order" | "payment", key: string, payload: unknown): IntegrationEvent => ({
      id: randomUUID(),
      type: `test.${aggregateType}.v1`,
      source: `/test/${aggregateType}`,
      time: new Date().toISOString(),
      aggregateType,
      key,
      payload,
      correlationId: "c-1",
      causationId: randomUUID(),
      traceparent: `00-${"1".repeat(32)}-${"2".repeat(16)}-01`,
    });
    const events = [
      event("order", "order-1", { orderId: "order-1", items: [], coupon: null, nested: { tags: [], note: null }, text: "₹ ünïcode" }),
      event("payment", "order-1", { paymentId: "pay-1", amount: 2599, refunds: [] }),
      event("order", "order-2", { orderId: "order-2", items: [{ sku: "s", qty: 1 }], coupon: null }),
    ];
    await sql!.transaction((tx) => writeOutbox(tx, events, "capture"));
    const { rows } = await sql!.query<{ n: number }>("SELECT count(*)::int AS n FROM outbox");
    expect(rows[0]?.n).toBe(0);

    const seen = await collect(
      kafka,
      ["order", "payment"].map((t) => topicOf(t, namespace)),
      (s) => s.length >= events.length,
      60_000,
    );
    expect(seen).toHaveLength(events.length);
    for (const e of events) {
      const r = seen.find((s) => s.headers.ce_id === e.id);
      expect(r?.topic).toBe(topicOf(e.aggregateType, namespace));
      expect(r?.key).toBe(e.key);
      expect(r?.value.equals(payloadBytes(e.payload))).toBe(true);
      expect(JSON.parse(r!.value.toString("utf8"))).toEqual(e.payload);
      expect(r?.headers.ce_type).toBe(e.type);
    }
  }, 120_000);

  it("the heartbeat writes outbox_heartbeat, and the slot's lag is readable", async () => {
    const beat = async () => (await sql!.query<{ t: string }>("SELECT beat_at::text AS t FROM outbox_heartbeat WHERE id = 1")).rows[0]?.t;
    const first = await beat();
    const deadline = Date.now() + 30_000;
    while ((await beat()) === first) {
      if (Date.now() > deadline) throw new Error("no heartbeat in 30 s");
      await sleep(500);
    }
    const slot = (await replicationSlotLag(sql!)).find((s) => s.slot === slotNameOf(connectorName));
    expect(slot?.active).toBe(true);
    expect(slot?.lagBytes).toBeGreaterThanOrEqual(0);
  }, 60_000);
});
