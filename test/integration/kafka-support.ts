// Reading what actually landed on Kafka, for the integration suites.

import { randomBytes } from "node:crypto";
import { Kafka, logLevel, type Admin } from "kafkajs";

export interface SeenRecord {
  topic: string;
  partition: number;
  offset: string;
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}

export const runId = (): string => `${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;

export const kafkaOf = (brokers: string, clientId = `test-${runId()}`): Kafka =>
  new Kafka({ clientId, brokers: brokers.split(","), logLevel: logLevel.NOTHING, retry: { retries: 8 } });

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Creates the topics (several partitions, so key routing matters). */
export async function createTopics(admin: Admin, topics: string[], partitions = 3): Promise<void> {
  await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: partitions })), waitForLeaders: true });
}

/** Every record of the topics from the beginning until `until` says enough (or the timeout). */
export async function collect(
  kafka: Kafka,
  topics: string[],
  until: (seen: SeenRecord[]) => boolean,
  timeoutMs = 90_000,
): Promise<SeenRecord[]> {
  const seen: SeenRecord[] = [];
  const consumer = kafka.consumer({ groupId: `collect-${runId()}`, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        seen.push({
          topic,
          partition,
          offset: message.offset,
          key: message.key?.toString("utf8") ?? "",
          value: message.value ?? Buffer.alloc(0),
          headers: Object.fromEntries(
            Object.entries(message.headers ?? {}).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString("utf8") : String(v)]),
          ),
        });
      },
    });
    const deadline = Date.now() + timeoutMs;
    while (!until(seen)) {
      if (Date.now() > deadline) throw new Error(`only ${seen.length} records on ${topics.join(", ")} after ${timeoutMs} ms`);
      await sleep(100);
    }
    return seen;
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
}
