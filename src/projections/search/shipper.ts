// Feeds the Elasticsearch index from the search read model: documents the projector changed are
// marked `ship_pending`; the shipper sends them in `_bulk` pages at their versions (external
// versioning) and clears the mark only where the version it sent is still the row's version.
// A crash between the bulk and the clearing ships the page again, and Elasticsearch answers 409
// for what it already holds, so nothing is applied twice or moves backwards; a change that
// lands while a page is in flight keeps its mark and goes in the next page. This is how the
// index gets whole bulk pages rather than one request per event.

import type { Logger } from "pino";
import type { SqlExecutor } from "../../infrastructure/sql/sql-client.js";
import type { Migration } from "../../infrastructure/sql/migrations.js";
import type { ElasticsearchSearchEngine } from "../../search/elasticsearch/engine.js";
import { ident } from "../projection.js";
import { SEARCH_DOCUMENT_COLUMNS, SEARCH_TABLES, toDocument, type SearchTables } from "./documents.js";

/** Documents per `_bulk` (about 1 MB): fewer, larger requests cost Elasticsearch less per document. */
export const SHIP_PAGE = 2000;

/** Which index each search alias should point at, committed with the table swap of a rebuild. */
export const indexGenerationMigrations: readonly Migration[] = [
  {
    id: "projections/search/002-index-generation",
    sql: `CREATE TABLE search_index_generation (alias text PRIMARY KEY, index_name text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());`,
  },
];

/** Ships every pending document of `tables` to `index`; returns how many were sent. */
export async function shipPending(
  sql: SqlExecutor,
  engine: ElasticsearchSearchEngine,
  index: string,
  tables: SearchTables = SEARCH_TABLES,
  pageSize = SHIP_PAGE,
): Promise<number> {
  const d = ident(tables.documents);
  let shipped = 0;
  for (;;) {
    const { rows } = await sql.query<Record<string, unknown>>(
      `SELECT ${SEARCH_DOCUMENT_COLUMNS} FROM ${d} WHERE ship_pending ORDER BY sku LIMIT ${pageSize}`,
    );
    if (rows.length === 0) return shipped;
    const documents = rows.map(toDocument);
    await engine.write(documents, index);
    await sql.query(
      `UPDATE ${d} SET ship_pending = false FROM unnest($1::text[], $2::bigint[]) AS s(sku, version) WHERE ${d}.sku = s.sku AND ${d}.version = s.version`,
      [documents.map((x) => x.sku), documents.map((x) => x.version)],
    );
    shipped += rows.length;
    if (rows.length < pageSize) return shipped;
  }
}

export interface ShipperStatus {
  /** Documents changed in the read model and not yet in the index. */
  pending: number;
  lastError: string | null;
  lastShippedAt: string | null;
}

/**
 * Runs `work` one run at a time; a caller arriving while a run waits to start shares that run
 * (it begins after the call, so it covers what the caller wants). Many waiters at once (every
 * read with waitFor) then cost one more run, not one each.
 */
export class CoalescedRuns {
  private last: Promise<void> = Promise.resolve();
  private queued: Promise<void> | undefined;
  constructor(private readonly work: () => Promise<void>) {}

  request(): Promise<void> {
    if (this.queued) return this.queued;
    const run = this.last.then(
      () => this.begin(),
      () => this.begin(),
    );
    this.queued = run;
    this.last = run;
    return run;
  }

  private begin(): Promise<void> {
    this.queued = undefined;
    return this.work();
  }

  /** Resolves when the runs requested so far have ended (failed or not). */
  async settled(): Promise<void> {
    await this.last.catch(() => undefined);
  }
}

/** Runs `shipPending` in a loop (every `intervalMs` when idle, backing off while Elasticsearch fails). */
export class IndexShipper {
  private stopped = false;
  private readonly passes = new CoalescedRuns(() => this.pass());
  private timer: NodeJS.Timeout | undefined;
  private lastError: string | null = null;
  private lastShippedAt: Date | null = null;
  private failures = 0;

  constructor(
    private readonly sql: SqlExecutor,
    private readonly engine: ElasticsearchSearchEngine,
    private readonly index: string,
    private readonly logger?: Logger,
    private readonly intervalMs = 50,
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.drain().then(
        () => this.schedule(this.intervalMs),
        () => this.schedule(Math.min(2_000, this.intervalMs * 2 ** Math.min(this.failures, 6))),
      );
    }, ms);
  }

  /** Ships everything pending now; runs after any pass already in progress (one pass at a time, shared by callers that ask before it starts). */
  drain(): Promise<void> {
    return this.passes.request();
  }

  private async pass(): Promise<void> {
    try {
      if ((await shipPending(this.sql, this.engine, this.index)) > 0) this.lastShippedAt = new Date();
      this.lastError = null;
      this.failures = 0;
    } catch (error) {
      this.failures++;
      const message = error instanceof Error ? error.message : String(error);
      if (this.lastError !== message) this.logger?.warn({ err: error }, "search index shipping failed; retrying");
      this.lastError = message;
      throw error;
    }
  }

  async status(): Promise<ShipperStatus> {
    const { rows } = await this.sql.query<{ n: unknown }>(`SELECT count(*) AS n FROM ${ident(SEARCH_TABLES.documents)} WHERE ship_pending`);
    return { pending: Number(rows[0]?.n ?? 0), lastError: this.lastError, lastShippedAt: this.lastShippedAt?.toISOString() ?? null };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.passes.settled();
  }
}
