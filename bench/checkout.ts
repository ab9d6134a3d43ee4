// npm run bench:checkout [-- --duration 20 --concurrency 16,64 --rate 300 --hot-sku --orders 20000 --embedded --split-roles --cpu-prof <dir>]
//
// Starts the server (src/main.ts) in a child process, on real PostgreSQL (a throwaway database
// created on DATABASE_URL's server and dropped afterwards) or, with --embedded, on PGlite in a
// temporary DATA_DIR; with --split-roles as two processes, ROLES=api (the one clients call) and
// ROLES=processors, whose CPU and statements are summed. It seeds products and stock; then for each
// concurrency (a phase):
// `concurrency` client loops place orders (POST /api/orders) for the duration (flat out, or capped
// at --rate orders/s for all loops together; with --orders, until that many were accepted). A 503
// (admission control) is counted as refused and its loop waits 250 ms. Every accepted order is
// completed in the background like a real gateway would: once the saga has initiated its payment
// (PAYMENT_PENDING in the orders read model), the signed `payment.captured` webhook is sent.
//
// Per phase: confirmed/s during the load, place -> CONFIRMED p50/p99 as a client sees it (a sample
// of orders polled on GET /api/orders/{id}, read models included) and over every order from the log
// (OrderPlaced -> OrderConfirmed), POST p99, accepted/s and refused/s, the share of accepted orders
// confirmed within 30 s after the load stops, how every accepted order ended, saga steps/s, events,
// SQL statements (the server's sql_statements_total) and server CPU seconds (process_cpu_seconds_total;
// with --embedded that includes the database) per confirmed order, and confirmed/s per --slice
// seconds of the run (does the rate fall as a hot stream grows?). The ceiling is measured in the
// same run on the same database: bare batched INSERT events/s (16 writers, 10 rows each, as
// bench:append's baseline); efficiency = confirmed/s x events per order / ceiling.
// Prints a table; the last line is one JSON object with a `phases` array.

import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import pg from "pg";
import { signToken } from "../src/api/auth.js";
import { createPgClient } from "../src/infrastructure/sql/pg-client.js";
import { createPgliteClient } from "../src/infrastructure/sql/pglite-client.js";
import type { SqlClient } from "../src/infrastructure/sql/sql-client.js";
import { signWebhook } from "../src/payments/webhook-signature.js";
import { bareInsertCeiling, percentile, round } from "./support.js";

const program = new Command()
  .option("--duration <seconds>", "seconds of load per phase (with --orders: the bound, default 1 h)", "20")
  .option("--concurrency <list>", "comma-separated client concurrencies, one phase each", "16,64")
  .option("--products <n>", "products to seed", "50")
  .option("--rate <orders/s>", "cap the placing rate (all loops together); default: flat out", "0")
  .option("--orders <n>", "end a phase once this many orders were accepted (0: by duration only)", "0")
  .option("--hot-sku", "every order buys the same product (one hot inventory stream)")
  .option("--slice <seconds>", "confirmed/s is also reported per slice of this many seconds", "10")
  .option("--embedded", "the server on embedded PGlite in a temporary DATA_DIR (DATABASE_URL not used)")
  .option("--drain <seconds>", "how long to wait for accepted orders to reach CONFIRMED after the load stops (at least 30)", "60")
  .option("--ceiling-seconds <seconds>", "duration of the bare INSERT ceiling measurement", "5")
  .option("--cpu-prof <dir>", "write a V8 CPU profile of the server (node --cpu-prof) into this directory")
  .option(
    "--split-roles",
    "two server processes on the database: ROLES=api (the one the clients call) and ROLES=processors (PostgreSQL only)",
  )
  .parse();
