// Rebuilding every PostgreSQL read model from a large log, and the audit and finance reads at
// that size. On a throwaway database (DATABASE_URL's server): generate a log of realistic order
// lifecycles (placement, reservation, payment, confirmation, commit, processing, saga steps; one
// order in ten cancelled after payment and refunded), then measure
//   - the catch-up read rate: reading the read models' categories of the log in pages through the
//     event store port, doing nothing with them (the natural ceiling of any rebuild, which must read
//     the same pages);
//   - rebuilding every SQL read model in one pass over the log into shadow tables swapped in at the
//     end, as `replay rebuild --all --shadow` does (the headline figure), and in place, as
//     `replay rebuild --all` does (--no-in-place skips it);
//   - order history (p50/p99 over sampled orders) from the order's own streams, against the scan
//     of the log it replaced (a few samples: it reads everything), and that both answer the same;
//   - refund reconciliation of one day from the refunds read model, against the log scan.
// Prints a table; the last line is one JSON object.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres flock /tmp/bench.lock npm run bench:rebuild -- --events 1000000
//   (--page <events per page>, default 5000; profile with `node --cpu-prof --import tsx bench/rebuild.ts …`:
//   NODE_OPTIONS does not take --cpu-prof)
//   --database <name> keeps the log between runs: the database is created and filled on the first
//   run, reused (its log as it is, whatever --events says) and never dropped. Generating 1M events
//   takes about a minute; comparing two versions of a rebuild then costs a minute a run, not two.

import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import pg from "pg";
import { openCliContext } from "../src/cli/context.js";
import { Output } from "../src/cli/output.js";
import { openEventStore } from "../src/eventstore/index.js";
import { logPages } from "../src/eventstore/pages.js";
import type { EventStore, JsonValue } from "../src/eventstore/port.js";
import { createPgClient } from "../src/infrastructure/sql/pg-client.js";
import { migrateProjections, projections, rebuildShadowTogether, replayInPlace } from "../src/projections/index.js";
import { orderHistory } from "../src/queries/order-history.js";
import { orderHistoryByScan } from "../src/queries/order-history-scan.js";
import { reconcileRefunds } from "../src/queries/refunds.js";
import { reconcileRefundsFromLog } from "../src/queries/refunds-from-log.js";
import { percentile, round } from "./support.js";

const { values: args } = parseArgs({
  options: {
    events: { type: "string", default: "1000000" },
    days: { type: "string", default: "10" },
    samples: { type: "string", default: "300" },
    page: { type: "string", default: "5000" },
    "no-in-place": { type: "boolean", default: false },
    database: { type: "string" },
  },
});
const TARGET = Number(args.events);
const DAYS = Number(args.days);
const SAMPLES = Number(args.samples);
const PAGE = Number(args.page);
const IN_PLACE = !args["no-in-place"];
const serverUrl = process.env.DATABASE_URL;
if (!serverUrl) {
  console.error("set DATABASE_URL (a PostgreSQL server; the benchmark creates and drops its own database)");
  process.exit(2);
}

const SKUS = 50;
const WAREHOUSES = ["W-BLR", "W-DEL"];
const START_MS = Date.parse("2026-03-01T00:00:00.000Z");
const meta = (actor: string) => ({ correlationId: randomUUID(), causationId: randomUUID(), actor });

interface Row {
  stream: string;
  type: string;
  data: Record<string, unknown>;
  actor: string;
}

