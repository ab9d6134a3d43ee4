// The in-process relay: publishes outbox rows to Kafka in commit order with kafkajs's idempotent
// producer, then deletes them. At-least-once: a crash between Kafka's acknowledgement and the
// delete publishes those rows again with the same ids (consumers drop them in their inbox).
// Throughput: it reads up to `batchSize` rows (500) at once, sends them in one sendBatch (one
// produce request per broker; the rows of a partition keep their order), and deletes them in one
// statement. It wakes when the translator commits in this process (outbox-wake.ts), and otherwise
// polls an empty outbox every `pollMs` (a translator running on another instance).
// In a server it runs as a leased unit (runtime.ts), so of several instances one relays.
// While Kafka is unreachable the rows stay and the relay retries with backoff; nothing upstream
// waits for it, so the API keeps taking orders and the outbox drains once Kafka is back.

import { Kafka, Partitioners, logLevel, type Producer } from "kafkajs";
import type { Logger } from "pino";
import type { SqlClient } from "../../infrastructure/sql/sql-client.js";
import { DEFAULT_NAMESPACE, topicOf } from "../catalog.js";
import { type OutboxBell, outboxBell } from "../outbox-wake.js";
import { deleteOutboxRows, outboxBacklog, readOutbox } from "../outbox.js";
import type { IntegrationTransport } from "./port.js";
import { inSpan } from "../../observability/tracing.js";

export interface RelayOptions {
  sql: SqlClient;
  brokers: readonly string[];
  /** Topic namespace: `<namespace>.<aggregate type>.events` (default "commerce"). */
  namespace?: string;
  batchSize?: number;
  /** Pause between polls of an empty outbox when no commit rings `bell` (default 200 ms). */
  pollMs?: number;
  /** Rung by the translator's commits in this process (outbox-wake.ts). */
  bell?: OutboxBell;
  /** Backoff bounds while Kafka refuses. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  logger?: Logger;
  clientId?: string;
}

export interface RunningRelay extends IntegrationTransport {
  /** Records published since start (re-sends after a failure count again). */
  published(): number;
  /** Resolves once the outbox is empty. */
  drained(timeoutMs?: number): Promise<void>;
}

export function startRelay(options: RelayOptions): RunningRelay {
  const { sql, logger } = options;
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  const batchSize = options.batchSize ?? 500;
  const pollMs = options.pollMs ?? 200;
  const bell = options.bell ?? outboxBell();
  const retryBaseMs = options.retryBaseMs ?? 200;
  const retryMaxMs = options.retryMaxMs ?? 5_000;
  const kafka = new Kafka({
    clientId: options.clientId ?? "commerce-outbox-relay",
    brokers: [...options.brokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3_000,
    retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1_000 },
  });
  let producer: Producer | undefined;
  let stopped = false;
  let published = 0;
  let failures = 0;
  let lastError: string | null = null;
  const stopSignal = new AbortController();
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      if (stopSignal.signal.aborted) return resolve();
      const onAbort = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        stopSignal.signal.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      stopSignal.signal.addEventListener("abort", onAbort, { once: true });
    });

  const connected = async (): Promise<Producer> => {
    if (producer) return producer;
    // Idempotent: the broker drops a batch it already has when kafkajs retries it, so a retry
    // inside the producer never duplicates or reorders; acks=-1 and one request in flight.
    const p = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: true,
    });
    await p.connect();
    producer = p;
    return p;
  };

  const loop = (async () => {
    while (!stopped) {
      try {
        const rows = await readOutbox(sql, batchSize);
        if (rows.length === 0) {
          await bell.wait(pollMs, stopSignal.signal);
          continue;
        }
        const p = await connected();
        // One request for the batch; per topic the rows keep their commit order, and the key
        // picks the partition, so each aggregate's events stay in order.
        const byTopic = new Map<string, { key: string; value: Buffer; headers: Record<string, string> }[]>();
        for (const r of rows) {
          const topic = topicOf(r.aggregateType, namespace);
          let list = byTopic.get(topic);
          if (!list) byTopic.set(topic, (list = []));
          list.push(r.record);
        }
        await inSpan("outbox publish", { "messaging.system": "kafka", "messaging.batch.message_count": rows.length }, async () => {
          await p.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
          await deleteOutboxRows(
            sql,
            rows.map((r) => r.seq),
          );
        });
        published += rows.length;
        if (failures > 0) logger?.info({ after: failures }, "outbox relay: Kafka reachable again");
        failures = 0;
        lastError = null;
      } catch (error) {
        if (stopped) break;
        failures++;
        lastError = error instanceof Error ? error.message : String(error);
        if (failures === 1 || failures % 20 === 0) logger?.warn({ err: error, failures }, "outbox relay: publish failed, retrying");
        // A broken producer is rebuilt: after Kafka returns, a fresh one gets a new producer id.
        const broken = producer;
        producer = undefined;
        await broken?.disconnect().catch(() => undefined);
        await pause(Math.min(retryMaxMs, retryBaseMs * 2 ** Math.min(failures - 1, 10)));
      }
    }
  })();

  return {
    kind: "relay",
    outboxMode: "relay",
    published: () => published,
    async drained(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while ((await outboxBacklog(sql)) > 0) {
        if (Date.now() > deadline) throw new Error(`outbox not drained within ${timeoutMs} ms (${lastError ?? "no error"})`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async status() {
      const backlog = await outboxBacklog(sql);
      if (failures >= 3) throw new Error(`Kafka refuses the outbox relay (${failures} failures, backlog ${backlog}): ${lastError}`);
      return { transport: "relay", backlog, published, namespace };
    },
    async stop() {
      stopped = true;
      stopSignal.abort();
      await loop;
      await producer?.disconnect().catch(() => undefined);
    },
  };
}
