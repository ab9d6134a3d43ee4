// npm run bench:instances [-- --instances 3 --duration 20 --concurrency 16 --rate 0]
//
// The cost of running several instances: the same checkout load against 1 instance and then
// against N instances (src/main.ts processes on one throwaway PostgreSQL database each time, the
// units of work spread over them by leases, orders spread over them round-robin like a load
// balancer would). Orders are placed by `concurrency` client loops for `duration` seconds (capped
// at `rate` orders/s when given) and paid by signed webhook once PAYMENT_PENDING; after the load,
// the run waits (up to `drain` seconds) for every placed order to reach CONFIRMED or beyond.
// Reported per phase: placed/s, refused (503/429), confirmed/s over load + drain, time to drain,
// and the lease takeover view at the end; then the ratio N:1 of confirmed/s. The last line is one
// JSON object. On one 2-core machine, N processes share the same cores and the same database, so
// the ratio shows the coordination cost, not a speed-up.

import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import pg from "pg";
import { signToken } from "../src/api/auth.js";
import { signWebhook } from "../src/payments/webhook-signature.js";
import { round } from "./support.js";

const opts = new Command()
  .option("--instances <n>", "instances of the second phase (the first always runs 1)", "3")
  .option("--duration <seconds>", "seconds of load per phase", "20")
  .option("--concurrency <n>", "client loops placing orders", "16")
  .option("--rate <orders/s>", "cap on the placing rate (0: as fast as the loops go)", "0")
  .option("--drain <seconds>", "how long to wait for placed orders to reach CONFIRMED after the load", "60")
  .option("--products <n>", "products to seed", "50")
  .parse()
  .opts<{ instances: string; duration: string; concurrency: string; rate: string; drain: string; products: string }>();
const INSTANCES = Number(opts.instances);
const DURATION_S = Number(opts.duration);
const CONCURRENCY = Number(opts.concurrency);
const RATE = Number(opts.rate);
const DRAIN_S = Number(opts.drain);
const PRODUCTS = Number(opts.products);
for (const [name, v] of Object.entries({
  instances: INSTANCES,
  duration: DURATION_S,
  concurrency: CONCURRENCY,
  drain: DRAIN_S,
  products: PRODUCTS,
})) {
  if (!Number.isInteger(v) || v < 1) {
    console.error(`--${name} must be a positive integer`);
    process.exit(2);
  }
}

