// Stock queries (GET /api/inventory/{sku}) over the inventory read model.

import type { SqlExecutor } from "../infrastructure/sql/sql-client.js";
import { int } from "../projections/projection.js";
import { INVENTORY_TABLES } from "../projections/inventory.js";

export interface WarehouseStock {
  warehouseId: string;
  available: number;
  reserved: number;
  committed: number;
  shipped: number;
  received: number;
}

export interface InventoryView {
  sku: string;
  available: number;
  reserved: number;
  committed: number;
  /** Ordered by warehouse id. */
  warehouses: WarehouseStock[];
}

/** Stock of a SKU summed over its warehouses; null when no warehouse ever had a stock event for it. */
export async function getInventory(sql: SqlExecutor, sku: string): Promise<InventoryView | null> {
  const { rows } = await sql.query<Record<string, unknown>>(
    `SELECT * FROM ${INVENTORY_TABLES.levels} WHERE sku = $1 ORDER BY warehouse_id`,
    [sku],
  );
  if (rows.length === 0) return null;
  const warehouses = rows.map((r) => ({
    warehouseId: String(r.warehouse_id),
    available: int(r.available),
    reserved: int(r.reserved),
    committed: int(r.committed),
    shipped: int(r.shipped),
    received: int(r.received),
  }));
  const sum = (key: "available" | "reserved" | "committed") => warehouses.reduce((total, w) => total + w[key], 0);
  return { sku, available: sum("available"), reserved: sum("reserved"), committed: sum("committed"), warehouses };
}
