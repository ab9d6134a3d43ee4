// SqlClient over embedded PGlite: PostgreSQL compiled to WebAssembly, in this process.
// One connection only, so transactions are serialised by PGlite itself.

import { PGlite } from "@electric-sql/pglite";
import type { SqlClient, SqlExecutor } from "./sql-client.js";

/** `dataDir` undefined keeps everything in memory (tests). */
export async function createPgliteClient(dataDir?: string): Promise<SqlClient> {
  const db = await PGlite.create(dataDir);
  return {
    dialect: "pglite",
    query: async (text, params) => ({ rows: (await db.query(text, params as unknown[] | undefined)).rows as never[] }),
    async exec(script) {
      await db.exec(script);
    },
    transaction: (work) =>
      db.transaction((tx) => {
        const executor: SqlExecutor = {
          query: async (text, params) => ({ rows: (await tx.query(text, params as unknown[] | undefined)).rows as never[] }),
          exec: async (script) => {
            await tx.exec(script);
          },
        };
        return work(executor);
      }),
    async close() {
      await db.close();
    },
  };
}