const opts = program.opts<{
  duration: string;
  concurrency: string;
  products: string;
  drain: string;
  rate: string;
  orders: string;
  hotSku?: boolean;
  slice: string;
  embedded?: boolean;
  ceilingSeconds: string;
  cpuProf?: string;
  splitRoles?: boolean;
}>();
const RATE = Number(opts.rate);
const ORDERS = Number(opts.orders);
const DURATION_S = ORDERS > 0 && program.getOptionValueSource("duration") === "default" ? 3600 : Number(opts.duration);
const CONCURRENCIES = opts.concurrency.split(",").map(Number);
const PRODUCTS = Number(opts.products);
const DRAIN_S = Math.max(30, Number(opts.drain));
const SLICE_S = Number(opts.slice);
const EMBEDDED = opts.embedded === true;
const SPLIT = opts.splitRoles === true && !EMBEDDED;

const serverUrl = process.env.DATABASE_URL;
if (!serverUrl && !EMBEDDED) {
  console.error(
    "bench:checkout needs DATABASE_URL (a PostgreSQL server; a throwaway database is created on it and dropped afterwards), or --embedded",
  );
  process.exit(1);
}

const JWT_SECRET = randomBytes(24).toString("hex");
const WEBHOOK_SECRET = `whsec_${randomBytes(24).toString("hex")}`;
const address = { name: "Bench User", line1: "1 Load St", city: "Pune", state: "MH", pincode: "411001", phone: "+919800000000" };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function createDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `bench_checkout_${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl!);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** Peak resident set size of a process (VmHWM), in MiB. */
function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
}

interface Http {
  status: number;
  body: any;
}

function client(base: string) {
  return async (
    method: string,
    path: string,
    token: string | undefined,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Http> => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    return { status: res.status, body: parsed };
  };
}

/** What a phase gathered while it ran; the log is read afterwards (analyse). */
interface PhaseRun {
  concurrency: number;
  /** Wall-clock ms (Date.now): the server's recorded_at is on the same clock. */
  startedAt: number;
  loadEndedAt: number;
  endedAt: number;
  orderIds: string[];
  refused: number;
  postLatencies: number[];
  confirmLatencies: number[];
  errorKinds: Record<string, number>;
  statements: number;
  cpuSeconds: number;
  healthLiveRps: number;
}

interface PhaseFigures {
  concurrency: number;
  loadS: number;
  drainS: number;
  accepted: number;
  acceptedPerS: number;
  refusedPerS: number;
  /** Orders of this phase CONFIRMED (in the log) during the load, per second of it. */
  confirmedPerS: number;
  /** ... and over load + drain. */
  confirmedInclDrainPerS: number;
  confirmedShareWithin30s: number;
  /** How the phase's accepted orders ended. */
  ended: { confirmed: number; cancelled: Record<string, number>; neither: number };
  postP50Ms: number;
  postP99Ms: number;
  /** As a client sees it (sampled orders polled on GET /api/orders/{id}, read models included). */
  toConfirmedP50Ms: number;
  toConfirmedP99Ms: number;
  toConfirmedSampled: number;
  /** OrderPlaced -> OrderConfirmed in the log, every confirmed order. */
  logToConfirmedP50Ms: number;
  logToConfirmedP99Ms: number;
  sagaStepsPerS: number;
  eventsPerOrder: number;
  /** The same by event type (which events an order costs). */
  eventsPerOrderByType: Record<string, number>;
  statementsPerOrder: number;
  cpuSecondsPer1000Orders: number;
  /** Bare batched INSERT events/s on the same database (the ceiling) and confirmed/s x events per order / ceiling. */
  ceilingEventsPerS: number;
  efficiency: number;
  /** Confirmed/s per slice of --slice seconds from the phase's start (load, then drain). */
  slices: { fromS: number; confirmedPerS: number; duringLoad: boolean }[];
  errors: number;
  errorKinds: Record<string, number>;
  healthLiveRps: number;
}

/** The servers' counters from /metrics, summed: CPU seconds and SQL statements so far. */
async function serverCounters(bases: string[]): Promise<{ cpuSeconds: number; statements: number }> {
  const text = (await Promise.all(bases.map(async (base) => (await fetch(`${base}/metrics`)).text()))).join("\n");
  const sum = (name: string) =>
    text
      .split("\n")
      .filter((l) => l.startsWith(name))
      .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
  return { cpuSeconds: sum("process_cpu_seconds_total"), statements: sum("sql_statements_total") };
}

async function analyse(sql: SqlClient, run: PhaseRun, ceiling: number): Promise<PhaseFigures> {
  const streams = run.orderIds.map((id) => `order-${id}`);
  const { rows: orders } = await sql.query<{ placed: number | null; confirmed: number | null; reason: string | null; cancelled: boolean }>(
    `SELECT extract(epoch FROM min(recorded_at) FILTER (WHERE type = 'OrderPlaced'))::float8 * 1000 AS placed,
            extract(epoch FROM min(recorded_at) FILTER (WHERE type = 'OrderConfirmed'))::float8 * 1000 AS confirmed,
            bool_or(type = 'OrderCancelled') AS cancelled,
            max(data->>'reason') FILTER (WHERE type = 'OrderCancelled') AS reason
       FROM es_events WHERE stream_id = ANY ($1::text[]) GROUP BY stream_id`,
    [streams],
  );
  const { rows: types } = await sql.query<{ type: string; n: number }>(
    `SELECT type, count(*)::int AS n FROM es_events
      WHERE recorded_at >= to_timestamp($1::float8 / 1000) AND recorded_at < to_timestamp($2::float8 / 1000) GROUP BY type`,
    [run.startedAt, run.endedAt],
  );
  const loadS = (run.loadEndedAt - run.startedAt) / 1000;
  const drainS = (run.endedAt - run.loadEndedAt) / 1000;
  const confirmedAt = orders.filter((o) => o.confirmed !== null).map((o) => Number(o.confirmed));
  const confirmed = confirmedAt.length;
  const cancelled: Record<string, number> = {};
  for (const o of orders) if (o.confirmed === null && o.cancelled) cancelled[o.reason ?? "?"] = (cancelled[o.reason ?? "?"] ?? 0) + 1;
  const logLatencies = orders
    .filter((o) => o.confirmed !== null && o.placed !== null)
    .map((o) => Number(o.confirmed) - Number(o.placed))
    .sort((a, b) => a - b);
  const events = types.reduce((n, t) => n + t.n, 0);
  const steps = types.find((t) => t.type === "SagaStepRecorded")?.n ?? 0;
  const confirmedPerS = confirmedAt.filter((t) => t <= run.loadEndedAt).length / loadS;
  const eventsPerOrder = confirmed > 0 ? events / confirmed : Number.NaN;
  const slices: PhaseFigures["slices"] = [];
  for (let from = run.startedAt; from < run.endedAt; from += SLICE_S * 1000) {
    const to = Math.min(run.endedAt, from + SLICE_S * 1000);
    const n = confirmedAt.filter((t) => t >= from && t < to).length;
    slices.push({
      fromS: round((from - run.startedAt) / 1000),
      confirmedPerS: round(n / ((to - from) / 1000)),
      duringLoad: from < run.loadEndedAt,
    });
  }
  const postLatencies = [...run.postLatencies].sort((a, b) => a - b);
  const confirmLatencies = [...run.confirmLatencies].sort((a, b) => a - b);
  return {
    concurrency: run.concurrency,
    loadS: round(loadS),
    drainS: round(drainS),
    accepted: run.orderIds.length,
    acceptedPerS: round(run.orderIds.length / loadS),
    refusedPerS: round(run.refused / loadS),
    confirmedPerS: round(confirmedPerS),
    confirmedInclDrainPerS: round(confirmed / (loadS + drainS)),
    confirmedShareWithin30s: round(
      run.orderIds.length ? confirmedAt.filter((t) => t <= run.loadEndedAt + 30_000).length / run.orderIds.length : Number.NaN,
      4,
    ),
    ended: { confirmed, cancelled, neither: run.orderIds.length - confirmed - Object.values(cancelled).reduce((a, b) => a + b, 0) },
    postP50Ms: round(percentile(postLatencies, 50)),
    postP99Ms: round(percentile(postLatencies, 99)),
    toConfirmedP50Ms: round(percentile(confirmLatencies, 50)),
    toConfirmedP99Ms: round(percentile(confirmLatencies, 99)),
    toConfirmedSampled: confirmLatencies.length,
    logToConfirmedP50Ms: round(percentile(logLatencies, 50)),
    logToConfirmedP99Ms: round(percentile(logLatencies, 99)),
    sagaStepsPerS: round(steps / (loadS + drainS)),
    eventsPerOrder: round(eventsPerOrder, 2),
    eventsPerOrderByType: Object.fromEntries(
      types.sort((a, b) => b.n - a.n).map((t) => [t.type, round(confirmed > 0 ? t.n / confirmed : Number.NaN, 2)]),
    ),
    statementsPerOrder: round(confirmed > 0 ? run.statements / confirmed : Number.NaN, 2),
    cpuSecondsPer1000Orders: round(confirmed > 0 ? (run.cpuSeconds / confirmed) * 1000 : Number.NaN, 2),
    ceilingEventsPerS: round(ceiling),
    efficiency: round((confirmedPerS * eventsPerOrder) / ceiling, 4),
    slices,
    errors: Object.values(run.errorKinds).reduce((a, b) => a + b, 0),
    errorKinds: run.errorKinds,
    healthLiveRps: run.healthLiveRps,
  };
}

async function main(): Promise<void> {
  const db = EMBEDDED ? undefined : await createDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), "bench-checkout-"));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let worker: ChildProcess | undefined;
  const bases = [base];
  try {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      RATE_LIMIT_PER_MINUTE: "0", // one load generator stands for many customers
      DATA_DIR: dataDir,
      AUTH_JWT_SECRET: JWT_SECRET,
      PAYMENT_WEBHOOK_SECRET: WEBHOOK_SECRET,
      LOG_LEVEL: "warn",
    };
    if (db) env.DATABASE_URL = db.url;
    else delete env.DATABASE_URL;
    const serve = (extra: NodeJS.ProcessEnv) =>
      spawn(process.execPath, [...(opts.cpuProf ? ["--cpu-prof", "--cpu-prof-dir", opts.cpuProf] : []), "--import", "tsx", "src/main.ts"], {
        env: { ...env, ...extra },
        stdio: ["ignore", "ignore", "inherit"],
      });
    // With --split-roles the processors run in a process of their own, beside the one serving the API.
    if (SPLIT) {
      const workerPort = await freePort();
      worker = serve({ ROLES: "processors", PORT: String(workerPort), INSTANCE_ID: "bench-processors" });
      bases.push(`http://127.0.0.1:${workerPort}`);
    }
    child = serve(SPLIT ? { ROLES: "api", INSTANCE_ID: "bench-api" } : {});
    const exited = new Promise<number | null>((resolve) => child!.once("exit", resolve));
    const http = client(base);
    for (const [i, url] of bases.entries()) {
      for (let tries = 0; ; tries++) {
        const proc = i === 0 ? child : worker!;
        if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}`);
        try {
          if ((await client(url)("GET", "/health/ready", undefined)).status === 200) break;
        } catch {
          /* not up yet */
        }
        if (tries > 600) throw new Error("server did not become ready in 60 s");
        await sleep(100);
      }
    }

    const admin = await signToken(JWT_SECRET, { sub: "bench-admin", roles: ["admin"] });
    const skus = Array.from({ length: opts.hotSku ? 1 : PRODUCTS }, (_, i) => `BENCH-${i}`);
    for (const [i, sku] of skus.entries()) {
      const p = await http("POST", "/api/products", admin, {
        sku,
        name: `Bench product ${i}`,
        category: ["Bench"],
        brand: "Bench",
        price: 10_000 + i * 100,
      });
      if (p.status !== 201) throw new Error(`seed ${sku}: ${p.status} ${JSON.stringify(p.body)}`);
      const r = await http("POST", `/api/inventory/${sku}/receipts`, admin, { warehouseId: "w-bench", quantity: 1_000_000 });
      if (r.status !== 201) throw new Error(`stock ${sku}: ${r.status} ${JSON.stringify(r.body)}`);
    }
    const customers = await Promise.all(
      Array.from({ length: 64 }, (_, i) => signToken(JWT_SECRET, { sub: `bench-c-${i}`, roles: ["customer"] })),
    );
    const autocannon = (
      (await import("autocannon" as string)) as {
        default: (o: object) => Promise<{ requests: { average: number }; latency: { p99: number }; non2xx: number; errors: number }>;
      }
    ).default;
    const runs: PhaseRun[] = [];

    for (const concurrency of CONCURRENCIES) {
      const postLatencies: number[] = [];
      const confirmLatencies: number[] = [];
      const errorKinds: Record<string, number> = {};
      const error = (kind: string) => (errorKinds[kind] = (errorKinds[kind] ?? 0) + 1);
      const completions: Promise<void>[] = [];
      const orderIds: string[] = [];
      let refused = 0;
      let drainUntil = Number.POSITIVE_INFINITY;
      const paid = new Set<string>();
      let loadRunning = true;

      // The gateway side: finds orders waiting for payment in the orders read model and pays them by signed webhook.
      const pay = async (o: { orderId: string; totalAmount: number; currency: string; payment: { paymentId: string | null } }) => {
        const paymentId = o.payment.paymentId;
        if (!paymentId || paid.has(o.orderId)) return;
        paid.add(o.orderId);
        const raw = JSON.stringify({
          id: `evt_bench_${o.orderId}`,
          type: "payment.captured",
          created: new Date().toISOString(),
          data: { paymentId, gatewayPaymentId: `sim_pay_${paymentId}`, amount: o.totalAmount, currency: o.currency },
        });
        const hook = await http("POST", "/api/payments/webhook", undefined, raw, {
          "x-webhook-signature": signWebhook(WEBHOOK_SECRET, raw, Math.floor(Date.now() / 1000)),
        }).catch(() => ({ status: 0 }));
        if (hook.status !== 200) {
          error(`webhook:${hook.status}`);
          paid.delete(o.orderId);
        }
      };
      // Webhooks go out concurrently, as a gateway's would (at most 64 in flight), for every order
      // waiting for payment: the list is newest first, so it is read to its end each round (an
      // older unpaid order behind a page of paid ones waiting for their capture would starve).
      // Paying only the newest page in sequential chunks made the load generator, not the
      // server, bound confirmations.
      const inFlight = new Set<Promise<void>>();
      const payer = (async () => {
        while (loadRunning || performance.now() < drainUntil) {
          let fresh = 0;
          for (let page = 1; page <= 200; page++) {
            const list = await http("GET", `/api/orders?status=PAYMENT_PENDING&size=100&page=${page}`, admin).catch(() => ({
              status: 0,
              body: undefined,
            }));
            const items = (list.status === 200 ? list.body.items : []) as Parameters<typeof pay>[0][];
            for (const o of items.filter((i) => !paid.has(i.orderId))) {
              fresh++;
              while (inFlight.size >= 64) await Promise.race(inFlight);
              const sent: Promise<void> = pay(o).finally(() => inFlight.delete(sent));
              inFlight.add(sent);
            }
            if (items.length < 100) break;
          }
          if (fresh === 0) await sleep(50);
        }
        await Promise.all(inFlight);
      })();
      // Place -> CONFIRMED as a client sees it, on a sample (one order in 25, at most 8 watched at once, polled every 100 ms).
      let watching = 0;
      const watch = async (orderId: string, token: string, placedAt: number) => {
        watching++;
        try {
          while (performance.now() < drainUntil) {
            await sleep(100);
            const o = await http("GET", `/api/orders/${orderId}`, token).catch(() => ({ status: 0, body: undefined }));
            if (o.status !== 200) continue;
            if (["CONFIRMED", "PROCESSING", "SHIPPED", "DELIVERED"].includes(o.body.status)) {
              confirmLatencies.push(performance.now() - placedAt);
              return;
            }
            if (o.body.status === "CANCELLED") return;
          }
        } finally {
          watching--;
        }
      };
      // Orders of the read model that are finished (confirmed or beyond, or cancelled): the drain waits for this phase's.
      const countFinished = async (): Promise<number> => {
        let n = 0;
        for (const status of ["CONFIRMED", "PROCESSING", "SHIPPED", "DELIVERED", "CANCELLED"]) {
          const r = await http("GET", `/api/orders?status=${status}&size=1`, admin).catch(() => ({ status: 0, body: undefined }));
          n += r.status === 200 ? (r.body.total as number) : 0;
        }
        return n;
      };
      const finishedBefore = await countFinished();
      const countersBefore = await serverCounters(bases);

      const startedAt = Date.now();
      const started = performance.now();
      const stopAt = started + DURATION_S * 1000;
      const loadOn = () => performance.now() < stopAt && (ORDERS === 0 || orderIds.length < ORDERS);
      let nextSlot = started;
      await Promise.all(
        Array.from({ length: concurrency }, async (_, worker) => {
          const token = customers[worker % customers.length]!;
          for (let n = 0; loadOn(); n++) {
            if (RATE > 0) {
              const slot = nextSlot;
              nextSlot += 1000 / RATE;
              if (slot >= stopAt) break;
              if (slot > performance.now()) await sleep(slot - performance.now());
              if (!loadOn()) break;
            }
            const sku = skus[(worker * 7 + n) % skus.length]!;
            const t0 = performance.now();
            try {
              const res = await http("POST", "/api/orders", token, {
                items: [{ sku, quantity: 1 }],
                shippingAddress: address,
                paymentMethod: "UPI",
              });
              postLatencies.push(performance.now() - t0);
              if (res.status === 503) {
                refused++;
                await sleep(250);
                continue;
              }
              if (res.status !== 202) {
                error(`post:${res.status}`);
                continue;
              }
              orderIds.push(res.body.orderId as string);
              if (orderIds.length % (RATE > 0 && RATE < 50 ? 1 : 25) === 0 && watching < 8)
                completions.push(watch(res.body.orderId as string, token, t0));
            } catch (e) {
              error(`post:${(e as Error).message}`);
            }
          }
        }),
      );
      loadRunning = false;
      const loadEndedAt = Date.now();
      drainUntil = performance.now() + DRAIN_S * 1000;
      // Drain: until every accepted order is finished, but at least 30 s when some are not (the 30 s share), at most --drain.
      while (performance.now() < drainUntil) {
        if ((await countFinished()) - finishedBefore >= orderIds.length) break;
        await sleep(250);
      }
      const endedAt = Date.now();
      const countersAfter = await serverCounters(bases);
      drainUntil = 0;
      await Promise.all([...completions, payer]);
      const healthLive = await autocannon({ url: `${base}/health/live`, connections: concurrency, duration: 5 });
      runs.push({
        concurrency,
        startedAt,
        loadEndedAt,
        endedAt,
        orderIds,
        refused,
        postLatencies,
        confirmLatencies,
        errorKinds,
        statements: countersAfter.statements - countersBefore.statements,
        cpuSeconds: countersAfter.cpuSeconds - countersBefore.cpuSeconds,
        healthLiveRps: round(healthLive.requests.average),
      });
      console.error(
        `concurrency ${concurrency}: ${orderIds.length} accepted, ${refused} refused; drained in ${round((endedAt - loadEndedAt) / 1000)} s`,
      );
    }

    const peakRss = round(peakRssMiB(child.pid!) + (worker ? peakRssMiB(worker.pid!) : 0));
    child.kill("SIGTERM");
    worker?.kill("SIGTERM");
    await Promise.race([exited, sleep(20_000)]);
    if (child.exitCode === null) child.kill("SIGKILL");
    if (worker && worker.exitCode === null) worker.kill("SIGKILL");

    // The log and the ceiling, on the same database, with the server stopped (PGlite has one owner at a time).
    const sql = db ? createPgClient({ connectionString: db.url, max: 20 }) : await createPgliteClient(join(dataDir, "pglite"));
    let phases: PhaseFigures[];
    let ceiling: number;
    try {
      ceiling = await bareInsertCeiling(sql, Number(opts.ceilingSeconds));
      phases = [];
      for (const run of runs) phases.push(await analyse(sql, run, ceiling));
    } finally {
      await sql.close();
    }

    const header = [
      "concurrency",
      "accepted/s",
      "refused/s",
      "CONFIRMED/s",
      "in 30 s",
      "->CONFIRMED p50/p99 (client)",
      "(log)",
      "POST p99",
      "steps/s",
      "events/order",
      "SQL/order",
      "CPU s/1000",
      "efficiency",
    ];
    const rows = phases.map((p) =>
      [
        p.concurrency,
        p.acceptedPerS,
        p.refusedPerS,
        p.confirmedPerS,
        `${round(p.confirmedShareWithin30s * 100)}%`,
        `${p.toConfirmedP50Ms} / ${p.toConfirmedP99Ms} ms`,
        `${p.logToConfirmedP50Ms} / ${p.logToConfirmedP99Ms} ms`,
        `${p.postP99Ms} ms`,
        p.sagaStepsPerS,
        p.eventsPerOrder,
        p.statementsPerOrder,
        p.cpuSecondsPer1000Orders,
        p.efficiency,
      ].map(String),
    );
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join("  ");
    console.log(
      `checkout benchmark: ${ORDERS > 0 ? `${ORDERS} orders or ` : ""}${DURATION_S} s per phase, ${opts.hotSku ? "one hot SKU" : `${PRODUCTS} products`}, ${
        RATE > 0 ? `placing capped at ${RATE} orders/s` : "flat out"
      }, ${EMBEDDED ? "embedded PGlite" : "PostgreSQL"}; server peak RSS ${peakRss} MiB; ceiling (bare batched INSERT) ${round(ceiling)} events/s`,
    );
    console.log(line(header));
    for (const r of rows) console.log(line(r));
    for (const p of phases) {
      console.log(
        `concurrency ${p.concurrency}: ended ${JSON.stringify(p.ended)}; confirmed/s per ${SLICE_S} s: ${p.slices
          .map((s) => `${s.confirmedPerS}${s.duringLoad ? "" : "*"}`)
          .join(" ")} (* = after the load)`,
      );
    }
    console.log(
      "targets: >= 300 orders/s CONFIRMED (>= 60 embedded), place -> CONFIRMED p99 < 1 s, POST p99 < 50 ms; flat out: >= 90% confirmed within 30 s",
    );
    console.log(
      JSON.stringify({
        benchmark: "checkout",
        durationS: DURATION_S,
        rateCap: RATE || null,
        orders: ORDERS || null,
        hotSku: opts.hotSku === true,
        splitRoles: SPLIT,
        products: skus.length,
        database: EMBEDDED ? "pglite" : "postgres",
        serverPeakRssMiB: peakRss,
        ceilingEventsPerS: round(ceiling),
        phases,
      }),
    );
  } finally {
    if (child && child.exitCode === null) child.kill("SIGKILL");
    if (worker && worker.exitCode === null) worker.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
    await db?.drop().catch(() => undefined);
  }
}

main().catch((error: unknown) => {
  console.error(`bench:checkout failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
