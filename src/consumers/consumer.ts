// Runs one integration-event consumer (notifications, analytics) as a kafkajs consumer group.
// Each event's side effect commits with its inbox row in one SQL transaction, so a redelivery
// changes nothing. A batch is first tried in one transaction (fast path); if anything in it fails
// it is replayed one event at a time, each retried with backoff, and an event that keeps failing
// (or cannot be read at all) is sent to `<topic>.dlq` with the error in its headers; then its
// offset is committed and the partition moves on. Offsets are committed only after the inbox
// transaction or the dead letter is durable: at-least-once into an idempotent inbox.

import { Kafka, logLevel, type Consumer, type KafkaMessage, type Producer } from "kafkajs";
import type { Logger } from "pino";
import { migrate, type Migration } from "../infrastructure/sql/migrations.js";
import type { SqlClient, SqlExecutor } from "../infrastructure/sql/sql-client.js";
import { DEFAULT_NAMESPACE, topicOf, type AggregateType } from "../integration/catalog.js";
import { sendToDeadLetters } from "./dead-letters.js";
import { admit, admitMany, inboxMigrations } from "./inbox.js";
import { PoisonMessageError, readEvent, type ReceivedEvent } from "./message.js";

export interface ConsumerDefinition {
  /** The inbox key and the default consumer group (`<namespace>-<name>`). */
  name: string;
  aggregateTypes: readonly AggregateType[];
  migrations: readonly Migration[];
  /** Runs once per event id, inside the transaction that records it in the inbox. */
  handle(event: ReceivedEvent, tx: SqlExecutor): Promise<void>;
}

export interface ConsumerOptions {
  sql: SqlClient;
  brokers: readonly string[];
  namespace?: string;
  groupId?: string;
  maxAttempts?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  logger?: Logger;
}

export interface RunningConsumer {
  readonly name: string;
  readonly groupId: string;
  /** Events handled for the first time, duplicates dropped, dead letters sent, since start. */
  stats(): { handled: number; duplicates: number; deadLettered: number };
  /** Resolves once the group is joined and partitions are assigned. */
  readonly joined: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Creates the topics that do not exist yet (broker defaults), so a consumer can start before
 * anything was published: subscribing to a missing topic fails in kafkajs
 * (UNKNOWN_TOPIC_OR_PARTITION), and the relay or Debezium create topics only when they publish.
 */
async function ensureTopics(kafka: Kafka, topics: readonly string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    if (missing.length === 0) return;
    // Another process may create them at the same moment: "already exists" is what we want.
    await admin.createTopics({ topics: missing.map((topic) => ({ topic })), waitForLeaders: true }).catch((error: unknown) => {
      if ((error as { type?: string }).type !== "TOPIC_ALREADY_EXISTS" && !/already exists/i.test(String(error))) throw error;
    });
  } finally {
    await admin.disconnect();
  }
}

