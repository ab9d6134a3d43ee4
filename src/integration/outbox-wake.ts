// Wakes the relay when the translator commits outbox rows in this process, so it need not poll
// a short interval to keep latency low. The translator's processor commits through a SqlClient
// whose transactions ring the bell once they have committed (a wake before the commit would find
// nothing to read). A translator on another instance rings nothing here: the relay's idle poll
// is its fallback.

import type { SqlClient } from "../infrastructure/sql/sql-client.js";

export interface OutboxBell {
  ring(): void;
  /** Resolves at the next ring (or one that came since the last wait), after `ms`, or on abort. */
  wait(ms: number, signal?: AbortSignal): Promise<void>;
}

export function outboxBell(): OutboxBell {
  let rung = false;
  let wake: (() => void) | undefined;
  return {
    ring() {
      rung = true;
      wake?.();
    },
    wait(ms, signal) {
      if (rung || signal?.aborted) {
        rung = false;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", done);
          wake = undefined;
          rung = false;
          resolve();
        };
        const timer = setTimeout(done, ms);
        signal?.addEventListener("abort", done, { once: true });
        wake = done;
      });
    },
  };
}

/** `sql` whose committed transactions ring `bell` (for the translator's processor). */
export function ringingOnCommit(sql: SqlClient, bell: OutboxBell): SqlClient {
  return {
    dialect: sql.dialect,
    query<Row>(text: string, params?: readonly unknown[]) {
      return sql.query<Row>(text, params);
    },
    exec: (script) => sql.exec(script),
    copyIn: (table, columns, text) => sql.copyIn(table, columns, text),
    async transaction(work) {
      const result = await sql.transaction(work);
      bell.ring();
      return result;
    },
    // The client is its owner's to close.
    close: async () => undefined,
  };
}
