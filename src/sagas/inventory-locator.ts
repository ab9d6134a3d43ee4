// Where a SKU's stock is: its warehouses and what each has available. The saga reads it when an
// order arrives to decide where to reserve each line (the Inventory aggregate still has the last
// word: a reservation it cannot honour is rejected).
//
// EventStoreInventoryLocator learns the sku -> warehouses map from the log's inventory streams
// (`inventory-<sku>@<warehouseId>`, StockReceived events), caching what it has read and
// continuing from its checkpoint on the next call; availability is folded from each stream.

import { asEvent, fold } from "../aggregates/decider.js";
import { inventoryDecider, streamId as inventoryStream, type InventoryEvent } from "../aggregates/inventory.js";
import { START, type Checkpoint, type EventStore } from "../eventstore/port.js";
import type { WarehouseAvailability } from "./order-saga.js";

export interface InventoryLocator {
  stockFor(sku: string): Promise<WarehouseAvailability[]>;
  /** The warehouses that have ever stocked the SKU, sorted. */
  warehousesOf(sku: string): Promise<string[]>;
}

export class EventStoreInventoryLocator implements InventoryLocator {
  private readonly warehouses = new Map<string, Set<string>>();
  private checkpoint: Checkpoint = START;
  private refreshing: Promise<void> | undefined;

  constructor(private readonly store: EventStore) {}

  async warehousesOf(sku: string): Promise<string[]> {
    await this.refresh();
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

  private refresh(): Promise<void> {
    return (this.refreshing ??= this.readNew().finally(() => (this.refreshing = undefined)));
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
