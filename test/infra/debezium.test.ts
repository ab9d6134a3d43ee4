// Smoke test of the transactional outbox path: rows inserted into `outbox` in a throwaway database
// are captured by Debezium (through the real Connect worker, with our connector file and our
// register function) and routed by aggregate type to one Kafka topic each, read with kafkajs.

import { randomBytes, randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { Kafka, logLevel, type Admin, type Consumer, type KafkaMessage } from "kafkajs";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deleteConnector, loadConnectorFile, registerConnector, withDatabaseUrl } from "../../infra/debezium/register.js";
import { missing, server } from "../support/env.js";

const brokers = server("KAFKA_BROKERS");
const connect = server("KAFKA_CONNECT_URL");
const database = server("DATABASE_URL");

const CONNECTOR_FILE = fileURLToPath(new URL("../../infra/debezium/outbox-connector.json", import.meta.url));

// The table shape the app writes its outbox events to.
const OUTBOX_DDL = `
  CREATE TABLE outbox (
    id uuid PRIMARY KEY,
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    type text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
  )`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The same server as `url`, another database. */
function onDatabase(url: string, dbname: string): string {
  const u = new URL(url);
  u.pathname = `/${dbname}`;
  return u.toString();
}

/** What Debezium's JSON expansion makes of a payload: object fields holding [] disappear. */
function withoutEmptyArrays(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutEmptyArrays);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => !(Array.isArray(v) && v.length === 0))
      .map(([k, v]) => [k, withoutEmptyArrays(v)]),
  );
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

