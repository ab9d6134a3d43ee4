// What the gate holds for a sale, rebuilt from the event log: the sale's terms, every recorded
// claim with its status, and whether the sale already ended. A claim the log shows as held whose
// order already exists (orders from claims have ids derived from the claim) is USED: the order was
// placed before the gate lost its data.

import type { FlashSale } from "../aggregates/flash-sale.js";
import { streamId as orderStream } from "../aggregates/order.js";
import type { EventStore } from "../eventstore/port.js";
import type { GateClaim, GateSale, GateSnapshot } from "./gate.js";
import { orderIdForClaim } from "./ids.js";

export const gateSaleOf = (s: FlashSale): GateSale => ({
  saleId: s.saleId,
  quantity: s.quantity,
  startsAtMs: Date.parse(s.startsAt),
  endsAtMs: Date.parse(s.endsAt),
  perCustomerLimit: s.perCustomerLimit,
  holdTtlMs: s.holdTtlMs,
});

export async function snapshotOf(store: EventStore, sale: FlashSale): Promise<GateSnapshot> {
  const claims: GateClaim[] = [];
  for (const c of sale.claims.values()) {
    const base = { claimId: c.claimId, customerId: c.customerId, quantity: c.quantity, expiresAtMs: Date.parse(c.expiresAt) };
    if (c.status !== "HELD") {
      claims.push({ ...base, status: "RELEASED" });
      continue;
    }
    const orderId = orderIdForClaim(c.claimId);
    const placed = await store.readStream(orderStream(orderId), { maxCount: 1 });
    claims.push(placed.length > 0 ? { ...base, status: "USED", orderId } : { ...base, status: "HELD" });
  }
  return {
    sale: gateSaleOf(sale),
    claims,
    epoch: sale.gateEpoch,
    ...(sale.status === "ENDED" ? { closed: { unsold: sale.unsold ?? 0 } } : {}),
  };
}
