// Rebuilding a projection from the log: in place (truncate, reset the checkpoint, replay) or into
// shadow tables swapped in when caught up, while the live tables keep serving.

import type { AllFilter, Checkpoint, EventStore, RecordedEvent } from "../eventstore/port.js";
import { START, streamCategory } from "../eventstore/port.js";
import { logPages } from "../eventstore/pages.js";
import type { SqlClient, SqlExecutor } from "../infrastructure/sql/sql-client.js";
import { resetProcessor } from "../processing/processor.js";
import { BulkFold } from "./fold.js";
import { ident, shadowTables, type Projection, type TableNames } from "./projection.js";
import { projectorDefinition, startProjector, type ProjectionDeps } from "./projector.js";
import { migrateProjections } from "./registry.js";
import { currentHead } from "./status.js";

/** The later of two checkpoints (`b` may be absent). */
export const later = (a: Checkpoint, b: Checkpoint | undefined): Checkpoint => (b !== undefined && b > a ? b : a);

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
  for await (const page of logPages(deps.store, { from, filter: projection.filter, pageSize })) {
    if (page.events.length > 0) {
      await deps.sql.transaction(async (tx) => {
        if (projection.applyBatch) await projection.applyBatch(page.events, tx, tables);
        else for (const event of page.events) await projection.apply(event, tx, tables);
      });
      onPage?.(page.events.length);
    }
    checkpoint = page.checkpoint;
  }
  return checkpoint;
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

/** Whether an event is one a projection reads (its filter, as readAll applies it). */
export function readsEvent(filter: AllFilter, event: Pick<RecordedEvent, "streamId" | "type">): boolean {
  return (
    (filter.eventTypes === undefined || filter.eventTypes.includes(event.type)) &&
    (filter.streamCategories === undefined || filter.streamCategories.includes(streamCategory(event.streamId)))
  );
}

/** One filter reading what every projection of `list` reads (their categories; everything when one filters otherwise). */
function unionFilter(list: readonly Projection[]): AllFilter | undefined {
  if (list.some((p) => p.filter.eventTypes !== undefined || p.filter.streamCategories === undefined)) return undefined;
  return { streamCategories: [...new Set(list.flatMap((p) => p.filter.streamCategories ?? []))] };
}

/** A projection and the tables it is replayed into. */
export type Target = { readonly projection: Projection; readonly tables: TableNames };
/**
 * Events applied so far and the time spent writing them, per projection name. (A model built by
 * its backfill counts the rows the statement wrote, then the events folded in after it.)
 */
export type Replayed = Map<string, { events: number; ms: number }>;

const replayedOf = (list: readonly Projection[]): Replayed => new Map(list.map((p) => [p.name, { events: 0, ms: 0 }]));

/** Adds the time spent on a projection's events (and how many) to its count. */
async function counted(counts: Replayed, projection: Projection, events: number, work: () => Promise<void>): Promise<void> {
  const started = performance.now();
  await work();
  const count = counts.get(projection.name);
  if (count) {
    count.events += events;
    count.ms += performance.now() - started;
  }
}

/** Applies one page to each projection's tables: its own events of the page, batched when it can. */
async function applyPage(tx: SqlExecutor, targets: readonly Target[], events: readonly RecordedEvent[], counts: Replayed): Promise<void> {
  for (const { projection, tables } of targets) {
    const mine = events.filter((e) => readsEvent(projection.filter, e));
    if (mine.length === 0) continue;
    await counted(counts, projection, mine.length, async () => {
      if (projection.applyBatch) await projection.applyBatch(mine, tx, tables);
      else for (const event of mine) await projection.apply(event, tx, tables);
    });
  }
}

/**
 * New (or emptied) tables have no statistics: without them the planner may scan a growing table
 * for each page's row lookups. They are analysed after pages 1, 2, 4, 8, … (a few times in all).
 */
async function analyzeWhileGrowing(sql: SqlExecutor, targets: readonly Target[], pages: number): Promise<void> {
  if ((pages & (pages - 1)) !== 0) return;
  for (const physical of targets.flatMap((t) => Object.values(t.tables))) await sql.query(`ANALYZE ${ident(physical)}`);
}

/**
 * Reads the log from `from` for every target at once (each page read once, fed to every
 * projection that reads its events) and hands each page to `write`; the next page is read while
 * this one is written (two connections; on embedded PGlite the reads queue). Returns the
 * checkpoint reached.
 */
