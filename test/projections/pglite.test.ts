import { openEventStore, openSqlClient } from "../../src/eventstore/index.js";
import { projectionSuite } from "./suite.js";

projectionSuite("embedded PGlite", async () => {
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
});
