// Placing an order with a flash-sale claim: the claim must be the customer's, unused and not
// expired, and the order's one line must be the claim's SKU and quantity. The gate marks the claim
// used by the order whose id is derived from the claim, so a second order with the same claim
// fails on the order stream itself (it already exists) even if the gate forgot the use.

import { DomainError } from "../aggregates/decider.js";
import type { ClaimDesk } from "./claim-desk.js";
import { useRefusal } from "./claim-desk.js";
import { orderIdForClaim, saleIdOfClaim } from "./ids.js";

export interface ClaimedOrder {
  orderId: string;
  flashSale: { saleId: string; claimId: string; warehouseId: string; price: number; currency: string };
}

export async function takeClaimForOrder(
  desk: ClaimDesk,
  request: { claimId: string; customerId: string; items: readonly { sku: string; quantity: number }[] },
): Promise<ClaimedOrder> {
  const { claimId, customerId } = request;
  const notFound = () => new DomainError("claim_not_found", `no flash-sale claim ${claimId} of yours`);
  const saleId = saleIdOfClaim(claimId);
  const sale = saleId === undefined ? undefined : await desk.terms(saleId);
  if (!saleId || !sale) throw notFound();
  const claim = await desk.claimOf(saleId, claimId);
  if (!claim || claim.customerId !== customerId) throw notFound();
  const [line, ...more] = request.items;
  if (!line || more.length > 0 || line.sku !== sale.sku || line.quantity !== claim.quantity) {
    throw new DomainError(
      "invalid_field",
      `an order with flashSaleClaimId has exactly one item: ${sale.sku} x ${claim.quantity}, as claimed`,
    );
  }
  const orderId = orderIdForClaim(claimId);
  const used = await desk.use({ saleId, claimId, customerId, orderId });
  // alreadyUsed by this very order: a retry after a crash between the gate and the order stream.
  if (used.outcome !== "used" && !(used.outcome === "alreadyUsed" && used.orderId === orderId)) throw useRefusal(used, claimId);
  return { orderId, flashSale: { saleId, claimId, warehouseId: sale.warehouseId, price: sale.price, currency: sale.currency } };
}
