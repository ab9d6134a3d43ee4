// Flash sales through the whole app over HTTP, with the PostgreSQL gate (PGlite, and PostgreSQL
// when DATABASE_URL is set) and with the Redis gate (REDIS_URL): putting a sale on, claims and
// their refusals, bad input that writes nothing, orders from claims through the saga (batched
// draw-down), cancellation returning units to the pool, expiry, and the sale's end returning the
// unsold units, after which the stock law holds.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fold } from "../../src/aggregates/decider.js";
import {
  flashSaleDecider,
  saleLawHolds,
  streamId as saleStream,
  type FlashSale,
  type FlashSaleEvent,
} from "../../src/aggregates/flash-sale.js";
import {
  inventoryDecider,
  stockLawHolds,
  streamId as inventoryStream,
  type InventoryEvent,
  type InventoryState,
} from "../../src/aggregates/inventory.js";
import type { EventStore } from "../../src/eventstore/port.js";
import { awaitStatus, paymentEvent } from "../api/flow.js";
import { address, backends, createStorage, eventually, seedProduct, startApp, type Storage, type TestApp } from "../api/harness.js";

const SECOND = 1000;

async function inventoryOf(store: EventStore, sku: string, warehouseId = "w-blr"): Promise<InventoryState> {
  const events = await store.readStream(inventoryStream(sku, warehouseId));
  return fold(
    inventoryDecider,
    events.map((e) => ({ type: e.type, data: e.data }) as unknown as InventoryEvent),
  );
}
async function saleOf(store: EventStore, saleId: string): Promise<FlashSale> {
  const events = await store.readStream(saleStream(saleId));
  return fold(
    flashSaleDecider,
    events.map((e) => ({ type: e.type, data: e.data }) as unknown as FlashSaleEvent),
  ) as FlashSale;
}

interface SaleOptions {
  quantity?: number;
  perCustomerLimit?: number;
  startsInMs?: number;
  endsInMs?: number;
  holdTtlMs?: number;
  price?: number;
}