const serverUrl = process.env.DATABASE_URL;
if (!serverUrl) {
  console.error(
    "bench:instances needs DATABASE_URL (a PostgreSQL server; a throwaway database is created on it per phase and dropped afterwards)",
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

async function http(
  base: string,
  method: string,
  path: string,
  token?: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  try {
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  } catch {
    return { status: res.status, body: text };
  }
}

interface Phase {
  instances: number;
  placed: number;
  refused: number;
  errors: number;
  placedPerS: number;
  confirmed: number;
  drainS: number;
  confirmedPerS: number;
  confirmedInWindowPerS: number;
  unitsPerInstance: Record<string, number>;
}

async function runPhase(instances: number): Promise<Phase> {
  const name = `bench_instances_${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const dbUrl = new URL(serverUrl!);
  dbUrl.pathname = `/${name}`;
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  const db = new pg.Client({ connectionString: dbUrl.toString() });
  try {
    const bases: string[] = [];
    for (let i = 0; i < instances; i++) {
      const port = await freePort();
      const dataDir = mkdtempSync(join(tmpdir(), "bench-instances-"));
      dirs.push(dataDir);
      children.push(
        spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
          env: {
            ...process.env,
            PORT: String(port),
            HOST: "127.0.0.1",
            DATA_DIR: dataDir,
            DATABASE_URL: dbUrl.toString(),
            AUTH_JWT_SECRET: JWT_SECRET,
            PAYMENT_WEBHOOK_SECRET: WEBHOOK_SECRET,
            INSTANCE_ID: `bench-${i + 1}`,
            RATE_LIMIT_PER_MINUTE: "0",
            // The database's connections are shared out: 40 in all, as one instance has by default.
            PG_POOL_MAX: String(Math.max(5, Math.floor(40 / instances))),
            LOG_LEVEL: "warn",
          },
          stdio: ["ignore", "ignore", "inherit"],
        }),
      );
      bases.push(`http://127.0.0.1:${port}`);
    }
    for (const base of bases) {
      for (let i = 0; ; i++) {
        if (children.some((c) => c.exitCode !== null)) throw new Error("a server exited during start-up");
        if ((await http(base, "GET", "/health/ready").catch(() => ({ status: 0 }))).status === 200) break;
        if (i > 900) throw new Error(`${base} not ready in 90 s`);
        await sleep(100);
      }
    }
    await db.connect();
    // Every unit owned before the load starts (with several instances: spread over them).
    for (let i = 0; ; i++) {
      const { rows } = await db.query<{ owners: number; free: number }>(
        "SELECT count(DISTINCT owner)::int AS owners, count(*) FILTER (WHERE owner IS NULL OR expires_at <= now())::int AS free FROM processing_leases",
      );
      if (rows[0]!.free === 0 && rows[0]!.owners === instances) break;
      if (i > 300) throw new Error(`units not spread over ${instances} instances`);
      await sleep(100);
    }
    const adminToken = await signToken(JWT_SECRET, { sub: "bench-admin", roles: ["admin"] });
    const skus = Array.from({ length: PRODUCTS }, (_, i) => `BENCH-${i}`);
    for (const [i, sku] of skus.entries()) {
      const base = bases[i % bases.length]!;
      if (
        (
          await http(base, "POST", "/api/products", adminToken, {
            sku,
            name: `Bench ${i}`,
            category: ["Bench"],
            brand: "Bench",
            price: 10_000 + i,
          })
        ).status !== 201
      )
        throw new Error(`seed ${sku}`);
      if (
        (await http(base, "POST", `/api/inventory/${sku}/receipts`, adminToken, { warehouseId: "w-bench", quantity: 1_000_000 })).status !==
        201
      )
        throw new Error(`stock ${sku}`);
    }
    const customers = await Promise.all(
      Array.from({ length: 64 }, (_, i) => signToken(JWT_SECRET, { sub: `bench-c-${i}`, roles: ["customer"] })),
    );
    const confirmedCount = async () => {
      const { rows } = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM es_events WHERE type = 'OrderConfirmed'");
      return rows[0]!.n;
    };

    let placed = 0;
    let refused = 0;
    let errors = 0;
    let loadRunning = true;
    const paid = new Set<string>();
    let payerStop = false;
    const payer = (async () => {
      for (let n = 0; !payerStop; n++) {
        const base = bases[n % bases.length]!;
        const list = await http(base, "GET", "/api/orders?status=PAYMENT_PENDING&size=100", adminToken).catch(() => ({
          status: 0,
          body: undefined,
        }));
        const fresh = (
          (list.status === 200 ? list.body.items : []) as {
            orderId: string;
            totalAmount: number;
            currency: string;
            payment: { paymentId: string | null };
          }[]
        ).filter((o) => !paid.has(o.orderId) && o.payment.paymentId);
        for (let i = 0; i < fresh.length; i += 16) {
          await Promise.all(
            fresh.slice(i, i + 16).map(async (o) => {
              paid.add(o.orderId);
              const raw = JSON.stringify({
                id: `evt_bench_${o.orderId}`,
                type: "payment.captured",
                created: new Date().toISOString(),
                data: {
                  paymentId: o.payment.paymentId,
                  gatewayPaymentId: `sim_pay_${o.payment.paymentId}`,
                  amount: o.totalAmount,
                  currency: o.currency,
                },
              });
              const hook = await http(bases[(n + i) % bases.length]!, "POST", "/api/payments/webhook", undefined, raw, {
                "x-webhook-signature": signWebhook(WEBHOOK_SECRET, raw, Math.floor(Date.now() / 1000)),
              }).catch(() => ({ status: 0 }));
              if (hook.status !== 200) paid.delete(o.orderId);
            }),
          );
        }
        if (fresh.length < 100) await sleep(loadRunning ? 50 : 200);
      }
    })();

    const before = await confirmedCount();
    const started = performance.now();
    const stopAt = started + DURATION_S * 1000;
    let nextSlot = started;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async (_, worker) => {
        for (let n = 0; performance.now() < stopAt; n++) {
          if (RATE > 0) {
            const slot = nextSlot;
            nextSlot += 1000 / RATE;
            if (slot >= stopAt) break;
            if (slot > performance.now()) await sleep(slot - performance.now());
          }
          const base = bases[(worker + n) % bases.length]!;
          const res = await http(base, "POST", "/api/orders", customers[worker % customers.length], {
            items: [{ sku: skus[(worker * 7 + n) % skus.length], quantity: 1 }],
            shippingAddress: address,
            paymentMethod: "UPI",
          }).catch(() => ({ status: 0 }));
          if (res.status === 202) placed++;
          else if (res.status === 503 || res.status === 429) {
            refused++;
            await sleep(100);
          } else errors++;
        }
      }),
    );
    loadRunning = false;
    const windowS = (performance.now() - started) / 1000;
    const inWindow = (await confirmedCount()) - before;
    const drainUntil = performance.now() + DRAIN_S * 1000;
    let confirmed = inWindow;
    while (performance.now() < drainUntil) {
      confirmed = (await confirmedCount()) - before;
      if (confirmed >= placed) break;
      await sleep(250);
    }
    const drainS = (performance.now() - started) / 1000 - windowS;
    payerStop = true;
    await payer;
    const { rows: owners } = await db.query<{ owner: string; n: number }>(
      "SELECT owner, count(*)::int AS n FROM processing_leases WHERE owner IS NOT NULL GROUP BY owner ORDER BY owner",
    );
    return {
      instances,
      placed,
      refused,
      errors,
      placedPerS: round(placed / windowS),
      confirmed,
      drainS: round(drainS),
      confirmedPerS: round(confirmed / (windowS + drainS)),
      confirmedInWindowPerS: round(inWindow / windowS),
      unitsPerInstance: Object.fromEntries(owners.map((r) => [r.owner, r.n])),
    };
  } finally {
    await Promise.all(
      children.map(async (c) => {
        if (c.exitCode !== null) return;
        const exited = new Promise((resolve) => c.once("exit", resolve));
        c.kill("SIGTERM");
        await Promise.race([exited, sleep(20_000)]);
        if (c.exitCode === null) c.kill("SIGKILL");
      }),
    );
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    await db.end().catch(() => undefined);
    const drop = new pg.Client({ connectionString: serverUrl });
    await drop.connect();
    await drop.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await drop.end();
  }
}

