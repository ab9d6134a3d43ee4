// PostgreSQL killed and started again in the middle of a run under load (a private cluster of the
// test's own; the server is a real child process): the server stays up, /health/ready goes red
// then green, every accepted order (202) ends CONFIRMED (or beyond) or CANCELLED with a reason, and
// afterwards the laws hold over the whole log: the stock law per inventory stream, the money laws
// per payment, one saga step per input (test/instances' lawViolations) and the `replay invariants`
// checker (src/cli/invariants.ts). One SKU has little stock, so some orders end OUT_OF_STOCK.
// Orders are offered at 300/s for 20 s from 64 loops; admission control (ADR 0010) answers 503 to
// what the pipeline cannot take, so the backlog, and the file's time in CI, stay bounded (about
// 2 min on two cores); once it is worked off, a new order is accepted again.
// `npm run bench:checkout` measures the pipeline's rate.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvariantChecker } from "../../src/cli/invariants.js";
import {
  address,
  call,
  lawViolations,
  readWholeLog,
  signedWebhook,
  sleep,
  startServer,
  stopServer,
  token,
  type ServerProcess,
} from "../instances/cluster.js";
import { privatePostgresMissing, startPrivatePostgres, type PrivatePostgres } from "./private-postgres.js";

const RATE = 300;
const LOOPS = 64;
const LOAD_S = 20;
const KILL_AT_S = 7;
const DOWN_S = 3;
const LOW_STOCK = 5;

const missing = privatePostgresMissing();
if (missing) console.warn(`[skipped] ${missing}`);

