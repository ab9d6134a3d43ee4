import { openEventStore, openSqlClient } from "../../src/eventstore/index.js";
import type { SqlClient } from "../../src/infrastructure/sql/sql-client.js";
import { eventStoreContract } from "./contract.js";

// PGlite runs in this process: always available, no configuration needed. Every store of the
// suite shares one in-memory database, as the stores of one process share one PGlite.
let sql: Promise<SqlClient> | undefined;
eventStoreContract("embedded PGlite", {
  open: async (options) => openEventStore({ sql: await (sql ??= openSqlClient({})), upcasters: options?.upcasters, pollIntervalMs: 20 }),
  teardown: async () => (await sql)?.close(),
});
