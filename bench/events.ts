// npm run bench:events [-- --orders 1500 --writers 8]
// Integration events from the domain event's commit to the consumer's inbox, via the in-process
// relay and via Debezium (when KAFKA_CONNECT_URL is set), beside the natural baseline measured in
// the same run: a raw kafkajs batch producer -> consumer of the same payloads and headers.
// Each order is one append of 4 domain events (placed, confirmed, shipped, delivered), which the
// translator turns into 4 integration events on the order topic. Latency is from the domain
// event's `at` (taken just before its append) to the inbox transaction of a minimal consumer.
// Needs DATABASE_URL and KAFKA_BROKERS; throwaway databases and topics are created and removed.
// The last line is one JSON object.

import { randomUUID } from "node:crypto";
import { Command } from "commander";
import { Kafka, logLevel } from "kafkajs";
import pg from "pg";
import { startConsumer, type ConsumerDefinition } from "../src/consumers/consumer.js";
import { openEventStore, type EventStore, type NewEvent } from "../src/eventstore/index.js";
import { createPgClient } from "../src/infrastructure/sql/pg-client.js";
import type { SqlClient } from "../src/infrastructure/sql/sql-client.js";
import { topicOf } from "../src/integration/catalog.js";
import { headersOf, payloadBytes } from "../src/integration/envelope.js";
import { migrateIntegration, translatorDefinition } from "../src/integration/translator.js";
import { removeOutboxConnector, slotNameOf, startDebeziumTransport } from "../src/integration/transport/debezium.js";
import type { IntegrationTransport } from "../src/integration/transport/port.js";
import { startRelay } from "../src/integration/transport/relay.js";
import { startProcessor } from "../src/processing/processor.js";
import { percentile, round } from "./support.js";

const opts = new Command()
  .option("--orders <n>", "orders per path", "1500")
  .option("--writers <n>", "concurrent appenders", "8")
  .parse()
  .opts<{ orders: string; writers: string }>();
const ORDERS = Number(opts.orders);
const WRITERS = Number(opts.writers);
const PER_ORDER = 4;
const serverUrl = process.env.DATABASE_URL;
const brokers = process.env.KAFKA_BROKERS?.split(",");
const connectUrl = process.env.KAFKA_CONNECT_URL;
if (!serverUrl || !brokers) {
  console.error("bench:events needs DATABASE_URL and KAFKA_BROKERS (and KAFKA_CONNECT_URL for the Debezium path)");
  process.exit(2);
}
const run = `${Date.now().toString(36)}`;
const kafka = new Kafka({ clientId: `bench-events-${run}`, brokers, logLevel: logLevel.NOTHING });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Figures {
  events: number;
  seconds: number;
  eventsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

const figures = (latencies: number[], seconds: number): Figures => {
  latencies.sort((a, b) => a - b);
  return {
    events: latencies.length,
    seconds: round(seconds, 2),
    eventsPerSecond: round(latencies.length / seconds),
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
  };
};

async function database(name: string): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(serverUrl!);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

function orderEvents(i: number): { streamId: string; events: NewEvent[] } {
  const orderId = `b-${run}-${i}`;
  const at = new Date().toISOString();
  const meta = { correlationId: `bench-${i}`, causationId: `bench-${i}`, actor: "bench" };
  const e = (type: string, data: Record<string, unknown>): NewEvent => ({
    id: randomUUID(),
    type,
    data: { orderId, ...data, at } as never,
    metadata: meta,
  });
  return {
    streamId: `order-${orderId}`,
    events: [
      e("OrderPlaced", {
        customerId: `c-${i % 50}`,
        lines: [{ sku: "BENCH-1", quantity: 1, unitPrice: 49_900 }],
        subtotal: 49_900,
        discountAmount: 0,
        totalAmount: 49_900,
        currency: "INR",
        paymentMethod: "COD",
        paymentRequired: false,
        shippingAddress: { name: "Asha", line1: "12 MG Road", city: "Bengaluru", state: "KA", pincode: "560001", phone: "+919800000001" },
      }),
      e("OrderConfirmed", { capturedAmount: 0 }),
      e("OrderShipped", { carrier: "BlueDart", trackingNumber: `BD${i}` }),
      e("OrderDelivered", {}),
    ],
  };
}

async function appendAll(store: EventStore): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      for (let i = next++; i < ORDERS; i = next++) {
        const s = orderEvents(i);
        await store.appendToStream(s.streamId, s.events, { expectedRevision: "no_stream" });
      }
    }),
  );
}

