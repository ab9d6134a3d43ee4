// The snapshot store contract on embedded PGlite (always) and PostgreSQL (with DATABASE_URL),
// for the table itself and for the in-process cache in front of it (a fresh cache per open, as a
// fresh process would have: what one cache wrote, another must read from the table).

import { afterAll, beforeAll, describe } from "vitest";
import { openSqlClient, PostgresEventStore } from "../../src/eventstore/index.js";
import { PostgresSnapshotStore } from "../../src/eventstore/postgres/postgres-snapshot-store.js";
import { CachedSnapshotStore } from "../../src/eventstore/snapshots/cached-snapshot-store.js";
import { createPgClient } from "../../src/infrastructure/sql/pg-client.js";
import type { SqlClient } from "../../src/infrastructure/sql/sql-client.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { missing, server } from "../support/env.js";
import { snapshotStoreContract } from "./snapshot-contract.js";

function contractOver(name: string, sql: () => SqlClient): void {
  // Opening the event store applies its migrations, es_snapshots among them.
  const migrated = async () => {
    await PostgresEventStore.open(sql());
    return sql();
  };
  snapshotStoreContract(`${name} table`, async () => new PostgresSnapshotStore(await migrated(), 100));
  snapshotStoreContract(
    `${name} table behind the process cache`,
    async () => new CachedSnapshotStore(new PostgresSnapshotStore(await migrated(), 100)),
  );
}

describe("embedded PGlite", () => {
  let sql: SqlClient;
  beforeAll(async () => {
    sql = await openSqlClient({});
  });
  afterAll(() => sql?.close());
  contractOver("PGlite", () => sql);
});

const databaseUrl = server("DATABASE_URL");
describe.skipIf(missing(databaseUrl))("PostgreSQL", () => {
  let database: TestDatabase;
  let sql: SqlClient;
  beforeAll(async () => {
    database = await createTestDatabase();
    sql = createPgClient({ connectionString: database.url });
  });
  afterAll(async () => {
    await sql?.close();
    await database?.drop();
  });
  contractOver("PostgreSQL", () => sql);
});
