// Read model of stock levels: one row per SKU and warehouse (stream inventory-<sku>@<warehouseId>).
// Each event is a set of counter deltas, applied once per stream revision (an upsert guarded by
// the row's revision), mirroring the Inventory aggregate's evolve.

import type { InventoryEvent } from "../aggregates/inventory.js";
import type { RecordedEvent } from "../eventstore/port.js";
import type { SqlExecutor } from "../infrastructure/sql/sql-client.js";
import { ident, isoText, recordedAs, type Projection } from "./projection.js";
import { applyFold, type RowFold } from "./fold.js";
import { keyOf, type Columns } from "./rows.js";

export const INVENTORY_TABLES = { levels: "rm_inventory" } as const;
export type InventoryTables = { readonly [K in keyof typeof INVENTORY_TABLES]: string };

const COUNTERS = ["received", "available", "reserved", "committed", "shipped", "restocked", "adjusted"] as const;
type Counter = (typeof COUNTERS)[number];
type Deltas = Partial<Record<Counter, number>>;

function schema(t: InventoryTables): string {
  const l = ident(t.levels);
  return `
    CREATE TABLE ${l} (
      sku text NOT NULL,
      warehouse_id text NOT NULL,
      ${COUNTERS.map((c) => `${c} bigint NOT NULL DEFAULT 0`).join(",\n      ")},
      updated_at timestamptz NOT NULL,
      revision bigint NOT NULL,
      PRIMARY KEY (sku, warehouse_id)
    );`;
}

function deltas(event: InventoryEvent): Deltas {
  switch (event.type) {
    case "StockReceived":
      return { received: event.data.quantity, available: event.data.quantity };
    case "StockReserved":
      return { available: -event.data.quantity, reserved: event.data.quantity };
    case "StockReservationRejected":
      return {};
    case "StockCommitted":
      return { reserved: -event.data.quantity, committed: event.data.quantity };
    case "StockReleased":
      return event.data.from === "RESERVED"
        ? { available: event.data.quantity, reserved: -event.data.quantity }
        : { available: event.data.quantity, committed: -event.data.quantity };
    case "StockReservationExpired":
      return { available: event.data.quantity, reserved: -event.data.quantity };
    case "StockShipped":
      return { committed: -event.data.quantity, shipped: event.data.quantity };
    case "StockRestocked":
      return { available: event.data.quantity, restocked: event.data.quantity };
    case "StockAdjusted":
      return { available: event.data.countedAvailable - event.data.previousAvailable, adjusted: event.data.delta };
    // A flash sale's one reservation, its batched draw-down, returns and unsold units.
    case "StockSetAsideForSale":
      return { available: -event.data.quantity, reserved: event.data.quantity };
    case "StockDrawnFromSale": {
      const units = event.data.allocations.reduce((n, a) => n + a.quantity, 0);
      return { reserved: -units, committed: units };
    }
    case "StockReturnedToSale":
      return { committed: -event.data.quantity, reserved: event.data.quantity };
    case "SaleStockReleased":
      return { reserved: -event.data.quantity, available: event.data.quantity };
    default:
      return {};
  }
}

async function apply(recorded: RecordedEvent, sql: SqlExecutor, t: InventoryTables = INVENTORY_TABLES): Promise<void> {
  const event = recordedAs<InventoryEvent>(recorded);
  const { sku, warehouseId, at } = event.data;
  const change = deltas(event);
  const l = ident(t.levels);
  const values = COUNTERS.map((c) => change[c] ?? 0);
  // $1 sku, $2 warehouse, $3 at, $4 revision, $5.. the counters' deltas.
  await sql.query(
    `INSERT INTO ${l} AS cur (sku, warehouse_id, updated_at, revision, ${COUNTERS.join(", ")})
     VALUES ($1, $2, $3::timestamptz, $4::bigint, ${COUNTERS.map((_, i) => `$${i + 5}::bigint`).join(", ")})
     ON CONFLICT (sku, warehouse_id) DO UPDATE SET
       updated_at = EXCLUDED.updated_at, revision = EXCLUDED.revision,
       ${COUNTERS.map((c) => `${c} = cur.${c} + EXCLUDED.${c}`).join(", ")}
     WHERE cur.revision < EXCLUDED.revision`,
    [sku, warehouseId, at, event.revision, ...values],
  );
}

const LEVEL_COLUMNS: Columns = {
  sku: "text",
  warehouse_id: "text",
  ...Object.fromEntries(COUNTERS.map((c) => [c, "bigint"])),
  updated_at: "timestamptz",
  revision: "bigint",
};

/** `apply` as a fold: each SKU and warehouse's counters summed in memory, one upsert per page (or per rebuild). */
const inventoryFold: RowFold<"levels"> = {
  tables: { levels: { columns: LEVEL_COLUMNS, key: ["sku", "warehouse_id"], lookup: "sku", write: "revision" } },
  needs: (events) => ({ levels: events.map((e) => (e.data as { sku: string }).sku) }),
  fold(events, { levels }) {
    for (const recorded of events) {
      const event = recordedAs<InventoryEvent>(recorded);
      const { sku, warehouseId, at } = event.data;
      const key = keyOf(sku, warehouseId);
      const row = levels.get(key);
      if (row && (row.revision as number) >= event.revision) continue;
      const change = deltas(event);
      const next = row ?? { sku, warehouse_id: warehouseId, ...Object.fromEntries(COUNTERS.map((c) => [c, 0])) };
      for (const c of COUNTERS) next[c] = (next[c] as number) + (change[c] ?? 0);
      next.updated_at = isoText(at);
      next.revision = event.revision;
      levels.set(key, next);
    }
  },
};

export const inventoryProjection: Projection<InventoryTables> = {
  name: "projections/inventory",
  filter: { streamCategories: ["inventory"] },
  tables: INVENTORY_TABLES,
  schema,
  migrations: [{ id: "projections/inventory/001-tables", sql: schema(INVENTORY_TABLES) }],
  apply,
  applyBatch: (events, sql, t = INVENTORY_TABLES) => applyFold(inventoryFold, events, sql, t),
  fold: inventoryFold,
};