/** The pipeline: append -> translator -> outbox -> transport -> Kafka -> consumer inbox. */
async function pipeline(path: "relay" | "debezium"): Promise<Figures> {
  const db = await database(`bench_events_${path}_${run}`);
  const sql: SqlClient = createPgClient({ connectionString: db.url, max: 20 });
  const namespace = `bench_${path}_${run}`;
  const connectorName = `bench-outbox-${run}`;
  let transport: IntegrationTransport | undefined;
  try {
    const store = await openEventStore({ sql, pollIntervalMs: 10 });
    await migrateIntegration(sql);
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: topicOf("order", namespace), numPartitions: 3 }], waitForLeaders: true });
    await admin.disconnect();
    if (path === "relay") transport = startRelay({ sql, brokers: brokers!, namespace });
    else {
      const t = startDebeziumTransport({ connectUrl: connectUrl!, name: connectorName, databaseUrl: db.url, namespace, sql });
      await t.registered;
      while ((await sql.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", [slotNameOf(connectorName)])).rows.length === 0)
        await sleep(200);
      transport = t;
    }
    const translator = await startProcessor(translatorDefinition({ mode: transport.outboxMode }), { store, sql });
    const latencies: number[] = [];
    let last = 0;
    const bench: ConsumerDefinition = {
      name: "bench",
      aggregateTypes: ["order"],
      migrations: [],
      async handle(event) {
        last = Date.now();
        latencies.push(
          last - Date.parse(String(event.data.placedAt ?? event.data.confirmedAt ?? event.data.shippedAt ?? event.data.deliveredAt)),
        );
      },
    };
    const consumer = await startConsumer(bench, { sql, brokers: brokers!, namespace, groupId: `bench-${path}-${run}` });
    await consumer.joined;
    const t0 = Date.now();
    await appendAll(store);
    const appended = Date.now();
    await translator.caughtUpTo(await store.headCheckpoint(), 300_000);
    console.log(`  ${path}: appended in ${appended - t0} ms, translated by ${Date.now() - t0} ms`);
    const deadline = Date.now() + 300_000;
    while (latencies.length < ORDERS * PER_ORDER && Date.now() < deadline) await sleep(20);
    const result = figures(latencies, (last - t0) / 1000);
    await consumer.stop();
    await translator.stop();
    await transport.stop();
    return result;
  } finally {
    if (path === "debezium")
      await removeOutboxConnector({ connectUrl: connectUrl!, name: connectorName, sql }).catch((e: unknown) => console.error(e));
    await sql.close();
    await db.drop();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topicOf("order", namespace)] }).catch(() => undefined);
    await admin.disconnect();
  }
}

/** The baseline: the same records (payload bytes and headers) produced in batches of 500 and consumed. */
async function rawKafka(): Promise<Figures> {
  const topic = `bench_raw_${run}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
  const total = ORDERS * PER_ORDER;
  const latencies: number[] = [];
  let last = 0;
  const consumer = kafka.consumer({ groupId: `bench-raw-${run}` });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const joined = new Promise<void>((r) => consumer.on(consumer.events.GROUP_JOIN, () => r()));
  await consumer.run({
    eachBatch: async ({ batch }) => {
      const now = Date.now();
      for (const m of batch.messages) latencies.push(now - Number(m.headers?.sent_at?.toString()));
      last = now;
    },
  });
  await joined;
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const payload = payloadBytes({
    orderId: "o",
    customerId: "c",
    confirmedAt: new Date().toISOString(),
    totalAmount: 49_900,
    currency: "INR",
    paymentId: null,
  });
  const t0 = Date.now();
  for (let from = 0; from < total; from += 500) {
    const sentAt = String(Date.now());
    const messages = Array.from({ length: Math.min(500, total - from) }, (_, k) => ({
      key: `b-${(from + k) >> 2}`,
      value: payload,
      headers: {
        ...headersOf({
          id: randomUUID(),
          type: "commerce.order.confirmed.v1",
          source: "/commerce/order",
          time: new Date().toISOString(),
          correlationId: "c",
          causationId: "x",
          traceparent: `00-${"a".repeat(32)}-${"b".repeat(16)}-01`,
        }),
        sent_at: sentAt,
      },
    }));
    await producer.sendBatch({ acks: -1, topicMessages: [{ topic, messages }] });
  }
  const deadline = Date.now() + 120_000;
  while (latencies.length < total && Date.now() < deadline) await sleep(10);
  const result = figures(latencies, (last - t0) / 1000);
  await producer.disconnect();
  await consumer.disconnect();
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.deleteGroups([`bench-raw-${run}`]).catch(() => undefined);
  await admin.disconnect();
  return result;
}

const print = (name: string, f: Figures) =>
  console.log(
    `${name.padEnd(34)} ${String(f.events).padStart(6)} events  ${String(f.eventsPerSecond).padStart(8)} ev/s  p50 ${String(f.p50Ms).padStart(7)} ms  p99 ${String(f.p99Ms).padStart(7)} ms`,
  );

console.log(
  `bench:events: ${ORDERS} orders x ${PER_ORDER} integration events per path, ${WRITERS} writers (shared 2-core machine: figures are noisy)`,
);
const raw = await rawKafka();
print("raw kafkajs batch producer->consumer", raw);
const relay = await pipeline("relay");
print("relay (commit -> inbox)", relay);
const debezium = connectUrl ? await pipeline("debezium") : undefined;
if (debezium) print("debezium (commit -> inbox)", debezium);
else console.log("debezium: skipped (KAFKA_CONNECT_URL unset)");
const relayRatio = round(relay.eventsPerSecond / raw.eventsPerSecond, 2);
const debeziumRatio = debezium ? round(debezium.eventsPerSecond / raw.eventsPerSecond, 2) : null;
console.log(`ratio to raw kafkajs: relay ${relayRatio} (target >= 0.5)${debezium ? `, debezium ${debeziumRatio}` : ""}`);
console.log(
  JSON.stringify({
    orders: ORDERS,
    events: ORDERS * PER_ORDER,
    raw,
    relay,
    debezium: debezium ?? null,
    relayRatio,
    debeziumRatio,
    relayTargetMet: relayRatio >= 0.5,
  }),
);
process.exit(0);