async function replayTogether(
  store: EventStore,
  targets: readonly Target[],
  from: Checkpoint,
  pageSize: number,
  write: (page: { events: RecordedEvent[]; checkpoint: Checkpoint }) => Promise<void>,
): Promise<Checkpoint> {
  const filter = unionFilter(targets.map((t) => t.projection));
  const pages = logPages(store, { from, pageSize, ...(filter ? { filter } : {}) })[Symbol.asyncIterator]();
  let reached = from;
  let next = pages.next();
  try {
    for (;;) {
      const result = await next;
      if (result.done) return reached;
      next = pages.next();
      // Let the next page's query go out before this page is folded. A pool hands its connection
      // over on process.nextTick, which waits until the microtask queue is empty, and the folds of
      // every model run on in microtasks: the read used to start only once they were done. Timed
      // inside this loop (ADR 0009) on a 1M-event log, waiting for pages fell from 11.3–13.9 s to 2.2–3.1 s.
      await new Promise((resolve) => setImmediate(resolve));
      await write(result.value);
      reached = result.value.checkpoint;
    }
  } catch (error) {
    next.catch(() => undefined); // the read ahead is abandoned with the replay
    throw error;
  }
}

/**
 * Replays the whole log into empty tables that nothing else writes (shadow or scratch tables), in
 * one pass. A projection with a fold keeps its rows in memory from page to page and writes each
 * about once (BulkFold in ./fold.ts: written side by side with the reading and folding, no row
 * read back unless an event comes for it after it was written); one without applies page by page,
 * in a transaction of its own. No checkpoint is stored: the caller swaps the tables in with one,
 * or throws them away. Returns the checkpoint reached.
 */
export async function replayFresh(
  deps: { store: EventStore; sql: SqlClient },
  targets: readonly Target[],
  options: { pageSize?: number; counts?: Replayed; onPage?: (events: number, checkpoint: Checkpoint) => void } = {},
): Promise<Checkpoint> {
  const counts = options.counts ?? replayedOf(targets.map((t) => t.projection));
  const bulk = new Map(
    targets.flatMap((t) => (t.projection.fold ? [[t, new BulkFold(t.projection.fold, deps.sql, t.tables)] as const] : [])),
  );
  const paged = targets.filter((t) => !bulk.has(t));
  // The models with most tables fold first each page, so their writes (the most statements, the
  // rebuild's long pole) are first in the pool's queue rather than behind every other model's.
  const byTables = [...targets].sort((a, b) => Object.keys(b.tables).length - Object.keys(a.tables).length);
  let pages = 0;
  const reached = await replayTogether(deps.store, targets, START, options.pageSize ?? SHADOW_PAGE, async (page) => {
    const categories = page.events.map((e) => streamCategory(e.streamId));
    await Promise.all(
      byTables.map((target) => {
        const { filter } = target.projection;
        const mine = page.events.filter(
          (e, i) =>
            (filter.streamCategories === undefined || filter.streamCategories.includes(categories[i]!)) &&
            (filter.eventTypes === undefined || filter.eventTypes.includes(e.type)),
        );
        if (mine.length === 0) return undefined;
        const fold = bulk.get(target);
        if (fold) return counted(counts, target.projection, mine.length, () => fold.add(mine));
        return deps.sql.transaction((tx) => applyPage(tx, [target], mine, counts));
      }),
    );
    if (paged.length > 0) await analyzeWhileGrowing(deps.sql, paged, ++pages);
    options.onPage?.(page.events.length, page.checkpoint);
  });
  await Promise.all([...bulk].map(([target, fold]) => counted(counts, target.projection, 0, () => fold.finish())));
  return reached;
}

/**
 * Rebuilds projections in place, in one pass over the log, for a process where their projectors
 * do not run (scripts): each is emptied and its checkpoint forgotten, then every page's rows and
 * every checkpoint commit in one transaction, so a crash resumes from the last page when the
 * projectors next start. Returns the events applied per projection.
 */
export async function replayInPlace(
  deps: { store: EventStore; sql: SqlClient },
  list: readonly Projection[],
  hooks: { onProgress?: (replayed: number, checkpoint: Checkpoint) => void; pageSize?: number } = {},
): Promise<Replayed> {
  for (const projection of list) await resetInPlace(deps.sql, projection);
  const targets = list.map((projection) => ({ projection, tables: projection.tables }));
  const counts = replayedOf(list);
  let replayed = 0;
  let pages = 0;
  let checkpoint: Checkpoint = START;
  await replayTogether(deps.store, targets, START, hooks.pageSize ?? SHADOW_PAGE, async (page) => {
    if (page.events.length > 0 || page.checkpoint !== checkpoint)
      await deps.sql.transaction(async (tx) => {
        await applyPage(tx, targets, page.events, counts);
        if (page.checkpoint !== checkpoint)
          await tx.query(
            `INSERT INTO processor_checkpoints (name, checkpoint, updated_at) SELECT unnest($1::text[]), $2, now()
             ON CONFLICT (name) DO UPDATE SET checkpoint = excluded.checkpoint, updated_at = now()`,
            [list.map((p) => p.name), page.checkpoint],
          );
      });
    await analyzeWhileGrowing(deps.sql, targets, ++pages);
    checkpoint = page.checkpoint;
    replayed += page.events.length;
    hooks.onProgress?.(replayed, checkpoint);
  });
  return counts;
}