export async function startConsumer(definition: ConsumerDefinition, options: ConsumerOptions): Promise<RunningConsumer> {
  const { sql, logger } = options;
  const log = logger?.child({ consumer: definition.name });
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  const groupId = options.groupId ?? `${namespace}-${definition.name}`;
  const maxAttempts = options.maxAttempts ?? 5;
  const retryBaseMs = options.retryBaseMs ?? 200;
  const retryMaxMs = options.retryMaxMs ?? 5_000;
  await migrate(sql, [...inboxMigrations, ...definition.migrations]);

  const kafka = new Kafka({
    clientId: `commerce-${definition.name}`,
    brokers: [...options.brokers],
    logLevel: logLevel.NOTHING,
    retry: { retries: 10, maxRetryTime: 5_000 },
  });
  const consumer: Consumer = kafka.consumer({
    groupId,
    sessionTimeout: 15_000,
    heartbeatInterval: 1_000,
    retry: { retries: Number.MAX_SAFE_INTEGER, maxRetryTime: 5_000 },
  });
  const producer: Producer = kafka.producer({ allowAutoTopicCreation: true });
  const stats = { handled: 0, duplicates: 0, deadLettered: 0 };
  let stopping = false;

  // One event's inbox row and side effect; returns whether it was new.
  const apply = async (tx: SqlExecutor, event: ReceivedEvent): Promise<boolean> => {
    const fresh = await admit(tx, {
      consumer: definition.name,
      eventId: event.id,
      eventType: event.type,
      topic: event.topic,
      partition: event.partition,
      offset: event.offset,
    });
    if (fresh) await definition.handle(event, tx);
    return fresh;
  };
  const count = (fresh: boolean) => (fresh ? stats.handled++ : stats.duplicates++);

  const one = async (topic: string, partition: number, message: KafkaMessage, heartbeat: () => Promise<void>) => {
    for (let attempt = 1; ; attempt++) {
      try {
        const event = readEvent(topic, partition, message);
        if (!event) return; // a type this service does not know
        count(await sql.transaction((tx) => apply(tx, event)));
        return;
      } catch (error) {
        if (stopping) throw error;
        if (error instanceof PoisonMessageError || attempt >= maxAttempts) {
          log?.error({ err: error, topic, partition, offset: message.offset, attempts: attempt }, "dead-lettering a message");
          await sendToDeadLetters(producer, { topic, partition, message }, { consumer: definition.name, error, attempts: attempt });
          stats.deadLettered++;
          return;
        }
        log?.warn({ err: error, topic, partition, offset: message.offset, attempt }, "message failed, retrying");
        await new Promise((r) => setTimeout(r, Math.min(retryMaxMs, retryBaseMs * 2 ** (attempt - 1))));
        await heartbeat();
      }
    }
  };

  await producer.connect();
  await ensureTopics(
    kafka,
    definition.aggregateTypes.map((a) => topicOf(a, namespace)),
  );
  await consumer.connect();
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.subscribe({ topics: definition.aggregateTypes.map((a) => topicOf(a, namespace)), fromBeginning: true });
  await consumer.run({
    // Offsets are resolved only once a message's transaction (or dead letter) is durable, and
    // committed at most once a second and on leaving the group: a crash re-delivers at most
    // that second's messages, which the inbox drops. Partitions are handled concurrently.
    autoCommit: true,
    autoCommitInterval: 1_000,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 3,
    eachBatch: async ({ batch, heartbeat, isRunning, isStale, resolveOffset }) => {
      const commitThrough = async (offset: string) => resolveOffset(offset);
      const messages = batch.messages;
      if (messages.length === 0) return;
      // Fast path: the whole batch in one transaction.
      try {
        const events = messages.map((m) => readEvent(batch.topic, batch.partition, m)).filter((e): e is ReceivedEvent => e !== undefined);
        // One statement admits the batch; the side effects of the new ones follow in the same transaction.
        const fresh = await sql.transaction(async (tx) => {
          const admitted = await admitMany(
            tx,
            events.map((e) => ({
              consumer: definition.name,
              eventId: e.id,
              eventType: e.type,
              topic: e.topic,
              partition: e.partition,
              offset: e.offset,
            })),
          );
          const handled = new Set<string>();
          for (const e of events) {
            if (!admitted.has(e.id) || handled.has(e.id)) continue;
            handled.add(e.id);
            await definition.handle(e, tx);
          }
          return { handled: handled.size, duplicates: events.length - handled.size };
        });
        stats.handled += fresh.handled;
        stats.duplicates += fresh.duplicates;
        await commitThrough(messages[messages.length - 1]!.offset);
        return;
      } catch (error) {
        if (!(error instanceof PoisonMessageError)) log?.warn({ err: error }, "batch failed, replaying it message by message");
      }
      for (const m of messages) {
        if (!isRunning() || isStale()) return;
        await one(batch.topic, batch.partition, m, heartbeat);
        await commitThrough(m.offset);
        await heartbeat();
      }
    },
  });

  return {
    name: definition.name,
    groupId,
    joined,
    stats: () => ({ ...stats }),
    async stop() {
      stopping = true;
      await consumer.disconnect().catch(() => undefined);
      await producer.disconnect().catch(() => undefined);
    },
  };
}
