// Time-driven work of open sales: holds that expired give their units back to the pool (and the
// log records it, in batches), and a sale past its end (plus one hold's lifetime, so every claim
// made before the end has been used or has expired) closes: the gate answers the units nobody
// kept, the inventory releases them from the sale's reservation to ordinary stock, and the sale
// records SaleEnded. Every step is idempotent, so a crash anywhere is repaired by the next tick.

import { EVENT_ID_NAMESPACE, uuidV5 } from "../commands/event-id.js";
import { envelope } from "../commands/envelope.js";
import { handleCommand } from "../commands/handle-command.js";
import { inventoryDecider, streamId as inventoryStream } from "../aggregates/inventory.js";
import type { FlashSale } from "../aggregates/flash-sale.js";
import { streamId as orderStream } from "../aggregates/order.js";
import { START, type Checkpoint } from "../eventstore/port.js";
import { logPages } from "../eventstore/pages.js";
import type { ClaimDesk } from "./claim-desk.js";
import { SALE_ACTOR, type FlashSaleDeps } from "./deps.js";
import { orderIdForClaim } from "./ids.js";

const BATCH = 500;

/** Releases every expired hold of the sale and records them; returns how many units went back. */
export async function expireHolds(deps: FlashSaleDeps, desk: ClaimDesk, saleId: string): Promise<number> {
  let units = 0;
  for (;;) {
    const nowMs = deps.now().getTime();
    const due = await deps.gate.due({ saleId, nowMs, limit: BATCH });
    if (due.length === 0) {
      if ((await deps.gate.status(saleId)) !== undefined || !(await desk.reload(saleId))) return units;
      continue;
    }
    const expired: string[] = [];
    for (const hold of due) {
      // An order placed with the claim before the gate lost its data: the claim is used, not expired.
      const orderId = orderIdForClaim(hold.claimId);
      if ((await deps.store.readStream(orderStream(orderId), { maxCount: 1 })).length > 0) {
        await deps.gate.use({ saleId, claimId: hold.claimId, customerId: hold.customerId, orderId, nowMs: hold.expiresAtMs - 1 });
        continue;
      }
      const released = await deps.gate.release({ saleId, claimId: hold.claimId, from: "HELD", nowMs });
      if (released.outcome === "released") {
        units += released.quantity;
        expired.push(hold.claimId);
      }
    }
    if (expired.length > 0) {
      await deps.recorder.flush(saleId);
      await deps.writer.write(saleId, {
        commandId: uuidV5(JSON.stringify(["flashSale-expire", saleId, expired]), EVENT_ID_NAMESPACE),
        actor: SALE_ACTOR,
        command: { type: "ExpireClaims", saleId, claimIds: expired, at: new Date(nowMs).toISOString() },
      });
    }
  }
}

/** Closes a sale whose claims are all settled; returns false while it cannot yet. */
export async function endSale(deps: FlashSaleDeps, desk: ClaimDesk, sale: FlashSale): Promise<boolean> {
  const nowMs = deps.now().getTime();
  if (sale.status === "ENDED") return true;
  if (sale.status !== "OPEN" || nowMs < Date.parse(sale.endsAt) + sale.holdTtlMs) return false;
  await expireHolds(deps, desk, sale.saleId);
  await deps.recorder.flush(sale.saleId);
  let closed = await deps.gate.closeSale({ saleId: sale.saleId, nowMs });
  if (closed.outcome === "unknownSale" && (await desk.reload(sale.saleId)))
    closed = await deps.gate.closeSale({ saleId: sale.saleId, nowMs });
  if (closed.outcome !== "closed") return false;
  const at = new Date(nowMs).toISOString();

  // Claims the log still shows held whose units the gate released (a crash between the two): expired.
  const current = await desk.sale(sale.saleId);
  const stale: string[] = [];
  for (const c of current?.claims.values() ?? []) {
    if (c.status === "HELD" && (await deps.gate.claimOf(sale.saleId, c.claimId))?.status === "RELEASED") stale.push(c.claimId);
  }
  if (stale.length > 0) {
    await deps.writer.write(sale.saleId, {
      commandId: uuidV5(JSON.stringify(["flashSale-expire", sale.saleId, stale]), EVENT_ID_NAMESPACE),
      actor: SALE_ACTOR,
      command: { type: "ExpireClaims", saleId: sale.saleId, claimIds: stale, at },
    });
  }

  if (closed.unsold > 0) {
    await handleCommand(
      deps.store,
      inventoryDecider,
      envelope({ commandId: `flashSale-${sale.saleId}/end/unsold`, actor: SALE_ACTOR }, inventoryStream(sale.sku, sale.warehouseId), {
        type: "ReleaseSaleStock",
        sku: sale.sku,
        warehouseId: sale.warehouseId,
        saleId: sale.saleId,
        quantity: closed.unsold,
        reason: "flash sale ended: unsold units",
        at,
      }),
    );
  }
  await deps.writer.write(sale.saleId, {
    commandId: `flashSale-${sale.saleId}/end`,
    actor: SALE_ACTOR,
    command: { type: "EndSale", saleId: sale.saleId, unsold: closed.unsold, at },
  });
  deps.logger?.info({ saleId: sale.saleId, unsold: closed.unsold }, "flash sale ended: unsold units back in ordinary stock");
  return true;
}

export interface SaleTimers {
  /** One pass over the open sales (tests call it directly). */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

/** Runs expiry and the end of every open sale every `intervalMs` (false: no loop; call tick()). */
export function startSaleTimers(deps: FlashSaleDeps, desk: ClaimDesk, options: { intervalMs: number | false }): SaleTimers {
  const open = new Set<string>();
  let checkpoint: Checkpoint = START;
  let stopped = false;
  let running: Promise<void> = Promise.resolve();

  async function discover(): Promise<void> {
    for await (const page of logPages(deps.store, {
      from: checkpoint,
      pageSize: 500,
      filter: { streamCategories: ["flashSale"], eventTypes: ["SaleStockSetAside", "SaleEnded"] },
    })) {
      for (const e of page.events) {
        const saleId = (e.data as { saleId: string }).saleId;
        if (e.type === "SaleEnded") open.delete(saleId);
        else open.add(saleId);
      }
      checkpoint = page.checkpoint;
    }
  }

  async function pass(): Promise<void> {
    await discover();
    for (const saleId of [...open]) {
      try {
        const sale = await desk.sale(saleId);
        if (!sale || sale.status === "ENDED") {
          open.delete(saleId);
          continue;
        }
        await expireHolds(deps, desk, saleId);
        if (await endSale(deps, desk, sale)) open.delete(saleId);
      } catch (error) {
        deps.logger?.error({ saleId, err: error }, "flash sale timers failed; retrying on the next tick");
      }
    }
  }

  const tick = () => (running = running.then(pass, pass));
  const timer = options.intervalMs === false ? undefined : setInterval(() => void tick().catch(() => undefined), options.intervalMs);
  timer?.unref();
  return {
    tick,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (timer) clearInterval(timer);
      await running.catch(() => undefined);
    },
  };
}