/**
 * While shadow tables are being filled nobody reads them: their secondary indexes are dropped, to
 * be built once at the end (one sort instead of a b-tree insert per row). Returns what builds them
 * again as they were defined, table by table side by side on the pool's connections, before the
 * tables are swapped in. (The tables stay logged: filling them UNLOGGED and switching them to
 * LOGGED at the end copied every table once more, into the WAL, after the replay, which cost the
 * 1M-event rebuild more server time than logging each row as it is written, beside the folding.)
 */
async function loadMode(sql: SqlClient, physical: readonly string[]): Promise<() => Promise<void>> {
  const { rows } = await sql.query<{ name: string; def: string; relation: string }>(
    `SELECT ic.relname AS name, pg_get_indexdef(i.indexrelid) AS def, c.relname AS relation
       FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid
      WHERE c.relname = ANY($1::text[]) AND c.relnamespace = current_schema()::regnamespace
        AND NOT i.indisprimary AND NOT i.indisunique`,
    [[...physical]],
  );
  for (const { name } of rows) await sql.query(`DROP INDEX ${ident(name)}`);
  return async () => {
    await Promise.all(
      physical.map(async (table) => {
        for (const { def } of rows.filter((r) => r.relation === table)) await sql.query(def);
      }),
    );
  };
}

/** Events per page of a shadow build: big pages make few, large set-based statements. */
const SHADOW_PAGE = 5_000;

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
  hooks: ShadowHooks = {},
): Promise<void> {
  await rebuildShadowTogether(deps, [projection], hooks);
}

export interface ShadowHooks {
  pause?: () => Promise<void>;
  resume?: () => Promise<void>;
  until?: Checkpoint;
  /** Called after each page with the events replayed so far and the checkpoint reached. */
  onProgress?: (replayed: number, checkpoint: Checkpoint) => void;
  pageSize?: number;
}

/**
 * Rebuilds several projections into their shadow tables in one pass over the log (each page read
 * once, fed to every projection that reads its events, the next page read while this one is
 * written), then swaps them all in at once with their checkpoints. As rebuildShadow otherwise.
 */
export async function rebuildShadowTogether(
  deps: { store: EventStore; sql: SqlClient },
  list: readonly Projection[],
  hooks: ShadowHooks = {},
): Promise<Replayed> {
  await migrateProjections(deps.sql, list);
  const targets = list.map((projection) => ({ projection, tables: shadowTables(projection.tables) }));
  for (const { projection, tables } of targets) await createTables(deps.sql, projection, tables);
  const restore = await loadMode(
    deps.sql,
    targets.flatMap((t) => Object.values(t.tables)),
  );
  const pageSize = hooks.pageSize ?? SHADOW_PAGE;
  const counts = replayedOf(list);
  let replayed = 0;
  const onPage = (events: number, checkpoint: Checkpoint) => {
    replayed += events;
    hooks.onProgress?.(replayed, checkpoint);
  };
  // What the log held at the start: models the database can build from the log beside them by
  // themselves (backfill), the others folded in memory, both at once.
  const built = await backfillFrom(deps, targets, counts);
  const folded = targets.filter((t) => !built.targets.includes(t));
  let reached = await replayFresh(deps, folded, { pageSize, counts, onPage });
  await built.catchUp(reached);
  await restore();
  // What came since, page by page over the full tables. No checkpoint is stored per page here (the
  // swap stores them), so each model writes its part of a page in a transaction of its own, side by
  // side on the pool's connections. (Embedded PGlite runs them one after another.)
  const replay = (from: Checkpoint): Promise<Checkpoint> =>
    replayTogether(deps.store, targets, from, pageSize, async (page) => {
      if (page.events.length > 0)
        await Promise.all(targets.map((target) => deps.sql.transaction((tx) => applyPage(tx, [target], page.events, counts))));
      onPage(page.events.length, page.checkpoint);
    });
  await hooks.pause?.();
  try {
    reached = await replay(reached);
    while (hooks.until !== undefined && reached < hooks.until) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      reached = await replay(reached);
    }
    await deps.sql.transaction(async (tx) => {
      // (Embedded PGlite is one process's alone, with one connection: no projector can run
      // elsewhere, and the store's reads would queue behind this very transaction.)
      if (!hooks.pause && deps.sql.dialect === "postgres") {
        // A script beside a running server (replay rebuild --shadow): the live projectors keep
        // writing the live tables. Lock them (their next write waits, then finds the swapped-in
        // tables) and bring the shadows up to everything committed by now inside this transaction,
        // so nothing a projector applied to the old tables is missing from the new ones. Each
        // re-delivers from its own checkpoint; rows skip what they already hold by revision.
        const live = list.flatMap((p) => Object.values(p.tables));
        await tx.query(`LOCK TABLE ${live.map(ident).join(", ")} IN ACCESS EXCLUSIVE MODE`);
        const filter = unionFilter(list);
        for await (const page of logPages(deps.store, { from: reached, pageSize, ...(filter ? { filter } : {}) })) {
          await applyPage(tx, targets, page.events, counts);
          replayed += page.events.length;
          reached = page.checkpoint;
          hooks.onProgress?.(replayed, reached);
        }
      }
      for (const { projection, tables } of targets) {
        await swapTables(tx, projection.tables, tables);
        await resetProcessor(tx, projection.name);
        if (reached !== START)
          await tx.query("INSERT INTO processor_checkpoints (name, checkpoint, updated_at) VALUES ($1, $2, now())", [
            projection.name,
            reached,
          ]);
      }
    });
  } finally {
    await hooks.resume?.();
  }
  return counts;
}

