// npm run bench:flash-sale [-- --duration 10 --concurrency 64 --orders 300]
//
// Needs DATABASE_URL (a throwaway database is created there and dropped) and REDIS_URL (the
// gate's keys are the bench's own sales; nothing is flushed). Measures, in one run:
//   1. HTTP: POST /api/flash-sales/{id}/claims at `concurrency` client loops for `duration` s
//      against the server (src/main.ts) in a child process with the Redis gate: claims/s, p50/p99;
//   2. the gate alone: RedisFlashSaleGate.claim (the Lua claim script over ioredis) from this
//      process at the same concurrency: claims/s, p50/p99;
//   3. the baseline: raw EVALSHA of a bare conditional-decrement script, pipelined by ioredis
//      (auto-pipelining on one connection, the same concurrency): ops/s, p50/p99; and the ratio
//      gate / raw;
//   4. orders from claims: `orders` claims turned into COD orders through HTTP at the same
//      concurrency, timed until every one is confirmed (the saga draws their units from the
//      sale's reservation in batches): orders confirmed per second.
// Prints the figures; the last line is one JSON object with all of them.

import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { Redis } from "ioredis";
import { signToken } from "../src/api/auth.js";
import { RedisFlashSaleGate } from "../src/flash-sales/redis/redis-gate.js";
import { BARE_DECREMENT } from "../src/flash-sales/redis/scripts.js";
import { createTestDatabase } from "../test/support/database.js";
import { round, runFor } from "./support.js";

const program = new Command()
  .option("--duration <seconds>", "seconds of load per measurement", "10")
  .option("--concurrency <n>", "client loops", "64")
  .option("--orders <n>", "claims turned into orders", "300")
  .parse();
const opts = program.opts<{ duration: string; concurrency: string; orders: string }>();
const DURATION = Number(opts.duration);
const CONCURRENCY = Number(opts.concurrency);
const ORDERS = Number(opts.orders);
/** How long orders may keep getting 503 (admission control) before the phase reports what it placed. */
const ORDER_PHASE_LIMIT_MS = 90_000;