async function main(): Promise<void> {
  const one = await runPhase(1);
  console.error(`1 instance: done (${one.confirmedPerS} confirmed/s)`);
  const many = await runPhase(INSTANCES);
  console.error(`${INSTANCES} instances: done (${many.confirmedPerS} confirmed/s)`);
  const ratio = round(many.confirmedPerS / one.confirmedPerS);
  const header = [
    "instances",
    "placed/s",
    "refused",
    "errors",
    "CONFIRMED/s (window)",
    "CONFIRMED/s (incl. drain)",
    "drain s",
    "units per instance",
  ];
  const rows = [one, many].map((p) =>
    [
      p.instances,
      p.placedPerS,
      p.refused,
      p.errors,
      p.confirmedInWindowPerS,
      p.confirmedPerS,
      p.drainS,
      Object.values(p.unitsPerInstance).join("/"),
    ].map(String),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join("  ");
  console.log(
    `instances benchmark: ${DURATION_S} s of load at concurrency ${CONCURRENCY}${RATE > 0 ? `, placing capped at ${RATE}/s` : ""}, PostgreSQL, orders spread round-robin over the instances`,
  );
  console.log(line(header));
  for (const r of rows) console.log(line(r));
  console.log(
    `confirmed/s ${INSTANCES}:1 = ${ratio} (target >= 0.8: on one machine the instances share its cores; the ratio is the cost of coordination)`,
  );
  console.log(
    JSON.stringify({
      benchmark: "instances",
      durationS: DURATION_S,
      concurrency: CONCURRENCY,
      rateCap: RATE || null,
      instances: INSTANCES,
      confirmedPerS1: one.confirmedPerS,
      [`confirmedPerS${INSTANCES}`]: many.confirmedPerS,
      ratio,
      phases: [one, many],
    }),
  );
}

main().catch((error: unknown) => {
  console.error(`bench:instances failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
