// The SQL read models as checkpointed processors: start them, wait for a commit position
// (read-your-writes), measure their lag, and rebuild any of them from the log, in place or
// into shadow tables swapped in when caught up.

import type { Logger } from "pino";
import type { Checkpoint, EventStore } from "../eventstore/port.js";
import { START } from "../eventstore/port.js";
import { migrate, type Migration } from "../infrastructure/sql/migrations.js";
import type { SqlClient, SqlExecutor } from "../infrastructure/sql/sql-client.js";
import {
  loadCheckpoint,
  processingMigrations,
  resetProcessor,
  startProcessor,
  type ProcessorDefinition,
  type ProcessorDeps,
  type RetryPolicy,
  type RunningProcessor,
} from "../processing/processor.js";
import { cartsProjection } from "./carts.js";
import { inventoryProjection } from "./inventory.js";
import { orderHistoryProjection } from "./order-history.js";
import { ordersProjection } from "./orders.js";
import { paymentsProjection } from "./payments.js";
import { productsProjection } from "./products.js";
import { refundsProjection } from "./refunds.js";
import { dumpTables, ident, shadowTables, type Projection, type TableNames } from "./projection.js";

export * from "./projection.js";
export { cartsProjection, inventoryProjection, orderHistoryProjection, ordersProjection, paymentsProjection, productsProjection, refundsProjection };

/** Every SQL read model, in start order. */
export const projections: readonly Projection[] = [
  ordersProjection,
  paymentsProjection,
  inventoryProjection,
  productsProjection,
  cartsProjection,
  // Audit and finance reads (order history by the order's own streams, refund reconciliation).
  orderHistoryProjection,
  refundsProjection,
];

export const projectionMigrations: readonly Migration[] = projections.flatMap((p) => p.migrations);

export function findProjection(name: string): Projection {
  const found = projections.find((p) => p.name === name || p.name === `projections/${name}`);
  if (!found) throw new Error(`unknown projection ${JSON.stringify(name)}; known: ${projections.map((p) => p.name).join(", ")}`);
  return found;
}

/** The processor that keeps a projection's tables up to date: rows and checkpoint in one transaction. */
export function projectorDefinition(projection: Projection, tables: TableNames = projection.tables): ProcessorDefinition {
  return {
    name: projection.name,
    filter: projection.filter,
    mode: "transactional",
    handle: (event, { sql }) => projection.apply(event, sql, tables),
    batchSize: 200,
  };
}

export interface ProjectionDeps {
  store: EventStore;
  sql: SqlClient;
  logger?: Logger;
  retry?: Partial<RetryPolicy>;
  /** Starts each projector (default startProcessor); several instances pass the leased one (src/processing/ownership). */
  startProcessor?: (definition: ProcessorDefinition, deps: ProcessorDeps) => Promise<RunningProcessor>;
}

export interface ProjectionStatus {
  name: string;
  checkpoint: Checkpoint;
  head: Checkpoint;
  /** Events of this projection's streams after its checkpoint (counted up to `LAG_COUNT_LIMIT`). */
  lagEvents: number;
  /** true when there were more than `LAG_COUNT_LIMIT` and `lagEvents` is the limit. */
  lagCapped: boolean;
  parked: number;
  running: boolean;
}

export const LAG_COUNT_LIMIT = 10_000;

export async function migrateProjections(sql: SqlClient, list: readonly Projection[] = projections): Promise<void> {
  await migrate(sql, processingMigrations);
  await migrate(sql, list === projections ? projectionMigrations : list.flatMap((p) => p.migrations));
}

/**
 * The newest position a subscriber can see now. `store.headCheckpoint()` is asked first and then
 * checked forward with an empty filtered `readAll` (whose checkpoint moves to the head when its
 * page is short), so a head that reads a little behind is corrected cheaply.
 */
export async function currentHead(store: EventStore): Promise<Checkpoint> {
  const reported = await store.headCheckpoint();
  const probe = await store.readAll({ from: reported, filter: { eventTypes: ["(head probe: no event has this type)"] }, maxCount: 1 });
  return probe.checkpoint > reported ? probe.checkpoint : reported;
}

