// How each inventory event moves a warehouse's counters, for the read models outside SQL that
// keep stock (the search documents' availability, the Redis availability hashes). Mirrors the
// Inventory aggregate's evolve and the SQL inventory read model (./inventory.ts).

import type { InventoryEvent } from "../aggregates/inventory.js";

export interface StockDeltas {
  available: number;
  reserved: number;
  committed: number;
}

/** Inventory event types that change available, reserved or committed units. */
export const COUNTED_STOCK_EVENTS = [
  "StockReceived",
  "StockReserved",
  "StockCommitted",
  "StockReleased",
  "StockReservationExpired",
  "StockShipped",
  "StockRestocked",
  "StockAdjusted",
  "StockSetAsideForSale",
  "StockDrawnFromSale",
  "StockReturnedToSale",
  "SaleStockReleased",
] as const;

export function stockDeltas(event: InventoryEvent): StockDeltas {
  const d = (available: number, reserved: number, committed: number): StockDeltas => ({ available, reserved, committed });
  switch (event.type) {
    case "StockReceived":
      return d(event.data.quantity, 0, 0);
    case "StockReserved":
      return d(-event.data.quantity, event.data.quantity, 0);
    case "StockCommitted":
      return d(0, -event.data.quantity, event.data.quantity);
    case "StockReleased":
      return event.data.from === "RESERVED"
        ? d(event.data.quantity, -event.data.quantity, 0)
        : d(event.data.quantity, 0, -event.data.quantity);
    case "StockReservationExpired":
      return d(event.data.quantity, -event.data.quantity, 0);
    case "StockShipped":
      return d(0, 0, -event.data.quantity);
    case "StockRestocked":
      return d(event.data.quantity, 0, 0);
    case "StockAdjusted":
      return d(event.data.countedAvailable - event.data.previousAvailable, 0, 0);
    case "StockSetAsideForSale":
      return d(-event.data.quantity, event.data.quantity, 0);
    case "StockDrawnFromSale": {
      const units = event.data.allocations.reduce((n, a) => n + a.quantity, 0);
      return d(0, -units, units);
    }
    case "StockReturnedToSale":
      return d(0, event.data.quantity, -event.data.quantity);
    case "SaleStockReleased":
      return d(event.data.quantity, -event.data.quantity, 0);
    default:
      return d(0, 0, 0);
  }
}
