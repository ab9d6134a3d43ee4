// Lag of a read model fed by a processor, in events and in seconds, read from the log and the
// processor's stored checkpoint (so it is right whether or not the processor runs here).

import type { AllFilter, Checkpoint, EventStore } from "../eventstore/port.js";
import type { SqlExecutor } from "../infrastructure/sql/sql-client.js";
import { loadCheckpoint } from "../processing/processor.js";

export const LAG_EVENTS_LIMIT = 10_000;

export interface ReadModelLag {
  name: string;
  checkpoint: Checkpoint;
  /** Events of its streams after its checkpoint (counted up to LAG_EVENTS_LIMIT). */
  lagEvents: number;
  /** Age of the oldest event it has not processed (0 when caught up). */
  lagSeconds: number;
  running: boolean;
  parked: number;
  /** Elasticsearch: documents changed in the read model and not yet in the index. */
  pendingDocuments?: number;
  lastError?: string | null;
}

export async function readModelLag(
  deps: { store: EventStore; sql: SqlExecutor },
  name: string,
  filter: AllFilter,
  running: boolean,
  now = Date.now(),
): Promise<ReadModelLag> {
  const checkpoint = await loadCheckpoint(deps.sql, name);
  const [{ events }, parked] = await Promise.all([
    deps.store.readAll({ from: checkpoint, filter, maxCount: LAG_EVENTS_LIMIT }),
    deps.sql.query<{ n: unknown }>("SELECT count(*) AS n FROM processor_parked_events WHERE processor = $1 AND resolved_at IS NULL", [
      name,
    ]),
  ]);
  const oldest = events[0]?.recordedAt.getTime();
  return {
    name,
    checkpoint,
    lagEvents: events.length,
    lagSeconds: oldest === undefined ? 0 : Math.max(0, (now - oldest) / 1000),
    running,
    parked: Number(parked.rows[0]?.n ?? 0),
  };
}
