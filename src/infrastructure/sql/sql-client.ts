// The one SQL surface shared by real PostgreSQL (`pg`) and embedded PGlite, so every SQL
// statement in the project is written once and runs on both.

export interface SqlExecutor {
  query<Row = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<{ rows: Row[] }>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
  /**
   * Loads rows into `table` with COPY (text format: one line per row, values tab-separated, `\N`
   * for null, backslash escapes; see copyField in ./copy-text.ts). The server's cheapest way in for
   * many new rows: the 1M-event rebuild's plain INSERTs from a JSON parameter cost it about 17 µs
   * a row, COPY about 6.
   */
  copyIn(table: string, columns: readonly string[], text: string): Promise<void>;
}

export interface SqlClient extends SqlExecutor {
  readonly dialect: "postgres" | "pglite";
  /** Runs `work` in one transaction on one connection; commits when it resolves, rolls back when it throws. */
  transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** PostgreSQL error codes the project reacts to. */
export const SqlState = {
  uniqueViolation: "23505",
  serializationFailure: "40001",
  deadlockDetected: "40P01",
} as const;

export const sqlErrorCode = (error: unknown): string | undefined =>
  typeof error === "object" && error !== null && "code" in error && typeof error.code === "string" ? error.code : undefined;

/**
 * True when the statement failed because the database could not be reached or dropped the
 * connection (server restarting, network cut), not because of what the statement did: retrying
 * the same work later is right, and nothing about the work itself is wrong.
 */
export function isConnectionLost(error: unknown): boolean {
  const code = sqlErrorCode(error);
  if (code !== undefined) {
    // Class 08: connection exception; 57P01-57P03: admin shutdown, crash shutdown, cannot connect now (starting up).
    if (code.startsWith("08") || code === "57P01" || code === "57P02" || code === "57P03") return true;
    if (["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "ENOTFOUND", "EHOSTUNREACH"].includes(code)) return true;
  }
  const message = error instanceof Error ? error.message : "";
  return /Connection terminated|connection error|not queryable|timeout exceeded when trying to connect/i.test(message);
}
