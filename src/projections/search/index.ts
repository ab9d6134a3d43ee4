// Search, running: the search read model's projector (SQL, transactional) and, when
// Elasticsearch is configured, the shipper that copies changed documents into its index. Offers
// read-your-writes, lag, and a rebuild without downtime (`rebuildSearch`).

import type { Logger } from "pino";
import type { Checkpoint, EventStore } from "../../eventstore/port.js";
import { START } from "../../eventstore/port.js";
import type { SqlClient } from "../../infrastructure/sql/sql-client.js";
import { startProcessor, type RetryPolicy, type RunningProcessor } from "../../processing/processor.js";
import type { SearchEngine } from "../../search/port.js";
import { PostgresSearchEngine } from "../../search/postgres/engine.js";
import { migrateProjections, projectionStatus, projectorDefinition, rebuildShadow, type ProjectionStatus } from "../index.js";
import { searchProjection } from "./documents.js";

export { searchProjection, SEARCH_TABLES, toDocument } from "./documents.js";

export interface SearchDeps {
  store: EventStore;
  sql: SqlClient;
  logger?: Logger;
  retry?: Partial<RetryPolicy>;
}

export interface RunningSearch {
  readonly engine: SearchEngine;
  /** Resolves true once documents reflect everything up to `position` and are searchable; false on timeout. */
  waitFor(position: Checkpoint, timeoutMs?: number): Promise<boolean>;
  /** Lag of the search read model (and of the index it feeds). */
  status(): Promise<ProjectionStatus[]>;
  /** Rebuilds from position 0 beside the live model and swaps it in when caught up; searches keep being served meanwhile. */
  rebuild(options?: { until?: Checkpoint }): Promise<void>;
  stop(): Promise<void>;
}

async function startProjector(deps: SearchDeps): Promise<RunningProcessor> {
  const projector = await startProcessor(projectorDefinition(searchProjection), deps);
  await projector.caughtUpTo(START, 30_000);
  return projector;
}

/** Starts search on the embedded engine: PostgreSQL full-text over the search read model. */
export async function startSearch(deps: SearchDeps): Promise<RunningSearch> {
  await migrateProjections(deps.sql, [searchProjection]);
  let projector: RunningProcessor | undefined = await startProjector(deps);
  let rebuilding = false;
  return {
    engine: new PostgresSearchEngine(deps.sql),
    async waitFor(position, timeoutMs = 5_000) {
      if (position === START) return true;
      try {
        await projector?.caughtUpTo(position, timeoutMs);
        return projector !== undefined;
      } catch {
        return false;
      }
    },
    status: () => projectionStatus(deps, [searchProjection], new Set(projector ? [searchProjection.name] : [])),
    async rebuild(options = {}) {
      if (rebuilding) throw new Error("search is already being rebuilt");
      rebuilding = true;
      try {
        await rebuildSearch(deps, {
          pause: async () => {
            await projector?.stop();
            projector = undefined;
          },
          resume: async () => {
            projector = await startProjector(deps);
          },
          ...(options.until === undefined ? {} : { until: options.until }),
        });
      } finally {
        rebuilding = false;
      }
    },
    async stop() {
      await projector?.stop();
      projector = undefined;
    },
  };
}

/**
 * Rebuilds search from position 0 without downtime: the documents are rebuilt into shadow tables
 * while the live ones keep serving, then the projector is paused for the final catch-up and the
 * swap. From a script (no projector running here) call it without `pause`/`resume`.
 */
export async function rebuildSearch(deps: SearchDeps, hooks: { pause?: () => Promise<void>; resume?: () => Promise<void>; until?: Checkpoint } = {}): Promise<void> {
  await rebuildShadow(deps, searchProjection, hooks);
}