const databaseUrl = process.env.DATABASE_URL;
const redisUrl = process.env.REDIS_URL;
if (!databaseUrl || !redisUrl) {
  console.error("bench:flash-sale needs DATABASE_URL and REDIS_URL");
  process.exit(2);
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

const address = { name: "Bench Buyer", line1: "1 Bench Road", city: "Bengaluru", state: "KA", pincode: "560001", phone: "+919800000001" };

async function main(): Promise<void> {
  const database = await createTestDatabase(databaseUrl);
  const dataDir = mkdtempSync(join(tmpdir(), "bench-flash-"));
  const secret = randomBytes(24).toString("hex");
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  try {
    child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      env: {
        ...process.env,
        PORT: String(port),
        HOST: "127.0.0.1",
        DATA_DIR: dataDir,
        DATABASE_URL: database.url,
        REDIS_URL: redisUrl,
        AUTH_JWT_SECRET: secret,
        PAYMENT_WEBHOOK_SECRET: secret,
        RATE_LIMIT_PER_MINUTE: "0",
        LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "ignore", "inherit"],
    });
    for (let i = 0; ; i++) {
      if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
      const up = await fetch(`${base}/health/live`)
        .then((r) => r.ok)
        .catch(() => false);
      if (up) break;
      if (i > 600) throw new Error("server did not start");
      await new Promise((r) => setTimeout(r, 100));
    }
    const admin = await signToken(secret, { sub: "admin", roles: ["admin"] });
    const post = async (path: string, token: string, body: unknown) => {
      const res = await fetch(`${base}${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json().catch(() => undefined)) as Record<string, unknown> };
    };
    const must = async (what: string, p: Promise<{ status: number; body: Record<string, unknown> }>, status: number) => {
      const r = await p;
      if (r.status !== status) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    };

    // A sale big enough never to sell out during the run, each customer's limit out of reach.
    const sku = "BENCH-PHONE";
    await must(
      "product",
      post("/api/products", admin, { sku, name: "Bench phone", category: ["Phones"], brand: "Bench", price: 99_900 }),
      201,
    );
    await must("stock", post(`/api/inventory/${sku}/receipts`, admin, { warehouseId: "w1", quantity: 1_000_000 }), 201);
    const saleId = `bench-${randomUUID().slice(0, 8)}`;
    await must(
      "sale",
      post("/api/flash-sales", admin, {
        saleId,
        sku,
        warehouseId: "w1",
        quantity: 1_000_000,
        price: 49_900,
        startsAt: new Date(Date.now() - 60_000).toISOString(),
        endsAt: new Date(Date.now() + 3_600_000).toISOString(),
        perCustomerLimit: 10_000,
        holdTtlMs: 3_600_000,
      }),
      201,
    );
    const tokens = await Promise.all(
      Array.from({ length: CONCURRENCY }, (_, i) => signToken(secret, { sub: `buyer-${i}`, roles: ["customer"] })),
    );

    // 1. claims through HTTP
    const claimsForOrders: { token: string; claimId: string }[] = [];
    let httpErrors = 0;
    const http = await runFor(DURATION, CONCURRENCY, async (worker) => {
      const r = await post(`/api/flash-sales/${saleId}/claims`, tokens[worker]!, { quantity: 1 });
      if (r.status !== 201) httpErrors++;
      else if (claimsForOrders.length < ORDERS) claimsForOrders.push({ token: tokens[worker]!, claimId: String(r.body.claimId) });
    });
    console.log(
      `HTTP claims          ${round(http.perSecond)} claims/s  p50 ${round(http.p50Ms, 2)} ms  p99 ${round(http.p99Ms, 2)} ms  (${http.operations} claims, ${httpErrors} not 201)`,
    );

    // 2. the gate alone (the same Lua claim script, from this process)
    const gateClient = new Redis(redisUrl!, { enableAutoPipelining: true });
    const gate = new RedisFlashSaleGate(gateClient);
    const gateSale = `bench-gate-${randomUUID().slice(0, 8)}`;
    await gate.load({
      sale: {
        saleId: gateSale,
        quantity: 100_000_000,
        startsAtMs: Date.now() - 60_000,
        endsAtMs: Date.now() + 3_600_000,
        perCustomerLimit: 1_000_000,
        holdTtlMs: 3_600_000,
      },
      claims: [],
    });
    let gateErrors = 0;
    const gateRun = await runFor(DURATION, CONCURRENCY, async (worker, n) => {
      const o = await gate.claim({
        saleId: gateSale,
        claimId: `${gateSale}:${worker}-${n}`,
        customerId: `buyer-${worker}`,
        quantity: 1,
        nowMs: Date.now(),
      });
      if (o.outcome !== "granted") gateErrors++;
    });
    console.log(
      `gate alone           ${round(gateRun.perSecond)} claims/s  p50 ${round(gateRun.p50Ms, 2)} ms  p99 ${round(gateRun.p99Ms, 2)} ms  (${gateErrors} not granted)`,
    );

    // 3. raw EVALSHA of a bare decrement, pipelined by ioredis on one connection
    const raw = new Redis(redisUrl!, { enableAutoPipelining: true });
    const sha = (await raw.script("LOAD", BARE_DECREMENT)) as string;
    const rawKey = `fs-bench-raw:{${gateSale}}`;
    await raw.set(rawKey, 1_000_000_000);
    const rawRun = await runFor(DURATION, CONCURRENCY, async () => {
      await raw.evalsha(sha, 1, rawKey, 1);
    });
    console.log(
      `raw EVALSHA          ${round(rawRun.perSecond)} ops/s    p50 ${round(rawRun.p50Ms, 2)} ms  p99 ${round(rawRun.p99Ms, 2)} ms`,
    );
    const ratio = gateRun.perSecond / rawRun.perSecond;
    console.log(`gate / raw EVALSHA   ${round(ratio, 2)}`);
    await raw.del(rawKey);
    await raw.quit();
    await gateClient.del(`fs:{${gateSale}}:sale`, `fs:{${gateSale}}:per`, `fs:{${gateSale}}:claims`, `fs:{${gateSale}}:holds`);
    await gateClient.quit();

    // 4. orders from claims, confirmed (COD: no payment step, so this is the claim -> order -> draw pipeline)
    const started = performance.now();
    const placed: { token: string; orderId: string }[] = [];
    let refused = 0;
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let i = next++; i < claimsForOrders.length; i = next++) {
          const c = claimsForOrders[i]!;
          // Admission control may refuse for a while (503 + Retry-After): the claim's hold covers the wait.
          let r = await post("/api/orders", c.token, {
            items: [{ sku, quantity: 1 }],
            shippingAddress: address,
            paymentMethod: "COD",
            flashSaleClaimId: c.claimId,
          });
          while (r.status === 503) {
            refused++;
            if (performance.now() - started > ORDER_PHASE_LIMIT_MS) return; // the pipeline never reopened: report what was placed
            await new Promise((resolve) => setTimeout(resolve, 250));
            r = await post("/api/orders", c.token, {
              items: [{ sku, quantity: 1 }],
              shippingAddress: address,
              paymentMethod: "COD",
              flashSaleClaimId: c.claimId,
            });
          }
          const body = await must("order", Promise.resolve(r), 202);
          placed.push({ token: c.token, orderId: String(body.orderId) });
        }
      }),
    );
    const placedS = (performance.now() - started) / 1000;
    const waiting = new Set(placed.map((p) => p.orderId));
    const tokenOf = new Map(placed.map((p) => [p.orderId, p.token]));
    const deadline = Date.now() + 120_000;
    while (waiting.size > 0 && Date.now() < deadline) {
      for (const orderId of [...waiting]) {
        const res = await fetch(`${base}/api/orders/${orderId}`, { headers: { authorization: `Bearer ${tokenOf.get(orderId)}` } });
        const o = (await res.json()) as { status?: string };
        if (o.status === "PROCESSING" || o.status === "CONFIRMED") waiting.delete(orderId);
      }
      if (waiting.size > 0) await new Promise((r) => setTimeout(r, 200));
    }
    const confirmedS = (performance.now() - started) / 1000;
    const confirmed = placed.length - waiting.size;
    const ordersPerSec = confirmed / confirmedS;
    console.log(
      `orders from claims   ${placed.length} placed in ${round(placedS, 2)} s (${refused} answers 503, retried); ${confirmed} confirmed in ${round(confirmedS, 2)} s = ${round(ordersPerSec)} orders/s`,
    );
    console.log("(one shared 2-core machine, noisy: other work ran beside this benchmark)");

    console.log(
      JSON.stringify({
        concurrency: CONCURRENCY,
        durationS: DURATION,
        httpClaimsPerSec: round(http.perSecond),
        httpClaimP50Ms: round(http.p50Ms, 2),
        httpClaimP99Ms: round(http.p99Ms, 2),
        httpErrors,
        gateClaimsPerSec: round(gateRun.perSecond),
        gateClaimP50Ms: round(gateRun.p50Ms, 2),
        gateClaimP99Ms: round(gateRun.p99Ms, 2),
        rawEvalshaPerSec: round(rawRun.perSecond),
        rawEvalshaP99Ms: round(rawRun.p99Ms, 2),
        gateVsRawEvalsha: round(ratio, 3),
        ordersFromClaims: placed.length,
        ordersConfirmed: confirmed,
        ordersConfirmedPerSec: round(ordersPerSec, 1),
        orders503: refused,
      }),
    );
  } finally {
    if (child && child.exitCode === null) {
      child.kill("SIGTERM");
      await new Promise((r) => child!.once("exit", r));
    }
    rmSync(dataDir, { recursive: true, force: true });
    await database.drop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
