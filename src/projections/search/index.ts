// Search, running: the search read model's projector (SQL, transactional) and, when an
// Elasticsearch engine is given, the shipper that copies changed documents into its index behind
// a read alias. Offers read-your-writes (`waitFor`), lag, and a rebuild from position 0 without
// downtime (`rebuildSearch`, also what `scripts/replay.ts` calls).

import type { Client } from "@elastic/elasticsearch";
import type { Logger } from "pino";
import type { Checkpoint, EventStore } from "../../eventstore/port.js";
import { START } from "../../eventstore/port.js";
import { migrate } from "../../infrastructure/sql/migrations.js";
import type { SqlClient, SqlExecutor } from "../../infrastructure/sql/sql-client.js";
import { logPages } from "../../eventstore/pages.js";
import {
  resetProcessor,
  startProcessor,
  type ProcessorDefinition,
  type ProcessorDeps,
  type RetryPolicy,
  type RunningProcessor,
} from "../../processing/processor.js";
import { aliasTargets, createProductIndex, ElasticsearchSearchEngine, indexExists, pointAlias } from "../../search/elasticsearch/engine.js";
import type { SearchEngine } from "../../search/port.js";
import { PostgresSearchEngine } from "../../search/postgres/engine.js";
import { createTables, migrateProjections, projectorDefinition, replayInto } from "../index.js";
import { readModelLag, type ReadModelLag } from "../lag.js";
import { ident, shadowTables } from "../projection.js";
import { applyQueued, SEARCH_TABLES, searchProjection, searchProjectionFor, type SearchModelMode, type Shipment } from "./documents.js";
import { DirectShipper } from "./direct-shipper.js";
import { migrateMode, recordMode, settleMode } from "./mode.js";
import { CoalescedRuns, IndexShipper, indexGenerationMigrations, shipPending } from "./shipper.js";
import { swapTables } from "../rebuild.js";

export { toDocument, type SearchModelMode } from "./documents.js";
export type { ReadModelLag } from "../lag.js";

export interface SearchDeps {
  store: EventStore;
  sql: SqlClient;
  logger?: Logger;
  retry?: Partial<RetryPolicy>;
  /** Starts the projector (default startProcessor); several instances pass the leased one (src/processing/ownership). */
  startProcessor?: (definition: ProcessorDefinition, deps: ProcessorDeps) => Promise<RunningProcessor>;
}

/** The read alias the application searches through. */
export const DEFAULT_SEARCH_ALIAS = "products";

export interface ElasticsearchTarget {
  client: Client;
  /** The read alias searches go through; indices are named `<alias>-<generation>`. */
  alias: string;
}

export interface RunningSearch {
  readonly engine: SearchEngine;
  /** Resolves true once search reflects everything up to `position`; false on timeout. */
  waitFor(position: Checkpoint, timeoutMs?: number): Promise<boolean>;
  /** Lag of the search read model, and of the Elasticsearch index when there is one. */
  status(): Promise<ReadModelLag[]>;
  /** Throws when search cannot answer (Elasticsearch unreachable); detail for /health/ready otherwise. */
  readiness(): Promise<Record<string, unknown>>;
  /** Rebuilds from position 0 beside the live model (and index) and swaps it in when caught up; searches keep being served meanwhile. */
  rebuild(options?: Pick<RebuildSearchOptions, "until" | "onAliasFlip" | "onProgress">): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The search projector: a whole batch of events per transaction, folded over the documents it
 * touches in memory and written with a few set-based statements (documents.ts applyBatch).
 * Batches of up to 10,000 events: a catch-up's cost is mostly per statement (bench:search's
 * profile: 1,000-event batches spent 18.3 s in 206 transactions of an 18.5 s catch-up, 5,000-event
 * ones 9.4 s in 46; 10,000 gave ratios 0.42 and 0.43 beside 0.24 and 0.40 for 5,000, run alternately).
 */
function searchProjector(mode: SearchModelMode, ship?: (shipment: Shipment) => void): ProcessorDefinition {
  const projection = searchProjectionFor(mode);
  return {
    ...projectorDefinition(projection),
    // With an index to feed, a batch queues its changes and hands its documents to the in-memory shipper (direct-shipper.ts).
    handleBatch: ship
      ? async (events, { sql }) => {
          const shipment = await applyQueued(events, sql, mode);
          if (shipment) ship(shipment);
        }
      : (events, { sql }) => projection.applyBatch!(events, sql),
    batchSize: 10_000,
  };
}