/** Checkpoint and lag of each projection, read from the database (works whether or not they run here). */
export async function projectionStatus(deps: { store: EventStore; sql: SqlExecutor }, list: readonly Projection[] = projections, running: ReadonlySet<string> = new Set()): Promise<ProjectionStatus[]> {
  const head = await currentHead(deps.store);
  return Promise.all(
    list.map(async (projection) => {
      const checkpoint = await loadCheckpoint(deps.sql, projection.name);
      const { events: behind } = await deps.store.readAll({ from: checkpoint, filter: projection.filter, maxCount: LAG_COUNT_LIMIT + 1 });
      const { rows } = await deps.sql.query<{ n: number }>("SELECT count(*)::int AS n FROM processor_parked_events WHERE processor = $1 AND resolved_at IS NULL", [projection.name]);
      return {
        name: projection.name,
        checkpoint,
        head,
        lagEvents: Math.min(behind.length, LAG_COUNT_LIMIT),
        lagCapped: behind.length > LAG_COUNT_LIMIT,
        parked: rows[0]?.n ?? 0,
        running: running.has(projection.name),
      };
    }),
  );
}

export interface RunningProjections {
  readonly projectors: readonly RunningProcessor[];
  /**
   * Resolves true once every projector has processed everything up to `position` (the commit
   * position a 202 answered with), false when `timeoutMs` passes first.
   */
  waitFor(position: Checkpoint, timeoutMs?: number): Promise<boolean>;
  projectionStatus(): Promise<ProjectionStatus[]>;
  /**
   * Rebuilds one projection from the log and resolves when it has caught up. In place: the projector
   * is stopped for the truncate + checkpoint reset, then replays (queries see a partial model until
   * it is done). Shadow: the live tables keep serving and their projector keeps running while the
   * shadow builds; it is paused only for the final catch-up and swap.
   */
  rebuild(name: string, options?: RebuildOptions): Promise<void>;
  stop(): Promise<void>;
}

export interface RebuildOptions {
  /** Build into shadow tables and swap them in when caught up (the live tables keep serving meanwhile). */
  shadow?: boolean;
  /** Do not finish before this position is in (e.g. the last append the caller knows of); the head otherwise. */
  until?: Checkpoint;
  /** Shadow rebuilds: called after each page replayed into the shadow tables with the events replayed so far (progress bars, the ops page). */
  onProgress?: (replayed: number) => void;
}

const later = (a: Checkpoint, b: Checkpoint | undefined): Checkpoint => (b !== undefined && b > a ? b : a);

export interface StartProjectionsOptions extends ProjectionDeps {
  projections?: readonly Projection[];
  /** Wraps each definition (tests use it to inject faults). */
  define?: (projection: Projection) => ProcessorDefinition;
}

/** Migrates the read-model tables and starts one transactional processor per projection. */
export async function startProjections(options: StartProjectionsOptions): Promise<RunningProjections> {
  const list = options.projections ?? projections;
  const define = options.define ?? ((p: Projection) => projectorDefinition(p));
  const deps = { store: options.store, sql: options.sql, logger: options.logger, retry: options.retry, startProcessor: options.startProcessor };
  await migrateProjections(options.sql, list);
  const running = new Map<string, RunningProcessor>();
  const rebuilding = new Set<string>();
  for (const projection of list) running.set(projection.name, await startProjector(define(projection), deps));

  const get = (name: string): Projection => {
    const projection = list.find((p) => p.name === name || p.name === `projections/${name}`);
    if (!projection) throw new Error(`unknown projection ${JSON.stringify(name)}`);
    return projection;
  };
  const pause = async (projection: Projection) => {
    await running.get(projection.name)?.stop();
    running.delete(projection.name);
  };
  const resume = async (projection: Projection) => {
    running.set(projection.name, await startProjector(define(projection), deps));
  };

  return {
    get projectors() {
      return [...running.values()];
    },
    async waitFor(position, timeoutMs = 5_000) {
      if (position === START) return true;
      try {
        await Promise.all([...running.values()].map((p) => p.caughtUpTo(position, timeoutMs)));
        return true;
      } catch {
        return false;
      }
    },
    projectionStatus: () => projectionStatus(deps, list, new Set(running.keys())),
    async rebuild(name, rebuildOptions = {}) {
      const projection = get(name);
      if (rebuilding.has(projection.name)) throw new Error(`projection ${projection.name} is already being rebuilt`);
      rebuilding.add(projection.name);
      try {
        await rebuildOne(projection, rebuildOptions);
      } finally {
        rebuilding.delete(projection.name);
      }
    },
    async stop() {
      await Promise.all([...running.values()].map((p) => p.stop()));
      running.clear();
    },
  };

  async function rebuildOne(projection: Projection, rebuildOptions: RebuildOptions): Promise<void> {
    if (rebuildOptions.shadow) {
      await rebuildShadow(deps, projection, { pause: () => pause(projection), resume: () => resume(projection), until: rebuildOptions.until, onProgress: rebuildOptions.onProgress });
      return;
    }
    await pause(projection);
    try {
      await resetInPlace(options.sql, projection);
    } finally {
      await resume(projection);
    }
    await running.get(projection.name)!.caughtUpTo(later(await currentHead(options.store), rebuildOptions.until), 10 * 60_000);
  }
}

