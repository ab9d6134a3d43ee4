// The sale's stock as the order saga uses it (the FlashSaleStock port of
// src/sagas/flash-sale-orders.ts):
//
// - draw: confirmed orders take their units from the sale's one reservation. Draws arriving while
//   one is being appended wait and go together in the next: one DrawFromSale event on the
//   inventory stream for many buyers, not one append per buyer to that hot stream.
// - giveBack: an order given up returns its claim to the gate's pool (its units, drawn or not, go
//   back to the sale's reservation) and the sale records it; once the sale has ended the units go
//   to ordinary stock instead.

import { DomainError } from "../aggregates/decider.js";
import { inventoryDecider, streamId as inventoryStream } from "../aggregates/inventory.js";
import { EVENT_ID_NAMESPACE, uuidV5 } from "../commands/event-id.js";
import { envelope } from "../commands/envelope.js";
import { handleCommand } from "../commands/handle-command.js";
import type { FlashSaleStock, FlashSaleStockCommand } from "../sagas/flash-sale-orders.js";
import type { ClaimDesk } from "./claim-desk.js";
import { SALE_ACTOR, type FlashSaleDeps } from "./deps.js";

type Draw = Extract<FlashSaleStockCommand, { op: "draw" }>;
type GiveBack = Extract<FlashSaleStockCommand, { op: "giveBack" }>;

interface PendingDraw {
  draw: Draw;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class BatchedSaleStock implements FlashSaleStock {
  private readonly pending = new Map<string, PendingDraw[]>();
  private readonly running = new Map<string, Promise<void>>();
  /** Draws appended so far and the events they took (for the benchmark and tests). */
  readonly stats = { draws: 0, appends: 0 };

  constructor(
    private readonly deps: FlashSaleDeps,
    private readonly desk: ClaimDesk,
    private readonly options: { maxBatch?: number } = {},
  ) {}

  apply(command: FlashSaleStockCommand & { commandId: string }): Promise<void> {
    return command.op === "draw" ? this.draw(command) : this.giveBack(command);
  }

  private draw(draw: Draw): Promise<void> {
    const key = `${draw.saleId}\u0000${draw.sku}\u0000${draw.warehouseId}`;
    return new Promise<void>((resolve, reject) => {
      const queue = this.pending.get(key) ?? [];
      queue.push({ draw, resolve, reject });
      this.pending.set(key, queue);
      if (!this.running.has(key)) this.running.set(key, this.drain(key));
    });
  }

  private async drain(key: string): Promise<void> {
    try {
      for (;;) {
        const queue = this.pending.get(key) ?? [];
        if (queue.length === 0) return;
        const batch = queue.splice(0, this.options.maxBatch ?? 200);
        const { saleId, sku, warehouseId } = batch[0]!.draw;
        // One allocation per order (a retried draw of the same order within a batch counts once).
        const allocations = [
          ...new Map(batch.map((p) => [p.draw.orderId, { orderId: p.draw.orderId, quantity: p.draw.quantity }])).values(),
        ];
        try {
          const commandId = uuidV5(JSON.stringify(["flashSale-draw", saleId, allocations.map((a) => a.orderId)]), EVENT_ID_NAMESPACE);
          await handleCommand(
            this.deps.store,
            inventoryDecider,
            envelope({ commandId, actor: SALE_ACTOR }, inventoryStream(sku, warehouseId), {
              type: "DrawFromSale",
              sku,
              warehouseId,
              saleId,
              allocations,
              at: this.deps.now().toISOString(),
            }),
          );
          this.stats.draws += allocations.length;
          this.stats.appends += 1;
          for (const p of batch) p.resolve();
        } catch (error) {
          for (const p of batch) p.reject(error);
        }
      }
    } finally {
      this.running.delete(key);
      this.pending.delete(key);
    }
  }

  private async giveBack(c: GiveBack & { commandId: string }): Promise<void> {
    const nowMs = this.deps.now().getTime();
    let released = await this.deps.gate.release({ saleId: c.saleId, claimId: c.claimId, from: "USED", orderId: c.orderId, nowMs });
    if (released.outcome === "unknownSale" && (await this.desk.reload(c.saleId)))
      released = await this.deps.gate.release({ saleId: c.saleId, claimId: c.claimId, from: "USED", orderId: c.orderId, nowMs });
    const at = new Date(nowMs).toISOString();
    const inventory = (step: string, command: Parameters<typeof inventoryDecider.decide>[0]) =>
      handleCommand(
        this.deps.store,
        inventoryDecider,
        envelope({ commandId: `${c.commandId}/${step}`, actor: SALE_ACTOR }, inventoryStream(c.sku, c.warehouseId), command),
      );

    if (released.outcome === "closed") {
      // The sale has ended: its pool is gone, the units go back to ordinary stock.
      if (c.drawn)
        await inventory("release", {
          type: "ReleaseReservation",
          sku: c.sku,
          warehouseId: c.warehouseId,
          orderId: c.orderId,
          reason: `order given up after the flash sale ended: ${c.reason}`,
          at,
        });
      else
        await inventory("release-from-sale", {
          type: "ReleaseSaleStock",
          sku: c.sku,
          warehouseId: c.warehouseId,
          saleId: c.saleId,
          quantity: c.quantity,
          reason: `order ${c.orderId} given up after the sale ended`,
          at,
        });
      return;
    }
    const back = released.outcome === "released" || (released.outcome === "notReleasable" && released.status === "RELEASED");
    if (!back) {
      this.deps.logger?.warn(
        { saleId: c.saleId, claimId: c.claimId, orderId: c.orderId, outcome: released },
        "flash-sale claim could not be given back to the pool",
      );
      return;
    }
    if (c.drawn)
      await inventory("return", { type: "ReturnToSale", sku: c.sku, warehouseId: c.warehouseId, saleId: c.saleId, orderId: c.orderId, at });
    try {
      await this.deps.writer.write(c.saleId, {
        commandId: `${c.commandId}/record`,
        actor: SALE_ACTOR,
        command: { type: "ReturnClaim", saleId: c.saleId, claimId: c.claimId, orderId: c.orderId, reason: c.reason, at },
      });
    } catch (error) {
      // A claim the gate granted that the log never recorded (the process died before its batch): nothing to mark.
      if (!(error instanceof DomainError && error.rule === "claim_not_found")) throw error;
    }
  }
}
