// npm run bench:checkout [-- --duration 20 --concurrency 16,64]
//
// Starts the server (src/main.ts) in a child process on real PostgreSQL (a throwaway database
// created on DATABASE_URL's server and dropped afterwards), seeds products and stock, then for each
// concurrency: `concurrency` client loops place orders (POST /api/orders) for a fixed duration;
// every placed order is completed in the background like a real gateway would: wait until the saga
// has initiated its payment (PAYMENT_PENDING), send the signed `payment.captured` webhook, wait
// until the order is CONFIRMED (or beyond). Reported per concurrency: orders/s that reached
// CONFIRMED, p50/p95/p99 of POST /api/orders, p50/p99 from placing to CONFIRMED, errors; the
// server's peak RSS; and the baseline GET /health/live requests/s (autocannon) at the same
// concurrency. Prints a table; the last line is one JSON object with every figure.

import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import pg from "pg";
import { signToken } from "../src/api/auth.js";
import { signWebhook } from "../src/payments/webhook-signature.js";
import { percentile, round } from "./support.js";

const program = new Command()
  .option("--duration <seconds>", "seconds of load per concurrency", "20")
  .option("--concurrency <list>", "comma-separated client concurrencies", "16,64")
  .option("--products <n>", "products to seed", "50")
  .option("--rate <orders/s>", "cap the placing rate (all workers together); default: as fast as the workers go", "0")
  .option("--drain <seconds>", "how long to wait for placed orders to reach CONFIRMED after the load stops", "60")
  .option("--cpu-prof <dir>", "write a V8 CPU profile of the server (node --cpu-prof) into this directory")
  .parse();
const opts = program.opts<{ duration: string; concurrency: string; products: string; drain: string; rate: string; cpuProf?: string }>();
const RATE = Number(opts.rate);
const DURATION_S = Number(opts.duration);
const CONCURRENCIES = opts.concurrency.split(",").map(Number);
const PRODUCTS = Number(opts.products);
const DRAIN_S = Number(opts.drain);

