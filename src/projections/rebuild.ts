// Rebuilding a projection from the log: in place (truncate, reset the checkpoint, replay) or into
// shadow tables swapped in when caught up, while the live tables keep serving.

import type { Checkpoint, EventStore } from "../eventstore/port.js";
import { START } from "../eventstore/port.js";
import { logPages } from "../eventstore/pages.js";
import type { SqlClient, SqlExecutor } from "../infrastructure/sql/sql-client.js";
import { resetProcessor } from "../processing/processor.js";
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
        for await (const page of logPages(deps.store, { from: reached, filter: projection.filter, pageSize: 500 })) {
          for (const event of page.events) await projection.apply(event, tx, shadow);
          onPage(page.events.length);
          reached = page.checkpoint;
        }
      }
      await swapTables(tx, projection.tables, shadow);
      await resetProcessor(tx, projection.name);
      if (reached !== START)
        await tx.query("INSERT INTO processor_checkpoints (name, checkpoint, updated_at) VALUES ($1, $2, now())", [
          projection.name,
          reached,
        ]);
    });
  } finally {
    await hooks.resume?.();
  }
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