/** One order's life as the app writes it (shapes of src/aggregates), all at minute `t`. */
function orderLife(i: number, at: (offsetMs: number) => string, cancelled: boolean): Row[] {
  const orderId = `o${i}`;
  const paymentId = `pay-${orderId}`;
  const sku = `SKU-${i % SKUS}`;
  const warehouseId = WAREHOUSES[i % WAREHOUSES.length]!;
  const inv = `inventory-${sku}@${warehouseId}`;
  const amount = 1_000 + (i % 7) * 500;
  const ord = `order-${orderId}`;
  const pay = `payment-${paymentId}`;
  const saga = `orderSaga-${orderId}`;
  const rows: Row[] = [
    {
      stream: ord,
      type: "OrderPlaced",
      actor: `customer:c-${i % 5000}`,
      data: {
        orderId,
        customerId: `c-${i % 5000}`,
        lines: [{ sku, quantity: 1, unitPrice: amount }],
        subtotal: amount,
        discountAmount: 0,
        totalAmount: amount,
        currency: "INR",
        paymentMethod: "UPI",
        paymentRequired: true,
        shippingAddress: { name: "A", line1: "1 Road", city: "Pune", state: "MH", pincode: "411001", phone: "9999999999" },
        at: at(0),
      },
    },
    {
      stream: saga,
      type: "SagaStepRecorded",
      actor: "saga:order",
      data: { stepId: `${orderId}/placed`, status: "RESERVING", decidedAt: at(1), commands: [], schedule: [], cancel: [] },
    },
    {
      stream: inv,
      type: "StockReserved",
      actor: "saga:order",
      data: { sku, warehouseId, orderId, quantity: 1, expiresAt: at(900_000), at: at(2) },
    },
    {
      stream: pay,
      type: "PaymentInitiated",
      actor: "saga:order",
      data: { paymentId, orderId, amount, currency: "INR", method: "UPI", paymentUrl: `http://gw/${paymentId}`, at: at(3) },
    },
    {
      stream: ord,
      type: "OrderPaymentPending",
      actor: "saga:order",
      data: { orderId, paymentId, paymentUrl: `http://gw/${paymentId}`, at: at(4) },
    },
    {
      stream: pay,
      type: "PaymentCaptured",
      actor: "gateway:simulated",
      data: { paymentId, orderId, gatewayEventId: `g-${i}`, amount, currency: "INR", previousStatus: "INITIATED", at: at(60_000) },
    },
    { stream: ord, type: "OrderConfirmed", actor: "saga:order", data: { orderId, paymentId, capturedAmount: amount, at: at(60_001) } },
    { stream: inv, type: "StockCommitted", actor: "saga:order", data: { sku, warehouseId, orderId, quantity: 1, at: at(60_002) } },
    { stream: ord, type: "OrderProcessingStarted", actor: "saga:order", data: { orderId, warehouseId, at: at(60_003) } },
    {
      stream: saga,
      type: "SagaStepRecorded",
      actor: "saga:order",
      data: { stepId: `${orderId}/captured`, status: "PROCESSING", decidedAt: at(60_004), commands: [], schedule: [], cancel: [] },
    },
  ];
  if (cancelled) {
    const refundId = `rf-${orderId}`;
    rows.push(
      {
        stream: ord,
        type: "OrderCancelled",
        actor: `customer:c-${i % 5000}`,
        data: { orderId, reason: "CUSTOMER_REQUEST", previousStatus: "PROCESSING", refundDue: amount, at: at(120_000) },
      },
      {
        stream: inv,
        type: "StockReleased",
        actor: "saga:order",
        data: { sku, warehouseId, orderId, quantity: 1, from: "COMMITTED", at: at(120_001) },
      },
      {
        stream: pay,
        type: "RefundRequested",
        actor: "saga:order",
        data: { paymentId, orderId, refundId, amount, currency: "INR", reason: "CUSTOMER_REQUEST", at: at(120_002) },
      },
      {
        stream: ord,
        type: "OrderRefundRequested",
        actor: "saga:order",
        data: { orderId, refundId, amount, reason: "CUSTOMER_REQUEST", at: at(120_003) },
      },
      {
        stream: pay,
        type: "RefundProcessed",
        actor: "gateway:simulated",
        data: { paymentId, orderId, refundId, amount, gatewayEventId: `g-r-${i}`, at: at(180_000) },
      },
      { stream: ord, type: "OrderRefundProcessed", actor: "saga:order", data: { orderId, refundId, amount, at: at(180_001) } },
      {
        stream: saga,
        type: "SagaStepRecorded",
        actor: "saga:order",
        data: { stepId: `${orderId}/cancelled`, status: "CANCELLED", decidedAt: at(180_002), commands: [], schedule: [], cancel: [] },
      },
    );
  }
  return rows;
}

/**
 * CPU seconds used so far by the server processes serving database `name` (its backends, read from
 * /proc: the server must run on this machine; none where unreadable), by process id. Wall-clock
 * ratios move with whatever else shares the machine; CPU time much less. (A backend that exits
 * within a phase takes its time with it: an undercount, not an overcount.)
 */
