// The outbox table: integration events committed in the same transaction as the translator's
// checkpoint, then carried to Kafka by a transport.
//
// Rows never pile up:
// - "capture" (Debezium, and when nothing publishes): each row is inserted and deleted in the
//   same transaction. The insert is in the WAL, which is all Debezium reads; the table stays empty.
// - "relay" (embedded PGlite, EventStoreDB, or PostgreSQL without Connect): the in-process relay
//   publishes rows in `seq` order and deletes what Kafka acknowledged. The table holds exactly
//   the backlog Kafka has not taken yet (it grows while Kafka is down, then drains).
//
// Columns are what Debezium's outbox router reads: the payload is bytea, so the bytes the
// translator stored are the bytes Kafka gets (Debezium's JSON expansion would drop fields whose
// value is []), and every header is text, so both transports send the same header bytes.

import type { Migration } from "../infrastructure/sql/migrations.js";
import type { SqlExecutor } from "../infrastructure/sql/sql-client.js";
import { CE_SPECVERSION, CONTENT_TYPE, headersOf, payloadBytes, type IntegrationEvent, type KafkaRecordShape } from "./envelope.js";

export type OutboxMode = "capture" | "relay";

/** Kept identical to infra/postgres/01-outbox.sql (a test compares them). */
export const OUTBOX_DDL = `
CREATE TABLE IF NOT EXISTS outbox (
  id uuid PRIMARY KEY,
  seq bigint GENERATED ALWAYS AS IDENTITY,
  aggregate_type text NOT NULL,
  aggregate_id text NOT NULL,
  type text NOT NULL,
  payload bytea NOT NULL,
  ce_source text NOT NULL,
  ce_time text NOT NULL,
  ce_specversion text NOT NULL,
  content_type text NOT NULL,
  correlationid text NOT NULL,
  causationid text NOT NULL,
  traceparent text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS outbox_seq ON outbox (seq);
CREATE TABLE IF NOT EXISTS outbox_heartbeat (
  id int PRIMARY KEY,
  beat_at timestamptz NOT NULL
);
INSERT INTO outbox_heartbeat (id, beat_at) VALUES (1, now()) ON CONFLICT (id) DO NOTHING;
`.trim();

export const outboxMigrations: readonly Migration[] = [{ id: "integration/001-outbox", sql: OUTBOX_DDL }];

const OUTBOX_COLUMNS = 12;
/** Rows per INSERT: 12 parameters each, far under PostgreSQL's 65,535 bind parameters. */
const ROWS_PER_INSERT = 1_000;

/**
 * Writes a batch's integration events in one multi-row INSERT (per 1,000 rows), in the caller's
 * transaction: a round trip per event was most of the translator's time. In "capture" mode one
 * DELETE of the same ids follows in the same transaction.
 */
export async function writeOutbox(sql: SqlExecutor, events: readonly IntegrationEvent[], mode: OutboxMode): Promise<void> {
  if (events.length === 0) return;
  for (let from = 0; from < events.length; from += ROWS_PER_INSERT) {
    const chunk = events.slice(from, from + ROWS_PER_INSERT);
    const params: unknown[] = [];
    const tuples = chunk.map((e, i) => {
      params.push(
        e.id,
        e.aggregateType,
        e.key,
        e.type,
        payloadBytes(e.payload),
        e.source,
        e.time,
        CE_SPECVERSION,
        CONTENT_TYPE,
        e.correlationId,
        e.causationId,
        e.traceparent,
      );
      const base = i * OUTBOX_COLUMNS;
      return `(${Array.from({ length: OUTBOX_COLUMNS }, (_, k) => `$${base + k + 1}`).join(", ")})`;
    });
    // Rows are listed in the batch's order, so `seq` (the relay's publishing order) follows the log.
    await sql.query(
      `INSERT INTO outbox (id, aggregate_type, aggregate_id, type, payload, ce_source, ce_time, ce_specversion, content_type, correlationid, causationid, traceparent)
       VALUES ${tuples.join(", ")} ON CONFLICT (id) DO NOTHING`,
      params,
    );
  }
  if (mode === "capture") await sql.query("DELETE FROM outbox WHERE id = ANY($1::uuid[])", [events.map((e) => e.id)]);
}

export interface OutboxRow {
  seq: number;
  aggregateType: string;
  record: KafkaRecordShape;
}

/** The oldest unpublished rows, in commit order, as the Kafka records they become. */
export async function readOutbox(sql: SqlExecutor, limit: number): Promise<OutboxRow[]> {
  const { rows } = await sql.query<Record<string, unknown>>(
    `SELECT seq, id::text AS id, aggregate_type, aggregate_id, type, payload, ce_source, ce_time, correlationid, causationid, traceparent
       FROM outbox ORDER BY seq LIMIT $1`,
    [limit],
  );
  return rows.map((r) => ({
    seq: Number(r.seq),
    aggregateType: String(r.aggregate_type),
    record: {
      key: String(r.aggregate_id),
      value: Buffer.from(r.payload as Uint8Array),
      headers: headersOf({
        id: String(r.id),
        type: String(r.type),
        source: String(r.ce_source),
        time: String(r.ce_time),
        correlationId: String(r.correlationid),
        causationId: String(r.causationid),
        traceparent: String(r.traceparent),
      }),
    },
  }));
}

/**
 * Deletes the rows the relay published, by their `seq` (not "through the last one": a row of a
 * translator transaction still committing, with a lower `seq`, must not be deleted unseen).
 */
export async function deleteOutboxRows(sql: SqlExecutor, seqs: readonly number[]): Promise<void> {
  if (seqs.length === 0) return;
  await sql.query("DELETE FROM outbox WHERE seq = ANY($1::bigint[])", [seqs.map(String)]);
}

export async function outboxBacklog(sql: SqlExecutor): Promise<number> {
  const { rows } = await sql.query<{ n: number }>("SELECT count(*)::int AS n FROM outbox");
  return Number(rows[0]?.n ?? 0);
}
