// How integration events get from the outbox to Kafka. Two adapters, one contract
// (test/integration/transports.test.ts proves they publish identical records):
// - debezium.ts: Kafka Connect's Debezium PostgreSQL connector reads the outbox inserts from the
//   WAL (outbox mode "capture");
// - relay.ts: an in-process kafkajs producer reads the outbox table (mode "relay"), for embedded
//   PGlite (no logical replication) and EventStoreDB, or PostgreSQL without Connect.

import type { OutboxMode } from "../outbox.js";

export interface IntegrationTransport {
  readonly kind: "debezium" | "relay";
  /** How the translator must write the outbox for this transport. */
  readonly outboxMode: OutboxMode;
  /** Readiness detail; throws when the transport cannot deliver (connector failed, Kafka unreachable). */
  status(): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}