/**
 * Starts a projector and waits until its subscription is open. (A processor stopped before its
 * subscription exists would otherwise open it afterwards and never finish stopping.)
 */
async function startProjector(definition: ProcessorDefinition, deps: ProjectionDeps): Promise<RunningProcessor> {
  const { startProcessor: start = startProcessor, ...processorDeps } = deps;
  const projector = await start(definition, processorDeps);
  await projector.caughtUpTo(START, 30_000);
  return projector;
}

/** Empties a projection's tables and forgets its checkpoint, in one transaction: its processor replays the log on its next start. */
export async function resetInPlace(sql: SqlClient, projection: Projection): Promise<void> {
  await migrateProjections(sql, [projection]);
  await sql.transaction(async (tx) => {
    await tx.query(`TRUNCATE ${Object.values(projection.tables).map(ident).join(", ")}`);
    await resetProcessor(tx, projection.name);
  });
}

/**
 * Rebuilds a projection in place, for a process where its projector is not running (scripts):
 * truncate + reset checkpoint in one transaction, then replay the whole log through the
 * projector and stop it when it has reached the head.
 */
export async function rebuildInPlace(deps: ProjectionDeps, projection: Projection, options: { until?: Checkpoint } = {}): Promise<void> {
  await resetInPlace(deps.sql, projection);
  const projector = await startProjector(projectorDefinition(projection), deps);
  try {
    await projector.caughtUpTo(later(await currentHead(deps.store), options.until), 60 * 60_000);
  } finally {
    await projector.stop();
  }
}

/**
 * Replays the log from `from` into `tables`, one transaction per page, until a page comes back
 * empty. Returns the checkpoint reached. Safe over rows that already hold some of these events
 * (they are skipped by revision).
 */
export async function replayInto(
  deps: { store: EventStore; sql: SqlClient },
  projection: Projection,
  tables: TableNames,
  from: Checkpoint = START,
  pageSize = 500,
  onPage?: (events: number) => void,
): Promise<Checkpoint> {
  let checkpoint = from;
  for (;;) {
    const page = await deps.store.readAll({ from: checkpoint, filter: projection.filter, maxCount: pageSize });
    if (page.events.length > 0) {
      await deps.sql.transaction(async (tx) => {
        if (projection.applyBatch) await projection.applyBatch(page.events, tx, tables);
        else for (const event of page.events) await projection.apply(event, tx, tables);
      });
      onPage?.(page.events.length);
    }
    const moved = page.checkpoint !== checkpoint;
    checkpoint = page.checkpoint;
    if (page.events.length === 0 || !moved) return checkpoint;
  }
}

/** Creates (or recreates, empty) the projection's tables under `tables`. */
export async function createTables(sql: SqlClient, projection: Projection, tables: TableNames): Promise<void> {
  await sql.transaction(async (tx) => {
    for (const physical of Object.values(tables)) await tx.query(`DROP TABLE IF EXISTS ${ident(physical)}`);
    await tx.exec(projection.schema(tables));
  });
}

export async function dropTables(sql: SqlClient, tables: TableNames): Promise<void> {
  for (const physical of Object.values(tables)) await sql.query(`DROP TABLE IF EXISTS ${ident(physical)}`);
}

/**
 * Rebuilds a projection into "<table>_shadow" while the live tables keep serving and their
 * projector keeps running, then pauses the projector, catches the shadow up to the head, and in
 * one transaction drops the live tables, renames the shadow ones (and their indexes) into their
 * place and sets the checkpoint to where the shadow got. Without `pause`/`resume` the caller must
 * make sure the projector is not running (a script).
 */