describe.skipIf(missing(brokers, connect, database))("Debezium outbox smoke", () => {
  const runId = `${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
  const dbName = `smoke_outbox_${runId}`;
  const slotName = `smoke_outbox_${runId}`; // slot and publication names: [a-z0-9_] only
  const connectorName = `smoke-outbox-${runId}`;
  const groupId = `smoke-outbox-${runId}`;
  const topicPrefix = `smoke_${runId}`;
  const topicOf = (aggregateType: string) => `${topicPrefix}.${aggregateType}.events`;
  const serverUrl = database.value ?? "";
  // Set in beforeAll: the body of a skipped describe still runs, without DATABASE_URL.
  let dbUrl = "";
  const connectUrl = connect.value ?? "";

  const kafka = new Kafka({ clientId: `smoke-${runId}`, brokers: (brokers.value ?? "").split(","), logLevel: logLevel.WARN });
  let admin: Admin | undefined;
  let consumer: Consumer | undefined;
  let created = false;

  beforeAll(async () => {
    dbUrl = onDatabase(serverUrl, dbName);
    // Where Connect reaches the database, when not where the tests do (e.g. inside compose).
    const connectDbUrl = onDatabase(process.env.DEBEZIUM_DATABASE_URL || serverUrl, dbName);
    await withClient(serverUrl, (c) => c.query(`CREATE DATABASE ${dbName}`));
    created = true;
    await withClient(dbUrl, (c) => c.query(OUTBOX_DDL));

    admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: ["order", "payment"].map((t) => ({ topic: topicOf(t) })), waitForLeaders: true });

    const file = await loadConnectorFile(CONNECTOR_FILE);
    const config = {
      ...withDatabaseUrl(file.config, connectDbUrl),
      "slot.name": slotName,
      "publication.name": slotName,
      "topic.prefix": topicPrefix,
      "transforms.outbox.route.topic.replacement": `${topicPrefix}.\${routedByValue}.events`,
    };
    await registerConnector({ connectUrl, name: connectorName, config, timeoutMs: 90_000 });

    // The task creates the slot while starting; changes after that point are never lost.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { rowCount } = await withClient(serverUrl, (c) => c.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", [slotName]));
      if (rowCount) break;
      if (Date.now() > deadline) throw new Error(`replication slot ${slotName} never appeared`);
      await sleep(250);
    }
  });

  afterAll(async () => {
    await consumer?.disconnect().catch(() => {});
    await deleteConnector({ connectUrl, name: connectorName }).catch((e: unknown) => console.warn(e));
    // A slot keeps WAL forever, and a database with one cannot be dropped: remove it once the
    // stopped task has released it.
    await withClient(serverUrl, async (c) => {
      for (let i = 0; i < 60; i++) {
        const { rows } = await c.query<{ active: boolean; active_pid: number | null }>(
          "SELECT active, active_pid FROM pg_replication_slots WHERE slot_name = $1",
          [slotName],
        );
        if (rows.length === 0) break;
        if (!rows[0]?.active) {
          await c.query("SELECT pg_drop_replication_slot($1)", [slotName]);
          break;
        }
        if (i === 40) await c.query("SELECT pg_terminate_backend($1)", [rows[0].active_pid]);
        await sleep(500);
      }
      if (created) await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    });
    if (admin) {
      await admin.deleteGroups([groupId]).catch(() => {});
      await admin.deleteTopics({ topics: ["order", "payment"].map(topicOf) }).catch(() => {});
      await admin.disconnect();
    }
  });

  it("routes outbox rows of one transaction to a topic per aggregate type", async () => {
    const rows = [
      { aggregate_type: "order", aggregate_id: "order-1", type: "OrderPlaced", payload: { orderId: "order-1", total: 2599, items: [{ sku: "sku-1", qty: 2 }] } },
      { aggregate_type: "payment", aggregate_id: "pay-1", type: "PaymentAuthorized", payload: { paymentId: "pay-1", orderId: "order-1", amount: 2599 } },
      { aggregate_type: "order", aggregate_id: "order-1", type: "OrderConfirmed", payload: { orderId: "order-1" } },
      { aggregate_type: "order", aggregate_id: "order-2", type: "OrderPlaced", payload: { orderId: "order-2", total: 10, items: [], coupon: null } },
      { aggregate_type: "payment", aggregate_id: "pay-2", type: "PaymentDeclined", payload: { paymentId: "pay-2", reason: "insufficient funds" } },
    ].map((r) => ({ id: randomUUID(), ...r }));

    await withClient(dbUrl, async (c) => {
      await c.query("BEGIN");
      for (const r of rows) {
        await c.query("INSERT INTO outbox (id, aggregate_type, aggregate_id, type, payload) VALUES ($1, $2, $3, $4, $5)", [
          r.id,
          r.aggregate_type,
          r.aggregate_id,
          r.type,
          JSON.stringify(r.payload),
        ]);
      }
      await c.query("COMMIT");
    });

    const received: { topic: string; message: KafkaMessage }[] = [];
    consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
    await consumer.connect();
    await consumer.subscribe({ topics: ["order", "payment"].map(topicOf), fromBeginning: true });
    await consumer.run({ eachMessage: async ({ topic, message }) => void received.push({ topic, message }) });

    const deadline = Date.now() + 60_000;
    while (received.length < rows.length && Date.now() < deadline) await sleep(200);
    expect(received).toHaveLength(rows.length);

    for (const type of ["order", "payment"]) {
      const expected = rows.filter((r) => r.aggregate_type === type);
      // One partition per topic here, so each topic keeps the commit order.
      const got = received.filter((m) => m.topic === topicOf(type)).map((m) => m.message);
      expect(got.map((m) => m.key?.toString())).toEqual(expected.map((r) => r.aggregate_id));
      expect(got.map((m) => m.headers?.id?.toString())).toEqual(expected.map((r) => r.id));
      expect(got.map((m) => m.headers?.eventType?.toString())).toEqual(expected.map((r) => r.type));
      // table.expand.json.payload: the jsonb column arrives as the message's JSON body, nulls
      // kept (json.payload.null.behavior), but empty arrays dropped: Debezium infers a Connect
      // schema from the JSON and cannot type an empty array. Consumers must read a missing
      // array as empty.
      expect(got.map((m) => JSON.parse(m.value?.toString() ?? "null"))).toEqual(expected.map((r) => withoutEmptyArrays(r.payload)));
      for (const m of got) expect(Number.isNaN(Date.parse(m.headers?.createdAt?.toString() ?? ""))).toBe(false);
    }
  }, 120_000);
});
