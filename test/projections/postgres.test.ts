import { describe } from "vitest";
import { openEventStore } from "../../src/eventstore/index.js";
import { createPgClient } from "../../src/infrastructure/sql/pg-client.js";
import { createTestDatabase } from "../support/database.js";
import { missing, server } from "../support/env.js";
import { projectionSuite } from "./suite.js";

describe.skipIf(missing(server("DATABASE_URL")))("PostgreSQL", () => {
  projectionSuite("PostgreSQL", async () => {
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
  });
});
