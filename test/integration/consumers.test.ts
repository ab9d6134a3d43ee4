// The notification and analytics consumers against real Kafka and PostgreSQL, fed by the
// translator and the relay: messages rendered once per event, sales buckets, inbox idempotency
// under a full replay of the translator from position 0, and a poison message that goes to the
// dead-letter topic while its partition moves on (and a replay of that topic).

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { analyticsConsumer } from "../../src/consumers/analytics/analytics.js";
import { salesBuckets } from "../../src/consumers/analytics/read.js";
import { startConsumer, type RunningConsumer } from "../../src/consumers/consumer.js";
import { DLQ_HEADERS, dlqTopicOf, replayDeadLetters } from "../../src/consumers/dead-letters.js";
import { notificationsConsumer } from "../../src/consumers/notifications/notifications.js";
import { listNotifications } from "../../src/consumers/notifications/read.js";
import { topicOf } from "../../src/integration/catalog.js";
import { headersOf, payloadBytes } from "../../src/integration/envelope.js";
import { migrateIntegration, resetTranslator, translatorDefinition } from "../../src/integration/translator.js";
import { startRelay, type RunningRelay } from "../../src/integration/transport/relay.js";
import { startProcessor, type RunningProcessor } from "../../src/processing/processor.js";
import { missing, server } from "../support/env.js";
import { appendScript, expectedOrderTypes, shopScript } from "./fixtures.js";
import { collect, createTopics, kafkaOf, runId, sleep } from "./kafka-support.js";
import { openPostgresUrlWorld, type UrlWorld } from "./worlds.js";

const brokers = server("KAFKA_BROKERS");
const database = server("DATABASE_URL");

const ORDERS = 9;
// Order- and payment-topic events the script yields: per order its order events + capture + refund outcome.
const ORDER_AND_PAYMENT_EVENTS = Array.from({ length: ORDERS }, (_, i) => expectedOrderTypes(i).length + 2).reduce((a, b) => a + b, 0);