export function flashSaleApiSuite(name: string, env: () => Record<string, string>, backend: "pglite" | "postgres") {
  describe(`flash sales over HTTP: ${name}`, () => {
    let storage: Storage;
    let app: TestApp;
    let admin: string;
    let n = 0;
    beforeAll(async () => {
      storage = await createStorage(backend);
      app = await startApp(storage, { RATE_LIMIT_PER_MINUTE: "0", ...env() });
      admin = await app.token("admin", "admin-1");
    });
    afterAll(async () => {
      await app?.close();
      await storage?.dispose();
    });

    const customer = (sub: string) => app.token("customer", sub);
    async function putOnSale(o: SaleOptions = {}, stock = 20) {
      const id = `${++n}${Math.random().toString(36).slice(2, 7)}`;
      const sku = `FS-${id}`;
      await seedProduct(app, sku, 99_900, stock);
      const now = Date.now();
      const body = {
        saleId: `sale-${id}`,
        sku,
        warehouseId: "w-blr",
        quantity: o.quantity ?? 5,
        price: o.price ?? 49_900,
        startsAt: new Date(now + (o.startsInMs ?? -60 * SECOND)).toISOString(),
        endsAt: new Date(now + (o.endsInMs ?? 10 * 60 * SECOND)).toISOString(),
        perCustomerLimit: o.perCustomerLimit ?? 2,
        holdTtlMs: o.holdTtlMs ?? 60 * SECOND,
      };
      const res = await app.request("POST", "/api/flash-sales", { token: admin, body });
      expect(res.status, res.text).toBe(201);
      return { ...body, res };
    }
    const claim = async (saleId: string, token: string, quantity = 1) =>
      app.request("POST", `/api/flash-sales/${saleId}/claims`, { token, body: { quantity } });
    const order = (token: string, claimId: string, sku: string, quantity: number, paymentMethod = "UPI") =>
      app.request("POST", "/api/orders", {
        token,
        body: { items: [{ sku, quantity }], shippingAddress: address, paymentMethod, flashSaleClaimId: claimId },
      });

    it("puts a sale on: its units are set aside from the warehouse by one reservation, so ordinary orders cannot take them", async () => {
      const sale = await putOnSale({ quantity: 15 }, 20);
      expect(sale.res.body).toMatchObject({ saleId: sale.saleId, status: "LIVE", remaining: 15, price: 49_900, perCustomerLimit: 2 });
      const stock = await inventoryOf(app.built.store, sale.sku);
      expect(stock).toMatchObject({ available: 5, reserved: 15 });
      const got = await app.request("GET", `/api/flash-sales/${sale.saleId}`, { token: await customer("c-look") });
      expect(got.status).toBe(200);
      expect(got.body).toMatchObject({ status: "LIVE", remaining: 15, startsAt: sale.startsAt, endsAt: sale.endsAt });
      // the same request again changes nothing; more than the warehouse holds is refused
      const { res: _r, ...body } = sale;
      expect((await app.request("POST", "/api/flash-sales", { token: admin, body })).status).toBe(201);
      expect((await inventoryOf(app.built.store, sale.sku)).reserved).toBe(15);
      const tooMany = await app.request("POST", "/api/flash-sales", {
        token: admin,
        body: { ...body, saleId: `${sale.saleId}-2`, quantity: 6 },
      });
      expect(tooMany.status).toBe(409);
      expect(tooMany.headers.get("content-type")).toContain("application/problem+json");
      expect(tooMany.body).toMatchObject({ rule: "out_of_stock", available: 5 });
      // only admins put sales on
      expect(
        (await app.request("POST", "/api/flash-sales", { token: await customer("c-x"), body: { ...body, saleId: "nope" } })).status,
      ).toBe(403);
    });

    it("claims: 201 with an expiry; 409 sold out, 429 over the limit, 425 before the start, 410 after the end, all problem+json", async () => {
      const sale = await putOnSale({ quantity: 3, perCustomerLimit: 2 });
      const c1 = await customer("c-1");
      const first = await claim(sale.saleId, c1, 2);
      expect(first.status, first.text).toBe(201);
      expect(first.body).toMatchObject({ saleId: sale.saleId, quantity: 2, remaining: 1 });
      expect(Date.parse(first.body.expiresAt)).toBeGreaterThan(Date.now());
      const over = await claim(sale.saleId, c1, 1);
      expect(over.status).toBe(429);
      expect(over.body).toMatchObject({ held: 2, limit: 2 });
      expect((await claim(sale.saleId, await customer("c-2"), 1)).status).toBe(201);
      const soldOut = await claim(sale.saleId, await customer("c-3"), 1);
      expect(soldOut.status).toBe(409);
      expect(soldOut.headers.get("content-type")).toContain("application/problem+json");

      const early = await putOnSale({ startsInMs: 60 * SECOND });
      const tooEarly = await claim(early.saleId, c1);
      expect(tooEarly.status).toBe(425);
      expect(tooEarly.headers.get("content-type")).toContain("application/problem+json");
      expect((await app.request("GET", `/api/flash-sales/${early.saleId}`, { token: c1 })).body.status).toBe("SCHEDULED");
    });

    it("bad input gets a 4xx problem and writes nothing: quantity 0 or over the limit, an unknown sale, a sale whose window has passed, another customer's claim, a claim used twice", async () => {
      const sale = await putOnSale({ quantity: 4, perCustomerLimit: 2 });
      // its end (and the events it writes) is due an hour later: not during the counts below
      const past = await putOnSale({ startsInMs: -120 * SECOND, endsInMs: -60 * SECOND, holdTtlMs: 3600 * SECOND });
      const c1 = await customer("c-bad-1");
      const c2 = await customer("c-bad-2");
      const granted = await claim(sale.saleId, c1, 2);
      expect(granted.status).toBe(201);
      await eventually(async () => (await saleOf(app.built.store, sale.saleId)).claims.size === 1, 5000, "the claim recorded");
      // Events a request could write (other parts of the app append their own in the background).
      const domainEvents = async () =>
        (
          await app.built.sql.query<{ n: number }>("SELECT count(*)::int AS n FROM es_events WHERE category = ANY($1)", [
            ["flashSale", "order", "inventory", "cart", "payment", "orderSaga", "coupon"],
          ])
        ).rows[0]!.n;
      const before = await domainEvents();
      const cases = [
        await claim(sale.saleId, c2, 0),
        await claim(sale.saleId, c2, 3),
        await claim("no-such-sale", c2, 1),
        await claim(past.saleId, c2, 1),
        await order(c2, granted.body.claimId, sale.sku, 2),
        await order(c1, `${sale.saleId}:not-a-claim`, sale.sku, 2),
        await order(c1, granted.body.claimId, sale.sku, 1),
      ];
      expect(cases.map((r) => r.status)).toEqual([400, 422, 404, 410, 404, 404, 422]);
      for (const r of cases) expect(r.headers.get("content-type")).toContain("application/problem+json");
      expect(await domainEvents()).toBe(before);

      const placed = await order(c1, granted.body.claimId, sale.sku, 2);
      expect(placed.status, placed.text).toBe(202);
      await awaitStatus(app, c1, placed.body.orderId, "PAYMENT_PENDING");
      // The saga keeps writing the first order's steps in the background, so here only what a
      // second use of the claim would write is counted: a placed order, or a flash-sale event.
      const placements = async () =>
        (
          await app.built.sql.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM es_events WHERE type = 'OrderPlaced' OR category = 'flashSale'",
          )
        ).rows[0]!.n;
      const afterFirst = await placements();
      const twice = await order(c1, granted.body.claimId, sale.sku, 2);
      expect(twice.status).toBe(409);
      expect(twice.headers.get("content-type")).toContain("application/problem+json");
      expect(await placements()).toBe(afterFirst);
    });

    it("claims become orders at the sale price; paid orders draw from the sale's reservation in batches; a failed payment and a cancellation return the units to the pool; after the end the unsold units go back and the stock law holds", async () => {
      const sale = await putOnSale({ quantity: 6, perCustomerLimit: 2, endsInMs: 20 * SECOND, holdTtlMs: 8 * SECOND, price: 12_300 });
      const buyers = await Promise.all(["b1", "b2", "b3"].map((b) => customer(`c-${b}-${sale.saleId}`)));
      const claims = await Promise.all(buyers.map((t) => claim(sale.saleId, t, 2)));
      expect(claims.map((c) => c.status)).toEqual([201, 201, 201]);
      const orders = await Promise.all(buyers.map((t, i) => order(t, claims[i]!.body.claimId, sale.sku, 2)));
      expect(
        orders.map((o) => o.status),
        orders.map((o) => o.text).join("\n"),
      ).toEqual([202, 202, 202]);
      const ids = orders.map((o) => o.body.orderId as string);
      const pending = await Promise.all(ids.map((id, i) => awaitStatus(app, buyers[i]!, id, "PAYMENT_PENDING")));
      expect(pending[0].items).toEqual([{ sku: sale.sku, quantity: 2, unitPrice: 12_300 }]);
      expect(pending[0].totalAmount).toBe(24_600);
      // two pay, the third's payment fails
      for (const o of pending.slice(0, 2))
        expect((await app.webhook(paymentEvent("payment.captured", o.payment.paymentId, o.totalAmount))).status).toBe(200);
      expect(
        (
          await app.webhook(
            paymentEvent("payment.failed", pending[2].payment.paymentId, pending[2].totalAmount, undefined, { reason: "declined" }),
          )
        ).status,
      ).toBe(200);
      await awaitStatus(app, buyers[0]!, ids[0]!, "PROCESSING");
      await awaitStatus(app, buyers[1]!, ids[1]!, "PROCESSING");
      await awaitStatus(app, buyers[2]!, ids[2]!, "CANCELLED");

      const stock = await inventoryOf(app.built.store, sale.sku);
      expect(stock.committed).toBe(4);
      expect(stock.reservations.get(ids[0]!)?.status).toBe("COMMITTED");
      const drawEvents = (await app.built.store.readStream(inventoryStream(sale.sku, "w-blr"))).filter(
        (e) => e.type === "StockDrawnFromSale",
      );
      expect(drawEvents.reduce((n, e) => n + (e.data as { allocations: unknown[] }).allocations.length, 0)).toBe(2);
      // the failed order's 2 units are back in the pool: another customer gets them
      await eventually(
        async () => (await app.request("GET", `/api/flash-sales/${sale.saleId}`, { token: admin })).body.remaining === 2,
        10_000,
        "the units back in the pool",
      );
      const late = await claim(sale.saleId, await customer(`c-late-${sale.saleId}`), 2);
      expect(late.status).toBe(201);
      // a paid, drawn order cancelled while the sale runs: its units go back into the sale's pool
      expect(
        (await app.request("POST", `/api/orders/${ids[0]}/cancel`, { token: buyers[0]!, body: { reason: "changed my mind" } })).status,
      ).toBe(202);
      await awaitStatus(app, buyers[0]!, ids[0]!, "CANCELLED");
      await eventually(
        async () => (await app.request("GET", `/api/flash-sales/${sale.saleId}`, { token: admin })).body.remaining === 2,
        10_000,
        "the cancelled order's units back in the pool",
      );
      const returned = await inventoryOf(app.built.store, sale.sku);
      expect(returned.reservations.get(ids[0]!)?.status).toBe("RELEASED");
      expect(returned).toMatchObject({ committed: 2, reserved: 4 });

      // the late claimant never orders: the hold expires, the sale ends, 2 unsold units go back
      await eventually(
        async () => {
          const s = await saleOf(app.built.store, sale.saleId);
          return s.status === "ENDED" ? s : undefined;
        },
        45_000,
        "the sale to end",
      );
      const ended = await saleOf(app.built.store, sale.saleId);
      expect(ended.unsold).toBe(4);
      expect(saleLawHolds(ended)).toBe(true);
      const after = await inventoryOf(app.built.store, sale.sku);
      expect(stockLawHolds(after)).toBe(true);
      expect(after).toMatchObject({ available: 20 - 6 + 4, reserved: 0, committed: 2 });
      expect(after.sales.get(sale.saleId)).toEqual({ setAside: 6, left: 0 });
      expect((await app.request("GET", `/api/flash-sales/${sale.saleId}`, { token: admin })).body).toMatchObject({
        status: "ENDED",
        remaining: 0,
        unsold: 4,
      });
      expect((await claim(sale.saleId, await customer("c-after"), 1)).status).toBe(410);
    }, 90_000);

    it("a claim not turned into an order in time expires; its units return and a later claimant gets them", async () => {
      const sale = await putOnSale({ quantity: 2, perCustomerLimit: 2, holdTtlMs: SECOND });
      const first = await claim(sale.saleId, await customer("c-exp-1"), 2);
      expect(first.status).toBe(201);
      expect((await claim(sale.saleId, await customer("c-exp-2"), 1)).status).toBe(409);
      const later = await eventually(
        async () => {
          const r = await claim(sale.saleId, await customer("c-exp-2"), 1);
          return r.status === 201 ? r : undefined;
        },
        15_000,
        "the expired units to come back",
      );
      expect(later.body.quantity).toBe(1);
      const s = await saleOf(app.built.store, sale.saleId);
      expect(s.claims.get(first.body.claimId)?.status).toBe("EXPIRED");
      expect((await order(await customer("c-exp-1"), first.body.claimId, sale.sku, 2)).status).toBe(409);
    });
  });
}

for (const backend of backends()) flashSaleApiSuite(`PostgreSQL gate on ${backend}`, () => ({}), backend);
describe.skipIf(!process.env.REDIS_URL)("with REDIS_URL", () => {
  flashSaleApiSuite("Redis gate", () => ({ REDIS_URL: process.env.REDIS_URL! }), process.env.DATABASE_URL ? "postgres" : "pglite");
});
