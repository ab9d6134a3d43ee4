// An event store with its SQL client, on embedded PGlite or on a throwaway PostgreSQL database,
// for suites that run the same tests on both.

import { openEventStore, openSqlClient, type EventStore } from "../../src/eventstore/index.js";
import { createPgClient } from "../../src/infrastructure/sql/pg-client.js";
import type { SqlClient } from "../../src/infrastructure/sql/sql-client.js";
import { createTestDatabase } from "./database.js";

export interface StoreWorld {
  store: EventStore;
  sql: SqlClient;
  close(): Promise<void>;
}

export async function openPgliteWorld(): Promise<StoreWorld> {
  const sql = await openSqlClient({});
  const store = await openEventStore({ sql, pollIntervalMs: 20 });
  return {
    store,
    sql,
    async close() {
      await store.close();
      await sql.close();
    },
  };
}

export async function openPostgresWorld(): Promise<StoreWorld> {
  const database = await createTestDatabase();
  const sql = createPgClient({ connectionString: database.url, max: 10 });
  const store = await openEventStore({ sql, pollIntervalMs: 20 });
  return {
    store,
    sql,
    async close() {
      await store.close();
      await sql.close();
      await database.drop();
    },
  };
}
