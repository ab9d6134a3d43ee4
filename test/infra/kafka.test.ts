// Smoke test of the real Kafka broker through kafkajs (the client our app uses): batched produce,
// a consumer group that commits, and a restart of that group that must see nothing again.
// kafkajs 2.2.4 predates Kafka 4, which dropped old protocol versions: this proves they still agree.

import { randomBytes } from "node:crypto";
import { Kafka, Partitioners, logLevel, type Admin, type Consumer, type Producer } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missing, server } from "../support/env.js";

const brokers = server("KAFKA_BROKERS");

const TOTAL = 10_000;
const BATCH = 1_000;
const PARTITIONS = 3;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe.skipIf(missing(brokers))("Kafka smoke", () => {
  const runId = `${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
  const topic = `smoke.kafka.${runId}`;
  const groupId = `smoke-kafka-${runId}`;
  const kafka = new Kafka({
    clientId: `smoke-${runId}`,
    brokers: (brokers.value ?? "").split(","),
    logLevel: logLevel.WARN,
  });
  let admin: Admin;
  let producer: Producer;
  const consumers: Consumer[] = [];

  // A consumer in our group that only commits explicitly, collecting every value it sees.
  async function startConsumer(seen: string[]): Promise<{ consumer: Consumer; joined: Promise<void> }> {
    const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
    consumers.push(consumer);
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
        for (const message of batch.messages) {
          seen.push(message.value?.toString() ?? "");
          resolveOffset(message.offset);
        }
        // The committed offset is the next one to read.
        await consumer.commitOffsets([
          { topic: batch.topic, partition: batch.partition, offset: (BigInt(batch.lastOffset()) + 1n).toString() },
        ]);
        await heartbeat();
      },
    });
    return { consumer, joined };
  }

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
    producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
  });

  afterAll(async () => {
    for (const c of consumers) await c.disconnect().catch(() => {});
    await producer?.disconnect().catch(() => {});
    if (admin) {
      await admin.deleteGroups([groupId]).catch(() => {});
      await admin.deleteTopics({ topics: [topic] }).catch(() => {});
      await admin.disconnect();
    }
  });

  it("produces 10,000 messages in batches, consumes each once, and a restarted group sees none again", async () => {
    // Batches: kafkajs manages only ~2k messages/s one send at a time.
    const started = Date.now();
    for (let from = 0; from < TOTAL; from += BATCH) {
      const messages = Array.from({ length: BATCH }, (_, i) => ({ key: `k${(from + i) % 97}`, value: String(from + i) }));
      await producer.send({ topic, acks: -1, messages });
    }
    const produceMs = Date.now() - started;

    const offsets = await admin.fetchTopicOffsets(topic);
    expect(offsets.reduce((sum, p) => sum + Number(p.high), 0)).toBe(TOTAL);

    const seen: string[] = [];
    const first = await startConsumer(seen);
    await waitFor(`${TOTAL} messages`, () => seen.length >= TOTAL, 60_000);
    await first.consumer.disconnect();
    console.info(`[kafka smoke] produced ${TOTAL} in ${produceMs} ms, consumed in ${Date.now() - started - produceMs} ms`);

    expect(seen).toHaveLength(TOTAL);
    expect(new Set(seen).size).toBe(TOTAL);
    expect([...seen].map(Number).sort((a, b) => a - b)).toEqual(Array.from({ length: TOTAL }, (_, i) => i));

    // Every partition's committed offset reached its end.
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const byPartition = new Map(offsets.map((p) => [p.partition, p.high]));
    for (const p of committed?.partitions ?? []) expect(p.offset).toBe(byPartition.get(p.partition));
    expect(committed?.partitions).toHaveLength(PARTITIONS);

    // Same group again: it resumes from the committed offsets, so nothing old arrives. A sentinel
    // produced to each partition after it joined proves it has read every partition past the
    // committed offset: Kafka delivers a partition in order, so a message seen again would come
    // before that partition's sentinel.
    const again: string[] = [];
    const second = await startConsumer(again);
    await second.joined;
    const sentinels = Array.from({ length: PARTITIONS }, (_, partition) => `sentinel-${partition}`);
    await producer.send({ topic, acks: -1, messages: sentinels.map((value, partition) => ({ value, partition })) });
    await waitFor("a sentinel from every partition", () => sentinels.every((s) => again.includes(s)), 60_000);
    expect([...again].sort()).toEqual(sentinels);
  }, 120_000);
});
