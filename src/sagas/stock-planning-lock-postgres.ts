// The stock planning lock across processes: a PostgreSQL advisory lock per SKU, taken in a
// transaction that stays open (writing nothing, so it holds back no xmin-based reader) while the
// saga plans and reserves, and released by its COMMIT (or by the server if the process dies).
// Waiters of this process queue in memory first, so one process holds at most one connection per
// SKU; the connections come from a small pool of their own, so waiting never starves the pool the
// saga's own work needs.

import type { SqlClient } from "../infrastructure/sql/sql-client.js";
import { inProcessStockPlanningLock, type StockPlanningLock } from "./stock-planning-lock.js";

/** The advisory lock space of stock planning (first key); the second key is hashtext(sku). */
export const STOCK_PLANNING_LOCK_SPACE = 7_302_016;

export function postgresStockPlanningLock(lockSql: SqlClient): StockPlanningLock {
  const local = inProcessStockPlanningLock();
  return {
    withSkus: (skus, work) =>
      local.withSkus(skus, () =>
        lockSql.transaction(async (tx) => {
          for (const sku of [...new Set(skus)].sort())
            await tx.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [STOCK_PLANNING_LOCK_SPACE, sku]);
          return work();
        }),
      ),
  };
}
