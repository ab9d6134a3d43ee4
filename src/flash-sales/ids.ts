// Ids derived from a claim. An order from a claim has an id derived from the claim's, so the
// order stream itself (appended only when it does not exist yet) guarantees one order per claim,
// whatever the gate remembers.

import { EVENT_ID_NAMESPACE, uuidV5 } from "../commands/event-id.js";

export const orderIdForClaim = (claimId: string): string => uuidV5(JSON.stringify(["flashSale-order", claimId]), EVENT_ID_NAMESPACE);

/** A claim id names its sale: `<saleId>:<unique part>` (sale ids may contain ':'; the unique part never does). */
export const claimIdFor = (saleId: string, unique: string): string => `${saleId}:${unique}`;

export function saleIdOfClaim(claimId: string): string | undefined {
  const cut = claimId.lastIndexOf(":");
  return cut > 0 ? claimId.slice(0, cut) : undefined;
}
