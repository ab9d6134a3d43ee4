// The inbox: one row per (consumer, integration event id), written in the same transaction as
// the consumer's side effect. A redelivered event (a replay, a relay retry, Connect restarting
// from an older offset) finds its row and changes nothing; `deliveries` counts how often it came.

import type { Migration } from "../infrastructure/sql/migrations.js";
import type { SqlExecutor } from "../infrastructure/sql/sql-client.js";

export const inboxMigrations: readonly Migration[] = [
  {
    id: "consumers/001-inbox",
    sql: `
      CREATE TABLE consumer_inbox (
        consumer text NOT NULL,
        event_id text NOT NULL,
        event_type text NOT NULL,
        topic text NOT NULL,
        "partition" int NOT NULL,
        "offset" bigint NOT NULL,
        deliveries int NOT NULL DEFAULT 1,
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer, event_id)
      );
    `,
  },
];

export interface InboxEntry {
  consumer: string;
  eventId: string;
  eventType: string;
  topic: string;
  partition: number;
  offset: string;
}

/** Records the delivery; true when this is the event's first, so the side effect must run. */
export async function admit(sql: SqlExecutor, e: InboxEntry): Promise<boolean> {
  const { rows } = await sql.query<{ deliveries: number }>(
    `INSERT INTO consumer_inbox (consumer, event_id, event_type, topic, "partition", "offset") VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (consumer, event_id) DO UPDATE SET deliveries = consumer_inbox.deliveries + 1
     RETURNING deliveries`,
    [e.consumer, e.eventId, e.eventType, e.topic, e.partition, e.offset],
  );
  return Number(rows[0]?.deliveries) === 1;
}

/**
 * admit() for a whole batch in one statement: the ids delivered for the first time. An id
 * repeated inside the batch counts once here; its later copies are duplicates.
 */
export async function admitMany(sql: SqlExecutor, entries: readonly InboxEntry[]): Promise<Set<string>> {
  const unique = [...new Map(entries.map((e) => [`${e.consumer}\u0000${e.eventId}`, e])).values()];
  if (unique.length === 0) return new Set();
  const { rows } = await sql.query<{ event_id: string; deliveries: number }>(
    `INSERT INTO consumer_inbox (consumer, event_id, event_type, topic, "partition", "offset")
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::bigint[])
     ON CONFLICT (consumer, event_id) DO UPDATE SET deliveries = consumer_inbox.deliveries + 1
     RETURNING event_id, deliveries`,
    [
      unique.map((e) => e.consumer),
      unique.map((e) => e.eventId),
      unique.map((e) => e.eventType),
      unique.map((e) => e.topic),
      unique.map((e) => e.partition),
      unique.map((e) => e.offset),
    ],
  );
  return new Set(rows.filter((r) => Number(r.deliveries) === 1).map((r) => r.event_id));
}
