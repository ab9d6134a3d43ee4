// The stock planning lock (src/sagas/stock-planning-lock*.ts), one contract for both adapters:
// holders of overlapping SKUs never run at once, disjoint ones do, and a failing holder releases.
// The PostgreSQL adapter is run as two "processes" (two lock instances, each with its own pool).

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPgClient } from "../../src/infrastructure/sql/pg-client.js";
import type { SqlClient } from "../../src/infrastructure/sql/sql-client.js";
import { inProcessStockPlanningLock, postgresStockPlanningLock, type StockPlanningLock } from "../../src/sagas/index.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { missing, server } from "../support/env.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function contract(
  name: string,
  open: () => Promise<{ locks: [StockPlanningLock, StockPlanningLock]; close(): Promise<void> }>,
  skip = false,
) {
  describe.skipIf(skip)(`stock planning lock: ${name}`, () => {
    let locks: [StockPlanningLock, StockPlanningLock];
    let close: () => Promise<void>;
    beforeAll(async () => {
      ({ locks, close } = await open());
    });
    afterAll(async () => close?.());

    it("holders of overlapping SKUs never overlap in time, whichever lock instance they use; disjoint SKUs run side by side", async () => {
      const inside = new Map<string, number>();
      const overlaps: string[] = [];
      let maxDisjoint = 0;
      let running = 0;
      const hold = (lock: StockPlanningLock, skus: string[], ms: number) =>
        lock.withSkus(skus, async () => {
          for (const sku of skus) {
            if ((inside.get(sku) ?? 0) > 0) overlaps.push(sku);
            inside.set(sku, (inside.get(sku) ?? 0) + 1);
          }
          running++;
          maxDisjoint = Math.max(maxDisjoint, running);
          await sleep(ms);
          running--;
          for (const sku of skus) inside.set(sku, inside.get(sku)! - 1);
          return skus.join("+");
        });
      const work: Promise<string>[] = [];
      for (let i = 0; i < 12; i++) work.push(hold(locks[i % 2]!, i % 3 === 0 ? ["A", "B"] : i % 3 === 1 ? ["B"] : ["A"], 15));
      await Promise.all(work);
      expect(overlaps).toEqual([]);
      // Disjoint SKUs are not serialised.
      running = 0;
      maxDisjoint = 0;
      await Promise.all([hold(locks[0], ["X"], 150), hold(locks[1], ["Y"], 150)]);
      expect(maxDisjoint).toBe(2);
    });

    it("within one process, holders are served in the order they asked, however many SKUs each needs", async () => {
      // An order placed first plans first: a later order needing only B must not take B while the
      // earlier one, needing A and B, waits for A.
      const served: string[] = [];
      const hold = (name: string, skus: string[], ms: number) =>
        locks[0].withSkus(skus, async () => {
          served.push(name);
          await sleep(ms);
        });
      await Promise.all([hold("holds A", ["A"], 60), hold("first, A+B", ["A", "B"], 5), hold("second, B", ["B"], 5)]);
      expect(served).toEqual(["holds A", "first, A+B", "second, B"]);
    });

    it("a holder that throws releases its SKUs", async () => {
      await expect(locks[0].withSkus(["Z"], async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
      expect(await Promise.race([locks[1].withSkus(["Z"], async () => "next"), sleep(3_000).then(() => "stuck")])).toBe("next");
    });
  });
}

const shared = inProcessStockPlanningLock();
contract("in process (two holders of one lock)", async () => ({ locks: [shared, shared], close: async () => undefined }));

let db: TestDatabase | undefined;
const pools: SqlClient[] = [];
contract(
  "PostgreSQL advisory locks (two processes' pools)",
  async () => {
    db = await createTestDatabase();
    pools.push(createPgClient({ connectionString: db.url, max: 4 }), createPgClient({ connectionString: db.url, max: 4 }));
    return {
      locks: [postgresStockPlanningLock(pools[0]!), postgresStockPlanningLock(pools[1]!)],
      async close() {
        for (const p of pools) await p.close();
        await db?.drop();
      },
    };
  },
  missing(server("DATABASE_URL")),
);
