// npm run bench:events [-- --orders 1500 --writers 8 --rate 50 --seconds 5]
// Integration events from the domain event's commit to the consumer's inbox, via the in-process
// relay and via Debezium (when KAFKA_CONNECT_URL is set), beside the natural baseline measured in
// the same run: a raw kafkajs batch producer -> consumer of the same payloads and headers.
// Each order is one append of 4 domain events (placed, confirmed, shipped, delivered), which the
// translator turns into 4 integration events on the order topic; the consumer is the real one
// (startConsumer: inbox row per event in PostgreSQL).
// Two phases per path:
// - throughput: `--orders` orders are committed first (the append rate is the event store's,
//   bench:append's subject, and printed apart), then the translator starts and the clock runs
//   until the last integration event is in the consumer's inbox: events/s from commit to inbox.
//   The raw baseline's clock runs from its first send to its last receipt.
// - latency: with the path running, orders are appended at `--rate` per second for `--seconds`;
//   p50/p99 from each domain event's `at` (taken just before its append) to its inbox transaction.
//   The raw baseline sends each order's 4 records in one batch at the same rate.
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
import { outboxBell, ringingOnCommit } from "../src/integration/outbox-wake.js";
import { migrateIntegration, translatorDefinition } from "../src/integration/translator.js";
import { removeOutboxConnector, slotNameOf, startDebeziumTransport } from "../src/integration/transport/debezium.js";
import type { IntegrationTransport } from "../src/integration/transport/port.js";
import { startRelay } from "../src/integration/transport/relay.js";
import { startProcessor } from "../src/processing/processor.js";
import { percentile, round } from "./support.js";

const opts = new Command()
  .option("--orders <n>", "orders per path", "1500")
  .option("--writers <n>", "concurrent appenders", "8")
  .option("--rate <n>", "orders per second in the latency phase", "50")
  .option("--seconds <n>", "length of the latency phase", "5")
  .parse()
  .opts<{ orders: string; writers: string; rate: string; seconds: string }>();
const ORDERS = Number(opts.orders);
const WRITERS = Number(opts.writers);
const RATE = Number(opts.rate);
const LATENCY_ORDERS = Math.round(RATE * Number(opts.seconds));
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
  /** Throughput phase. */
  events: number;
  seconds: number;
  eventsPerSecond: number;
  /** Latency phase (paced at RATE orders/s). */
  latencyEvents: number;
  p50Ms: number;
  p99Ms: number;
}

const figures = (events: number, seconds: number, latencies: number[]): Figures => {
  latencies.sort((a, b) => a - b);
  return {
    events,
    seconds: round(seconds, 2),
    eventsPerSecond: round(events / seconds),
    latencyEvents: latencies.length,
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
  };
};

/** Runs `send(i)` for i < count at `perSecond`, on schedule (a slow one does not delay the next). */
async function paced(count: number, perSecond: number, send: (i: number) => Promise<void>): Promise<void> {
  const start = Date.now();
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const due = start + (i * 1000) / perSecond;
    if (due > Date.now()) await sleep(due - Date.now());
    inFlight.push(send(i));
  }
  await Promise.all(inFlight);
}

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

