// Putting a sale on: the sale's stream first (SaleScheduled), then one reservation on the
// inventory sets its units aside (or is refused: the warehouse lacks them), then the sale records
// the outcome and, when open, the gate is loaded. Every step has a command id derived from the
// caller's, so a retried request converges on the same result.

import { DomainError } from "../aggregates/decider.js";
import type { FlashSale } from "../aggregates/flash-sale.js";
import { inventoryDecider, streamId as inventoryStream } from "../aggregates/inventory.js";
import { getProductFromLog } from "../commands/catalog.js";
import type { CommandContext } from "../commands/context.js";
import { envelope } from "../commands/envelope.js";
import { handleCommand } from "../commands/handle-command.js";
import { EventStoreInventoryLocator } from "../sagas/inventory-locator.js";
import type { FlashSaleDeps } from "./deps.js";
import { snapshotOf } from "./snapshot.js";

export interface ScheduleSaleInput {
  saleId: string;
  sku: string;
  warehouseId?: string;
  quantity: number;
  price: number;
  startsAt: string;
  endsAt: string;
  perCustomerLimit: number;
  holdTtlMs: number;
}

export type ScheduleOutcome =
  | { outcome: "open"; sale: FlashSale; position: string | null }
  | { outcome: "refused"; sale: FlashSale; available: number };

export async function scheduleSale(
  deps: FlashSaleDeps,
  ctx: Pick<CommandContext, "actor" | "commandId" | "correlationId">,
  input: ScheduleSaleInput,
): Promise<ScheduleOutcome> {
  const product = await getProductFromLog(deps.store, input.sku);
  if (!product) throw new DomainError("invalid_sku", `unknown SKU ${input.sku}`);
  if (input.perCustomerLimit > input.quantity) throw new DomainError("invalid_field", "perCustomerLimit must not exceed quantity");
  const warehouseId = input.warehouseId ?? (await fullestWarehouse(deps, input.sku));
  const at = deps.now().toISOString();
  const step = (name: string) => `${ctx.commandId}/${name}`;
  const origin = { actor: ctx.actor, ...(ctx.correlationId === undefined ? {} : { correlationId: ctx.correlationId }) };

  await deps.writer.write(input.saleId, {
    ...origin,
    commandId: step("schedule"),
    command: { type: "ScheduleSale", ...input, warehouseId, currency: product.product.currency, at },
  });
  const reserved = await handleCommand(
    deps.store,
    inventoryDecider,
    envelope({ ...origin, commandId: step("set-aside") }, inventoryStream(input.sku, warehouseId), {
      type: "SetAsideForSale",
      sku: input.sku,
      warehouseId,
      saleId: input.saleId,
      quantity: input.quantity,
      at,
    }),
  );
  const refusal = reserved.events.find((e) => e.type === "SaleSetAsideRejected");
  if (refusal) {
    const available = (refusal.data as { available: number }).available;
    const r = await deps.writer.write(input.saleId, {
      ...origin,
      commandId: step("refused"),
      command: { type: "RecordStockRefused", saleId: input.saleId, available, at },
    });
    return { outcome: "refused", sale: r.state as FlashSale, available };
  }
  const opened = await deps.writer.write(input.saleId, {
    ...origin,
    commandId: step("open"),
    command: { type: "RecordStockSetAside", saleId: input.saleId, at },
  });
  const sale = opened.state as FlashSale;
  if (sale.status === "CANCELLED") return { outcome: "refused", sale, available: 0 };
  // From the log, not empty: a retried request must not reset a gate that lost its data mid-sale.
  await deps.gate.load(await snapshotOf(deps.store, sale));
  return { outcome: "open", sale, position: opened.position ?? reserved.position };
}

async function fullestWarehouse(deps: FlashSaleDeps, sku: string): Promise<string> {
  const stock = await new EventStoreInventoryLocator(deps.store).stockFor(sku);
  const best = [...stock].sort((a, b) => b.available - a.available || a.warehouseId.localeCompare(b.warehouseId))[0];
  if (!best) throw new DomainError("invalid_field", `no warehouse stocks ${sku}; give warehouseId`);
  return best.warehouseId;
}
