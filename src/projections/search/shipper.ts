// Feeds the Elasticsearch index from the search read model's tables. Documents are marked for it
// in two ways: `ship_pending` on the row (rebuilds, servers without Elasticsearch, events the
// projector replays one at a time), cleared only where the version sent is still the row's; and a
// search_shipments row per committed batch of the live projector, which ./direct-shipper.ts
// normally sends from memory and deletes, and which is shipped from here when it could not.
// Documents go in `_bulk` pages at their versions (external versioning): a crash between the bulk
// and the clearing ships them again, and Elasticsearch answers 409 for what it already holds, so
// nothing is applied twice or moves backwards; a change that lands while a page is in flight keeps
// its mark (or row) and goes in the next page.

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

/**
 * Whether any document of `documents` (a quoted table name) is marked ship_pending, read from the
 * partial index whatever the planner knows. `EXISTS (… WHERE ship_pending)` was planned as a
 * sequential scan of the whole table while it had no statistics (new tables: a catch-up, a
 * rebuild's shadow, before autovacuum analyses them), expecting a marked row early on; none came,
 * so every pass read every row: 24 ms at 50,000 documents, every 50 ms, through a catch-up
 * (bench:search: 4.0 s of an 11 s catch-up of 50,000 products). Ordered by sku, only the partial
 * index gives the rows sorted and filtered, so it is the cheapest plan with or without statistics.
 */
export const markedProbe = (documents: string): string =>
  `((SELECT sku FROM ${documents} WHERE ship_pending ORDER BY sku LIMIT 1) IS NOT NULL)`;

export interface ShipOptions {
  pageSize?: number;
  /** Leave search_shipments rows younger than this to the in-memory shipper that queued them (a background pass; 0 ships all). */
  minAgeMs?: number;
  /** Transactions whose shipments this process is sending from memory right now. */
  held?: () => readonly string[];
}

/**
 * Ships every pending document of `tables` to `index`: rows marked ship_pending, and the
 * documents named by search_shipments rows (at their versions now, which is as new or newer).
 * Returns how many were sent.
 */
export async function shipPending(
  sql: SqlExecutor,
  engine: ElasticsearchSearchEngine,
  index: string,
  tables: SearchTables = SEARCH_TABLES,
  options: ShipOptions = {},
): Promise<number> {
  const pageSize = options.pageSize ?? SHIP_PAGE;
  const d = ident(tables.documents);
  const q = ident(tables.shipments);
  const queuedFilter = `queued_at <= now() - make_interval(secs => $1) AND NOT (tx::text = ANY ($2::text[]))`;
  const queuedParams = [(options.minAgeMs ?? 0) / 1000, [...(options.held?.() ?? [])]];
  // Most passes find nothing: one statement says so for both kinds of mark (an idle pass costs one query).
  const { rows: probe } = await sql.query<{ marked: boolean; queued: boolean }>(
    `SELECT ${markedProbe(d)} AS marked, EXISTS (SELECT 1 FROM ${q} WHERE ${queuedFilter}) AS queued`,
    queuedParams,
  );
  const { marked, queued: anyQueued } = probe[0] ?? { marked: false, queued: false };
  let shipped = 0;
  while (marked) {
    const { rows } = await sql.query<Record<string, unknown>>(
      `SELECT ${SEARCH_DOCUMENT_COLUMNS} FROM ${d} WHERE ship_pending ORDER BY sku LIMIT ${pageSize}`,
    );
    if (rows.length === 0) break;
    const documents = rows.map(toDocument);
    await engine.write(documents, index);
    await sql.query(
      `UPDATE ${d} SET ship_pending = false FROM unnest($1::text[], $2::bigint[]) AS s(sku, version) WHERE ${d}.sku = s.sku AND ${d}.version = s.version`,
      [documents.map((x) => x.sku), documents.map((x) => x.version)],
    );
    shipped += rows.length;
    if (rows.length < pageSize) break;
  }
  while (anyQueued) {
    const { rows: queued } = await sql.query<{ tx: string; skus: string[] }>(
      `SELECT tx::text AS tx, skus FROM ${q} WHERE ${queuedFilter} ORDER BY tx LIMIT 100`,
      queuedParams,
    );
    if (queued.length === 0) break;
    const skus = [...new Set(queued.flatMap((r) => r.skus))];
    for (let i = 0; i < skus.length; i += pageSize) {
      const { rows } = await sql.query<Record<string, unknown>>(
        `SELECT ${SEARCH_DOCUMENT_COLUMNS} FROM ${d} WHERE sku = ANY ($1::text[])`,
        [skus.slice(i, i + pageSize)],
      );
      await engine.write(rows.map(toDocument), index);
      shipped += rows.length;
    }
    await sql.query(`DELETE FROM ${q} WHERE tx = ANY ($1::xid8[])`, [queued.map((r) => r.tx)]);
    if (queued.length < 100) break;
  }
  return shipped;
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

/** How long a background pass leaves a queued shipment to the in-memory shipper of the process that queued it. */
const BACKGROUND_AGE_MS = 1_000;

/**
 * Runs `shipPending` in a loop (every `intervalMs` when idle, backing off while Elasticsearch
 * fails): what the in-memory shipper could not send, marks from rebuilds and from servers that
 * ran without Elasticsearch, and everything after a crash.
 */
export class IndexShipper {
  private stopped = false;
  /** The next pass ships queued shipments of any age (a reader waits for them). */
  private urgent = false;
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
    /** The transactions an in-memory shipper in this process is sending now. */
    private readonly held: () => readonly string[] = () => [],
    private readonly intervalMs = 50,
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.passes.request().then(
        () => this.schedule(this.intervalMs),
        () => this.schedule(Math.min(2_000, this.intervalMs * 2 ** Math.min(this.failures, 6))),
      );
    }, ms);
  }

  /** Ships everything pending now; runs after any pass already in progress (one pass at a time, shared by callers that ask before it starts). */
  drain(): Promise<void> {
    this.urgent = true;
    return this.passes.request();
  }

  private async pass(): Promise<void> {
    const minAgeMs = this.urgent ? 0 : BACKGROUND_AGE_MS;
    this.urgent = false;
    try {
      if ((await shipPending(this.sql, this.engine, this.index, SEARCH_TABLES, { minAgeMs, held: this.held })) > 0)
        this.lastShippedAt = new Date();
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
    const { rows } = await this.sql.query<{ n: unknown }>(
      `SELECT (SELECT count(*) FROM ${ident(SEARCH_TABLES.documents)} WHERE ship_pending)
            + (SELECT coalesce(sum(cardinality(skus)), 0) FROM ${ident(SEARCH_TABLES.shipments)}) AS n`,
    );
    return { pending: Number(rows[0]?.n ?? 0), lastError: this.lastError, lastShippedAt: this.lastShippedAt?.toISOString() ?? null };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.passes.settled();
  }
}
