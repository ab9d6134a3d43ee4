// What every command runs against, opened from the same environment variables as the server
// (src/config.ts): the event store (PostgreSQL, embedded PGlite under DATA_DIR, or EventStoreDB)
// and the SQL database of the read models. The log is opened twice over the same connections:
// `store` as the application reads it (upcasters applied: rebuilds, checks) and `stored` as it
// is stored (`events --view stored|both`, which apply the upcasters themselves to show both).

import { join } from "node:path";
import { loadConfig, type Config } from "../config.js";
import { openEventStore, openSqlClient, UpcasterRegistry } from "../eventstore/index.js";
import type { Checkpoint, EventStore, RecordedEvent } from "../eventstore/port.js";
import { logPages } from "../eventstore/pages.js";
import { createPgClient } from "../infrastructure/sql/pg-client.js";
import type { SqlClient } from "../infrastructure/sql/sql-client.js";
import type { Output } from "./output.js";

/** The application_name of the CLI's PostgreSQL sessions (the server's are "commerce"). */
export const CLI_APPLICATION_NAME = "replay";

export interface CliContext {
  config: Config;
  /** The log as the application reads it (upcasters applied). */
  store: EventStore;
  /** The log as stored (no upcasters applied). */
  stored: EventStore;
  sql: SqlClient;
  upcasters: UpcasterRegistry;
  out: Output;
  /** The event as the application reads it (upcast to its current schema version). */
  upcast(event: RecordedEvent): RecordedEvent;
  close(): Promise<void>;
}

export async function openCliContext(
  out: Output,
  options: { env?: Record<string, string | undefined>; upcasters?: UpcasterRegistry } = {},
): Promise<CliContext> {
  const config = loadConfig(options.env ?? process.env);
  // On PostgreSQL the log is read over connections of its own: a rebuild writes read models on
  // up to two statements per table at once, and its next page of the log queued behind them on a
  // shared pool (a 1M-event rebuild spent about 0.7 s of its 22 s waiting so). Embedded PGlite has
  // one connection whatever is asked.
  const pgPool = (max: number) =>
    createPgClient({
      connectionString: config.databaseUrl!,
      max,
      applicationName: CLI_APPLICATION_NAME,
      statementTimeoutMs: 30 * 60_000,
    });
  const sql = config.databaseUrl ? pgPool(8) : await openSqlClient({ dataDir: join(config.dataDir, "pglite") });
  const logSql = config.databaseUrl ? pgPool(2) : sql;
  try {
    // The server registers no upcasters today; commands take the same registry it would.
    const upcasters = options.upcasters ?? new UpcasterRegistry();
    const open = (registry: UpcasterRegistry) =>
      openEventStore({
        eventStore: config.eventStore,
        ...(config.eventStoreUrl ? { eventStoreUrl: config.eventStoreUrl } : {}),
        sql: logSql,
        upcasters: registry,
      });
    const store = await open(upcasters);
    const stored = await open(new UpcasterRegistry());
    return {
      config,
      store,
      stored,
      sql,
      upcasters,
      out,
      upcast: (event) => upcasters.apply(event),
      async close() {
        await store.close().catch(() => undefined);
        await stored.close().catch(() => undefined);
        await sql.close().catch(() => undefined);
        if (logSql !== sql) await logSql.close().catch(() => undefined);
      },
    };
  } catch (error) {
    await sql.close().catch(() => undefined);
    if (logSql !== sql) await logSql.close().catch(() => undefined);
    throw error;
  }
}

/**
 * How far through the log a checkpoint is, 0..1, for progress bars only. Checkpoints are opaque,
 * but both adapters print "<a>:<b>" with a growing counter: PostgreSQL's second part is the
 * global position, EventStoreDB's first is the commit position.
 */
export function logFraction(kind: EventStore["kind"], checkpoint: Checkpoint, head: Checkpoint): number {
  const part = (c: Checkpoint) => {
    const m = /^(\d+):(\d+)$/.exec(c);
    return m ? Number(kind === "eventstoredb" ? m[1] : m[2]) : 0;
  };
  const h = part(head);
  return h === 0 ? 1 : Math.min(1, part(checkpoint) / h);
}

/** Reads the whole log (or a filtered part) page by page, with a progress bar. */
export async function forEachPage(
  ctx: CliContext,
  label: string,
  options: { from?: Checkpoint; filter?: { eventTypes?: readonly string[]; streamCategories?: readonly string[] }; pageSize?: number },
  handle: (events: RecordedEvent[]) => void | Promise<void>,
): Promise<{ events: number; checkpoint: Checkpoint }> {
  const head = await ctx.store.headCheckpoint();
  const progress = ctx.out.progress(label, 1000);
  let count = 0;
  let checkpoint = options.from ?? "";
  try {
    for await (const page of logPages(ctx.store, options)) {
      count += page.events.length;
      checkpoint = page.checkpoint;
      if (page.events.length > 0) await handle(page.events);
      progress.update(Math.round(logFraction(ctx.store.kind, page.checkpoint, head) * 1000), 1000);
    }
  } finally {
    progress.stop();
  }
  return { events: count, checkpoint };
}
