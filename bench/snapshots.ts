// npm run bench:snapshots — reservation commands per second on one hot inventory stream (one SKU
// in one warehouse) of 1k, 10k and 50k events, without snapshots (the baseline, SNAPSHOT_EVERY=0)
// and with them (SNAPSHOT_EVERY, default 100), measured in the same run on the same database.
// The stream is what a hot SKU's orders leave behind: per order StockReserved, StockCommitted, StockShipped.
// With DATABASE_URL a throwaway database on that server; without it, embedded PGlite in memory.
// BENCH_SECONDS sets each measurement's duration (default 5); BENCH_SIZES the stream sizes (default 1000,10000,50000).
// Commands run one at a time (a stream's appends are serialised anyway): the figure is one stream's ceiling.
// The last line is one JSON object.

import { randomUUID } from "node:crypto";
import pg from "pg";
import { inventoryDecider, streamId as inventoryStream, type InventoryCommand } from "../src/aggregates/inventory.js";
import { handleCommand } from "../src/commands/handle-command.js";
import { openSqlClient, PostgresEventStore, type NewEvent } from "../src/eventstore/index.js";
import { DEFAULT_SNAPSHOT_EVERY } from "../src/eventstore/postgres/postgres-event-store.js";
import { createPgClient } from "../src/infrastructure/sql/pg-client.js";
import type { SqlClient } from "../src/infrastructure/sql/sql-client.js";
import { round, runFor } from "./support.js";

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const sizes = (process.env.BENCH_SIZES ?? "1000,10000,50000").split(",").map(Number);
const every = Number(process.env.SNAPSHOT_EVERY ?? DEFAULT_SNAPSHOT_EVERY);
const serverUrl = process.env.DATABASE_URL;

let sql: SqlClient;
let dropDatabase = async () => {};
if (serverUrl) {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  const dbName = `bench_snapshots_${Date.now().toString(36)}`;
  await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${dbName}`;
  sql = createPgClient({ connectionString: url.toString(), max: 10 });
  dropDatabase = async () => {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    await client.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await client.end();
  };
} else sql = await openSqlClient({});

const at = "2026-01-01T10:00:00.000Z";
const expiresAt = "2026-01-01T10:15:00.000Z";
const W = "W1";

/** A stream of `size` events: stock received, then per order reserved, committed and shipped. */
async function hotStream(store: PostgresEventStore, size: number): Promise<{ sku: string; streamId: string }> {
  const sku = `HOT-${size}-${randomUUID().slice(0, 6)}`;
  const streamId = inventoryStream(sku, W);
  const metadata = { correlationId: "bench", causationId: "bench", actor: "bench:snapshots" };
  const fact = { sku, warehouseId: W, at };
  const events: NewEvent[] = [
    {
      id: randomUUID(),
      type: "StockReceived",
      data: { ...fact, quantity: 10_000_000 },
      metadata: { ...metadata, causationId: randomUUID() },
    },
  ];
  for (let order = 0; events.length < size; order++) {
    const orderId = `old-${order}`;
    const m = { ...metadata, causationId: randomUUID() };
    events.push({ id: randomUUID(), type: "StockReserved", data: { ...fact, orderId, quantity: 1, expiresAt }, metadata: m });
    events.push({ id: randomUUID(), type: "StockCommitted", data: { ...fact, orderId, quantity: 1 }, metadata: m });
    events.push({ id: randomUUID(), type: "StockShipped", data: { ...fact, orderId, quantity: 1 }, metadata: m });
  }
  events.length = size;
  for (let i = 0; i < events.length; i += 1000) await store.appendToStream(streamId, events.slice(i, i + 1000));
  return { sku, streamId };
}

async function reservations(store: PostgresEventStore, sku: string, streamId: string, label: string, firstApart: boolean) {
  const reserve = (n: number) =>
    handleCommand(store, inventoryDecider, {
      streamId,
      commandId: randomUUID(),
      actor: "bench:snapshots",
      command: { type: "ReserveStock", sku, warehouseId: W, at, orderId: `${label}-${n}`, quantity: 1, expiresAt } as InventoryCommand,
    });
  // The first command of a fresh process, timed apart: with snapshots on it reads the whole stream
  // and writes the first snapshot. (Without, every command is like it: no need to pay it twice on 50k events.)
  const t0 = performance.now();
  if (firstApart) await reserve(-1);
  const firstMs = performance.now() - t0;
  const run = await runFor(seconds, 1, (_, n) => reserve(n).then(() => undefined));
  return { ...run, firstMs };
}

const rows: Record<string, unknown>[] = [];
try {
  for (const size of sizes) {
    const loader = await PostgresEventStore.open(sql, { snapshotEvery: 0 });
    const { sku, streamId } = await hotStream(loader, size);
    // Baseline first, each variant a fresh store (a fresh process's caches), on the same stream.
    const without = await reservations(await PostgresEventStore.open(sql, { snapshotEvery: 0 }), sku, streamId, "base", false);
    const withSnapshots = await reservations(await PostgresEventStore.open(sql, { snapshotEvery: every }), sku, streamId, "snap", true);
    const { rows: sizeRows } = await sql.query<{ bytes: number }>(
      "SELECT pg_column_size(state)::int AS bytes FROM es_snapshots WHERE stream_id = $1",
      [streamId],
    );
    rows.push({
      streamEvents: size,
      withoutPerS: round(without.perSecond),
      withoutP99Ms: round(without.p99Ms),
      withPerS: round(withSnapshots.perSecond),
      withP99Ms: round(withSnapshots.p99Ms),
      ratio: round(withSnapshots.perSecond / without.perSecond, 2),
      firstCommandWithSnapshotsMs: round(withSnapshots.firstMs),
      snapshotBytes: sizeRows[0]?.bytes ?? 0,
    });
    console.log(
      `${String(size).padStart(6)} events: without ${round(without.perSecond)}/s (p99 ${round(without.p99Ms)} ms), ` +
        `with snapshots every ${every} ${round(withSnapshots.perSecond)}/s (p99 ${round(withSnapshots.p99Ms)} ms), ` +
        `ratio ${round(withSnapshots.perSecond / without.perSecond, 2)}; snapshot ${sizeRows[0]?.bytes ?? 0} bytes stored`,
    );
  }
} finally {
  await sql.close();
  await dropDatabase();
}
console.log(JSON.stringify({ bench: "snapshots", database: serverUrl ? "postgres" : "pglite", seconds, snapshotEvery: every, rows }));
