// The flash-sale gate contract: every adapter (Redis, PostgreSQL, PGlite) runs this same suite.
// Each test opens its own sale, so tests on one gate never see each other's claims.

import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FlashSaleGate, GateSale } from "../../src/flash-sales/gate.js";

export interface GateFactory {
  open(): Promise<FlashSaleGate>;
  teardown?(): Promise<void>;
  /** Claims in flight at once in the crowd test (a connection pool bounds it anyway). */
  crowdConcurrency: number;
}

const T0 = Date.parse("2026-05-01T10:00:00.000Z");
const MINUTE = 60_000;

export const newSale = (over: Partial<GateSale> = {}): GateSale => ({
  saleId: `s-${randomUUID().slice(0, 8)}`,
  quantity: 10,
  startsAtMs: T0,
  endsAtMs: T0 + 10 * MINUTE,
  perCustomerLimit: 2,
  holdTtlMs: MINUTE,
  ...over,
});

/** Runs `work(i)` for i in [0, count) with at most `concurrency` in flight. */
export async function bounded<T>(count: number, concurrency: number, work: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      for (let i = next++; i < count; i = next++) results[i] = await work(i);
    }),
  );
  return results;
}

export function gateContract(name: string, factory: GateFactory): void {
  describe(`flash-sale gate contract: ${name}`, () => {
    let gate: FlashSaleGate;
    beforeAll(async () => {
      gate = await factory.open();
    });
    afterAll(async () => {
      await gate?.dispose();
      await factory.teardown?.();
    });

    const open = async (over: Partial<GateSale> = {}) => {
      const sale = newSale(over);
      await gate.load({ sale, claims: [] });
      return sale;
    };
    const claim = (sale: GateSale, customerId: string, quantity = 1, nowMs = T0 + 1000, claimId = randomUUID()) =>
      gate.claim({ saleId: sale.saleId, claimId, customerId, quantity, nowMs });

    it("grants a claim inside the window, holds its units until the hold expires, and counts them against the pool", async () => {
      const sale = await open();
      const granted = await claim(sale, "c1", 2);
      expect(granted).toMatchObject({ outcome: "granted", quantity: 2, expiresAtMs: T0 + 1000 + MINUTE, remaining: 8 });
      expect(await gate.status(sale.saleId)).toEqual({ remaining: 8, closed: false });
      const id = (granted as { claimId: string }).claimId;
      expect(await gate.claimOf(sale.saleId, id)).toMatchObject({
        customerId: "c1",
        quantity: 2,
        status: "HELD",
        expiresAtMs: T0 + 1000 + MINUTE,
      });
    });

    it("refuses before the start and after the end, and does not know a sale it never loaded", async () => {
      const sale = await open();
      expect(await claim(sale, "c1", 1, T0 - 1)).toEqual({ outcome: "notStarted", startsAtMs: T0 });
      expect(await claim(sale, "c1", 1, sale.endsAtMs)).toEqual({ outcome: "ended", endsAtMs: sale.endsAtMs });
      expect(await claim(newSale(), "c1")).toEqual({ outcome: "unknownSale" });
      expect(await gate.status(sale.saleId)).toEqual({ remaining: 10, closed: false });
    });

    it("keeps each customer under the limit and says how many they hold", async () => {
      const sale = await open({ perCustomerLimit: 3 });
      expect((await claim(sale, "c1", 2)).outcome).toBe("granted");
      expect(await claim(sale, "c1", 2)).toEqual({ outcome: "overLimit", held: 2, limit: 3 });
      expect((await claim(sale, "c1", 1)).outcome).toBe("granted");
      expect(await claim(sale, "c1", 1)).toEqual({ outcome: "overLimit", held: 3, limit: 3 });
      expect(await claim(sale, "c2", 4)).toMatchObject({ outcome: "overLimit", limit: 3 });
      expect(await gate.status(sale.saleId)).toEqual({ remaining: 7, closed: false });
    });

    it("sells out exactly: a claim bigger than what is left is refused and takes nothing", async () => {
      const sale = await open({ quantity: 3 });
      expect((await claim(sale, "c1", 2)).outcome).toBe("granted");
      expect(await claim(sale, "c2", 2)).toEqual({ outcome: "soldOut", remaining: 1 });
      expect((await claim(sale, "c2", 1)).outcome).toBe("granted");
      expect(await claim(sale, "c3", 1)).toEqual({ outcome: "soldOut", remaining: 0 });
      // the refused claims did not count against c2's limit
      expect(await claim(sale, "c2", 1)).toEqual({ outcome: "soldOut", remaining: 0 });
    });

    it("answers the same claim id again as the first time (a retried request takes nothing more)", async () => {
      const sale = await open();
      const id = randomUUID();
      const first = await claim(sale, "c1", 2, T0 + 1000, id);
      const again = await claim(sale, "c1", 2, T0 + 2000, id);
      expect(again).toEqual(first);
      expect(await gate.status(sale.saleId)).toEqual({ remaining: 8, closed: false });
    });

    it("lets an order use a claim once, by its owner, before it expires", async () => {
      const sale = await open();
      const c = (await claim(sale, "c1", 2)) as { claimId: string; expiresAtMs: number };
      const use = (customerId: string, orderId: string, nowMs = T0 + 2000) =>
        gate.use({ saleId: sale.saleId, claimId: c.claimId, customerId, orderId, nowMs });
      expect(await use("c2", "o-x")).toEqual({ outcome: "notOwner" });
      expect(await use("c1", "o-1")).toEqual({ outcome: "used", quantity: 2 });
      expect(await use("c1", "o-2")).toEqual({ outcome: "alreadyUsed", orderId: "o-1", quantity: 2 });
      expect(await gate.use({ saleId: sale.saleId, claimId: "nope", customerId: "c1", orderId: "o-3", nowMs: T0 })).toEqual({
        outcome: "notFound",
      });

      const late = (await claim(sale, "c2", 1)) as { claimId: string; expiresAtMs: number };
      expect(
        await gate.use({ saleId: sale.saleId, claimId: late.claimId, customerId: "c2", orderId: "o-4", nowMs: late.expiresAtMs }),
      ).toEqual({ outcome: "expired" });
      // a used claim never expires: it is not due, and a HELD release of it is refused
      expect(await gate.due({ saleId: sale.saleId, nowMs: c.expiresAtMs + MINUTE, limit: 10 })).toEqual([
        { claimId: late.claimId, customerId: "c2", quantity: 1, expiresAtMs: late.expiresAtMs },
      ]);
      expect(await gate.release({ saleId: sale.saleId, claimId: c.claimId, from: "HELD", nowMs: c.expiresAtMs + MINUTE })).toEqual({
        outcome: "notReleasable",
        status: "USED",
      });
    });

    it("expired holds go back to the pool and to their owner's allowance; a later claimant gets them", async () => {
      const sale = await open({ quantity: 2 });
      const a = (await claim(sale, "c1", 2)) as { claimId: string; expiresAtMs: number };
      expect(await claim(sale, "c2", 1)).toEqual({ outcome: "soldOut", remaining: 0 });
      expect(await gate.due({ saleId: sale.saleId, nowMs: a.expiresAtMs - 1, limit: 10 })).toEqual([]);
      expect(await gate.release({ saleId: sale.saleId, claimId: a.claimId, from: "HELD", nowMs: a.expiresAtMs - 1 })).toEqual({
        outcome: "notReleasable",
        status: "HELD",
      });
      expect(await gate.due({ saleId: sale.saleId, nowMs: a.expiresAtMs, limit: 10 })).toHaveLength(1);
      expect(await gate.release({ saleId: sale.saleId, claimId: a.claimId, from: "HELD", nowMs: a.expiresAtMs })).toEqual({
        outcome: "released",
        quantity: 2,
        remaining: 2,
      });
      expect(await gate.release({ saleId: sale.saleId, claimId: a.claimId, from: "HELD", nowMs: a.expiresAtMs })).toEqual({
        outcome: "notReleasable",
        status: "RELEASED",
      });
      expect(await gate.use({ saleId: sale.saleId, claimId: a.claimId, customerId: "c1", orderId: "o-1", nowMs: a.expiresAtMs })).toEqual({
        outcome: "released",
      });
      expect((await claim(sale, "c2", 1, a.expiresAtMs)).outcome).toBe("granted");
      expect((await claim(sale, "c1", 1, a.expiresAtMs)).outcome).toBe("granted");
      expect(await gate.due({ saleId: sale.saleId, nowMs: a.expiresAtMs, limit: 10 })).toEqual([]);
    });

    it("an order given up returns its units (only that order may return them); after the end the pool is closed", async () => {
      const sale = await open({ quantity: 2 });
      const a = (await claim(sale, "c1", 2)) as { claimId: string };
      await gate.use({ saleId: sale.saleId, claimId: a.claimId, customerId: "c1", orderId: "o-1", nowMs: T0 + 2000 });
      expect(await gate.release({ saleId: sale.saleId, claimId: a.claimId, from: "USED", orderId: "o-other", nowMs: T0 + 3000 })).toEqual({
        outcome: "notReleasable",
        status: "USED",
      });
      expect(await gate.release({ saleId: sale.saleId, claimId: a.claimId, from: "USED", orderId: "o-1", nowMs: T0 + 3000 })).toEqual({
        outcome: "released",
        quantity: 2,
        remaining: 2,
      });
      const b = (await claim(sale, "c2", 1)) as { claimId: string; expiresAtMs: number };
      expect(await gate.closeSale({ saleId: sale.saleId, nowMs: sale.endsAtMs })).toEqual({ outcome: "holdsOutstanding", held: 1 });
      await gate.release({ saleId: sale.saleId, claimId: b.claimId, from: "HELD", nowMs: sale.endsAtMs + MINUTE });
      expect(await claim(sale, "c3", 1, sale.endsAtMs)).toEqual({ outcome: "ended", endsAtMs: sale.endsAtMs });
      expect(await gate.closeSale({ saleId: sale.saleId, nowMs: sale.endsAtMs + MINUTE })).toEqual({ outcome: "closed", unsold: 2 });
      expect(await gate.closeSale({ saleId: sale.saleId, nowMs: sale.endsAtMs + 2 * MINUTE })).toEqual({ outcome: "closed", unsold: 2 });
      expect(await gate.status(sale.saleId)).toEqual({ remaining: 0, closed: true, unsold: 2 });
      expect(
        await gate.release({ saleId: sale.saleId, claimId: a.claimId, from: "USED", orderId: "o-1", nowMs: sale.endsAtMs + 3 * MINUTE }),
      ).toEqual({ outcome: "closed" });
    });

    it("loads a sale from a snapshot of the log: held and used claims keep their units and count against their owners; loading again changes nothing", async () => {
      const sale = newSale({ quantity: 5 });
      await gate.load({
        sale,
        claims: [
          { claimId: "k1", customerId: "c1", quantity: 2, expiresAtMs: T0 + MINUTE, status: "HELD" },
          { claimId: "k2", customerId: "c2", quantity: 1, expiresAtMs: T0 + MINUTE, status: "USED", orderId: "o-2" },
          { claimId: "k3", customerId: "c3", quantity: 2, expiresAtMs: T0 + MINUTE, status: "RELEASED" },
        ],
      });
      expect(await gate.status(sale.saleId)).toEqual({ remaining: 2, closed: false });
      expect(await claim(sale, "c1", 1)).toEqual({ outcome: "overLimit", held: 2, limit: 2 });
      expect(await gate.use({ saleId: sale.saleId, claimId: "k2", customerId: "c2", orderId: "o-9", nowMs: T0 })).toEqual({
        outcome: "alreadyUsed",
        orderId: "o-2",
        quantity: 1,
      });
      expect(await gate.due({ saleId: sale.saleId, nowMs: T0 + MINUTE, limit: 10 })).toEqual([
        { claimId: "k1", customerId: "c1", quantity: 2, expiresAtMs: T0 + MINUTE },
      ]);
      await gate.load({ sale, claims: [] });
      expect(await gate.status(sale.saleId)).toEqual({ remaining: 2, closed: false });
    });

    it("rebuilds a sale it does not hold from the snapshot it is given, once; a sale it holds is left as it is", async () => {
      const sale = newSale();
      let built = 0;
      const snapshot = async () => {
        built++;
        return {
          sale,
          claims: [{ claimId: `${sale.saleId}:r1`, customerId: "c1", quantity: 2, expiresAtMs: T0 + MINUTE, status: "HELD" as const }],
          epoch: 1,
        };
      };
      expect(await gate.rebuild(sale.saleId, snapshot)).toBe("rebuilt");
      expect(await gate.status(sale.saleId)).toEqual({ remaining: 8, closed: false });
      expect(await claim(sale, "c1", 1)).toEqual({ outcome: "overLimit", held: 2, limit: 2 });
      expect(await gate.rebuild(sale.saleId, snapshot)).toBe("held");
      expect(built).toBe(1);
    });

    it("a crowd of 10,000 concurrent claimants for 1,000 units with a limit of 2: exactly 1,000 units are claimed and nobody exceeds the limit", async () => {
      const sale = await open({ quantity: 1000, perCustomerLimit: 2 });
      // 2,500 customers, each pressing Buy four times in a row, for 1 or 2 units
      const customerOf = (i: number) => `cust-${Math.floor(i / 4)}`;
      const outcomes = await bounded(10_000, factory.crowdConcurrency, (i) =>
        claim(sale, customerOf(i), 1 + (i % 3 === 0 ? 1 : 0), T0 + 1000 + i),
      );
      const perCustomer = new Map<string, number>();
      let units = 0;
      outcomes.forEach((o, i) => {
        if (o.outcome !== "granted") return;
        units += o.quantity;
        const c = customerOf(i);
        perCustomer.set(c, (perCustomer.get(c) ?? 0) + o.quantity);
      });
      expect(units).toBe(1000);
      expect(Math.max(...perCustomer.values())).toBeLessThanOrEqual(2);
      expect(outcomes.filter((o) => o.outcome === "granted" || o.outcome === "soldOut" || o.outcome === "overLimit")).toHaveLength(10_000);
      expect(outcomes.some((o) => o.outcome === "overLimit")).toBe(true);
      expect(await gate.status(sale.saleId)).toEqual({ remaining: 0, closed: false });
    }, 180_000);
  });
}
