// Three server processes on three ports on one PostgreSQL database; a load generator spreads
// orders over all of them and pays them through the signed webhook. Mid-run one is killed with
// SIGKILL, then a second is stopped with SIGTERM. Afterwards: every accepted order reached
// PROCESSING, no saga step ran twice with another decision, the gateway was asked to charge each
// order once and refunded nothing, the stock and money laws hold over the whole log. The lease
// takeover times (crash, graceful stop) are measured and printed. Before the load, the same
// Idempotency-Key sent to two instances at once places the order once.

import { afterEach, describe, expect, it } from "vitest";
import pg from "pg";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { missing, server } from "../support/env.js";
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
} from "./cluster.js";

const LOAD_MS = 14_000;
const KILL_AT_MS = 4_000;
const TERM_AT_MS = 9_000;
const PRODUCTS = 5;

interface LeaseRow {
  unit: string;
  owner: string | null;
  held: boolean;
}

describe.skipIf(missing(server("DATABASE_URL")))("three instances on one database, one killed, one stopped", () => {
  // Each test starts its own database and instances (the load test kills two of them), so a retry
  // of a test runs on a fresh cluster, not on the one a failed try left behind.
  const clusters: { db: TestDatabase; servers: ServerProcess[]; leasesDb: pg.Client }[] = [];
  const cluster = async (ids: string[]) => {
    const db = await createTestDatabase();
    const entry = { db, servers: [] as ServerProcess[], leasesDb: new pg.Client({ connectionString: db.url }) };
    clusters.push(entry);
    entry.servers.push(...(await Promise.all(ids.map((id) => startServer(id, db.url)))));
    await entry.leasesDb.connect();
    return entry;
  };

  afterEach(async () => {
    for (const { db, servers, leasesDb } of clusters.splice(0)) {
      await Promise.all(servers.map((s) => stopServer(s, "SIGKILL")));
      await leasesDb.end().catch(() => undefined);
      await db.drop();
    }
  });

  const leases = async (leasesDb: pg.Client): Promise<LeaseRow[]> =>
    (
      await leasesDb.query<LeaseRow>(
        "SELECT unit, owner, (owner IS NOT NULL AND expires_at > now()) AS held FROM processing_leases ORDER BY unit",
      )
    ).rows;

  it("the same Idempotency-Key sent to two instances at once places the order once; the other answer is a 409 or the same result", async () => {
    const { servers, leasesDb } = await cluster(["node-a", "node-b"]);
    const [a, b] = servers as [ServerProcess, ServerProcess];
    const admin = await token("admin");
    expect(
      (await call(a.url, "POST", "/api/products", { token: admin, body: { sku: "IDEM-1", name: "Idem", category: ["T"], price: 500 } }))
        .status,
    ).toBe(201);
    expect(
      (await call(a.url, "POST", "/api/inventory/IDEM-1/receipts", { token: admin, body: { warehouseId: "w-1", quantity: 100 } })).status,
    ).toBe(201);
    const customer = await token("customer", "idem-customer");
    const body = { items: [{ sku: "IDEM-1", quantity: 1 }], shippingAddress: address, paymentMethod: "COD" };
    const placedIds = new Set<string>();
    for (let round = 0; round < 6; round++) {
      const key = `same-key-${round}`;
      const answers = await Promise.all(
        [a, b].map((s) => call(s.url, "POST", "/api/orders", { token: customer, body, headers: { "idempotency-key": key } })),
      );
      const statuses = answers.map((r) => r.status).sort();
      expect([
        [202, 202],
        [202, 409],
      ]).toContainEqual(statuses);
      const ids = new Set(answers.filter((r) => r.status === 202).map((r) => r.body.orderId as string));
      expect(ids.size, `round ${round}: both 202 answers name the same order`).toBe(1);
      const conflict = answers.find((r) => r.status === 409);
      if (conflict) expect(conflict.headers.get("content-type")).toContain("application/problem+json");
      // A retry after both answered replays the stored response, whichever instance it reaches.
      const retry = await call((round % 2 ? a : b).url, "POST", "/api/orders", {
        token: customer,
        body,
        headers: { "idempotency-key": key },
      });
      expect(retry.status).toBe(202);
      expect(retry.headers.get("idempotent-replayed")).toBe("true");
      expect(retry.body.orderId).toBe([...ids][0]);
      placedIds.add([...ids][0]!);
    }
    const { rows } = await leasesDb.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM es_events WHERE type = 'OrderPlaced' AND stream_id = ANY($1::text[])",
      [[...placedIds].map((id) => `order-${id}`)],
    );
    expect(rows[0]!.n).toBe(6);
    const all = await leasesDb.query<{ n: number }>("SELECT count(*)::int AS n FROM es_events WHERE type = 'OrderPlaced'");
    expect(all.rows[0]!.n).toBe(6);
  }, 150_000);

  it("orders spread over three instances survive a SIGKILL and a SIGTERM: all reach PROCESSING, laws hold, takeover within the bound", async () => {
    const { db, servers, leasesDb } = await cluster(["node-a", "node-b", "node-c"]);
    const [a, b, c] = servers as [ServerProcess, ServerProcess, ServerProcess];
    const admin = await token("admin");
    const skus = Array.from({ length: PRODUCTS }, (_, i) => `LOAD-${i}`);
    for (const sku of skus) {
      expect(
        (await call(a.url, "POST", "/api/products", { token: admin, body: { sku, name: sku, category: ["Load"], price: 1_000 } })).status,
      ).toBe(201);
      expect(
        (await call(b.url, "POST", `/api/inventory/${sku}/receipts`, { token: admin, body: { warehouseId: "w-1", quantity: 100_000 } }))
          .status,
      ).toBe(201);
    }
    // Every unit is owned, and by more than one instance, before the load starts.
    for (let i = 0; ; i++) {
      const rows = await leases(leasesDb);
      const owners = new Set(rows.filter((r) => r.held).map((r) => r.owner));
      if (rows.length >= 10 && rows.every((r) => r.held) && owners.size === 3) break;
      if (i > 150) throw new Error(`units not spread over three instances: ${JSON.stringify(rows)}`);
      await sleep(100);
    }
    const instancesView = await call(c.url, "GET", "/api/ops/instances", { token: await token("ops", "ops-1") });
    expect(instancesView.status).toBe(200);
    expect(
      instancesView.body.instances
        .filter((i: { live: boolean }) => i.live)
        .map((i: { instanceId: string }) => i.instanceId)
        .sort(),
    ).toEqual(["node-a", "node-b", "node-c"]);
    expect((await call(a.url, "GET", "/api/ops/instances", { token: await token("customer", "c-x") })).status).toBe(403);

    const customers = await Promise.all(Array.from({ length: 6 }, (_, i) => token("customer", `load-c-${i}`)));
    const live = new Set<ServerProcess>(servers);
    const pick = (n: number): ServerProcess => {
      const list = [...live];
      return list[n % list.length]!;
    };
    const accepted = new Map<string, string>(); // orderId -> customer token
    const errors: string[] = [];
    let loadRunning = true;
    const started = performance.now();

    // The load: three workers place orders on the instances in turn; a request that gets no answer
    // (its instance died) is retried with the same Idempotency-Key on another instance.
    const workers = Array.from({ length: 3 }, async (_, w) => {
      for (let n = 0; performance.now() - started < LOAD_MS; n++) {
        const customer = customers[(w * 2 + n) % customers.length]!;
        const key = `load-${w}-${n}`;
        const body = {
          items: [{ sku: skus[(w + n) % skus.length]!, quantity: 1 + (n % 2) }],
          shippingAddress: address,
          paymentMethod: "UPI",
        };
        for (let attempt = 0; attempt < 4; attempt++) {
          const target = pick(w + n + attempt);
          const res = await call(target.url, "POST", "/api/orders", {
            token: customer,
            body,
            headers: { "idempotency-key": key },
            timeoutMs: 5_000,
          }).catch(() => undefined);
          if (res?.status === 202) {
            accepted.set(res.body.orderId as string, customer);
            break;
          }
          if (res && res.status !== 409 && res.status !== 503) {
            errors.push(`POST ${target.id}: ${res.status} ${JSON.stringify(res.body)}`);
            break;
          }
          await sleep(300);
        }
        await sleep(120);
      }
    });

    // Every order in the log (accepted or cut off by the kill) with its status, as the read model has it.
    const finalStatus = new Map<string, string>();
    const settled = async (): Promise<boolean> => {
      const { rows } = await leasesDb.query<{ id: string }>("SELECT stream_id AS id FROM es_events WHERE type = 'OrderPlaced'");
      let all = true;
      for (const { id } of rows) {
        const orderId = id.slice("order-".length);
        if (finalStatus.get(orderId) === "PROCESSING") continue;
        const res = await call(a.url, "GET", `/api/orders/${orderId}`, { token: admin }).catch(() => undefined);
        if (res?.status === 200) finalStatus.set(orderId, res.body.status as string);
        if (finalStatus.get(orderId) !== "PROCESSING") all = false;
      }
      return all;
    };

    // The gateway side: pays every order waiting for payment, through whichever instance is up.
    const paid = new Set<string>();
    let payerStop = false;
    const payer = (async () => {
      for (let n = 0; !payerStop; n++) {
        const list = await call(pick(n).url, "GET", "/api/orders?status=PAYMENT_PENDING&size=100", { token: admin }).catch(() => undefined);
        for (const o of (list?.status === 200 ? list.body.items : []) as {
          orderId: string;
          totalAmount: number;
          currency: string;
          payment: { paymentId: string | null };
        }[]) {
          if (paid.has(o.orderId) || !o.payment.paymentId) continue;
          const hook = signedWebhook({
            id: `evt_${o.orderId}`,
            type: "payment.captured",
            created: new Date().toISOString(),
            data: {
              paymentId: o.payment.paymentId,
              gatewayPaymentId: `sim_pay_${o.payment.paymentId}`,
              amount: o.totalAmount,
              currency: o.currency,
            },
          });
          const res = await call(pick(n + 1).url, "POST", "/api/payments/webhook", { raw: hook.raw, headers: hook.headers }).catch(
            () => undefined,
          );
          if (res?.status === 200) paid.add(o.orderId);
        }
        if (!loadRunning && (await settled())) return;
        await sleep(200);
      }
    })();

    // The faults, measured from the database's leases.
    const takeover = async (victim: ServerProcess, since: number, boundMs: number) => {
      for (;;) {
        const rows = await leases(leasesDb);
        if (rows.every((r) => r.held && r.owner !== victim.id)) return performance.now() - since;
        if (performance.now() - since > boundMs)
          throw new Error(
            `units of ${victim.id} not taken over within ${boundMs} ms: ${JSON.stringify(rows)}\n${victim.id} printed:\n${victim.output().slice(-4000)}`,
          );
        await sleep(50);
      }
    };
    await sleep(KILL_AT_MS);
    live.delete(b);
    const killedAt = performance.now();
    b.child.kill("SIGKILL");
    const crashTakeoverMs = await takeover(b, killedAt, 10_000);

    await sleep(Math.max(0, TERM_AT_MS - (performance.now() - started)));
    live.delete(c);
    const termAt = performance.now();
    c.child.kill("SIGTERM");
    // A stopping instance first drains its units at a checkpoint (1-4 s on a quiet machine); with the
    // whole suite on two cores that drain has taken over 10 s, so its bound is 20 s. A crash's
    // takeover above is held to the documented 10 s.
    const gracefulTakeoverMs = await takeover(c, termAt, 20_000);
    expect(await c.exited).toBe(0);

    await Promise.all(workers);
    loadRunning = false;
    const drainDeadline = performance.now() + 90_000;
    while (performance.now() < drainDeadline && !(await Promise.race([payer.then(() => true), sleep(1_000).then(() => false)])));
    payerStop = true;
    await payer;

    console.log(
      `[instances] accepted ${accepted.size} orders over ${LOAD_MS / 1000} s on 3 -> 2 -> 1 instances; lease takeover after SIGKILL ${Math.round(crashTakeoverMs)} ms, after SIGTERM ${Math.round(gracefulTakeoverMs)} ms`,
    );
    expect(errors).toEqual([]);
    expect(accepted.size).toBeGreaterThan(30);
    const notProcessing = [...accepted.keys()].filter((id) => finalStatus.get(id) !== "PROCESSING");
    expect(notProcessing.map((id) => `${id}: ${finalStatus.get(id)}`)).toEqual([]);

    const events = await readWholeLog(db.url);
    expect(lawViolations(events)).toEqual([]);
    // Orders whose POST was cut off by the kill (no 202) may exist too; they completed like the others.
    const placed = events.filter((e) => e.type === "OrderPlaced").map((e) => e.streamId.slice("order-".length));
    expect(placed.filter((id) => finalStatus.get(id) !== "PROCESSING").map((id) => `${id}: ${finalStatus.get(id)}`)).toEqual([]);
    for (const id of accepted.keys()) expect(placed).toContain(id);
    expect(events.filter((e) => e.type === "RefundRequested")).toEqual([]);
    expect(crashTakeoverMs).toBeLessThan(10_000);
  }, 360_000);
});
