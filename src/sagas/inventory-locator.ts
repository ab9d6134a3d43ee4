// Where a SKU's stock is: its warehouses and what each has available. The saga reads it when an
// order arrives to decide where to reserve each line (the Inventory aggregate still has the last
// word: a reservation it cannot honour is rejected).
//
// EventStoreInventoryLocator learns the sku -> warehouses map from the log's inventory streams
// (`inventory-<sku>@<warehouseId>`, StockReceived events), caching what it has read and
// continuing from its checkpoint on the next call; availability is folded from each stream.
//
// It reads the log again for a SKU it has seen when its map is older than `maxAgeMs`, or when the
// caller asks for a fresh answer: the saga does when the warehouses it knows cannot cover a line,
// so a warehouse stocked a moment ago is never missing from a decision it would change. Reading on
// every placement was one query per order, most of them finding nothing new.

import { asEvent, fold } from "../aggregates/decider.js";
import { inventoryDecider, streamId as inventoryStream, type InventoryEvent } from "../aggregates/inventory.js";
import { START, type Checkpoint, type EventStore } from "../eventstore/port.js";
import type { WarehouseAvailability } from "./order-saga.js";

export interface InventoryLocator {
  stockFor(sku: string): Promise<WarehouseAvailability[]>;
  /**
   * The warehouses that have ever stocked the SKU, sorted. `fresh`: including a warehouse stocked
   * just now (the log is read to its head first); otherwise the answer may be up to the locator's
   * maxAgeMs old for a SKU it has seen.
   */
  warehousesOf(sku: string, options?: { fresh?: boolean }): Promise<string[]>;
}

export interface InventoryLocatorOptions {
  /** How old the map may be for a SKU already seen (default 1,000 ms). */
  maxAgeMs?: number;
  /** Milliseconds now (default performance.now). */
  now?: () => number;
}

export class EventStoreInventoryLocator implements InventoryLocator {
  private readonly warehouses = new Map<string, Set<string>>();
  private checkpoint: Checkpoint = START;
  private refreshing: Promise<void> | undefined;
  /** When the last completed refresh started (the log read to its head as of then). */
  private readAt = Number.NEGATIVE_INFINITY;
  /** Refreshes started, and the last one finished (they run one at a time). */
  private started = 0;
  private finished = 0;
  private readonly maxAgeMs: number;
  private readonly now: () => number;

  constructor(
    private readonly store: EventStore,
    options: InventoryLocatorOptions = {},
  ) {
    this.maxAgeMs = options.maxAgeMs ?? 1_000;
    this.now = options.now ?? (() => performance.now());
  }

  async warehousesOf(sku: string, options: { fresh?: boolean } = {}): Promise<string[]> {
    const known = this.warehouses.has(sku) && this.now() - this.readAt < this.maxAgeMs;
    if (options.fresh || !known) await this.refresh();
    return [...(this.warehouses.get(sku) ?? [])].sort();
  }

  async stockFor(sku: string): Promise<WarehouseAvailability[]> {
    const result: WarehouseAvailability[] = [];
    for (const warehouseId of await this.warehousesOf(sku)) {
      const events = await this.store.readStream(inventoryStream(sku, warehouseId));
      const state = fold(inventoryDecider, events.map(asEvent<InventoryEvent>));
      result.push({ warehouseId, available: state.available });
    }
    return result;
  }

  /** Reads the log to its head in a read that starts after this call (one under way may have passed a new warehouse by). */
  private async refresh(): Promise<void> {
    const wanted = this.started + 1;
    while (this.finished < wanted) {
      if (!this.refreshing) {
        const generation = ++this.started;
        const startedAt = this.now();
        this.refreshing = this.readNew()
          .then(() => {
            this.finished = generation;
            this.readAt = startedAt;
          })
          .finally(() => (this.refreshing = undefined));
      }
      await this.refreshing;
    }
  }

  private async readNew(): Promise<void> {
    for (;;) {
      const page = await this.store.readAll({
        from: this.checkpoint,
        maxCount: 1000,
        filter: { streamCategories: ["inventory"], eventTypes: ["StockReceived", "StockAdjusted"] },
      });
      for (const e of page.events) {
        const { sku, warehouseId } = e.data as { sku?: string; warehouseId?: string };
        if (typeof sku !== "string" || typeof warehouseId !== "string") continue;
        const set = this.warehouses.get(sku) ?? new Set<string>();
        set.add(warehouseId);
        this.warehouses.set(sku, set);
      }
      const advanced = page.checkpoint !== this.checkpoint;
      this.checkpoint = page.checkpoint;
      if (page.events.length === 0 || !advanced) return;
    }
  }
}
