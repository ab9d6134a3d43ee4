// SqlClient over embedded PGlite: PostgreSQL compiled to WebAssembly, in this process.
// One connection only, so transactions are serialised by PGlite itself.

import { PGlite, type Transaction } from "@electric-sql/pglite";
import { copyStatementTarget } from "./copy-text.js";
import type { SqlClient, SqlExecutor } from "./sql-client.js";

/** PGlite reads COPY's input from a blob it names /dev/blob. */
async function copyOn(db: PGlite | Transaction, table: string, columns: readonly string[], text: string): Promise<void> {
  await db.query(`COPY ${copyStatementTarget(table, columns)} FROM '/dev/blob'`, [], { blob: new Blob([text]) });
}

/** `dataDir` undefined keeps everything in memory (tests). */
export async function createPgliteClient(dataDir?: string): Promise<SqlClient> {
  const db = await PGlite.create(dataDir);
  return {
    dialect: "pglite",
    query: async (text, params) => ({ rows: (await db.query(text, params as unknown[] | undefined)).rows as never[] }),
    async exec(script) {
      await db.exec(script);
    },
    copyIn: (table, columns, text) => copyOn(db, table, columns, text),
    transaction: (work) =>
      db.transaction((tx) => {
        const executor: SqlExecutor = {
          query: async (text, params) => ({ rows: (await tx.query(text, params as unknown[] | undefined)).rows as never[] }),
          exec: async (script) => {
            await tx.exec(script);
          },
          copyIn: (table, columns, text) => copyOn(tx, table, columns, text),
        };
        return work(executor);
      }),
    async close() {
      await db.close();
    },
  };
}