async function startProjector(deps: SearchDeps, mode: SearchModelMode, ship?: (shipment: Shipment) => void): Promise<RunningProcessor> {
  const projector = await (deps.startProcessor ?? startProcessor)(searchProjector(mode, ship), deps);
  await projector.caughtUpTo(START, 30_000);
  return projector;
}

/**
 * Makes the alias point at the index recorded for it (after a crash between a rebuild's swap and
 * its alias flip), or creates the first index. A new index starts empty, so every document is
 * marked for shipping.
 */
export async function ensureSearchIndex(sql: SqlClient, target: ElasticsearchTarget): Promise<string> {
  await migrate(sql, indexGenerationMigrations);
  const { rows } = await sql.query<{ index_name: string }>("SELECT index_name FROM search_index_generation WHERE alias = $1", [
    target.alias,
  ]);
  let index = rows[0]?.index_name;
  if (index && !(await indexExists(target.client, index))) index = undefined;
  if (!index) {
    index = (await aliasTargets(target.client, target.alias))[0];
    if (!index) {
      index = `${target.alias}-${Date.now()}`;
      await createProductIndex(target.client, index);
      await sql.query(`UPDATE ${ident(SEARCH_TABLES.documents)} SET ship_pending = true`);
    }
    await sql.query(
      "INSERT INTO search_index_generation (alias, index_name) VALUES ($1, $2) ON CONFLICT (alias) DO UPDATE SET index_name = EXCLUDED.index_name, updated_at = now()",
      [target.alias, index],
    );
  }
  const current = await aliasTargets(target.client, target.alias);
  if (current.length !== 1 || current[0] !== index) await pointAlias(target.client, target.alias, index);
  return index;
}

/**
 * Starts search: the embedded PostgreSQL engine, or Elasticsearch when `elasticsearch` is given.
 * `mode` is what the SQL read model is kept for (default: "elasticsearch" with a target, else
 * "embedded"); "embedded" with a target keeps the full model, e.g. to fall back later without a rebuild.
 */
