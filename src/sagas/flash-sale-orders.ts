// Orders placed with a flash-sale claim, in the order saga. The claim already holds the units
// (the gate took them from the sale's pool), so such an order reserves nothing on the inventory:
// it goes straight to payment. On confirmation its units are drawn from the sale's one
// reservation, batched with other orders' (FlashSaleStock.draw, one inventory append for many
// buyers); cancelled or failing payment, they go back to the sale's pool (giveBack), or to
// ordinary stock once the sale has ended. The pure part (commands the saga decides) is here; the
// runner hands the commands to the FlashSaleStock port (src/flash-sales/sale-stock.ts).

import type { FlashSaleRef } from "../aggregates/order.js";

/** What the saga asks of a flash sale's stock. */
export type FlashSaleStockCommand =
  | { target: "flashSale"; op: "draw"; saleId: string; sku: string; warehouseId: string; orderId: string; quantity: number; at: string }
  | {
      target: "flashSale";
      op: "giveBack";
      saleId: string;
      claimId: string;
      sku: string;
      warehouseId: string;
      orderId: string;
      quantity: number;
      drawn: boolean;
      reason: string;
      at: string;
    };

/** The port the runner issues those commands through; idempotent per (op, orderId). */
export interface FlashSaleStock {
  apply(command: FlashSaleStockCommand & { commandId: string }): Promise<void>;
}

interface SaleOrder {
  orderId: string;
  flashSale?: FlashSaleRef;
  allocations: readonly { sku: string; warehouseId: string; quantity: number; status: string }[];
}

/** The draw of a confirmed sale order's units (one per order: its one line). */
export function drawFromSale(
  s: SaleOrder,
  at: string,
  id: (step: string, target: string) => string,
): (FlashSaleStockCommand & { commandId: string; mootOk?: boolean })[] {
  const sale = s.flashSale;
  if (!sale) return [];
  return s.allocations
    .filter((a) => a.status === "RESERVED")
    .map((a) => ({
      target: "flashSale",
      op: "draw",
      commandId: id("draw", `flashSale-${sale.saleId}`),
      saleId: sale.saleId,
      sku: a.sku,
      warehouseId: a.warehouseId,
      orderId: s.orderId,
      quantity: a.quantity,
      at,
    }));
}

/** The units of a sale order given up: back to the sale (drawn or not yet). */
export function giveBackToSale(
  s: SaleOrder,
  reason: string,
  at: string,
  id: (step: string, target: string) => string,
): (FlashSaleStockCommand & { commandId: string; mootOk?: boolean })[] {
  const sale = s.flashSale;
  if (!sale) return [];
  return s.allocations
    .filter((a) => a.status === "RESERVED" || a.status === "COMMITTED")
    .map((a) => ({
      target: "flashSale",
      op: "giveBack",
      commandId: id("give-back", `flashSale-${sale.saleId}`),
      saleId: sale.saleId,
      claimId: sale.claimId,
      sku: a.sku,
      warehouseId: a.warehouseId,
      orderId: s.orderId,
      quantity: a.quantity,
      drawn: a.status === "COMMITTED",
      reason,
      at,
    }));
}
