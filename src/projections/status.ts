// Where each projection is: its checkpoint, the head of the log, and how far behind it is.

import type { Checkpoint, EventStore } from "../eventstore/port.js";
import type { SqlExecutor } from "../infrastructure/sql/sql-client.js";
import { loadCheckpoint } from "../processing/processor.js";
import type { Projection } from "./projection.js";
import { projections } from "./registry.js";

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

const LAG_COUNT_LIMIT = 10_000;

/**
 * The newest position a subscriber can see now. `store.headCheckpoint()` is asked first and then
 * checked forward with an empty filtered `readAll` (whose checkpoint moves to the head when its
 * page is short), so a head that reads a little behind is corrected cheaply.
 */
export async function currentHead(store: EventStore): Promise<Checkpoint> {
  const reported = await store.headCheckpoint();
  const probe = await store.readAll({ from: reported, filter: { eventTypes: ["(head probe: no event has this type)"] }, maxCount: 1 });
  // biome-ignore lint/complexity/useMathMinMax: checkpoints are strings (string order is commit order)
  return probe.checkpoint > reported ? probe.checkpoint : reported;
}

/** Checkpoint and lag of each projection, read from the database (works whether or not they run here). */
export async function projectionStatus(
  deps: { store: EventStore; sql: SqlExecutor },
  list: readonly Projection[] = projections,
  running: ReadonlySet<string> = new Set(),
): Promise<ProjectionStatus[]> {
  const head = await currentHead(deps.store);
  return Promise.all(
    list.map(async (projection) => {
      const checkpoint = await loadCheckpoint(deps.sql, projection.name);
      const { events: behind } = await deps.store.readAll({ from: checkpoint, filter: projection.filter, maxCount: LAG_COUNT_LIMIT + 1 });
      const { rows } = await deps.sql.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM processor_parked_events WHERE processor = $1 AND resolved_at IS NULL",
        [projection.name],
      );
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
