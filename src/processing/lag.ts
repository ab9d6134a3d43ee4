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

/**
 * Reads a few rows through indexes, whatever the log's length: admission control runs it every
 * 250 ms. The head used to be max(global_position), which no index serves: a scan of the whole log
 * (140 ms, in three processes, at 400,000 events), so the gate acted on a lag seconds old while a
 * hot SKU's bursts of orders came in (ADR 0010).
 */
export const PIPELINE_LAG_SQL = `WITH slowest AS (
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
     -- The newest event in log order, from the primary key's end (one row whatever the log holds).
     head AS (
       SELECT (SELECT h.global_position FROM es_events h ORDER BY h.transaction_id DESC, h.global_position DESC LIMIT 1) AS pos
     ),
     -- The oldest event not handled yet. The bound is a pair of scalars (cp holds one row), which the
     -- primary key's index starts its scan at; joined to cp, the planner walked the index from the
     -- log's start and filtered every event up to the checkpoint.
     next AS (
       SELECT e.recorded_at FROM es_events e
        WHERE (e.transaction_id, e.global_position) > ((SELECT tx FROM cp), (SELECT pos FROM cp))
        ORDER BY e.transaction_id, e.global_position LIMIT 1
     )
     SELECT cp.name, greatest(0, coalesce(head.pos, 0) - cp.pos)::text AS events,
            coalesce(extract(epoch FROM (now() - (SELECT recorded_at FROM next)))::float8, 0) AS seconds
       FROM cp, head`;

/** PostgreSQL / PGlite event store only (checkpoints "<transaction id>:<global position>"). */
export async function pipelineLag(sql: SqlExecutor, processors: readonly string[]): Promise<PipelineLag> {
  const { rows } = await sql.query<{ name: string | null; events: string | null; seconds: number | null }>(PIPELINE_LAG_SQL, [processors]);
  const row = rows[0];
  return { events: Number(row?.events ?? 0), seconds: Math.max(0, Number(row?.seconds ?? 0)), slowest: row?.name ?? null };
}