export async function rebuildShadow(
  deps: { store: EventStore; sql: SqlClient },
  projection: Projection,
  hooks: { pause?: () => Promise<void>; resume?: () => Promise<void>; until?: Checkpoint; onProgress?: (replayed: number) => void } = {},
): Promise<void> {
  await migrateProjections(deps.sql, [projection]);
  const shadow = shadowTables(projection.tables);
  await createTables(deps.sql, projection, shadow);
  let replayed = 0;
  const onPage = (events: number) => hooks.onProgress?.((replayed += events));
  let reached = await replayInto(deps, projection, shadow, START, 500, onPage);
  await hooks.pause?.();
  try {
    reached = await replayInto(deps, projection, shadow, reached, 500, onPage);
    while (hooks.until !== undefined && reached < hooks.until) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      reached = await replayInto(deps, projection, shadow, reached, 500, onPage);
    }
    await deps.sql.transaction(async (tx) => {
      // (Embedded PGlite is one process's alone, with one connection: no projector can run
      // elsewhere, and the store's reads would queue behind this very transaction.)
      if (!hooks.pause && deps.sql.dialect === "postgres") {
        // A script beside a running server (replay rebuild --shadow): the live projector keeps
        // writing the live tables. Lock them (its next write waits, then finds the swapped-in
        // tables) and bring the shadow up to everything committed by now inside this transaction,
        // so nothing the projector applied to the old tables is missing from the new ones. It
        // re-delivers from its own checkpoint; rows skip what they already hold by revision.
        await tx.query(`LOCK TABLE ${Object.values(projection.tables).map(ident).join(", ")} IN ACCESS EXCLUSIVE MODE`);
        for (;;) {
          const page = await deps.store.readAll({ from: reached, filter: projection.filter, maxCount: 500 });
          for (const event of page.events) await projection.apply(event, tx, shadow);
          onPage(page.events.length);
          const moved = page.checkpoint !== reached;
          reached = page.checkpoint;
          if (page.events.length === 0 || !moved) break;
        }
      }
      await swapTables(tx, projection.tables, shadow);
      await resetProcessor(tx, projection.name);
      if (reached !== START) await tx.query("INSERT INTO processor_checkpoints (name, checkpoint, updated_at) VALUES ($1, $2, now())", [projection.name, reached]);
    });
  } finally {
    await hooks.resume?.();
  }
}

/** Drops each live table and renames its shadow into its place, indexes and constraints included. */
async function swapTables(tx: SqlExecutor, live: TableNames, shadow: TableNames): Promise<void> {
  for (const [logical, liveName] of Object.entries(live)) {
    const shadowName = shadow[logical]!;
    await tx.query(`DROP TABLE IF EXISTS ${ident(liveName)}`);
    await tx.query(`ALTER TABLE ${ident(shadowName)} RENAME TO ${ident(liveName)}`);
    const { rows } = await tx.query<{ indexname: string }>("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1", [liveName]);
    for (const { indexname } of rows) {
      if (indexname.startsWith(shadowName)) await tx.query(`ALTER INDEX ${ident(indexname)} RENAME TO ${ident(liveName + indexname.slice(shadowName.length))}`);
    }
  }
}

/**
 * Rebuilds a projection into scratch tables ("<table>_verify") and compares them with the live
 * tables row by row. Meaningful when the live projector is caught up with the head (or stopped).
 * Returns the logical names of the tables that differ (empty when equal).
 */
export async function verifyProjection(deps: { store: EventStore; sql: SqlClient }, projection: Projection): Promise<{ table: string; onlyLive: string[]; onlyRebuilt: string[] }[]> {
  const scratch = Object.fromEntries(Object.entries(projection.tables).map(([logical, physical]) => [logical, `${physical}_verify`])) as TableNames;
  await createTables(deps.sql, projection, scratch);
  try {
    await replayInto(deps, projection, scratch);
    const [live, rebuilt] = [await dumpTables(deps.sql, projection), await dumpTables(deps.sql, projection, scratch)];
    const differences: { table: string; onlyLive: string[]; onlyRebuilt: string[] }[] = [];
    for (const logical of Object.keys(projection.tables)) {
      const a = new Set(live[logical]);
      const b = new Set(rebuilt[logical]);
      const onlyLive = [...a].filter((r) => !b.has(r));
      const onlyRebuilt = [...b].filter((r) => !a.has(r));
      if (onlyLive.length > 0 || onlyRebuilt.length > 0) differences.push({ table: logical, onlyLive, onlyRebuilt });
    }
    return differences;
  } finally {
    await dropTables(deps.sql, scratch);
  }
}