describe.skipIf(missing(brokers, database))("integration event consumers (notifications, analytics)", () => {
  const run = runId();
  const namespace = `t_cons_${run}`;
  const topics = ["order", "payment", "inventory", "product"].map((a) => topicOf(a, namespace));
  const kafka = kafkaOf(brokers.value ?? "");
  const script = shopScript(run, ORDERS);
  let world: UrlWorld;
  let relay: RunningRelay;
  let translator: RunningProcessor;
  const consumers: RunningConsumer[] = [];
  const inbox = async (consumer: string) =>
    (
      await world.sql.query<{ n: number; deliveries: number }>(
        "SELECT count(*)::int AS n, coalesce(sum(deliveries), 0)::int AS deliveries FROM consumer_inbox WHERE consumer = $1",
        [consumer],
      )
    ).rows[0]!;
  const until = async (what: string, check: () => Promise<boolean>, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(200);
    }
  };

  beforeAll(async () => {
    world = await openPostgresUrlWorld();
    await migrateIntegration(world.sql);
    const admin = kafka.admin();
    await admin.connect();
    await createTopics(admin, topics);
    await admin.disconnect();
    relay = startRelay({ sql: world.sql, brokers: (brokers.value ?? "").split(","), namespace });
    translator = await startProcessor(translatorDefinition({ mode: "relay" }), { store: world.store, sql: world.sql });
    const common = { sql: world.sql, brokers: (brokers.value ?? "").split(","), namespace, maxAttempts: 3, retryBaseMs: 50 };
    consumers.push(await startConsumer(notificationsConsumer(), { ...common, groupId: `notif-${run}` }));
    consumers.push(await startConsumer(analyticsConsumer(), { ...common, groupId: `analytics-${run}` }));
    await Promise.all(consumers.map((c) => c.joined));
  });

  afterAll(async () => {
    for (const c of consumers) await c.stop();
    await translator?.stop();
    await relay?.stop();
    await world?.close();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [...topics, ...topics.map(dlqTopicOf)] }).catch(() => undefined);
    await admin.deleteGroups([`notif-${run}`, `analytics-${run}`]).catch(() => undefined);
    await admin.disconnect();
  });

  it("every order and payment event reaches each consumer's inbox once; messages and sales follow", async () => {
    await appendScript(world.store, script);
    await until(
      "both inboxes",
      async () => (await inbox("notifications")).n >= ORDER_AND_PAYMENT_EVENTS && (await inbox("analytics")).n >= ORDER_AND_PAYMENT_EVENTS,
    );
    expect((await inbox("notifications")).n).toBe(ORDER_AND_PAYMENT_EVENTS);

    // Customer cust-0 has orders 0, 3, 6 (never cancelled: i % 3 === 0): confirmed, shipped,
    // delivered and refunded, each by email and SMS.
    // An SMS waits for its order's placed event (the phone number), so messages may trail the inbox.
    await until("cust-0's messages", async () => (await listNotifications(world.sql, "cust-0")).length >= 3 * 4 * 2);
    const mine = await listNotifications(world.sql, "cust-0");
    expect(mine).toHaveLength(3 * 4 * 2);
    const order0 = mine.filter((m) => m.orderId === script.orderIds[0]);
    expect(order0.map((m) => `${m.template}/${m.channel}`).sort()).toEqual(
      ["order_confirmed", "order_shipped", "order_delivered", "refund_processed"].flatMap((t) => [`${t}/email`, `${t}/sms`]).sort(),
    );
    const shippedSms = order0.find((m) => m.template === "order_shipped" && m.channel === "sms")!;
    expect(shippedSms.body).toContain("BlueDart");
    expect(order0.find((m) => m.template === "refund_processed" && m.channel === "email")?.body).toContain("₹520.00");
    // cust-2 has orders 2, 5, 8: all cancelled after confirmation (refund failed: no refund message).
    const cancelled = await listNotifications(world.sql, "cust-2");
    expect(cancelled.map((m) => m.template).sort()).toEqual(
      ["order_cancelled", "order_cancelled", "order_cancelled", "order_confirmed", "order_confirmed", "order_confirmed"]
        .flatMap((t) => [t, t])
        .sort(),
    );
    expect(cancelled.find((m) => m.template === "order_cancelled" && m.channel === "email")?.body).toContain("you asked us to cancel it");

    // Sales: 9 orders of 3 units (1 phone + 2 ghost items), GMV 52,000 each; 3 cancelled; 6
    // refunds processed; 6 of the 9 delivered. All within one day of the script's clock.
    const day = await salesBuckets(world.sql, { from: "2026-11-20T00:00:00Z", to: "2026-11-21T00:00:00Z", granularity: "day" });
    expect(day).toEqual([
      {
        start: "2026-11-20T00:00:00.000Z",
        orders: 9,
        units: 27,
        gmv: 9 * 52_000,
        cancellations: 3,
        refunds: 6,
        refundedAmount: 6 * 52_000,
        delivered: 6,
        conversion: 0.6667,
        currency: "INR",
      },
    ]);
    const phones = await salesBuckets(world.sql, {
      from: "2026-11-20T00:00:00Z",
      to: "2026-11-21T00:00:00Z",
      granularity: "hour",
      category: "Electronics",
    });
    expect(phones.reduce((n, b) => n + b.units, 0)).toBe(9);
    expect(phones.reduce((n, b) => n + b.gmv, 0)).toBe(9 * 50_000);
  }, 120_000);

  it("replaying the translator from position 0 republishes the same ids: the inboxes absorb them, nothing new downstream", async () => {
    const before = {
      notif: await inbox("notifications"),
      analytics: await inbox("analytics"),
      messages: (await listNotifications(world.sql, "cust-0")).length,
    };
    const sales = await salesBuckets(world.sql, { from: "2026-11-20T00:00:00Z", to: "2026-11-21T00:00:00Z", granularity: "hour" });
    await translator.stop();
    await resetTranslator(world.sql);
    translator = await startProcessor(translatorDefinition({ mode: "relay" }), { store: world.store, sql: world.sql });
    await translator.caughtUpTo(await world.store.headCheckpoint(), 60_000);
    await relay.drained(60_000);
    await until(
      "the replay to reach both inboxes",
      async () =>
        (await inbox("notifications")).deliveries >= 2 * before.notif.n && (await inbox("analytics")).deliveries >= 2 * before.analytics.n,
    );
    expect((await inbox("notifications")).n).toBe(before.notif.n);
    expect((await inbox("analytics")).n).toBe(before.analytics.n);
    expect((await listNotifications(world.sql, "cust-0")).length).toBe(before.messages);
    expect(await salesBuckets(world.sql, { from: "2026-11-20T00:00:00Z", to: "2026-11-21T00:00:00Z", granularity: "hour" })).toEqual(sales);
  }, 120_000);

  it("a poison message goes to <topic>.dlq with the error in its headers, and its partition moves on; the DLQ can be replayed", async () => {
    const orderTopic = topicOf("order", namespace);
    const key = script.orderIds[1]!;
    const producer = kafka.producer();
    await producer.connect();
    const poisonId = "00000000-0000-5000-8000-00000000dead";
    const good = {
      id: "00000000-0000-5000-8000-0000000000ad",
      type: "commerce.order.delivered.v1",
      source: "/commerce/order",
      time: "2026-11-21T10:00:00.000Z",
      correlationId: "c",
      causationId: "x",
      traceparent: `00-${"a".repeat(32)}-${"b".repeat(16)}-01`,
    };
    await producer.send({
      topic: orderTopic,
      acks: -1,
      messages: [
        { key, value: Buffer.from("{not json"), headers: headersOf({ ...good, id: poisonId }) },
        { key, value: payloadBytes({ orderId: key, customerId: "cust-1", deliveredAt: good.time }), headers: headersOf(good) },
      ],
    });
    await producer.disconnect();

    // The message after the poison, on the same key and so the same partition, is handled.
    await until(
      "the good message",
      async () =>
        (await world.sql.query("SELECT 1 FROM consumer_inbox WHERE event_id = $1 AND consumer = 'notifications'", [good.id])).rows
          .length === 1,
    );
    const dead = await collect(kafka, [dlqTopicOf(orderTopic)], (s) => s.length >= 2, 60_000);
    // Both consumers dead-lettered it (each group has its own view of the topic).
    expect(dead.map((d) => d.headers[DLQ_HEADERS.consumer]).sort()).toEqual(["analytics", "notifications"]);
    for (const d of dead) {
      expect(d.headers.ce_id).toBe(poisonId);
      expect(d.key).toBe(key);
      expect(d.value.toString()).toBe("{not json");
      expect(d.headers[DLQ_HEADERS.error]).toMatch(/not JSON/);
      expect(d.headers[DLQ_HEADERS.errorType]).toBe("PoisonMessageError");
      expect(d.headers[DLQ_HEADERS.topic]).toBe(orderTopic);
    }
    expect((await world.sql.query("SELECT 1 FROM consumer_inbox WHERE event_id = $1", [poisonId])).rows).toHaveLength(0);

    // Replaying the dead-letter topic sends the letters back to the original topic, without the
    // dlq_* headers. Still poison, both copies are dead-lettered again by both groups (4 new
    // letters); a second replay sends exactly those, not the 2 it already replayed.
    const replay = await replayDeadLetters(kafka, dlqTopicOf(orderTopic), { groupId: `replay-${run}` });
    expect(replay.replayed).toBe(2);
    expect(replay.byTopic[orderTopic]).toBe(2);
    const back = await collect(kafka, [orderTopic], (s) => s.filter((r) => r.headers.ce_id === poisonId).length >= 3, 60_000);
    const copies = back.filter((r) => r.headers.ce_id === poisonId);
    expect(copies.slice(1).every((r) => Object.keys(r.headers).every((h) => !h.startsWith("dlq_")))).toBe(true);
    await collect(kafka, [dlqTopicOf(orderTopic)], (s) => s.length >= 6, 60_000);
    expect((await replayDeadLetters(kafka, dlqTopicOf(orderTopic), { groupId: `replay-${run}` })).replayed).toBe(4);
  }, 180_000);
});
