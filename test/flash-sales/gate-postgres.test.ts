// The gate contract on PostgreSQL (a throwaway database, a pool of real connections racing on the
// sale's row) and on embedded PGlite.

import { describe } from "vitest";
import { openSqlClient } from "../../src/eventstore/index.js";
import { PostgresFlashSaleGate } from "../../src/flash-sales/postgres/postgres-gate.js";
import { createPgClient } from "../../src/infrastructure/sql/pg-client.js";
import type { SqlClient } from "../../src/infrastructure/sql/sql-client.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { missing, server } from "../support/env.js";
import { gateContract } from "./gate-contract.js";

const databaseUrl = server("DATABASE_URL");

describe.skipIf(missing(databaseUrl))("PostgreSQL flash-sale gate", () => {
  let database: TestDatabase;
  let sql: SqlClient;
  gateContract("PostgreSQL", {
    async open() {
      database = await createTestDatabase();
      sql = createPgClient({ connectionString: database.url, max: 20 });
      return PostgresFlashSaleGate.open(sql);
    },
    async teardown() {
      await sql?.close();
      await database?.drop();
    },
    crowdConcurrency: 200,
  });
});

describe("PGlite flash-sale gate", () => {
  let sql: SqlClient;
  gateContract("PGlite", {
    async open() {
      sql = await openSqlClient({});
      return PostgresFlashSaleGate.open(sql);
    },
    teardown: async () => sql?.close(),
    crowdConcurrency: 50,
  });
});
