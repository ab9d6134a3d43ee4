// Ships what the search projector's batches changed straight from its fold in memory: no read of
// the documents back from the table, no per-row mark to clear. Each batch queues one
// search_shipments row (its transaction id and SKUs) in its own transaction and hands the same
// documents here. Once the projector has moved past the batch, it has committed or rolled back:
// the row exists only if it committed (a rolled-back batch's documents are dropped, they were
// never stored). Only batches already passed are shipped, so neither a run nor a reader's
// flush waits for a later batch to commit. The documents go out in `_bulk` pages at their versions, then the rows are
// deleted. Anything that fails, or a crash, leaves the rows for ./shipper.ts, which ships those
// SKUs from the table; Elasticsearch's external versions make shipping twice harmless.

import type { Logger } from "pino";
import type { Checkpoint } from "../../eventstore/port.js";
import type { SqlExecutor } from "../../infrastructure/sql/sql-client.js";
import type { ElasticsearchSearchEngine } from "../../search/elasticsearch/engine.js";
import type { SearchDocument } from "../../search/port.js";
import { ident } from "../projection.js";
import { SEARCH_TABLES, type Shipment } from "./documents.js";
import { CoalescedRuns, SHIP_PAGE } from "./shipper.js";

/** Documents held in memory at most; beyond, the oldest shipments are left to the table's shipper (Elasticsearch slower than the log). */
const MAX_HELD_DOCUMENTS = 50_000;

/** `_bulk` pages in flight at once. */
const SHIP_LANES = 2;

export class DirectShipper {
  /** Handed, their batch not yet passed (committing). */
  private committing: Shipment[] = [];
  /** Their batch passed: to ship in the next run. */
  private waiting: Shipment[] = [];
  private inFlight: Shipment[] = [];
  private heldDocuments = 0;
  private stopped = false;
  private flushes: { position: Checkpoint; resolve: () => void }[] = [];
  /** Rejects when stop() is called, so a batch that will never pass does not hold anything up. */
  private readonly stopping: Promise<never>;
  private stop$!: (error: Error) => void;
  private readonly runs = new CoalescedRuns(() => this.run());
  lastError: string | null = null;
  lastShippedAt: Date | null = null;

  constructor(
    private readonly sql: SqlExecutor,
    private readonly engine: ElasticsearchSearchEngine,
    private readonly index: string,
    /** Resolves once the projector has moved past `position` (its batch committed or rolled back). */
    private readonly passed: (position: Checkpoint) => Promise<void>,
    private readonly logger?: Logger,
  ) {
    this.stopping = new Promise<never>((_, reject) => (this.stop$ = reject));
    this.stopping.catch(() => undefined);
  }

  /**
   * Takes a batch's shipment (called inside the batch's transaction, before it commits). It joins
   * the next run once the projector has passed the batch, so a run never waits for a later batch.
   */
  hand(shipment: Shipment): void {
    if (this.stopped) return;
    this.committing.push(shipment);
    this.heldDocuments += shipment.documents.length;
    const leave = () => {
      this.committing = this.committing.filter((s) => s !== shipment);
      this.waiting = this.waiting.filter((s) => s !== shipment);
      this.heldDocuments -= shipment.documents.length;
    };
    Promise.race([this.passed(shipment.position), this.stopping]).then(
      () => {
        if (!this.committing.includes(shipment)) return this.settle();
        this.committing = this.committing.filter((s) => s !== shipment);
        this.waiting.push(shipment);
        // Elasticsearch slower than the log: the oldest shipments are left to the table's shipper.
        while (this.heldDocuments > MAX_HELD_DOCUMENTS && this.waiting.length > 1)
          this.heldDocuments -= this.waiting.shift()!.documents.length;
        void this.runs.request().catch(() => undefined);
        this.settle();
      },
      // Stopping, or the projector stopped before passing it: the row (if it committed) stays for the table's shipper.
      () => {
        leave();
        this.settle();
      },
    );
  }