/**
 * Starts the backfill of every target whose projection has one, when the store can give its log as
 * a query over the same database (storedLog: PostgreSQL and PGlite without upcasters; the read
 * models always share that database here, one DATABASE_URL or DATA_DIR naming both). Each fills
 * its tables with the log up to the head as it stands now, in one statement on a connection of its
 * own, while the caller folds the other targets. `catchUp(reached)` waits for them and applies the
 * events after that head, up to `reached`, so every target ends at the same checkpoint.
 */
async function backfillFrom(
  deps: { store: EventStore; sql: SqlClient },
  targets: readonly Target[],
  counts: Replayed,
): Promise<{ targets: readonly Target[]; catchUp(reached: Checkpoint): Promise<void> }> {
  const { store, sql } = deps;
  const able = targets.filter((t) => t.projection.backfill !== undefined && store.storedLog?.(START, t.projection.filter) !== undefined);
  if (able.length === 0) return { targets: [], catchUp: async () => undefined };
  const head = await store.headCheckpoint();
  const running = able.map(({ projection, tables }) => {
    const statement = projection.backfill!(store.storedLog!(head, projection.filter)!, tables);
    return counted(counts, projection, 0, async () => {
      const { rows } = await sql.query<{ rows: number }>(
        `WITH filled AS (${statement.text} RETURNING 1) SELECT count(*)::int AS rows FROM filled`,
        statement.params,
      );
      const count = counts.get(projection.name);
      if (count) count.events += rows[0]?.rows ?? 0;
    });
  });
  for (const r of running) r.catch(() => undefined); // awaited in catchUp; a failure must not go unhandled meanwhile
  return {
    targets: able,
    async catchUp(reached) {
      await Promise.all(running);
      // (Never behind `head`: the fold read on to a head at least as new. Were it so, the events
      // between would be delivered again after, which every projection's rows skip.)
      if (reached <= head) return;
      // Appended while the backfill ran (a live server): the pages after its head, up to `reached`.
      const filter = unionFilter(able.map((t) => t.projection));
      for await (const page of logPages(store, { from: head, pageSize: SHADOW_PAGE, ...(filter ? { filter } : {}) })) {
        const mine = page.events.filter((e) => e.position <= reached);
        if (mine.length > 0) await Promise.all(able.map((t) => sql.transaction((tx) => applyPage(tx, [t], mine, counts))));
        if (mine.length < page.events.length || page.checkpoint >= reached) break;
      }
    },
  };
}

/** Drops each live table and renames its shadow into its place, indexes and constraints included. */
export async function swapTables(tx: SqlExecutor, live: TableNames, shadow: TableNames): Promise<void> {
  for (const [logical, liveName] of Object.entries(live)) {
    const shadowName = shadow[logical]!;
    await tx.query(`DROP TABLE IF EXISTS ${ident(liveName)}`);
    await tx.query(`ALTER TABLE ${ident(shadowName)} RENAME TO ${ident(liveName)}`);
    const { rows } = await tx.query<{ indexname: string }>(
      "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1",
      [liveName],
    );
    for (const { indexname } of rows) {
      if (indexname.startsWith(shadowName))
        await tx.query(`ALTER INDEX ${ident(indexname)} RENAME TO ${ident(liveName + indexname.slice(shadowName.length))}`);
    }
  }
}
