// Where the saga plans an order's stock (reads each warehouse's availability, picks warehouses,
// reserves) it holds the order's SKUs, so two orders placed at once never plan on the same units:
// without it both could pick the same warehouse's last units and one be cancelled OUT_OF_STOCK
// while another warehouse still had stock. (Overselling is impossible either way: the Inventory
// aggregate decides each reservation at its stream's expected revision.)
//
// The port and its in-process adapter; src/sagas/stock-planning-lock-postgres.ts holds the SKUs
// across every process sharing the database.

export interface StockPlanningLock {
  /** Runs `work` while no other holder of any of these SKUs runs. */
  withSkus<T>(skus: readonly string[], work: () => Promise<T>): Promise<T>;
}

/** Serialises per SKU within this process only (one process: the embedded database). */
export function inProcessStockPlanningLock(): StockPlanningLock {
  const tails = new Map<string, Promise<void>>();
  return {
    async withSkus(skus, work) {
      const releases: (() => void)[] = [];
      try {
        // Sorted: two holders of overlapping SKU sets always queue in the same order (no deadlock).
        for (const sku of [...new Set(skus)].sort()) {
          const previous = tails.get(sku) ?? Promise.resolve();
          let release!: () => void;
          const held = new Promise<void>((resolve) => (release = resolve));
          const tail = previous.then(() => held);
          tails.set(sku, tail);
          releases.push(() => {
            release();
            if (tails.get(sku) === tail) tails.delete(sku);
          });
          await previous;
        }
        return await work();
      } finally {
        for (const release of releases) release();
      }
    },
  };
}
