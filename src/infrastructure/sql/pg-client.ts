// SqlClient over a node-postgres pool (the real PostgreSQL server).

import { finished } from "node:stream/promises";
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { copyStatementTarget } from "./copy-text.js";
import type { SqlClient, SqlExecutor } from "./sql-client.js";

/** COPY … FROM STDIN on one connection, the rows sent as one write (pg has no COPY of its own). */
async function copyOn(client: pg.PoolClient, table: string, columns: readonly string[], text: string): Promise<void> {
  const stream = client.query(copyFrom(`COPY ${copyStatementTarget(table, columns)} FROM STDIN`));
  stream.end(text);
  await finished(stream);
}

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

  // Not pool.query(): it destroys the connection on every error, a statement the server refused
  // included. Each optimistic-concurrency conflict (es_append's ES409) then cost a new backend
  // (fork, authentication, catalogs, the plpgsql functions compiled again): with one hot SKU,
  // bench:checkout opened about 10 connections a second. A refused statement (an SQLSTATE from
  // the server) leaves the connection usable; only a broken one is thrown away.
  const onPooled = async <T>(use: (client: pg.PoolClient) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    let broken: Error | undefined;
    const onError = (error: Error) => void (broken ??= error);
    client.on("error", onError);
    try {
      return await use(client);
    } catch (error) {
      // FATAL (the server ends the session: shutdown, terminated backend) is a broken connection too.
      if (!(error instanceof pg.DatabaseError) || error.severity === "FATAL" || error.severity === "PANIC") broken ??= error as Error;
      throw error;
    } finally {
      client.off("error", onError);
      client.release(broken);
    }
  };
  const query: SqlExecutor["query"] = (text, params) =>
    onPooled(async (client) => ({ rows: (await client.query(text, params as unknown[] | undefined)).rows }));

  return {
    dialect: "postgres",
    query,
    copyIn: (table, columns, text) => onPooled((client) => copyOn(client, table, columns, text)),
    async exec(script) {
      await query(script);
    },
    async transaction(work) {
      const client = await pool.connect();
      // A checked-out client has no pool listener: a connection lost while the transaction awaits
      // other work (the server restarted) would be an unhandled 'error' event and end the process.
      // Its next statement fails instead; the client is then destroyed rather than returned to the pool.
      let broken: Error | undefined;
      const onError = (error: Error) => void (broken ??= error);
      client.on("error", onError);
      try {
        await client.query("BEGIN");
        const tx: SqlExecutor = {
          query: async (text, params) => ({ rows: (await client.query(text, params as unknown[] | undefined)).rows }),
          exec: async (script) => {
            await client.query(script);
          },
          copyIn: (table, columns, text) => copyOn(client, table, columns, text),
        };
        const result = await work(tx);
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch((rollbackFailed: Error) => void (broken ??= rollbackFailed));
        throw error;
      } finally {
        client.off("error", onError);
        client.release(broken);
      }
    },
    async close() {
      await pool.end();
    },
  };
}
