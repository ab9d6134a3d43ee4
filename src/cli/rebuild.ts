// `replay rebuild <projection>|--all [--shadow] [--force]`: rebuild SQL read models from the log.
// In place: empty the tables, reset the checkpoint and replay, storing the checkpoint with each
// page (a crash resumes from there when the projector next starts); refused while the projector
// runs elsewhere (src/cli/liveness.ts) unless --force. Shadow: build "<table>_shadow" beside the
// live tables while the server keeps serving and projecting, then swap them in under a lock
// (rebuildShadow in src/projections/index.ts).

import { START, type Checkpoint, type EventStore } from "../eventstore/port.js";
import { logPages } from "../eventstore/pages.js";
import type { SqlClient } from "../infrastructure/sql/sql-client.js";
import { findProjection, projections, rebuildShadow, resetInPlace, type Projection } from "../projections/index.js";
import { logFraction, type CliContext } from "./context.js";
import { liveProjectors } from "./liveness.js";
import { ExitCode, UsageError, type ExitCodeValue } from "./usage.js";

export interface RebuildOptions {
  all: boolean;
  shadow: boolean;
  force: boolean;
}

/** The projections a command names: one by name ("orders" or "projections/orders"), or all of them. */
export function chosenProjections(name: string | undefined, all: boolean): Projection[] {
  if (all && name !== undefined) throw new UsageError(`give a projection or --all, not both`);
  if (all || name === undefined) return [...projections];
  try {
    return [findProjection(name)];
  } catch {
    throw new UsageError(`unknown projection "${name}"; known: ${projections.map((p) => p.name.replace(/^projections\//, "")).join(", ")}`);
  }
}

/** Empties the projection and replays the log into its live tables, page by page, each page with its checkpoint. */
export async function replayInPlace(
  ctx: { store: EventStore; sql: SqlClient },
  projection: Projection,
  onPage: (checkpoint: Checkpoint, events: number) => void,
): Promise<number> {
  await resetInPlace(ctx.sql, projection);
  let checkpoint: Checkpoint = START;
  let replayed = 0;
  for await (const page of logPages(ctx.store, { filter: projection.filter })) {
    const moved = page.checkpoint !== checkpoint;
    await ctx.sql.transaction(async (tx) => {
      if (projection.applyBatch) await projection.applyBatch(page.events, tx);
      else for (const event of page.events) await projection.apply(event, tx);
      // The rows and the checkpoint of the processor commit together, as the projector does.
      if (moved)
        await tx.query(
          `INSERT INTO processor_checkpoints (name, checkpoint, updated_at) VALUES ($1, $2, now())
           ON CONFLICT (name) DO UPDATE SET checkpoint = excluded.checkpoint, updated_at = now()`,
          [projection.name, page.checkpoint],
        );
    });
    replayed += page.events.length;
    onPage(page.checkpoint, replayed);
    checkpoint = page.checkpoint;
  }
  return replayed;
}

export async function rebuildCommand(ctx: CliContext, name: string | undefined, options: RebuildOptions): Promise<ExitCodeValue> {
  if (!options.all && name === undefined) throw new UsageError("rebuild: name a projection or give --all");
  const chosen = chosenProjections(name, options.all);
  if (!options.shadow && !options.force) {
    const live = await liveProjectors(
      ctx.sql,
      chosen.map((p) => p.name),
    );
    if (live.length > 0) {
      throw new UsageError(
        `refusing an in-place rebuild while the projector runs elsewhere (${live.map((l) => `${l.projection}: ${l.evidence}`).join("; ")}); use --shadow, stop the server, or --force`,
      );
    }
  }
  const results: { projection: string; mode: string; events: number; seconds: number }[] = [];
  for (const projection of chosen) {
    const started = performance.now();
    const head = await ctx.store.headCheckpoint();
    const progress = ctx.out.progress(`rebuild ${projection.name}`, 1000);
    let events = 0;
    try {
      if (options.shadow) {
        await rebuildShadow(ctx, projection, {
          onProgress: (replayed) => {
            events = replayed;
            progress.update(Math.min(999, replayed), 1000);
          },
        });
      } else {
        events = await replayInPlace(ctx, projection, (checkpoint) =>
          progress.update(Math.round(logFraction(ctx.store.kind, checkpoint, head) * 1000), 1000),
        );
      }
    } finally {
      progress.stop();
    }
    results.push({
      projection: projection.name,
      mode: options.shadow ? "shadow" : "in place",
      events,
      seconds: Number(((performance.now() - started) / 1000).toFixed(3)),
    });
  }
  if (ctx.out.mode === "json") ctx.out.json({ rebuilt: results });
  else
    ctx.out.table(
      ["projection", "mode", "events", "seconds"],
      results.map((r) => [r.projection, r.mode, r.events, r.seconds]),
    );
  return ExitCode.ok;
}
