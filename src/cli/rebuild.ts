// `replay rebuild <projection>|--all [--shadow] [--force]`: rebuild SQL read models from the log.
// Every chosen model is rebuilt in one pass over the log. In place: empty the tables, reset the
// checkpoints and replay, storing the checkpoints with each page (a crash resumes from there when
// the projectors next start); refused while a projector runs elsewhere (src/cli/liveness.ts)
// unless --force. Shadow: build "<table>_shadow" beside the live tables while the server keeps
// serving and projecting, then swap them in under a lock (rebuildShadowTogether in
// src/projections/rebuild.ts).

import type { Checkpoint } from "../eventstore/port.js";
import { findProjection, projections, rebuildShadowTogether, replayInPlace, type Projection } from "../projections/index.js";
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
  // Every chosen model in one pass over the log (each page read once and fed to each of them).
  const started = performance.now();
  const head = await ctx.store.headCheckpoint();
  const progress = ctx.out.progress(`rebuild ${chosen.length === 1 ? chosen[0]!.name : `${chosen.length} read models`}`, 1000);
  const onProgress = (_replayed: number, checkpoint: Checkpoint) =>
    progress.update(Math.min(options.shadow ? 999 : 1000, Math.round(logFraction(ctx.store.kind, checkpoint, head) * 1000)), 1000);
  let counts: Map<string, { events: number }>;
  try {
    counts = options.shadow ? await rebuildShadowTogether(ctx, chosen, { onProgress }) : await replayInPlace(ctx, chosen, { onProgress });
  } finally {
    progress.stop();
  }
  const seconds = Number(((performance.now() - started) / 1000).toFixed(3));
  const results = chosen.map((projection) => ({
    projection: projection.name,
    mode: options.shadow ? "shadow" : "in place",
    events: counts.get(projection.name)?.events ?? 0,
    seconds,
  }));
  if (ctx.out.mode === "json") ctx.out.json({ rebuilt: results });
  else
    ctx.out.table(
      ["projection", "mode", "events", "seconds"],
      results.map((r) => [r.projection, r.mode, r.events, r.seconds]),
    );
  return ExitCode.ok;
}
