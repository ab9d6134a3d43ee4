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
      // Queued on every SKU at once, before waiting on any: holders are served in the order they
      // asked, so an order placed first plans first even when a later one needs fewer SKUs
      // (queueing SKU by SKU let an order that needed only B pass an earlier one waiting its turn at A,
      // and take the last B). One queue position per SKU, all taken in one synchronous step, is one
      // total order: nobody waits on a holder that asked after it, so no deadlock.
      const releases: (() => void)[] = [];
      const waits: Promise<void>[] = [];
      for (const sku of new Set(skus)) {
        const previous = tails.get(sku) ?? Promise.resolve();
        let release!: () => void;
        const held = new Promise<void>((resolve) => (release = resolve));
        const tail = previous.then(() => held);
        tails.set(sku, tail);
        releases.push(() => {
          release();
          if (tails.get(sku) === tail) tails.delete(sku);
        });
        waits.push(previous);
      }
      try {
        await Promise.all(waits);
        return await work();
      } finally {
        for (const release of releases) release();
      }
    },
  };
}

/**
 * Takes the SKUs and resolves with their release, for a hold that does not fit inside one callback
 * (a step's retry loop). Rejects when the lock cannot be taken.
 */
export function holdSkus(lock: StockPlanningLock, skus: readonly string[]): Promise<() => void> {
  return new Promise((held, failed) => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    lock
      .withSkus(skus, () => {
        held(release);
        return released;
      })
      .catch(failed);
  });
}
