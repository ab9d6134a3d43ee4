// Two real server processes on one PostgreSQL database race on the last units of one SKU, round
// after round: each owns half of the saga partitions, so orders placed at once are planned and
// reserved in both processes at the same time. No in-process lock spans them; what keeps the
// stock right is the Inventory aggregate deciding at the stream's expected revision (an append
// that lost the race is re-read and re-decided). Never oversold: exactly the units received are
// sold each round, the rest is cancelled OUT_OF_STOCK, and the stock law holds over the whole log.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { missing, server } from "../support/env.js";
import { address, call, lawViolations, readWholeLog, sleep, startServer, stopServer, token, type ServerProcess } from "./cluster.js";

const ROUNDS = 8;
const UNITS = 3;
const ORDERS_PER_ROUND = 8;

describe.skipIf(missing(server("DATABASE_URL")))("two instances racing on the last units of one SKU", () => {
  let db: TestDatabase;
  const servers: ServerProcess[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    servers.push(...(await Promise.all(["race-a", "race-b"].map((id) => startServer(id, db.url)))));
  }, 180_000);

  afterAll(async () => {
    await Promise.all(servers.map((s) => stopServer(s, "SIGKILL")));
    await db?.drop();
  });

  it(`${ROUNDS} rounds of ${ORDERS_PER_ROUND} orders for ${UNITS} units, placed on both instances at once: ${UNITS} sold each round, never more`, async () => {
    const [a, b] = servers as [ServerProcess, ServerProcess];
    const admin = await token("admin");
    // Both instances run saga partitions before the race starts.
    for (let i = 0; ; i++) {
      const view = await call(a.url, "GET", "/api/ops/instances", { token: admin });
      const owners = new Set(
        (view.body.leases as { unit: string; owner: string | null }[]).filter((l) => l.unit.startsWith("order-saga")).map((l) => l.owner),
      );
      if (owners.has("race-a") && owners.has("race-b")) break;
      if (i > 100) throw new Error(`saga partitions not spread over both instances: ${JSON.stringify(view.body)}`);
      await sleep(200);
    }
    expect(
      (
        await call(a.url, "POST", "/api/products", {
          token: admin,
          body: { sku: "LAST-1", name: "Last units", category: ["Race"], price: 1000 },
        })
      ).status,
    ).toBe(201);
    const customers = await Promise.all(Array.from({ length: ORDERS_PER_ROUND }, (_, i) => token("customer", `race-c-${i}`)));

    for (let round = 0; round < ROUNDS; round++) {
      expect(
        (await call(b.url, "POST", "/api/inventory/LAST-1/receipts", { token: admin, body: { warehouseId: "w-1", quantity: UNITS } }))
          .status,
      ).toBe(201);
      const placed = await Promise.all(
        customers.map(async (customer, i) => {
          const res = await call((i % 2 === 0 ? a : b).url, "POST", "/api/orders", {
            token: customer,
            body: { items: [{ sku: "LAST-1", quantity: 1 }], shippingAddress: address, paymentMethod: "COD" },
          });
          expect(res.status).toBe(202);
          return { orderId: res.body.orderId as string, customer };
        }),
      );
      const final = await Promise.all(
        placed.map(async ({ orderId, customer }, i) => {
          for (let n = 0; ; n++) {
            const res = await call((i % 2 === 0 ? b : a).url, "GET", `/api/orders/${orderId}`, { token: customer });
            if (res.status === 200 && ["PROCESSING", "CANCELLED"].includes(res.body.status))
              return res.body as { status: string; cancellationReason?: string };
            if (n > 300) throw new Error(`order ${orderId} still ${res.body?.status} after 30 s`);
            await sleep(100);
          }
        }),
      );
      const sold = final.filter((o) => o.status === "PROCESSING").length;
      expect(sold, `round ${round}`).toBe(UNITS);
      expect(final.filter((o) => o.status === "CANCELLED").every((o) => o.cancellationReason === "OUT_OF_STOCK")).toBe(true);
    }

    const events = await readWholeLog(db.url);
    expect(lawViolations(events)).toEqual([]);
    const reserved = events.filter((e) => e.type === "StockReserved" && e.streamId === "inventory-LAST-1@w-1").length;
    const received = events
      .filter((e) => e.type === "StockReceived" && e.streamId === "inventory-LAST-1@w-1")
      .reduce((n, e) => n + Number((e.data as { quantity: number }).quantity), 0);
    expect(received).toBe(ROUNDS * UNITS);
    expect(reserved).toBe(ROUNDS * UNITS);
    // Both processes did plan: steps recorded by the saga partitions of each.
    const leases = (await call(b.url, "GET", "/api/ops/instances", { token: admin })).body.leases as { unit: string; owner: string }[];
    expect(new Set(leases.filter((l) => l.unit.startsWith("order-saga")).map((l) => l.owner))).toEqual(new Set(["race-a", "race-b"]));
  }, 240_000);

  it("an order of each instance at once, for a SKU with one unit in each of two warehouses: both planned on different warehouses, never on the same unit", async () => {
    const [a, b] = servers as [ServerProcess, ServerProcess];
    const admin = await token("admin");
    const customers = await Promise.all([token("customer", "split-c-0"), token("customer", "split-c-1")]);
    for (let round = 0; round < ROUNDS; round++) {
      const sku = `SPLIT-${round}`;
      expect(
        (await call(a.url, "POST", "/api/products", { token: admin, body: { sku, name: sku, category: ["Race"], price: 1000 } })).status,
      ).toBe(201);
      for (const warehouseId of ["w-east", "w-west"])
        expect(
          (await call(b.url, "POST", `/api/inventory/${sku}/receipts`, { token: admin, body: { warehouseId, quantity: 1 } })).status,
        ).toBe(201);
      const placed = await Promise.all(
        [a, b].map(async (s, i) => {
          const res = await call(s.url, "POST", "/api/orders", {
            token: customers[i],
            body: { items: [{ sku, quantity: 1 }], shippingAddress: address, paymentMethod: "COD" },
          });
          expect(res.status).toBe(202);
          return res.body.orderId as string;
        }),
      );
      const final = await Promise.all(
        placed.map(async (orderId, i) => {
          for (let n = 0; ; n++) {
            const res = await call((i === 0 ? b : a).url, "GET", `/api/orders/${orderId}`, { token: customers[i] });
            if (res.status === 200 && ["PROCESSING", "CANCELLED"].includes(res.body.status))
              return `${res.body.status}${res.body.cancellationReason ? `:${res.body.cancellationReason}` : ""}`;
            if (n > 300) throw new Error(`order ${orderId} still ${res.body?.status} after 30 s`);
            await sleep(100);
          }
        }),
      );
      expect(final, `round ${round}`).toEqual(["PROCESSING", "PROCESSING"]);
    }
    expect(lawViolations(await readWholeLog(db.url))).toEqual([]);
  }, 240_000);
});