async function serverCpu(admin: pg.Client, name: string): Promise<Map<number, number>> {
  const { rows } = await admin.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = $1", [name]);
  const cpu = new Map<number, number>();
  for (const { pid } of rows) {
    try {
      // Fields 14 and 15 (utime, stime) in clock ticks (100 a second), after the parenthesised command.
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      cpu.set(pid, (Number(fields[11]) + Number(fields[12])) / 100);
    } catch {
      // not on this machine, or gone
    }
  }
  return cpu;
}

/** CPU seconds of this process and of the database's backends between two points. */
async function cpuPhase(admin: pg.Client, name: string): Promise<() => Promise<{ node: number; server: number }>> {
  const node = process.cpuUsage();
  const before = await serverCpu(admin, name);
  return async () => {
    const used = process.cpuUsage(node);
    let server = 0;
    for (const [pid, seconds] of await serverCpu(admin, name)) server += seconds - (before.get(pid) ?? 0);
    return { node: round((used.user + used.system) / 1e6, 2), server: round(server, 2) };
  };
}

/**
 * Appends the log: the products and their stock, then order lifecycles until TARGET events.
 * (A function of its own, so that what it keeps per stream is garbage by the time the rebuild runs,
 * as in `replay rebuild`'s own process, rather than live in the heap the rebuild's collector walks.)
 */
async function generateLog(store: EventStore): Promise<{ written: number; orders: number }> {
  const revisions = new Map<string, number>();
  let pending: Row[] = [];
  let written = 0;
  // Appended through the store's multi-stream append (es_append_many: one statement and one
  // transaction per batch of a few thousand events, each stream's events with its expected revision).
  const flush = async () => {
    if (pending.length === 0) return;
    const byStream = new Map<string, Row[]>();
    for (const r of pending) byStream.set(r.stream, [...(byStream.get(r.stream) ?? []), r]);
    await store.appendToStreams(
      [...byStream].map(([streamId, rows]) => {
        const revision = revisions.get(streamId);
        revisions.set(streamId, (revision ?? -1) + rows.length);
        return {
          streamId,
          expectedRevision: revision === undefined ? ("no_stream" as const) : revision,
          events: rows.map((r) => ({ id: randomUUID(), type: r.type, data: r.data as JsonValue, metadata: meta(r.actor) })),
        };
      }),
    );
    written += pending.length;
    pending = [];
  };
  for (let s = 0; s < SKUS; s++) {
    pending.push({
      stream: `product-SKU-${s}`,
      type: "ProductCreated",
      actor: "admin:bench",
      data: {
        sku: `SKU-${s}`,
        name: `Item ${s}`,
        category: ["Bench"],
        brand: "Acme",
        attributes: {},
        price: 1_000,
        currency: "INR",
        at: new Date(START_MS).toISOString(),
      },
    });
    for (const warehouseId of WAREHOUSES)
      pending.push({
        stream: `inventory-SKU-${s}@${warehouseId}`,
        type: "StockReceived",
        actor: "admin:bench",
        data: { sku: `SKU-${s}`, warehouseId, quantity: 1_000_000, at: new Date(START_MS).toISOString() },
      });
  }
  const perOrder = 10.7; // 10 events, and 7 more for one order in ten
  const orders = Math.max(1, Math.round((TARGET - pending.length) / perOrder));
  const spanMs = DAYS * 86_400_000;
  for (let i = 0; written + pending.length < TARGET && i < orders * 2; i++) {
    const t0 = START_MS + Math.floor((i / orders) * spanMs);
    pending.push(...orderLife(i, (ms) => new Date(t0 + ms).toISOString(), i % 10 === 3));
    if (pending.length >= 4_000) await flush();
  }
  await flush();
  return { written, orders };
}

