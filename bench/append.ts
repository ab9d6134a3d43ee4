// npm run bench:append — event store append and catch-up throughput on real PostgreSQL, with the
// baseline of plain INSERTs of the same rows into a bare table, measured in the same run.
// Needs DATABASE_URL (a server; a throwaway database is created and dropped).
// BENCH_SECONDS sets each scenario's duration (default 5); BENCH_READ_EVENTS the catch-up size.

import { randomUUID } from "node:crypto";
import pg from "pg";
import { PostgresEventStore, START, type NewEvent } from "../src/eventstore/index.js";
import { createPgClient } from "../src/infrastructure/sql/pg-client.js";
import { round, runFor, type RunFigures } from "./support.js";

const serverUrl = process.env.DATABASE_URL;
if (!serverUrl) {
  console.error("bench:append needs DATABASE_URL (a PostgreSQL server)");
  process.exit(2);
}
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const readTarget = Number(process.env.BENCH_READ_EVENTS ?? 200_000);

const admin = new pg.Client({ connectionString: serverUrl });
await admin.connect();
const dbName = `bench_append_${Date.now().toString(36)}`;
await admin.query(`CREATE DATABASE ${dbName}`);
const url = new URL(serverUrl);
url.pathname = `/${dbName}`;
const sql = createPgClient({ connectionString: url.toString(), max: 20 });

try {
  const store = await PostgresEventStore.open(sql);
  await sql.exec(
    `CREATE TABLE bare_events (event_id uuid, stream_id text, stream_revision bigint, type text, schema_version int, data jsonb, metadata jsonb, recorded_at timestamptz DEFAULT now())`,
  );

  const metadata = { correlationId: randomUUID(), causationId: randomUUID(), actor: "bench:append" };
  const data = { orderId: "o-1", sku: "SKU-12345", quantity: 2, unitPrice: 49900, warehouseId: "BLR-1" };
  const makeEvents = (count: number): NewEvent[] =>
    Array.from({ length: count }, () => ({ id: randomUUID(), type: "StockReserved", data, metadata }));

  const rows: Record<string, unknown>[] = [];
  const figures: Record<string, unknown> = {};
  for (const writers of [1, 16]) {
    for (const batch of [1, 10]) {
      // Each writer appends to its own streams (a new stream every 50 appends), as many
      // independent orders would; contention on one stream is the concurrency tests' business.
      const append = await runFor(seconds, writers, async (w, n) => {
        await store.appendToStream(`bench-${w}-${Math.floor(n / 50)}`, makeEvents(batch));
      });
      const values = (count: number, offset: number) =>
        Array.from(
          { length: count },
          (_, i) =>
            `($${offset + i * 5 + 1}::uuid, $${offset + i * 5 + 2}, $${offset + i * 5 + 3}, 'StockReserved', 1, $${offset + i * 5 + 4}::jsonb, $${offset + i * 5 + 5}::jsonb)`,
        ).join(", ");
      const insertSql = `INSERT INTO bare_events (event_id, stream_id, stream_revision, type, schema_version, data, metadata) VALUES ${values(batch, 0)}`;
      const baseline = await runFor(seconds, writers, async (w, n) => {
        const params = makeEvents(batch).flatMap((e, i) => [
          e.id,
          `bench-${w}-${n}`,
          i,
          JSON.stringify(e.data),
          JSON.stringify(e.metadata),
        ]);
        await sql.query(insertSql, params);
      });
      const key = `w${writers}_e${batch}`;
      const describe = (f: RunFigures) => ({
        perSecond: round(f.perSecond),
        eventsPerSecond: round(f.perSecond * batch),
        p50Ms: round(f.p50Ms, 2),
        p99Ms: round(f.p99Ms, 2),
      });
      figures[key] = { append: describe(append), bareInsert: describe(baseline), ratio: round(append.perSecond / baseline.perSecond, 3) };
      rows.push(
        { scenario: `${writers} writer(s), ${batch} event(s)/append`, what: "appendToStream", ...describe(append) },
        { scenario: "", what: "bare INSERT", ...describe(baseline) },
        { scenario: "", what: "ratio", perSecond: round(append.perSecond / baseline.perSecond, 3) },
      );
    }
  }

  // Top up to the catch-up size with 16 writers appending 10-event batches.
  const { rows: countRows } = await sql.query<{ n: string }>("SELECT count(*)::text AS n FROM es_events");
  let stored = Number(countRows[0]!.n);
  await Promise.all(
    Array.from({ length: 16 }, async (_, w) => {
      for (let n = 0; stored < readTarget; n++) {
        await store.appendToStream(`fill-${w}-${Math.floor(n / 50)}`, makeEvents(10));
        stored += 10;
      }
    }),
  );
  const t0 = performance.now();
  let read = 0;
  for (let from = START; ; ) {
    const page = await store.readAll({ from, maxCount: 2000 });
    if (page.events.length === 0) break;
    read += page.events.length;
    from = page.checkpoint;
  }
  const readSeconds = (performance.now() - t0) / 1000;
  figures.catchUp = { events: read, seconds: round(readSeconds, 2), eventsPerSecond: round(read / readSeconds) };
  rows.push({ scenario: `catch-up readAll (pages of 2000)`, what: `${read} events`, perSecond: round(read / readSeconds) });

  console.table(rows);
  console.log(JSON.stringify({ benchmark: "append", seconds, ...figures }));
} finally {
  await sql.close();
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
}