  /** The transactions whose shipments are in memory here (the table's shipper leaves them alone). */
  held(): string[] {
    return [...this.committing, ...this.waiting, ...this.inFlight].map((s) => s.tx);
  }

  /** Resolves when every shipment up to `position` (all handed so far without one) has been shipped, or left to the table's shipper. */
  flush(position?: Checkpoint): Promise<void> {
    const target =
      position ??
      [...this.committing, ...this.waiting, ...this.inFlight].reduce<Checkpoint | undefined>(
        (max, s) => (max === undefined || s.position > max ? s.position : max),
        undefined,
      );
    if (target === undefined) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.flushes.push({ position: target, resolve });
      this.settle();
    });
  }

  /** Resolves the flushes no shipment in memory is older than or equal to. */
  private settle(): void {
    const pending = [...this.committing, ...this.waiting, ...this.inFlight];
    const oldest = pending.reduce<Checkpoint | undefined>(
      (min, s) => (min === undefined || s.position < min ? s.position : min),
      undefined,
    );
    const done = this.flushes.filter((f) => oldest === undefined || f.position < oldest);
    if (done.length === 0) return;
    this.flushes = this.flushes.filter((f) => !done.includes(f));
    for (const f of done) f.resolve();
  }

  private async run(): Promise<void> {
    while (this.waiting.length > 0 && !this.stopped) {
      const batch = this.waiting;
      this.waiting = [];
      this.inFlight = batch;
      this.heldDocuments -= batch.reduce((n, s) => n + s.documents.length, 0);
      try {
        // Passed: each committed or rolled back, and only a committed one has its row.
        const { rows } = await this.sql.query<{ tx: string }>(
          `SELECT tx::text AS tx FROM ${ident(SEARCH_TABLES.shipments)} WHERE tx = ANY ($1::xid8[])`,
          [batch.map((s) => s.tx)],
        );
        const committed = new Set(rows.map((r) => r.tx));
        const latest = new Map<string, SearchDocument>();
        for (const shipment of batch) {
          if (!committed.has(shipment.tx)) continue;
          for (const doc of shipment.documents) if ((latest.get(doc.sku)?.version ?? 0) < doc.version) latest.set(doc.sku, doc);
        }
        const documents = [...latest.values()];
        await this.writePages(documents);
        if (committed.size > 0)
          await this.sql.query(`DELETE FROM ${ident(SEARCH_TABLES.shipments)} WHERE tx = ANY ($1::xid8[])`, [[...committed]]);
        if (documents.length > 0) this.lastShippedAt = new Date();
        this.lastError = null;
      } catch (error) {
        // The rows stay: the table's shipper sends those SKUs (with backoff while Elasticsearch is down).
        if (!this.stopped) {
          const message = error instanceof Error ? error.message : String(error);
          if (this.lastError !== message)
            this.logger?.warn({ err: error }, "shipping search documents from memory failed; left to the table's shipper");
          this.lastError = message;
        }
      } finally {
        this.inFlight = [];
        this.settle();
      }
    }
  }

  /**
   * Sends the documents in `_bulk` pages, SHIP_LANES at a time: one bulk keeps one of
   * Elasticsearch's write threads busy (one shard), so with one at a time it fell behind the
   * projector on a loaded machine and the catch-up ended waiting for it. A run holds each SKU once
   * (its latest version), so pages in flight together never carry the same document.
   */
  private async writePages(documents: readonly SearchDocument[]): Promise<void> {
    let next = 0;
    const lane = async () => {
      for (let i = next; i < documents.length; i = next) {
        next += SHIP_PAGE;
        await this.engine.write(documents.slice(i, i + SHIP_PAGE), this.index);
      }
    };
    const outcomes = await Promise.allSettled(Array.from({ length: SHIP_LANES }, lane));
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
    if (failed) throw failed.reason;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stop$(new Error("the search shipper is stopping"));
    this.committing = [];
    this.waiting = [];
    this.heldDocuments = 0;
    await this.runs.settled();
    this.settle();
  }
}
