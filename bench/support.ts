// Small measuring tools shared by the benchmarks: latency percentiles, a fixed-duration runner and the database's insert ceiling.

import { randomUUID } from "node:crypto";

export const percentile = (sorted: readonly number[], p: number): number =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

export interface RunFigures {
  operations: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
}

/** Runs `operation` from `concurrency` loops for `seconds`, timing each call. */
export async function runFor(
  seconds: number,
  concurrency: number,
  operation: (worker: number, n: number) => Promise<void>,
): Promise<RunFigures> {
  const latencies: number[] = [];
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (let n = 0; performance.now() < deadline; n++) {
        const t0 = performance.now();
        await operation(worker, n);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    operations: latencies.length,
    seconds: elapsed,
    perSecond: latencies.length / elapsed,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
}

export const round = (value: number, digits = 1): number => Math.round(value * 10 ** digits) / 10 ** digits;

/** Just enough of a SQL client for the ceiling (src/infrastructure/sql's SqlClient fits). */
interface InsertTarget {
  query(text: string, params?: readonly unknown[]): Promise<unknown>;
  exec(script: string): Promise<void>;
}

/**
 * The database's ceiling for the log: bare batched INSERTs of event-sized rows into a table with no
 * index, sequence or trigger (as bench:append's baseline), `writers` at once, `batch` rows each.
 * Returns rows (events) per second.
 */
export async function bareInsertCeiling(sql: InsertTarget, seconds: number, writers = 16, batch = 10): Promise<number> {
  const table = `bare_events_${Date.now().toString(36)}`;
  await sql.exec(
    `CREATE TABLE ${table} (event_id uuid, stream_id text, stream_revision bigint, type text, schema_version int, data jsonb, metadata jsonb, recorded_at timestamptz DEFAULT now())`,
  );
  const data = JSON.stringify({ orderId: "o-1", sku: "SKU-12345", quantity: 2, unitPrice: 49900, warehouseId: "BLR-1" });
  const metadata = JSON.stringify({ correlationId: randomUUID(), causationId: randomUUID(), actor: "bench:ceiling" });
  const values = Array.from(
    { length: batch },
    (_, i) => `($${i * 3 + 1}::uuid, $${i * 3 + 2}, $${i * 3 + 3}, 'StockReserved', 1, '${data}'::jsonb, '${metadata}'::jsonb)`,
  ).join(", ");
  const insert = `INSERT INTO ${table} (event_id, stream_id, stream_revision, type, schema_version, data, metadata) VALUES ${values}`;
  try {
    const run = await runFor(seconds, writers, async (w, n) => {
      await sql.query(insert, Array.from({ length: batch }, (_, i) => [randomUUID(), `bench-${w}-${n}`, i]).flat());
    });
    return run.perSecond * batch;
  } finally {
    await sql.exec(`DROP TABLE ${table}`);
  }
}
