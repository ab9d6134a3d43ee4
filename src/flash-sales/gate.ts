// The flash-sale admission gate: the port. It decides, atomically per claim, whether a customer
// gets units of a sale: inside the time window, under the per-customer limit, while units
// remain; a granted claim holds its units until it expires or an order uses it.
//
// Adapters: redis/ (one Lua script per claim; fast, but Redis may lose its data, so the gate can
// be reloaded from the event log) and postgres/ (one atomic conditional UPDATE per claim; slower,
// durable). Both pass test/flash-sales/gate-contract.ts.
//
// Times are epoch milliseconds and always come from the caller (no clock inside the gate), so the
// gate's decisions are reproducible and tests control time.

/** What the gate needs to know about a sale. */
export interface GateSale {
  saleId: string;
  quantity: number;
  startsAtMs: number;
  endsAtMs: number;
  perCustomerLimit: number;
  holdTtlMs: number;
}

/** HELD: the claim holds its units until it expires. USED: an order took them. RELEASED: back in the pool. */
export type GateClaimStatus = "HELD" | "USED" | "RELEASED";

export interface GateClaim {
  claimId: string;
  customerId: string;
  quantity: number;
  expiresAtMs: number;
  status: GateClaimStatus;
  orderId?: string;
}

/** A sale as the event log knows it: what the gate is (re)loaded from. */
export interface GateSnapshot {
  sale: GateSale;
  claims: GateClaim[];
  /** Set when the sale already ended and gave `unsold` units back. */
  closed?: { unsold: number };
  /** The gate epoch the log is at (FlashSale gateEpoch): a gate loaded at a later epoch is not replaced by an earlier one. */
  epoch?: number;
}

/**
 * The gate does not hold this sale (never loaded, or Redis lost its data, or the sale is being
 * rebuilt): rebuild it from the log (or wait for the process rebuilding it) and ask again. The
 * gate decides nothing for a sale it does not hold: it never grants from an empty pool.
 */
export type UnknownSale = { outcome: "unknownSale" };

export type ClaimOutcome =
  /** `epoch`: the gate epoch that decided it (Redis), recorded with the grant. */
  | { outcome: "granted"; claimId: string; quantity: number; expiresAtMs: number; remaining: number; epoch?: number }
  | { outcome: "soldOut"; remaining: number }
  | { outcome: "overLimit"; held: number; limit: number }
  | { outcome: "notStarted"; startsAtMs: number }
  | { outcome: "ended"; endsAtMs: number }
  | UnknownSale;

export type UseOutcome =
  | { outcome: "used"; quantity: number }
  | { outcome: "alreadyUsed"; orderId: string; quantity: number }
  | { outcome: "notFound" }
  | { outcome: "notOwner" }
  | { outcome: "expired" }
  | { outcome: "released" }
  | UnknownSale;

export type ReleaseOutcome =
  | { outcome: "released"; quantity: number; remaining: number }
  /** Not in the state the release asked for (already released, used by another order, not expired yet...). */
  | { outcome: "notReleasable"; status: GateClaimStatus }
  | { outcome: "notFound" }
  /** The sale has ended: its pool is closed; the units go back the ordinary way. */
  | { outcome: "closed" }
  | UnknownSale;

export type CloseOutcome =
  | { outcome: "closed"; unsold: number }
  /** Holds that have not expired yet still have a claim on units: close later. */
  | { outcome: "holdsOutstanding"; held: number }
  | UnknownSale;

export interface GateStatus {
  remaining: number;
  closed: boolean;
  unsold?: number;
}

export interface FlashSaleGate {
  readonly kind: "redis" | "postgres";
  /** Opens a sale, or reloads one from the log. Does nothing when the gate already holds the sale at the snapshot's epoch or a later one. */
  load(snapshot: GateSnapshot): Promise<void>;
  /**
   * Rebuilds a sale the gate lost, once among every process sharing the gate: under the gate's
   * rebuild lock, and only while the gate still does not hold the sale, runs `snapshot` (which
   * starts a new epoch in the log and reads the sale at it) and loads the answer. "held": the gate
   * holds the sale (another process rebuilt it); "busy": another process is rebuilding it now.
   */
  rebuild(saleId: string, snapshot: () => Promise<GateSnapshot>): Promise<"rebuilt" | "held" | "busy">;
  /** One claim, decided atomically. The same claim id again answers as the first time when it was granted. */
  claim(request: { saleId: string; claimId: string; customerId: string; quantity: number; nowMs: number }): Promise<ClaimOutcome>;
  /** An order takes the claim's units: only its owner, only once, only before it expires (the same order again: alreadyUsed). */
  use(request: { saleId: string; claimId: string; customerId: string; orderId: string; nowMs: number }): Promise<UseOutcome>;
  /**
   * Gives a claim's units back to the pool and lowers its owner's count: `from: "HELD"` for a hold
   * that expired (only once expiresAt <= nowMs), `from: "USED"` for the order `orderId` that was
   * cancelled or failed payment.
   */
  release(request: { saleId: string; claimId: string; from: "HELD" | "USED"; orderId?: string; nowMs: number }): Promise<ReleaseOutcome>;
  /** HELD claims whose hold has expired by `nowMs`, oldest first. */
  due(request: {
    saleId: string;
    nowMs: number;
    limit: number;
  }): Promise<{ claimId: string; customerId: string; quantity: number; expiresAtMs: number }[]>;
  /** Ends the sale: no more claims or returns to the pool; answers the units never kept by a claim (the same answer when called again). */
  closeSale(request: { saleId: string; nowMs: number }): Promise<CloseOutcome>;
  /** Units left in the pool; undefined when the gate does not hold the sale. */
  status(saleId: string): Promise<GateStatus | undefined>;
  /** A claim as the gate holds it (tests, the order path). */
  claimOf(saleId: string, claimId: string): Promise<GateClaim | undefined>;
  dispose(): Promise<void>;
}
