// A PostgreSQL event store on a throwaway database that also says its URL (Debezium needs it).

import { openEventStore } from "../../src/eventstore/index.js";
import { createPgClient } from "../../src/infrastructure/sql/pg-client.js";
import { createTestDatabase } from "../support/database.js";
import type { StoreWorld } from "../support/stores.js";

export interface UrlWorld extends StoreWorld {
  url: string;
}

export async function openPostgresUrlWorld(): Promise<UrlWorld> {
  const database = await createTestDatabase();
  const sql = createPgClient({ connectionString: database.url, max: 10 });
  const store = await openEventStore({ sql, pollIntervalMs: 20 });
  return {
    url: database.url,
    store,
    sql,
    async close() {
      await store.close();
      await sql.close();
      await database.drop();
    },
  };
}