function orderEvents(i: number, phase: "t" | "l"): { streamId: string; events: NewEvent[] } {
  const orderId = `b-${run}-${phase}${i}`;
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
        const s = orderEvents(i, "t");
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
    // As src/integration/runtime.ts wires them: the translator's commits wake the relay.
    const bell = outboxBell();
    if (path === "relay") transport = startRelay({ sql, brokers: brokers!, namespace, bell });
    else {
      const t = startDebeziumTransport({ connectUrl: connectUrl!, name: connectorName, databaseUrl: db.url, namespace, sql });
      await t.registered;
      while ((await sql.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", [slotNameOf(connectorName)])).rows.length === 0)
        await sleep(200);
      transport = t;
    }
    let received = 0;
    let last = 0;
    const latencies: number[] = [];
    const bench: ConsumerDefinition = {
      name: "bench",
      aggregateTypes: ["order"],
      migrations: [],
      async handle(event) {
        last = Date.now();
        received++;
        if (!String(event.data.orderId).startsWith(`b-${run}-l`)) return;
        latencies.push(
          last - Date.parse(String(event.data.placedAt ?? event.data.confirmedAt ?? event.data.shippedAt ?? event.data.deliveredAt)),
        );
      },
    };
    const consumer = await startConsumer(bench, { sql, brokers: brokers!, namespace, groupId: `bench-${path}-${run}` });
    await consumer.joined;
    const waitFor = async (count: number) => {
      const deadline = Date.now() + 300_000;
      while (received < count && Date.now() < deadline) await sleep(5);
    };

    // Throughput: the domain events are committed; the clock runs from the translator's start.
    const a0 = Date.now();
    await appendAll(store);
    const appendMs = Date.now() - a0;
    const t0 = Date.now();
    const translator = await startProcessor(translatorDefinition({ mode: transport.outboxMode }), {
      store,
      sql: ringingOnCommit(sql, bell),
    });
    await translator.caughtUpTo(await store.headCheckpoint(), 300_000);
    const translatedMs = Date.now() - t0;
    await waitFor(ORDERS * PER_ORDER);
    const drainSeconds = (last - t0) / 1000;
    console.log(
      `  ${path}: ${ORDERS} orders appended in ${appendMs} ms (not timed); translated in ${translatedMs} ms, all in the inbox after ${last - t0} ms`,
    );

    // Latency: paced appends with everything running.
    await paced(LATENCY_ORDERS, RATE, async (i) => {
      const s = orderEvents(i, "l");
      await store.appendToStream(s.streamId, s.events, { expectedRevision: "no_stream" });
    });
    await waitFor((ORDERS + LATENCY_ORDERS) * PER_ORDER);
    const result = figures(ORDERS * PER_ORDER, drainSeconds, latencies);
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

/**
 * The baseline: the same records (payload bytes and headers) produced in batches of 500 and
 * consumed (throughput), then each order's 4 records in one batch at RATE orders/s (latency).
 */
async function rawKafka(): Promise<Figures> {
  const topic = `bench_raw_${run}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
  const total = ORDERS * PER_ORDER;
  let received = 0;
  let last = 0;
  let timing = false;
  const latencies: number[] = [];
  const consumer = kafka.consumer({ groupId: `bench-raw-${run}` });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const joined = new Promise<void>((r) => consumer.on(consumer.events.GROUP_JOIN, () => r()));
  await consumer.run({
    eachBatch: async ({ batch }) => {
      const now = Date.now();
      if (timing) for (const m of batch.messages) latencies.push(now - Number(m.headers?.sent_at?.toString()));
      received += batch.messages.length;
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
  const records = (from: number, count: number) => {
    const sentAt = String(Date.now());
    return Array.from({ length: count }, (_, k) => ({
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
  };
  const waitFor = async (count: number) => {
    const deadline = Date.now() + 120_000;
    while (received < count && Date.now() < deadline) await sleep(5);
  };
  const t0 = Date.now();
  for (let from = 0; from < total; from += 500)
    await producer.sendBatch({ acks: -1, topicMessages: [{ topic, messages: records(from, Math.min(500, total - from)) }] });
  await waitFor(total);
  const seconds = (last - t0) / 1000;
  timing = true;
  await paced(LATENCY_ORDERS, RATE, async (i) => {
    await producer.send({ acks: -1, topic, messages: records((ORDERS + i) * PER_ORDER, PER_ORDER) });
  });
  await waitFor(total + LATENCY_ORDERS * PER_ORDER);
  await producer.disconnect();
  await consumer.disconnect();
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.deleteGroups([`bench-raw-${run}`]).catch(() => undefined);
  await admin.disconnect();
  return figures(total, seconds, latencies);
}

const print = (name: string, f: Figures) =>
  console.log(
    `${name.padEnd(34)} ${String(f.events).padStart(6)} events ${String(f.eventsPerSecond).padStart(8)} ev/s | at ${RATE * PER_ORDER} ev/s: p50 ${String(f.p50Ms).padStart(6)} ms  p99 ${String(f.p99Ms).padStart(6)} ms`,
  );

console.log(
  `bench:events: ${ORDERS} orders x ${PER_ORDER} integration events per path (throughput), then ${LATENCY_ORDERS} orders at ${RATE}/s (latency); ${WRITERS} writers (shared 2-core machine: figures are noisy)`,
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
console.log(
  `throughput ratio to raw kafkajs (same run): relay ${relayRatio} (target >= 0.5)${debezium ? `, debezium ${debeziumRatio}` : ""}`,
);
console.log(
  JSON.stringify({
    orders: ORDERS,
    events: ORDERS * PER_ORDER,
    latencyRateEventsPerSecond: RATE * PER_ORDER,
    raw,
    relay,
    debezium: debezium ?? null,
    relayRatio,
    debeziumRatio,
    relayTargetMet: relayRatio >= 0.5,
  }),
);
process.exit(0);