export async function startSearch(
  deps: SearchDeps & { elasticsearch?: ElasticsearchTarget; mode?: SearchModelMode },
): Promise<RunningSearch> {
  await migrateProjections(deps.sql, [searchProjection]);
  const target = deps.elasticsearch;
  const mode = deps.mode ?? (target ? "elasticsearch" : "embedded");
  if (mode === "elasticsearch" && !target) throw new Error('search mode "elasticsearch" needs an Elasticsearch target');
  let modeCheck = await settleMode(deps.sql, SEARCH_TABLES, mode);
  if (modeCheck.mismatch) deps.logger?.warn(modeCheck.mismatch);
  const es = target ? new ElasticsearchSearchEngine(target.client, target.alias) : undefined;
  // One refresh serves every read waiting at the time (a refresh per waiting read would queue up).
  const refreshes = es ? new CoalescedRuns(() => es.refresh()) : undefined;
  let shipper: IndexShipper | undefined;
  let projector: RunningProcessor | undefined;
  const shipLogger = deps.logger?.child({ processor: "search/elasticsearch" });
  /** The last start of the table's shipper (which makes sure the index exists); rejected while Elasticsearch is unreachable. */
  let shipperStarting: Promise<void> = Promise.resolve();
  const direct =
    target && es
      ? new DirectShipper(
          deps.sql,
          es,
          target.alias,
          async (position) => {
            if (!projector) throw new Error("the search projector is stopped");
            await projector.caughtUpTo(position, 60_000);
            // Nothing is sent before the index is known to exist (a write to a missing alias would
            // create an index of its own); if it could not be made, the row stays for the table's shipper.
            if (!shipper) await shipperStarting;
          },
          shipLogger,
        )
      : undefined;
  const ship = direct ? (shipment: Shipment) => direct.hand(shipment) : undefined;
  const startShipper = () =>
    (shipperStarting = (async () => {
      if (!target || !es) return;
      // The alias is the write target too (is_write_index), so a rebuild's flip redirects writes as well.
      await ensureSearchIndex(deps.sql, target);
      shipper = new IndexShipper(deps.sql, es, target.alias, shipLogger, () => direct?.held() ?? []);
      shipper.start();
    })());
  if (target) await migrate(deps.sql, indexGenerationMigrations);
  // The index is made ready while the projector starts: a catch-up's first batches are folded
  // meanwhile and handed to the in-memory shipper, which sends them once it exists.
  const indexReady = startShipper().catch((error) =>
    deps.logger?.warn({ err: error }, "Elasticsearch not reachable at start; search answers 503 until it is"),
  );
  projector = await startProjector(deps, mode, ship);
  await indexReady;
  let rebuilding = false;

  return {
    engine: es ?? new PostgresSearchEngine(deps.sql),
    async waitFor(position, timeoutMs = 5_000) {
      try {
        if (position !== START) await projector?.caughtUpTo(position, timeoutMs);
        if (!projector) return false;
        if (refreshes && shipper) {
          await direct?.flush(position === START ? undefined : position);
          await shipper.drain();
          await refreshes.request();
        }
        return true;
      } catch {
        return false;
      }
    },
    async status() {
      const lag = await readModelLag(deps, searchProjection.name, searchProjection.filter, projector !== undefined);
      if (!shipper) return [lag];
      const s = await shipper.status();
      const behindSeconds = s.pending > 0 && s.lastShippedAt ? (Date.now() - Date.parse(s.lastShippedAt)) / 1000 : 0;
      return [
        lag,
        {
          ...lag,
          name: "search/elasticsearch",
          lagSeconds: lag.lagSeconds + behindSeconds,
          pendingDocuments: s.pending,
          lastError: s.lastError,
        },
      ];
    },
    async readiness() {
      if (!target) return { engine: "postgres", model: mode, ...(modeCheck.mismatch ? { warning: modeCheck.mismatch } : {}) };
      const health = await target.client.cluster.health({ index: target.alias, timeout: "2s" });
      if (!shipper) await startShipper();
      const s = await shipper!.status();
      if (s.lastError) throw new Error(`index shipping failing: ${s.lastError}`);
      return { engine: "elasticsearch", model: mode, alias: target.alias, cluster: health.status, pendingDocuments: s.pending };
    },
    async rebuild(options = {}) {
      if (rebuilding) throw new Error("search is already being rebuilt");
      rebuilding = true;
      try {
        await rebuildSearch(deps, {
          ...(target ? { elasticsearch: target } : {}),
          mode,
          pause: async () => {
            await projector?.stop();
            await shipper?.stop();
            projector = undefined;
          },
          resume: async () => {
            projector = await startProjector(deps, mode, ship);
            await startShipper();
          },
          ...(options.until === undefined ? {} : { until: options.until }),
          ...(options.onAliasFlip ? { onAliasFlip: options.onAliasFlip } : {}),
          ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        });
        modeCheck = {};
      } finally {
        rebuilding = false;
      }
    },
    async stop() {
      await shipper?.stop();
      await projector?.stop();
      await direct?.stop();
      projector = undefined;
    },
  };
}

export interface RebuildSearchOptions {
  /** Also build a new Elasticsearch index and flip the alias to it. */
  elasticsearch?: ElasticsearchTarget;
  /** What the rebuilt SQL model is kept for (default: "elasticsearch" with a target, else "embedded"); recorded with the swap. */
  mode?: SearchModelMode;
  /** Stop the live projector (and shipper) for the final catch-up; omit from a script where none runs here. */
  pause?: () => Promise<void>;
  resume?: () => Promise<void>;
  /** Do not finish before this position is in. */
  until?: Checkpoint;
  /** Called once, when the alias flipped (tests count flips). */
  onAliasFlip?: (from: string[], to: string) => void;
  /** Events replayed into the shadow so far (progress for the command line and the ops console). */
  onProgress?: (replayed: number) => void;
}

