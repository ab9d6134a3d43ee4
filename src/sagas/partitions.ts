// The order saga as N partitions: N checkpointed processors over the same log, each handling the
// events of the orders that hash to it (sha256(orderId) mod N) and skipping the others (its
// checkpoint still moves past them). Every event of an order goes to one partition, which handles
// them in log order, so per-order ordering is what it was with one processor; steps of different
// orders overlap.
//
// Checkpoint names: N = 1 keeps the historic name `order-saga`; N > 1 uses `order-saga/p<i>of<N>`.
//
// Changing N between runs (`rebalanceSagaCheckpoints`, called at start-up before the processors
// start, in one transaction): when any stored saga checkpoint is not one of the N names now wanted
// (another partition count ran last), every wanted name is set to the LOWEST saga checkpoint stored
// (old and new alike) and the other names are deleted. Nothing is skipped: every event above the
// lowest checkpoint is delivered again to the partition that now owns its order. Events that an
// old partition had already handled (between the lowest checkpoint and its own) are handled a
// second time; that is a re-delivery the handler already tolerates after a crash: the step id is
// derived from the input event id, so the recorded step is found and re-run as recorded (command
// ids deterministic: aggregates append nothing twice, gateway calls are skipped or deduplicated by
// idempotency key, deadlines are kept by id). The overlap is small in practice: all partitions
// read the same log and keep their checkpoints close to its head.
// Stop the old configuration before starting a new one: two configurations running at once would
// handle the same orders side by side (the saga tolerates that too — a step appended at the
// stream's expected revision wins and the other follows it — but it is wasted work).
// Parked events keep their processor's name (also an old configuration's): parkedSagaEvents lists
// every `order-saga*` processor and resume() retries them under the name they were parked with.

import { createHash } from "node:crypto";
import { migrate } from "../infrastructure/sql/migrations.js";
import type { SqlClient } from "../infrastructure/sql/sql-client.js";
import { processingMigrations } from "../processing/processor.js";
import { ORDER_SAGA_PROCESSOR } from "./attention.js";

export const MAX_SAGA_PARTITIONS = 64;

export function assertPartitions(partitions: number): void {
  if (!Number.isSafeInteger(partitions) || partitions < 1 || partitions > MAX_SAGA_PARTITIONS) {
    throw new RangeError(`saga partitions must be an integer 1-${MAX_SAGA_PARTITIONS}, got ${partitions}`);
  }
}

/** The partition (0..partitions-1) that handles the order's events: stable across processes and runs. */
export function sagaPartitionOf(orderId: string, partitions: number): number {
  if (partitions === 1) return 0;
  return createHash("sha256").update(orderId).digest().readUInt32BE(0) % partitions;
}

/** The checkpoint (processor) name of partition `index` of `partitions`. */
export function sagaProcessorName(index: number, partitions: number): string {
  return partitions === 1 ? ORDER_SAGA_PROCESSOR : `${ORDER_SAGA_PROCESSOR}/p${index}of${partitions}`;
}

/** Whether a processor name is one of the order saga's (any partition count). */
export function isSagaProcessorName(name: string): boolean {
  return name === ORDER_SAGA_PROCESSOR || /^order-saga\/p\d+of\d+$/.test(name);
}

/**
 * Makes the stored checkpoints fit `partitions` (see the top of this file). Returns what it did:
 * null when nothing was to be done, else the checkpoint every partition starts from and the names
 * it replaced.
 */
export async function rebalanceSagaCheckpoints(sql: SqlClient, partitions: number): Promise<{ from: string; replaced: string[] } | null> {
  assertPartitions(partitions);
  await migrate(sql, processingMigrations);
  const wanted = Array.from({ length: partitions }, (_, i) => sagaProcessorName(i, partitions));
  return sql.transaction(async (tx) => {
    const { rows } = await tx.query<{ name: string; checkpoint: string }>(
      `SELECT name, checkpoint FROM processor_checkpoints WHERE name = $1 OR name LIKE $2 ORDER BY name FOR UPDATE`,
      [ORDER_SAGA_PROCESSOR, `${ORDER_SAGA_PROCESSOR}/p%`],
    );
    const saga = rows.filter((r) => isSagaProcessorName(r.name));
    const foreign = saga.filter((r) => !wanted.includes(r.name));
    if (foreign.length === 0) return null;
    // The lowest in the database's own order (the one saveCheckpoint compares with).
    const { rows: low } = await tx.query<{ low: string }>(
      `SELECT min(checkpoint) AS low FROM processor_checkpoints WHERE name = ANY($1::text[])`,
      [saga.map((r) => r.name)],
    );
    const from = low[0]!.low;
    await tx.query(`DELETE FROM processor_checkpoints WHERE name = ANY($1::text[])`, [foreign.map((r) => r.name)]);
    for (const name of wanted) {
      await tx.query(
        `INSERT INTO processor_checkpoints (name, checkpoint, updated_at) VALUES ($1, $2, now())
         ON CONFLICT (name) DO UPDATE SET checkpoint = excluded.checkpoint, updated_at = now()`,
        [name, from],
      );
    }
    return { from, replaced: foreign.map((r) => r.name) };
  });
}
