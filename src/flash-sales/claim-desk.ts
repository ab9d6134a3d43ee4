// Where customers claim a sale's units and where orders use their claims. Claims go straight to
// the gate (one atomic script or statement); granted ones are recorded in the log in batches
// (ClaimRecorder) before the answer. When the gate answers that it does not hold the sale (Redis
// lost its data), the desk reloads the sale from the log first, once for all claims waiting on it,
// after every grant already decided in this process is in the log: the reloaded pool never
// counts a unit twice, so the sale cannot oversell.

import type { FlashSale, FlashSaleState } from "../aggregates/flash-sale.js";
import { DomainError } from "../aggregates/decider.js";
import type { FlashSaleDeps } from "./deps.js";
import type { ClaimOutcome, GateClaim, GateStatus, UseOutcome } from "./gate.js";
import { snapshotOf } from "./snapshot.js";

export type DeskClaimOutcome = ClaimOutcome | { outcome: "notOpen"; status: string };

export class ClaimDesk {
  private readonly reloading = new Map<string, Promise<boolean>>();
  private readonly known = new Map<string, FlashSale>();

  constructor(private readonly deps: FlashSaleDeps) {}

  /** The sale from the log (through the writer's cache), or undefined. */
  async sale(saleId: string): Promise<FlashSale | undefined> {
    const s: FlashSaleState = await this.deps.writer.read(saleId);
    return s.status === "NONE" ? undefined : s;
  }

  /**
   * The sale's terms for the claim path: read from the log once, then kept (terms never change
   * once scheduled). Claims must not queue behind the sale's writes to learn its limit; the gate
   * decides the rest (window, pool, counts) atomically.
   */
  async terms(saleId: string): Promise<FlashSale | undefined> {
    const known = this.known.get(saleId);
    if (known) return known;
    const sale = await this.sale(saleId);
    if (sale && sale.status !== "SCHEDULED") this.known.set(saleId, sale);
    return sale;
  }

  async claim(request: { saleId: string; claimId: string; customerId: string; quantity: number }): Promise<DeskClaimOutcome> {
    const nowMs = this.deps.now().getTime();
    for (let attempt = 0; attempt < 3; attempt++) {
      const outcome = await this.deps.gate.claim({ ...request, nowMs });
      if (outcome.outcome === "granted") {
        // In the log (next batch) before the answer: a 201 is a claim an auditor can replay.
        await this.deps.recorder.record(request.saleId, {
          claimId: outcome.claimId,
          customerId: request.customerId,
          quantity: outcome.quantity,
          claimedAt: new Date(nowMs).toISOString(),
          expiresAt: new Date(outcome.expiresAtMs).toISOString(),
        });
        return outcome;
      }
      if (outcome.outcome !== "unknownSale") return outcome;
      const sale = await this.sale(request.saleId);
      if (!sale) return outcome;
      if (sale.status !== "OPEN" && sale.status !== "ENDED") return { outcome: "notOpen", status: sale.status };
      if (!(await this.reload(request.saleId))) return outcome;
    }
    throw new Error(`flash sale ${request.saleId}: the gate still does not hold the sale after reloading it`);
  }

  /** An order takes the claim's units (the order path; its id is derived from the claim). */
  async use(request: { saleId: string; claimId: string; customerId: string; orderId: string }): Promise<UseOutcome> {
    const nowMs = this.deps.now().getTime();
    for (let attempt = 0; attempt < 3; attempt++) {
      const outcome = await this.deps.gate.use({ ...request, nowMs });
      if (outcome.outcome !== "unknownSale") return outcome;
      if (!(await this.reload(request.saleId))) return outcome;
    }
    throw new Error(`flash sale ${request.saleId}: the gate still does not hold the sale after reloading it`);
  }

  /** A claim as the gate holds it (reloading the sale when the gate lost it). */
  async claimOf(saleId: string, claimId: string): Promise<GateClaim | undefined> {
    const claim = await this.deps.gate.claimOf(saleId, claimId);
    if (claim || (await this.deps.gate.status(saleId)) || !(await this.reload(saleId))) return claim;
    return this.deps.gate.claimOf(saleId, claimId);
  }

  /** Units left in the gate's pool (reloading the sale when the gate lost it). */
  async status(saleId: string): Promise<GateStatus | undefined> {
    const status = await this.deps.gate.status(saleId);
    if (status || !(await this.reload(saleId))) return status;
    return this.deps.gate.status(saleId);
  }

  /** Loads the sale into the gate from the log; false when the log has no open or ended sale of that id. */
  reload(saleId: string): Promise<boolean> {
    let running = this.reloading.get(saleId);
    if (!running) {
      running = this.reloadNow(saleId).finally(() => this.reloading.delete(saleId));
      this.reloading.set(saleId, running);
    }
    return running;
  }

  private async reloadNow(saleId: string): Promise<boolean> {
    // Grants whose gate answer this process already has must be in the log before it is read.
    await new Promise((resolve) => setImmediate(resolve));
    await this.deps.recorder.flush(saleId);
    // Claims that heard "unknown sale" just before another reload finished: nothing left to do.
    if (await this.deps.gate.status(saleId)) return true;
    const sale = await this.sale(saleId);
    if (!sale || (sale.status !== "OPEN" && sale.status !== "ENDED")) return false;
    this.deps.logger?.warn({ saleId, claims: sale.claims.size }, "flash-sale gate lost the sale: reloading it from the event log");
    await this.deps.gate.load(await snapshotOf(this.deps.store, sale));
    return true;
  }
}

/** The desk's refusal of a use, as a domain rule (the API turns it into a problem). */
export function useRefusal(outcome: Exclude<UseOutcome, { outcome: "used" }>, claimId: string): DomainError {
  switch (outcome.outcome) {
    case "alreadyUsed":
      return new DomainError("claim_already_used", `claim ${claimId} was already used by an order`);
    case "expired":
      return new DomainError("claim_expired", `claim ${claimId} has expired`);
    case "released":
      return new DomainError("claim_expired", `claim ${claimId} has expired and its units went back to the sale`);
    case "notOwner":
    case "notFound":
    case "unknownSale":
      return new DomainError("claim_not_found", `no claim ${claimId} of yours`);
  }
}