/**
 * Rebuilds search from position 0 without downtime: the documents are rebuilt into shadow tables
 * (and, with Elasticsearch, shipped into a new index) while the live ones keep serving; then the
 * projector is paused, the shadow catches up to the head, and in one transaction the shadow tables
 * replace the live ones, the checkpoint moves to where the shadow got, and the new index is
 * recorded for the alias; one `_aliases` call flips the alias just before that transaction
 * commits, and the old index is deleted. Events appended meanwhile are in the shadow (caught up
 * while paused) or after the checkpoint.
 *
 * From a script beside a running server (no `pause`; PostgreSQL) the server's projector and
 * shipper keep working on the live tables. The transaction then locks them first (their next
 * statement waits, then finds the swapped-in tables and re-applies its batch, which the revision
 * guards skip) and catches the shadow up to everything in the log by then, so nothing the server
 * applied to the old tables is missing. The flip comes before the commit, so whatever the
 * server's shipper sends after the commit goes to the new index; versions are counted the same
 * way in both tables, so a document it sends that the new index already holds is refused (409).
 */
export async function rebuildSearch(deps: SearchDeps, options: RebuildSearchOptions = {}): Promise<void> {
  await migrateProjections(deps.sql, [searchProjection]);
  await migrateMode(deps.sql);
  const target = options.elasticsearch;
  const mode = options.mode ?? (target ? "elasticsearch" : "embedded");
  const projection = searchProjectionFor(mode);
  const shadow = shadowTables(SEARCH_TABLES);
  await createTables(deps.sql, projection, shadow);
  const es = target ? new ElasticsearchSearchEngine(target.client, target.alias) : undefined;
  let newIndex: string | undefined;
  if (target) {
    await migrate(deps.sql, indexGenerationMigrations);
    newIndex = `${target.alias}-${Date.now()}`;
    await createProductIndex(target.client, newIndex);
  }
  let replayed = 0;
  const onPage = (events: number) => options.onProgress?.((replayed += events));
  const ship = async (sql: SqlExecutor = deps.sql) => {
    if (es && newIndex) await shipPending(sql, es, newIndex, shadow);
  };
  let flipped = false;
  try {
    let reached = await replayInto(deps, projection, shadow, START, 1000, onPage);
    await ship();
    await options.pause?.();
    try {
      reached = await replayInto(deps, projection, shadow, reached, 1000, onPage);
      while (options.until !== undefined && reached < options.until) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        reached = await replayInto(deps, projection, shadow, reached, 1000, onPage);
      }
      await ship();
      const old = target ? await aliasTargets(target.client, target.alias) : [];
      await deps.sql.transaction(async (tx) => {
        // (Embedded PGlite is one process's alone, with one connection: no projector runs
        // elsewhere, and the store's reads would queue behind this very transaction.)
        if (!options.pause && deps.sql.dialect === "postgres") {
          await tx.query(`LOCK TABLE ${Object.values(SEARCH_TABLES).map(ident).join(", ")} IN ACCESS EXCLUSIVE MODE`);
          for await (const page of logPages(deps.store, { from: reached, filter: searchProjection.filter, pageSize: 1000 })) {
            if (page.events.length > 0) await projection.applyBatch!(page.events, tx, shadow);
            onPage(page.events.length);
            reached = page.checkpoint;
          }
          await ship(tx);
        }
        if (es && newIndex) await es.refresh(newIndex);
        await swapTables(tx, SEARCH_TABLES, shadow);
        await recordMode(tx, mode);
        await resetProcessor(tx, searchProjection.name);
        if (reached !== START)
          await tx.query("INSERT INTO processor_checkpoints (name, checkpoint, updated_at) VALUES ($1, $2, now())", [
            searchProjection.name,
            reached,
          ]);
        if (target && newIndex) {
          await tx.query(
            "INSERT INTO search_index_generation (alias, index_name) VALUES ($1, $2) ON CONFLICT (alias) DO UPDATE SET index_name = EXCLUDED.index_name, updated_at = now()",
            [target.alias, newIndex],
          );
          await pointAlias(target.client, target.alias, newIndex);
          flipped = true;
        }
      });
      if (target && newIndex) {
        options.onAliasFlip?.(old, newIndex);
        for (const index of old.filter((i) => i !== newIndex))
          await target.client.indices.delete({ index, ignore_unavailable: true }).catch(() => undefined);
      }
    } finally {
      await options.resume?.();
    }
  } catch (error) {
    // A rebuild that did not flip leaves no half-built index behind.
    if (target && newIndex && !flipped)
      await target.client.indices.delete({ index: newIndex, ignore_unavailable: true }).catch(() => undefined);
    throw error;
  }
}
