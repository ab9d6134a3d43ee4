// How far a set of processors is behind the log, from their stored checkpoints (so it is the same
// whichever instance runs them): in events (the global position of the log's newest event minus
// the slowest processor's, an upper bound when positions have gaps) and in seconds (age of the
// oldest event the slowest processor has not handled yet; 0 when it has handled everything).
// Checkpoints are stored once per batch, and at most every CHECKPOINT_IDLE_SAVE_MS while a
// processor only moves past events of no interest to it (processor.ts), so the figure is current
// to within about that.

import type { SqlExecutor } from "../infrastructure/sql/sql-client.js";

export interface PipelineLag {
  events: number;
  seconds: number;
  /** The slowest processor among those measured (null when none has a checkpoint yet). */
  slowest: string | null;
}

/** PostgreSQL / PGlite event store only (checkpoints "<transaction id>:<global position>"). */
export async function pipelineLag(sql: SqlExecutor, processors: readonly string[]): Promise<PipelineLag> {
  const { rows } = await sql.query<{ name: string | null; events: string | null; seconds: number | null }>(
    `WITH slowest AS (
       SELECT name, checkpoint FROM processor_checkpoints WHERE name = ANY ($1::text[]) ORDER BY checkpoint LIMIT 1
     ),
     cp AS (
       SELECT name,
              -- xid8 input reads a leading 0 as octal: strip the padding first.
              coalesce(nullif(ltrim(split_part(checkpoint, ':', 1), '0'), ''), '0')::xid8 AS tx,
              CASE WHEN checkpoint = '' THEN 0 ELSE split_part(checkpoint, ':', 2)::bigint END AS pos
         FROM slowest
       UNION ALL SELECT NULL, '0'::xid8, 0 WHERE NOT EXISTS (SELECT 1 FROM slowest)
     ),
     head AS (SELECT max(global_position) AS pos FROM es_events),
     next AS (
       SELECT e.recorded_at FROM es_events e, cp
        WHERE (e.transaction_id, e.global_position) > (cp.tx, cp.pos)
        ORDER BY e.transaction_id, e.global_position LIMIT 1
     )
     SELECT cp.name, greatest(0, coalesce(head.pos, 0) - cp.pos)::text AS events,
            coalesce(extract(epoch FROM (now() - (SELECT recorded_at FROM next)))::float8, 0) AS seconds
       FROM cp, head`,
    [processors],
  );
  const row = rows[0];
  return { events: Number(row?.events ?? 0), seconds: Math.max(0, Number(row?.seconds ?? 0)), slowest: row?.name ?? null };
}
