// Opens the configured event store adapter. Configuration picks it; nothing else in the code
// knows which one runs.

import { mkdirSync } from "node:fs";
import { createPgClient } from "../infrastructure/sql/pg-client.js";
import { createPgliteClient } from "../infrastructure/sql/pglite-client.js";
import type { SqlClient } from "../infrastructure/sql/sql-client.js";
import { EventStoreDbEventStore } from "./eventstoredb/eventstoredb-event-store.js";
import type { EventStore } from "./port.js";
import { PostgresEventStore } from "./postgres/postgres-event-store.js";
import type { UpcasterRegistry } from "./upcasters.js";

export * from "./errors.js";
export * from "./port.js";
export { UpcasterRegistry } from "./upcasters.js";
export { PostgresEventStore } from "./postgres/postgres-event-store.js";

export interface OpenEventStoreOptions {
  /** `postgres` (default) or `eventstoredb`. */
  eventStore?: "postgres" | "eventstoredb";
  /** PostgreSQL server; when absent the embedded PGlite is used. */
  databaseUrl?: string;
  /** Where PGlite keeps its files; absent (and no databaseUrl) means in memory. */
  dataDir?: string;
  eventStoreUrl?: string;
  upcasters?: UpcasterRegistry;
  pollIntervalMs?: number;
  /** Reuse an already open SqlClient (the app shares one with its read models). */
  sql?: SqlClient;
  /** SNAPSHOT_EVERY: snapshot a stream each time it has grown by this many events; 0 = none (PostgreSQL/PGlite only). */
  snapshotEvery?: number;
}

export async function openSqlClient(options: { databaseUrl?: string; dataDir?: string }): Promise<SqlClient> {
  if (options.databaseUrl) return createPgClient({ connectionString: options.databaseUrl });
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  return createPgliteClient(options.dataDir);
}

export async function openEventStore(options: OpenEventStoreOptions = {}): Promise<EventStore> {
  if (options.eventStore === "eventstoredb") {
    if (!options.eventStoreUrl) throw new Error("EVENTSTORE_URL is required when EVENT_STORE=eventstoredb");
    return new EventStoreDbEventStore(options.eventStoreUrl, { upcasters: options.upcasters });
  }
  const sql = options.sql ?? (await openSqlClient(options));
  return PostgresEventStore.open(sql, {
    upcasters: options.upcasters,
    pollIntervalMs: options.pollIntervalMs,
    ownsClient: !options.sql,
    ...(options.snapshotEvery === undefined ? {} : { snapshotEvery: options.snapshotEvery }),
  });
}
