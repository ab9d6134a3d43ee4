// SqlClient over a node-postgres pool (the real PostgreSQL server).

import pg from "pg";
import type { SqlClient, SqlExecutor } from "./sql-client.js";

export interface PgClientOptions {
  connectionString: string;
  max?: number;
  /** A transaction left open this long is killed by the server: an open transaction stalls every xmin-based subscriber. */
  idleInTransactionTimeoutMs?: number;
  statementTimeoutMs?: number;
  applicationName?: string;
}

export function createPgClient(options: PgClientOptions): SqlClient {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max ?? 20,
    application_name: options.applicationName ?? "commerce",
    idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs ?? 15_000,
    statement_timeout: options.statementTimeoutMs ?? 60_000,
  });
  // An idle client that loses its connection must not crash the process; the next query reconnects.
  pool.on("error", () => {});

  const query: SqlExecutor["query"] = async (text, params) => {
    const result = await pool.query(text, params as unknown[] | undefined);
    return { rows: result.rows };
  };

  return {
    dialect: "postgres",
    query,
    async exec(script) {
      await pool.query(script);
    },
    async transaction(work) {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const tx: SqlExecutor = {
          query: async (text, params) => ({ rows: (await client.query(text, params as unknown[] | undefined)).rows }),
          exec: async (script) => {
            await client.query(script);
          },
        };
        const result = await work(tx);
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    async close() {
      await pool.end();
    },
  };
}
