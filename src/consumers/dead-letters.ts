// Dead letters: a message that keeps failing goes to `<topic>.dlq` unchanged (key, value,
// headers) plus headers saying why and where from, and the partition moves on.
// replayDeadLetters sends them back to their original topic once the cause is fixed; the
// consumers' inbox drops any that had been handled after all.

import type { IHeaders, Kafka, KafkaMessage, Producer } from "kafkajs";

export const DLQ_SUFFIX = ".dlq";
export const dlqTopicOf = (topic: string): string => `${topic}${DLQ_SUFFIX}`;

export const DLQ_HEADERS = {
  error: "dlq_error",
  errorType: "dlq_error_type",
  consumer: "dlq_consumer",
  topic: "dlq_original_topic",
  partition: "dlq_original_partition",
  offset: "dlq_original_offset",
  attempts: "dlq_attempts",
  failedAt: "dlq_failed_at",
} as const;

export async function sendToDeadLetters(
  producer: Producer,
  origin: { topic: string; partition: number; message: KafkaMessage },
  failure: { consumer: string; error: unknown; attempts: number },
): Promise<void> {
  const err = failure.error instanceof Error ? failure.error : new Error(String(failure.error));
  const headers: IHeaders = {
    ...(origin.message.headers ?? {}),
    [DLQ_HEADERS.error]: err.message.slice(0, 2000),
    [DLQ_HEADERS.errorType]: err.name,
    [DLQ_HEADERS.consumer]: failure.consumer,
    [DLQ_HEADERS.topic]: origin.topic,
    [DLQ_HEADERS.partition]: String(origin.partition),
    [DLQ_HEADERS.offset]: origin.message.offset,
    [DLQ_HEADERS.attempts]: String(failure.attempts),
    [DLQ_HEADERS.failedAt]: new Date().toISOString(),
  };
  await producer.send({
    topic: dlqTopicOf(origin.topic),
    acks: -1,
    messages: [{ key: origin.message.key, value: origin.message.value, headers }],
  });
}

export interface ReplayResult {
  replayed: number;
  byTopic: Record<string, number>;
}

/**
 * Re-publishes every dead letter of `dlqTopic` present when it starts to its original topic,
 * without the dlq_* headers. Progress is a consumer group's committed offsets, so a second run
 * only replays letters that arrived since.
 */
export async function replayDeadLetters(
  kafka: Kafka,
  dlqTopic: string,
  options: { groupId?: string; timeoutMs?: number } = {},
): Promise<ReplayResult> {
  if (!dlqTopic.endsWith(DLQ_SUFFIX)) throw new Error(`${dlqTopic} is not a dead-letter topic (*${DLQ_SUFFIX})`);
  const groupId = options.groupId ?? `dlq-replay.${dlqTopic}`;
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map((await admin.fetchTopicOffsets(dlqTopic)).map((p) => [p.partition, BigInt(p.high)]));
  const committed = await admin.fetchOffsets({ groupId, topics: [dlqTopic] });
  await admin.disconnect();
  const pending = new Map<number, bigint>();
  for (const [partition, high] of ends) {
    const from = BigInt(committed[0]?.partitions.find((p) => p.partition === partition)?.offset ?? "-1");
    if (high > (from < 0n ? 0n : from)) pending.set(partition, high);
  }
  const result: ReplayResult = { replayed: 0, byTopic: {} };
  if (pending.size === 0) return result;

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
  await producer.connect();
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [dlqTopic], fromBeginning: true });
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`dead letters of ${dlqTopic} not replayed within ${options.timeoutMs ?? 60_000} ms`)),
        options.timeoutMs ?? 60_000,
      );
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch, heartbeat }) => {
            const high = pending.get(batch.partition);
            const messages = batch.messages.filter((m) => high !== undefined && BigInt(m.offset) < high);
            for (const m of messages) {
              const headers = Object.fromEntries(Object.entries(m.headers ?? {}).filter(([k]) => !k.startsWith("dlq_")));
              const target = String(m.headers?.[DLQ_HEADERS.topic] ?? dlqTopic.slice(0, -DLQ_SUFFIX.length));
              await producer.send({ topic: target, acks: -1, messages: [{ key: m.key, value: m.value, headers }] });
              result.replayed++;
              result.byTopic[target] = (result.byTopic[target] ?? 0) + 1;
            }
            const last = batch.messages.at(-1);
            if (last)
              await consumer.commitOffsets([
                { topic: dlqTopic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() },
              ]);
            if (high !== undefined && last && BigInt(last.offset) + 1n >= high) pending.delete(batch.partition);
            await heartbeat();
            if (pending.size === 0) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
    await done;
    return result;
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
  }
}
