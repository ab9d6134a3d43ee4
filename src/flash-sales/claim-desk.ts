// Where customers claim a sale's units and where orders use their claims. Claims go straight to
// the gate (one atomic script or statement); granted ones are recorded in the log in batches
// (ClaimRecorder) before the answer. When the gate answers that it does not hold the sale (Redis
// lost its data), the sale is rebuilt from the log before the gate decides anything for it: by one
// process among all those sharing the gate (the gate's rebuild lock; the others wait for it), which
// starts a new gate epoch in the log (GateRebuilt) and loads the sale as the log has it at that
// point. Grants the lost gate decided that reach the log later are refused there (their epoch is
// over) and decided again by the rebuilt gate, so no unit is counted twice: the sale cannot
// oversell, however many processes share the gate (test/flash-sales/redis-recovery.test.ts).

import { randomUUID } from "node:crypto";
import type { FlashSale, FlashSaleState } from "../aggregates/flash-sale.js";
import { DomainError } from "../aggregates/decider.js";
import { SALE_ACTOR, type FlashSaleDeps } from "./deps.js";
import type { ClaimOutcome, GateClaim, GateStatus, UseOutcome } from "./gate.js";
import { snapshotOf } from "./snapshot.js";

export type DeskClaimOutcome = ClaimOutcome | { outcome: "notOpen"; status: string };

/** How long a process waits for another one to rebuild a sale before it answers an error. */
const REBUILD_WAIT_MS = 30_000;
/** Attempts of one claim: a grant refused by the log (its gate was rebuilt) is decided again. */
const ATTEMPTS = 5;

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
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const outcome = await this.deps.gate.claim({ ...request, nowMs });
      if (outcome.outcome === "granted") {
        // In the log (next batch) before the answer: a 201 is a claim an auditor can replay.
        const recorded = await this.deps.recorder.record(request.saleId, {
          claimId: outcome.claimId,
          customerId: request.customerId,
          quantity: outcome.quantity,
          claimedAt: new Date(nowMs).toISOString(),
          expiresAt: new Date(outcome.expiresAtMs).toISOString(),
          ...(outcome.epoch === undefined ? {} : { epoch: outcome.epoch }),
        });
        if (recorded) return outcome;
        // The gate that granted it lost its data and was rebuilt without it: ask the rebuilt gate.
        continue;
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
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
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

  /** Rebuilds the sale in the gate from the log (or waits for the process rebuilding it); false when the log has no open or ended sale of that id. */
  reload(saleId: string): Promise<boolean> {
    let running = this.reloading.get(saleId);
    if (!running) {
      running = this.reloadNow(saleId).finally(() => this.reloading.delete(saleId));
      this.reloading.set(saleId, running);
    }
    return running;
  }

  private async reloadNow(saleId: string): Promise<boolean> {
    // This process's grants already answered by the gate go to the log first, so the rebuild
    // counts them instead of refusing them (other processes' late grants are refused, see above).
    await new Promise((resolve) => setImmediate(resolve));
    await this.deps.recorder.flush(saleId);
    const waitUntil = Date.now() + REBUILD_WAIT_MS;
    for (let pause = 5; ; pause = Math.min(pause * 2, 100)) {
      // Claims that heard "unknown sale" just before another rebuild finished: nothing left to do.
      if (await this.deps.gate.status(saleId)) return true;
      const sale = await this.sale(saleId);
      if (!sale || (sale.status !== "OPEN" && sale.status !== "ENDED")) return false;
      const outcome = await this.deps.gate.rebuild(saleId, async () => {
        const { state } = await this.deps.writer.write(saleId, {
          commandId: randomUUID(),
          actor: SALE_ACTOR,
          command: { type: "RebuildGate", saleId, at: this.deps.now().toISOString() },
        });
        if (state.status === "NONE") throw new Error(`flash sale ${saleId} vanished from the log`);
        this.deps.logger?.warn(
          { saleId, claims: state.claims.size, epoch: state.gateEpoch },
          "flash-sale gate lost the sale: rebuilt it from the event log",
        );
        return snapshotOf(this.deps.store, state);
      });
      if (outcome !== "busy") return true;
      // Another process is rebuilding it: the gate decides nothing for the sale meanwhile.
      if (Date.now() > waitUntil) throw new Error(`flash sale ${saleId}: another process has been rebuilding the gate for too long`);
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
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
