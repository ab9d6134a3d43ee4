// Every SQL read model this system keeps, in start order, and their migrations.

import { migrate, type Migration } from "../infrastructure/sql/migrations.js";
import type { SqlClient } from "../infrastructure/sql/sql-client.js";
import { processingMigrations } from "../processing/processor.js";
import { cartsProjection } from "./carts.js";
import { inventoryProjection } from "./inventory.js";
import { orderHistoryProjection } from "./order-history.js";
import { ordersProjection } from "./orders.js";
import { paymentsProjection } from "./payments.js";
import { productsProjection } from "./products.js";
import type { Projection } from "./projection.js";
import { refundsProjection } from "./refunds.js";

/** Every SQL read model, in start order. */
export const projections: readonly Projection[] = [
  ordersProjection,
  paymentsProjection,
  inventoryProjection,
  productsProjection,
  cartsProjection,
  // Audit and finance reads (order history by the order's own streams, refund reconciliation).
  orderHistoryProjection,
  refundsProjection,
];

const projectionMigrations: readonly Migration[] = projections.flatMap((p) => p.migrations);

export function findProjection(name: string): Projection {
  const found = projections.find((p) => p.name === name || p.name === `projections/${name}`);
  if (!found) throw new Error(`unknown projection ${JSON.stringify(name)}; known: ${projections.map((p) => p.name).join(", ")}`);
  return found;
}

export async function migrateProjections(sql: SqlClient, list: readonly Projection[] = projections): Promise<void> {
  await migrate(sql, processingMigrations);
  await migrate(sql, list === projections ? projectionMigrations : list.flatMap((p) => p.migrations));
}