describe.skipIf(missing !== undefined)("PostgreSQL restarted under load", () => {
  let postgres: PrivatePostgres;
  let server: ServerProcess;

  beforeAll(async () => {
    postgres = await startPrivatePostgres();
    server = await startServer("pg-restart", postgres.url, { REDIS_URL: "" });
  }, 120_000);

  afterAll(async () => {
    if (server) await stopServer(server, "SIGKILL");
    await postgres?.destroy();
  });

  it(`${RATE} orders/s offered for ${LOAD_S} s, PostgreSQL down for ${DOWN_S} s at ${KILL_AT_S} s: every accepted order ends, the laws hold`, async () => {
    const admin = await token("admin");
    const customer = await token("customer", "fault-customer");
    const skus = ["FAULT-0", "FAULT-1", "FAULT-2", "FAULT-LOW"];
    for (const sku of skus) {
      expect(
        (
          await call(server.url, "POST", "/api/products", {
            token: admin,
            body: { sku, name: sku, category: ["Faults"], brand: "Faults", price: 25_000 },
          })
        ).status,
      ).toBe(201);
      const quantity = sku === "FAULT-LOW" ? LOW_STOCK : 1_000_000;
      expect(
        (await call(server.url, "POST", `/api/inventory/${sku}/receipts`, { token: admin, body: { warehouseId: "w-faults", quantity } }))
          .status,
      ).toBe(201);
    }

    // Readiness, sampled all along.
    const readiness: { atMs: number; status: number }[] = [];
    const t0 = performance.now();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const r = await call(server.url, "GET", "/health/ready", { timeoutMs: 3_000 }).catch(() => ({ status: 0 }));
        readiness.push({ atMs: performance.now() - t0, status: r.status });
        await sleep(200);
      }
    })();

    // The gateway: pays every order waiting for payment (again after a failed webhook).
    const paid = new Set<string>();
    let paying = true;
    const payer = (async () => {
      while (paying) {
        const list = await call(server.url, "GET", "/api/orders?status=PAYMENT_PENDING&size=100", { token: admin }).catch(() => undefined);
        const items = (list?.status === 200 ? list.body.items : []) as {
          orderId: string;
          totalAmount: number;
          currency: string;
          payment: { paymentId: string | null };
        }[];
        await Promise.all(
          items
            .filter((o) => o.payment.paymentId && !paid.has(o.orderId))
            .map(async (o) => {
              paid.add(o.orderId);
              const hook = signedWebhook({
                id: `evt_fault_${o.orderId}`,
                type: "payment.captured",
                created: new Date().toISOString(),
                data: {
                  paymentId: o.payment.paymentId,
                  gatewayPaymentId: `sim_${o.payment.paymentId}`,
                  amount: o.totalAmount,
                  currency: o.currency,
                },
              });
              const r = await call(server.url, "POST", "/api/payments/webhook", hook).catch(() => undefined);
              if (r?.status !== 200) paid.delete(o.orderId);
            }),
        );
        await sleep(100);
      }
    })();

    // The fault.
    let killedAtMs = 0;
    let startedAgainAtMs = 0;
    const fault = (async () => {
      await sleep(KILL_AT_S * 1000);
      killedAtMs = performance.now() - t0;
      await postgres.kill();
      await sleep(DOWN_S * 1000);
      await postgres.start();
      startedAgainAtMs = performance.now() - t0;
    })();

    // The load: RATE orders/s offered from LOOPS loops; one in eight buys the SKU with little stock.
    const accepted: string[] = [];
    const lowStockOrders = new Set<string>();
    const acceptedAtMs: number[] = [];
    const refusedOrFailed: Record<string, number> = {};
    const place = async (sku: string) => {
      const r = await call(server.url, "POST", "/api/orders", {
        token: customer,
        body: { items: [{ sku, quantity: 1 }], shippingAddress: address, paymentMethod: "UPI" },
        timeoutMs: 10_000,
      }).catch((e: Error) => ({ status: 0, body: e.message }));
      if (r.status === 202) {
        accepted.push(r.body.orderId as string);
        acceptedAtMs.push(performance.now() - t0);
        if (sku === "FAULT-LOW") lowStockOrders.add(r.body.orderId as string);
      } else refusedOrFailed[String(r.status)] = (refusedOrFailed[String(r.status)] ?? 0) + 1;
      return r.status;
    };
    let next = performance.now();
    const stopAt = next + LOAD_S * 1000;
    await Promise.all(
      Array.from({ length: LOOPS }, async () => {
        for (;;) {
          const slot = next;
          next += 1000 / RATE;
          if (slot >= stopAt) return;
          if (slot > performance.now()) await sleep(slot - performance.now());
          await place(accepted.length % 8 === 0 ? "FAULT-LOW" : skus[accepted.length % 3]!);
        }
      }),
    );
    await fault;

    // Every accepted order reaches an end: CONFIRMED (or beyond) or CANCELLED.
    const ended = new Map<string, { status: string; cancellationReason?: string }>();
    // As long as orders keep ending (the pipeline works the backlog off), at most 150 s.
    const waitForEnds = async () => {
      const deadline = performance.now() + 150_000;
      let progressAt = performance.now();
      while (ended.size < accepted.length && performance.now() < deadline && performance.now() - progressAt < 30_000) {
        const before = ended.size;
        const open = accepted.filter((id) => !ended.has(id));
        for (let i = 0; i < open.length; i += 16)
          await Promise.all(
            open.slice(i, i + 16).map(async (id) => {
              const r = await call(server.url, "GET", `/api/orders/${id}`, { token: customer }).catch(() => undefined);
              if (r?.status === 200 && ["CONFIRMED", "PROCESSING", "CANCELLED"].includes(r.body.status)) ended.set(id, r.body);
            }),
          );
        if (ended.size > before) progressAt = performance.now();
        if (ended.size < accepted.length) await sleep(500);
      }
    };
    await waitForEnds();
    // The backlog worked off, admission lets orders in again (while the pipeline works off the
    // outage's backlog it may refuse them all after the restart: then the load took none after it).
    for (let i = 0; i < 120 && (await place(skus[0]!)) !== 202; i++) await sleep(500);
    await waitForEnds();
    paying = false;
    await payer;
    // Green again at the end.
    for (let i = 0; i < 60 && readiness.at(-1)?.status !== 200; i++) await sleep(250);
    sampling = false;
    await sampler;

    expect(server.alive(), server.output()).toBe(true);
    expect(startedAgainAtMs).toBeGreaterThan(killedAtMs);
    const before = readiness.filter((r) => r.atMs < killedAtMs);
    const during = readiness.filter((r) => r.atMs >= killedAtMs && r.atMs < startedAgainAtMs);
    expect(before.some((r) => r.status === 200)).toBe(true);
    expect(during.some((r) => r.status !== 200)).toBe(true);
    expect(readiness.at(-1)?.status).toBe(200);

    // Orders were taken before the fault and again after it (how many depends on the machine: not asserted).
    const outcome = `${accepted.length} accepted, not accepted by status: ${JSON.stringify(refusedOrFailed)}`;
    console.info(`postgres-restart: ${outcome}`);
    // What was not accepted was refused (503, admission or the database unreachable), never a 500.
    expect(
      Object.keys(refusedOrFailed).filter((status) => status !== "503" && status !== "0"),
      outcome,
    ).toEqual([]);
    expect(
      acceptedAtMs.some((t) => t < killedAtMs),
      outcome,
    ).toBe(true);
    expect(
      acceptedAtMs.some((t) => t > startedAgainAtMs),
      outcome,
    ).toBe(true);
    const unfinished = await Promise.all(
      accepted
        .filter((id) => !ended.has(id))
        .map(
          async (id) =>
            `${id}: ${(await call(server.url, "GET", `/api/orders/${id}`, { token: customer }).catch(() => undefined))?.body?.status}`,
        ),
    );
    expect(unfinished, `${unfinished.length} of ${accepted.length} accepted orders did not end`).toEqual([]);
    // Cancelled with a reason; only orders of the low-stock SKU may be cancelled, and at most its units sold.
    expect([...ended.values()].filter((o) => o.status === "CANCELLED" && !o.cancellationReason)).toEqual([]);
    const cancelled = accepted.filter((id) => ended.get(id)?.status === "CANCELLED");
    expect(cancelled.filter((id) => !lowStockOrders.has(id))).toEqual([]);
    expect(lowStockOrders.size - cancelled.length).toBeLessThanOrEqual(LOW_STOCK);
    expect(cancelled.length).toBeGreaterThan(0);

    // Nothing parked: the outage is no fault of any event.
    const ready = await call(server.url, "GET", "/health/ready");
    expect(ready.body.dependencies.orderSaga.parked).toBe(0);
    expect(ready.body.dependencies.projections.parked).toBe(0);

    const log = await readWholeLog(postgres.url);
    expect(lawViolations(log)).toEqual([]);
    const checker = new InvariantChecker();
    for (const e of log) checker.observe(e);
    expect(checker.finish()).toEqual([]);
  }, 300_000);
});
