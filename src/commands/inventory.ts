// Inventory commands issued through the API: receiving stock (admin).

import { DomainError } from "../aggregates/decider.js";
import { inventoryDecider, streamId as inventoryStream } from "../aggregates/inventory.js";
import { getProductFromLog } from "./catalog.js";
import { nowIso, type CommandContext } from "./context.js";
import { envelope } from "./envelope.js";
import { handleCommand } from "./handle-command.js";

export async function receiveStock(ctx: CommandContext, input: { sku: string; warehouseId: string; quantity: number; receiptId?: string }) {
  if (!(await getProductFromLog(ctx.store, input.sku))) throw new DomainError("invalid_sku", `unknown SKU ${input.sku}`);
  return handleCommand(
    ctx.store,
    inventoryDecider,
    envelope(ctx, inventoryStream(input.sku, input.warehouseId), {
      type: "ReceiveStock",
      sku: input.sku,
      warehouseId: input.warehouseId,
      quantity: input.quantity,
      receiptId: input.receiptId ?? ctx.commandId,
      at: nowIso(ctx),
    }),
  );
}