const serverUrl = process.env.DATABASE_URL;
if (!serverUrl) {
  console.error("bench:checkout needs DATABASE_URL (a PostgreSQL server; a throwaway database is created on it and dropped afterwards)");
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
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
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

interface PhaseFigures {
  concurrency: number;
  durationS: number;
  placed: number;
  /** Orders that reached CONFIRMED (or beyond) while orders were being placed, and per second of that window. */
  confirmedInWindow: number;
  confirmedInWindowPerS: number;
  /** After the load stopped: how many reached CONFIRMED in all, how long that took, and the rate over load + drain. */
  confirmedAfterDrain: number;
  drainS: number;
  confirmedPerS: number;
  /** The order saga's recorded steps per second over load + drain, and orders it brought to PAYMENT_PENDING. */
  sagaStepsPerS: number;
  reachedPaymentPending: number;
  placedPerS: number;
  postP50Ms: number;
  postP95Ms: number;
  postP99Ms: number;
  toConfirmedP50Ms: number;
  toConfirmedP99Ms: number;
  errors: number;
  errorKinds: Record<string, number>;
  healthLiveRps: number;
  healthLiveP99Ms: number;
}

async function main(): Promise<void> {
  const db = await createDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), "bench-checkout-"));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  try {
    child = spawn(
      process.execPath,
      [...(opts.cpuProf ? ["--cpu-prof", "--cpu-prof-dir", opts.cpuProf] : []), "--import", "tsx", "src/main.ts"],
      {
        env: {
          ...process.env,
          PORT: String(port),
          HOST: "127.0.0.1",
          RATE_LIMIT_PER_MINUTE: "0", // one load generator stands for many customers
          DATA_DIR: dataDir,
          DATABASE_URL: db.url,
          AUTH_JWT_SECRET: JWT_SECRET,
          PAYMENT_WEBHOOK_SECRET: WEBHOOK_SECRET,
          LOG_LEVEL: "warn",
        },
        stdio: ["ignore", "ignore", "inherit"],
      },
    );
    const exited = new Promise<number | null>((resolve) => child!.once("exit", resolve));
    const http = client(base);
    for (let i = 0; ; i++) {
      if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
      try {
        if ((await http("GET", "/health/ready", undefined)).status === 200) break;
      } catch {
        /* not up yet */
      }
      if (i > 600) throw new Error("server did not become ready in 60 s");
      await sleep(100);
    }

    const admin = await signToken(JWT_SECRET, { sub: "bench-admin", roles: ["admin"] });
    const skus = Array.from({ length: PRODUCTS }, (_, i) => `BENCH-${i}`);
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

    const sagaDb = new pg.Client({ connectionString: db.url });
    await sagaDb.connect();
    /** Events the saga has produced so far: its recorded steps, and orders it has brought to PAYMENT_PENDING. */
    const sagaProgress = async () => {
      const { rows } = await sagaDb.query<{ steps: number; pending: number }>(
        "SELECT count(*) FILTER (WHERE type = 'SagaStepRecorded')::int AS steps, count(*) FILTER (WHERE type = 'OrderPaymentPending')::int AS pending FROM es_events",
      );
      return rows[0]!;
    };
    const autocannon = (
      (await import("autocannon" as string)) as {
        default: (o: object) => Promise<{ requests: { average: number }; latency: { p99: number }; non2xx: number; errors: number }>;
      }
    ).default;
    const phases: PhaseFigures[] = [];

    for (const concurrency of CONCURRENCIES) {
      const postLatencies: number[] = [];
      const confirmLatencies: number[] = [];
      const errorKinds: Record<string, number> = {};
      const error = (kind: string) => (errorKinds[kind] = (errorKinds[kind] ?? 0) + 1);
      const completions: Promise<void>[] = [];
      let placed = 0;

      let lastPosition = "";
      let drainUntil = Number.POSITIVE_INFINITY;
      const paid = new Set<string>();
      const _sampled = new Map<string, number>();
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
      const payer = (async () => {
        while (loadRunning || paid.size < placed) {
          const list = await http("GET", "/api/orders?status=PAYMENT_PENDING&size=100", admin).catch(() => ({
            status: 0,
            body: undefined,
          }));
          const items = (list.status === 200 ? list.body.items : []) as Parameters<typeof pay>[0][];
          const fresh = items.filter((o) => !paid.has(o.orderId));
          for (let i = 0; i < fresh.length; i += 16) await Promise.all(fresh.slice(i, i + 16).map(pay));
          if (fresh.length < 100) await sleep(50);
          if (!loadRunning && performance.now() > drainUntil) break;
        }
      })();
      // Latency from placing to CONFIRMED, on a sample of orders (one in 25, at most 10 watched at once, polled every 100 ms) polled one by one.
      let watching = 0;
      const watch = async (orderId: string, token: string, placedAt: number) => {
        watching++;
        try {
          await watchOne(orderId, token, placedAt);
        } finally {
          watching--;
        }
      };
      const watchOne = async (orderId: string, token: string, placedAt: number) => {
        while (performance.now() < drainUntil) {
          await sleep(100);
          const o = await http("GET", `/api/orders/${orderId}`, token).catch(() => ({ status: 0, body: undefined }));
          if (o.status !== 200) continue;
          if (["CONFIRMED", "PROCESSING", "SHIPPED", "DELIVERED"].includes(o.body.status)) {
            confirmLatencies.push(performance.now() - placedAt);
            return;
          }
          if (o.body.status === "CANCELLED") return void error(`cancelled:${o.body.cancellationReason}`);
        }
        error("sampled order not confirmed in time");
      };
      const countConfirmed = async (): Promise<number> => {
        let n = 0;
        for (const status of ["CONFIRMED", "PROCESSING", "SHIPPED", "DELIVERED"]) {
          const r = await http("GET", `/api/orders?status=${status}&size=1&waitFor=${encodeURIComponent(lastPosition)}`, admin);
          n += r.status === 200 ? (r.body.total as number) : 0;
        }
        return n;
      };
      const baselineConfirmed = await countConfirmed();

      const sagaBefore = await sagaProgress();
      const started = performance.now();
      const stopAt = started + DURATION_S * 1000;
      let nextSlot = started;
      await Promise.all(
        Array.from({ length: concurrency }, async (_, worker) => {
          const token = customers[worker % customers.length]!;
          for (let n = 0; performance.now() < stopAt; n++) {
            if (RATE > 0) {
              const slot = nextSlot;
              nextSlot += 1000 / RATE;
              if (slot >= stopAt) break;
              if (slot > performance.now()) await sleep(slot - performance.now());
              if (performance.now() >= stopAt) break;
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
              if (res.status !== 202) {
                error(`post:${res.status}`);
                continue;
              }
              placed++;
              if (typeof res.body.position === "string" && res.body.position > lastPosition) lastPosition = res.body.position;
              if (placed % (RATE > 0 && RATE < 50 ? 1 : 25) === 0 && watching < 10)
                completions.push(watch(res.body.orderId as string, token, t0));
            } catch (e) {
              error(`post:${(e as Error).message}`);
            }
          }
        }),
      );
      loadRunning = false;
      const windowS = (performance.now() - started) / 1000;
      const confirmedInWindow = (await countConfirmed()) - baselineConfirmed;
      drainUntil = performance.now() + DRAIN_S * 1000;
      // Drain: wait until every placed order is confirmed (or the drain time is up).
      let confirmed = confirmedInWindow;
      while (performance.now() < drainUntil) {
        confirmed = (await countConfirmed()) - baselineConfirmed;
        if (confirmed >= placed) break;
        await sleep(250);
      }
      const drainS = (performance.now() - started) / 1000 - windowS;
      const sagaAfter = await sagaProgress();
      drainUntil = 0;
      await Promise.all([...completions, payer]);

      const baseline = await autocannon({
        url: `${base}/health/live`,
        connections: concurrency,
        duration: Math.max(5, Math.min(10, DURATION_S)),
      });

      postLatencies.sort((a, b) => a - b);
      confirmLatencies.sort((a, b) => a - b);
      const errors = Object.values(errorKinds).reduce((a, b) => a + b, 0);
      phases.push({
        concurrency,
        durationS: DURATION_S,
        placed,
        confirmedInWindow,
        confirmedInWindowPerS: round(confirmedInWindow / windowS),
        confirmedAfterDrain: confirmed,
        drainS: round(drainS),
        sagaStepsPerS: round((sagaAfter.steps - sagaBefore.steps) / (windowS + drainS)),
        reachedPaymentPending: sagaAfter.pending - sagaBefore.pending,
        confirmedPerS: round(confirmed / (windowS + drainS)),
        placedPerS: round(placed / DURATION_S),
        postP50Ms: round(percentile(postLatencies, 50)),
        postP95Ms: round(percentile(postLatencies, 95)),
        postP99Ms: round(percentile(postLatencies, 99)),
        toConfirmedP50Ms: round(percentile(confirmLatencies, 50)),
        toConfirmedP99Ms: round(percentile(confirmLatencies, 99)),
        errors,
        errorKinds,
        healthLiveRps: round(baseline.requests.average),
        healthLiveP99Ms: baseline.latency.p99,
      });
      console.error(`concurrency ${concurrency}: done`);
    }

    await sagaDb.end();
    const peakRss = round(peakRssMiB(child.pid!));
    const header = [
      "concurrency",
      "placed/s",
      "CONFIRMED/s (window)",
      "CONFIRMED/s (incl. drain)",
      "unconfirmed",
      "saga steps/s",
      "POST p50",
      "POST p95",
      "POST p99",
      "->CONFIRMED p50",
      "->CONFIRMED p99",
      "errors",
      "/health/live req/s",
    ];
    const rows = phases.map((p) =>
      [
        p.concurrency,
        p.placedPerS,
        p.confirmedInWindowPerS,
        p.confirmedPerS,
        p.placed - p.confirmedAfterDrain,
        p.sagaStepsPerS,
        `${p.postP50Ms} ms`,
        `${p.postP95Ms} ms`,
        `${p.postP99Ms} ms`,
        `${p.toConfirmedP50Ms} ms`,
        `${p.toConfirmedP99Ms} ms`,
        p.errors,
        p.healthLiveRps,
      ].map(String),
    );
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join("  ");
    console.log(
      `checkout benchmark: ${DURATION_S} s per concurrency, ${PRODUCTS} products, ${RATE > 0 ? `placing capped at ${RATE} orders/s, ` : ""}PostgreSQL, server peak RSS ${peakRss} MiB`,
    );
    console.log(line(header));
    for (const r of rows) console.log(line(r));
    console.log("targets: POST /api/orders p99 < 50 ms at concurrency 16; >= 300 orders/s reaching CONFIRMED");
    console.log(
      JSON.stringify({
        benchmark: "checkout",
        durationS: DURATION_S,
        rateCap: RATE || null,
        products: PRODUCTS,
        database: "postgres",
        serverPeakRssMiB: peakRss,
        phases,
      }),
    );

    child.kill("SIGTERM");
    await Promise.race([exited, sleep(20_000)]);
  } finally {
    if (child && child.exitCode === null) child.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
    await db.drop().catch(() => undefined);
  }
}

main().catch((error: unknown) => {
  console.error(`bench:checkout failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
