// Counts the statements a SqlClient sends, opt-in: a client is counted only when wrapped here.
// The checkout benchmark divides the count by confirmed orders to see how many round trips an
// order costs (src/app.ts exposes it on /metrics as sql_statements_total). A transaction counts
// its BEGIN and COMMIT (or ROLLBACK) as well: each is a round trip like any statement.

import type { SqlClient, SqlExecutor } from "./sql-client.js";

/** `count(n)` is called with the number of statements just sent (one query, a script, or a transaction's BEGIN/COMMIT). */
export function countStatements(client: SqlClient, count: (n: number) => void): SqlClient {
  const counted = (executor: SqlExecutor): SqlExecutor => ({
    query: (text, params) => {
      count(1);
      return executor.query(text, params);
    },
    exec: (script) => {
      count(1);
      return executor.exec(script);
    },
    copyIn: (table, columns, text) => {
      count(1);
      return executor.copyIn(table, columns, text);
    },
  });
  const outside = counted(client);
  return {
    dialect: client.dialect,
    query: outside.query,
    exec: outside.exec,
    copyIn: outside.copyIn,
    transaction: (work) => {
      count(2);
      return client.transaction((tx) => work(counted(tx)));
    },
    close: () => client.close(),
  };
}
