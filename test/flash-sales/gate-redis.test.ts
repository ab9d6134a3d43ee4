// The gate contract on Redis (REDIS_URL; each test uses its own sale's keys, nothing is flushed),
// and what only a gate that can lose its data has: epochs and the rebuild lock shared by processes.

import { describe, expect, it } from "vitest";
import { RedisFlashSaleGate } from "../../src/flash-sales/redis/redis-gate.js";
import { missing, server } from "../support/env.js";
import { gateContract, newSale } from "./gate-contract.js";

const redisUrl = server("REDIS_URL");

describe.skipIf(missing(redisUrl))("Redis flash-sale gate", () => {
  gateContract("Redis", { open: async () => new RedisFlashSaleGate(redisUrl.value!), crowdConcurrency: 1000 });

  it("two gates on one Redis (two processes): one rebuilds a lost sale, the other is told it is busy and decides nothing meanwhile", async () => {
    const a = new RedisFlashSaleGate(redisUrl.value!);
    const b = new RedisFlashSaleGate(redisUrl.value!);
    try {
      const sale = newSale({ startsAtMs: 0, endsAtMs: Date.now() + 600_000 });
      let release = () => {};
      const slow = new Promise<void>((resolve) => (release = resolve));
      const rebuilding = a.rebuild(sale.saleId, async () => {
        await slow;
        return { sale, claims: [], epoch: 1 };
      });
      await new Promise((r) => setTimeout(r, 50));
      expect(await b.rebuild(sale.saleId, async () => ({ sale, claims: [], epoch: 1 }))).toBe("busy");
      const claim = (gate: RedisFlashSaleGate, claimId: string) =>
        gate.claim({ saleId: sale.saleId, claimId, customerId: "c1", quantity: 1, nowMs: Date.now() });
      expect(await claim(b, `${sale.saleId}:k1`)).toEqual({ outcome: "unknownSale" });
      release();
      expect(await rebuilding).toBe("rebuilt");
      expect(await b.rebuild(sale.saleId, async () => ({ sale, claims: [], epoch: 1 }))).toBe("held");
      expect(await claim(b, `${sale.saleId}:k1`)).toMatchObject({ outcome: "granted", epoch: 1 });
    } finally {
      await a.dispose();
      await b.dispose();
    }
  });

  it("a snapshot of a later epoch replaces the sale; one of the same or an earlier epoch changes nothing", async () => {
    const gate = new RedisFlashSaleGate(redisUrl.value!);
    try {
      const sale = newSale({ startsAtMs: 0, endsAtMs: Date.now() + 600_000 });
      const held = (n: number) =>
        Array.from({ length: n }, (_, i) => ({
          claimId: `${sale.saleId}:h${i}`,
          customerId: `c${i}`,
          quantity: 1,
          expiresAtMs: Date.now() + 60_000,
          status: "HELD" as const,
        }));
      await gate.load({ sale, claims: held(1), epoch: 1 });
      await gate.load({ sale, claims: held(3), epoch: 1 });
      await gate.load({ sale, claims: held(4), epoch: 0 });
      expect(await gate.status(sale.saleId)).toEqual({ remaining: 9, closed: false });
      await gate.load({ sale, claims: held(2), epoch: 2 });
      expect(await gate.status(sale.saleId)).toEqual({ remaining: 8, closed: false });
      expect(
        await gate.claim({ saleId: sale.saleId, claimId: `${sale.saleId}:k`, customerId: "c9", quantity: 1, nowMs: Date.now() }),
      ).toMatchObject({ outcome: "granted", epoch: 2, remaining: 7 });
    } finally {
      await gate.dispose();
    }
  });
});
