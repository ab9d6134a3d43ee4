// The SQL read models as checkpointed processors in a running process: start them, wait for a
// commit position (read-your-writes), report their status, rebuild one and stop them.

import type { Checkpoint } from "../eventstore/port.js";
import { START } from "../eventstore/port.js";
import type { ProcessorDefinition, RunningProcessor } from "../processing/processor.js";
import type { Projection } from "./projection.js";
import { projectorDefinition, startProjector, type ProjectionDeps } from "./projector.js";
import { later, rebuildShadow, resetInPlace } from "./rebuild.js";
import { migrateProjections, projections } from "./registry.js";
import { currentHead, projectionStatus, type ProjectionStatus } from "./status.js";

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

export interface StartProjectionsOptions extends ProjectionDeps {
  projections?: readonly Projection[];
  /** Wraps each definition (tests use it to inject faults). */
  define?: (projection: Projection) => ProcessorDefinition;
}

/** Migrates the read-model tables and starts one transactional processor per projection. */
export async function startProjections(options: StartProjectionsOptions): Promise<RunningProjections> {
  const list = options.projections ?? projections;
  const define = options.define ?? ((p: Projection) => projectorDefinition(p));
  const deps = {
    store: options.store,
    sql: options.sql,
    logger: options.logger,
    retry: options.retry,
    startProcessor: options.startProcessor,
  };
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
      await rebuildShadow(deps, projection, {
        pause: () => pause(projection),
        resume: () => resume(projection),
        until: rebuildOptions.until,
        onProgress: rebuildOptions.onProgress,
      });
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