async function main(): Promise<void> {
  const kept = args.database;
  if (kept !== undefined && !/^[a-z_][a-z0-9_]*$/.test(kept)) {
    console.error("--database takes a plain lower-case name (letters, digits, _)");
    process.exit(2);
  }
  const name = kept ?? `bench_rebuild_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  const exists = (await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [name])).rows.length > 0;
  if (!exists) await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl!);
  url.pathname = `/${name}`;
  const sql = createPgClient({ connectionString: url.toString(), max: 8, statementTimeoutMs: 3_600_000, applicationName: "bench-rebuild" });
  const store = await openEventStore({ sql });
  try {
    await migrateProjections(sql);
    // ---------------------------------------------------------------- the log
    const { rows: held } = await sql.query<{ events: number; orders: number }>(
      "SELECT count(*)::int AS events, count(*) FILTER (WHERE type = 'OrderPlaced')::int AS orders FROM es_events",
    );
    const reused = held[0]!.events > 0;
    const genStarted = performance.now();
    const { written, orders } = reused ? { written: held[0]!.events, orders: held[0]!.orders } : await generateLog(store);
    const genSeconds = (performance.now() - genStarted) / 1000;
    // A log being rebuilt has long been written and vacuumed; one appended seconds ago would have
    // every phase below set its hint bits, and autovacuum visit it while they run.
    await sql.query("VACUUM (ANALYZE) es_events");
    console.log(
      reused
        ? `log: ${written.toLocaleString()} events, kept in database ${name} from an earlier run`
        : `log: ${written.toLocaleString()} events over ${DAYS} days, generated in ${round(genSeconds)} s`,
    );

    // ---------------------------------------------------------------- catch-up read rate
    // The baseline: reading what the rebuild reads (the categories of every read model) in pages
    // of the size it reads them, through the event store port, doing nothing with the events.
    const categories = [...new Set(projections.flatMap((p) => p.filter.streamCategories ?? []))];
    let cpu = await cpuPhase(admin, name);
    let t = performance.now();
    let read = 0;
    for await (const page of logPages(store, { pageSize: PAGE, filter: { streamCategories: categories } })) read += page.events.length;
    const readSeconds = (performance.now() - t) / 1000;
    const readPerS = read / readSeconds;
    const readCpu = await cpu();
    console.log(
      `catch-up read: ${read.toLocaleString()} events in ${round(readSeconds, 1)} s (CPU s: node ${readCpu.node}, server ${readCpu.server})`,
    );

    // ---------------------------------------------------------------- rebuild every read model
    // As `replay rebuild --all --shadow` does: one pass over the log into shadow tables without
    // their secondary indexes, each model's rows folded in memory across pages and written about
    // once (BulkFold), then the indexes built and the tables swapped in with their checkpoints.
    // Over the command line's own connections (src/cli/context.ts: the log read on connections of
    // its own, the read models written on a pool of eight).
    const silent = { write: () => true };
    const cli = await openCliContext(new Output("json", silent, silent), { env: { DATABASE_URL: url.toString() } });
    cpu = await cpuPhase(admin, name);
    t = performance.now();
    const counts = await rebuildShadowTogether(cli, projections, { pageSize: PAGE });
    const rebuildSeconds = (performance.now() - t) / 1000;
    const rebuildPerS = written / rebuildSeconds;
    const rebuildCpu = await cpu();
    // Where the time went: per model, the time spent folding its events and waiting for its writes
    // (models fold one after another and write side by side, so these overlap and do not add up).
    const perProjection = projections.map((p) => ({
      name: p.name,
      events: counts.get(p.name)?.events ?? 0,
      writeSeconds: round((counts.get(p.name)?.ms ?? 0) / 1000, 2),
    }));
    console.log(
      `  per model, folding and waiting for its writes (s): ${perProjection.map((p) => `${p.name.replace("projections/", "")} ${p.writeSeconds}`).join(", ")}`,
    );
    console.log(`rebuild --all --shadow: ${round(rebuildSeconds, 1)} s (CPU s: node ${rebuildCpu.node}, server ${rebuildCpu.server})`);
    // And in place (`replay rebuild --all`): the live tables, logged and indexed, a checkpoint per page.
    t = performance.now();
    if (IN_PLACE) await replayInPlace(cli, projections, { pageSize: PAGE });
    await cli.close();
    const inPlaceSeconds = IN_PLACE ? (performance.now() - t) / 1000 : Number.NaN;
    if (IN_PLACE) console.log(`rebuild --all (in place): ${round(inPlaceSeconds, 1)} s`);

    // ---------------------------------------------------------------- order history
    const latencies: number[] = [];
    const sampled = Array.from({ length: SAMPLES }, (_, k) => `o${Math.floor(((k + 0.5) / SAMPLES) * (orders - 1))}`);
    for (const orderId of sampled) {
      const t0 = performance.now();
      await orderHistory({ store, sql }, orderId);
      latencies.push(performance.now() - t0);
    }
    latencies.sort((a, b) => a - b);
    const scanSamples = sampled.filter((_, k) => k % Math.max(1, Math.floor(SAMPLES / 3)) === 0).slice(0, 3);
    const scanMs: number[] = [];
    let historyEqual = true;
    for (const orderId of scanSamples) {
      const t0 = performance.now();
      const scanned = await orderHistoryByScan(store, orderId);
      scanMs.push(performance.now() - t0);
      const fromStreams = await orderHistory({ store, sql }, orderId);
      if (JSON.stringify(scanned) !== JSON.stringify(fromStreams)) historyEqual = false;
    }

    // ---------------------------------------------------------------- a day's reconciliation
    const day = { from: new Date(START_MS + 3 * 86_400_000).toISOString(), to: new Date(START_MS + 4 * 86_400_000).toISOString() };
    t = performance.now();
    const fromModel = await reconcileRefunds(sql, day);
    const reconcileMs = performance.now() - t;
    t = performance.now();
    const fromLog = await reconcileRefundsFromLog(store, day);
    const reconcileScanMs = performance.now() - t;
    const reconcileEqual = JSON.stringify(fromModel) === JSON.stringify(fromLog);

    const { rows: parked } = await sql.query<{ n: number }>("SELECT count(*)::int AS n FROM processor_parked_events");
    const figures = {
      events: written,
      orders,
      catchUpReadPerS: Math.round(readPerS),
      pageSize: PAGE,
      rebuildAllSeconds: round(rebuildSeconds, 1),
      rebuildPerS: Math.round(rebuildPerS),
      rebuildToReadRatio: round(rebuildPerS / readPerS, 3),
      // CPU seconds (this process; the server's backends for this database), steadier than wall time on a shared machine.
      readCpuSeconds: readCpu,
      rebuildCpuSeconds: rebuildCpu,
      inPlacePerS: IN_PLACE ? Math.round(written / inPlaceSeconds) : null,
      inPlaceToReadRatio: IN_PLACE ? round(written / inPlaceSeconds / readPerS, 3) : null,
      perProjection,
      historyP50Ms: round(percentile(latencies, 50), 2),
      historyP99Ms: round(percentile(latencies, 99), 2),
      historyScanMs: round(scanMs.reduce((a, b) => a + b, 0) / scanMs.length, 0),
      historyEqualToScan: historyEqual,
      reconcileDayMs: round(reconcileMs, 1),
      reconcileDayScanMs: round(reconcileScanMs, 0),
      reconcileDayRefunds: fromModel.refunds.length,
      reconcileEqualToScan: reconcileEqual,
      parkedEvents: parked[0]?.n ?? 0,
    };
    console.log("");
    console.log(`| figure | value |`);
    console.log(`| --- | --- |`);
    console.log(`| catch-up read (baseline) | ${figures.catchUpReadPerS.toLocaleString()} events/s |`);
    console.log(
      `| rebuild all ${projections.length} read models | ${figures.rebuildPerS.toLocaleString()} log events/s (${figures.rebuildAllSeconds} s), ratio to the read rate ${figures.rebuildToReadRatio} |`,
    );
    if (IN_PLACE)
      console.log(
        `| rebuild all in place | ${figures.inPlacePerS?.toLocaleString()} log events/s, ratio to the read rate ${figures.inPlaceToReadRatio} |`,
      );
    console.log(
      `| order history, ${SAMPLES} orders | p50 ${figures.historyP50Ms} ms, p99 ${figures.historyP99Ms} ms (scan: ${figures.historyScanMs} ms each; same answer: ${historyEqual}) |`,
    );
    console.log(
      `| one day's reconciliation | ${figures.reconcileDayMs} ms, ${figures.reconcileDayRefunds} refunds (scan: ${figures.reconcileDayScanMs} ms; same answer: ${reconcileEqual}) |`,
    );
    console.log(`(shared 2-core machine, other work running: figures are noisy)`);
    console.log(JSON.stringify(figures));
  } finally {
    await store.close();
    await sql.close();
    if (kept === undefined) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

await main();
