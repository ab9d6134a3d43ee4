// Records the gate's granted claims in the sale's stream in batches (ClaimsRecorded), so the log
// says who got what and the gate can be rebuilt from it. Group commit: the first grant starts an
// append at once; grants arriving while it runs wait and go together in the next one. `record`
// resolves once the grant is in the log (true), or once the log refused it because the gate that
// decided it has been rebuilt since (false: its epoch is over, the claim must be decided again);
// `flush` waits for every grant handed over so far (the rebuild of a gate that lost its data, and
// the sale's expiry and end, read the log after it).

import type { ClaimGrant } from "../aggregates/flash-sale.js";
import { uuidV5, EVENT_ID_NAMESPACE } from "../commands/event-id.js";
import type { SaleWriter } from "./sale-writer.js";

interface Pending {
  grant: ClaimGrant;
  done: { resolve: (recorded: boolean) => void; reject: (error: unknown) => void };
}

export const RECORDER_ACTOR = "flash-sale:gate";

export class ClaimRecorder {
  private readonly pending = new Map<string, Pending[]>();
  private readonly running = new Map<string, Promise<void>>();

  constructor(
    private readonly writer: SaleWriter,
    private readonly options: { maxBatch?: number; now: () => Date },
  ) {}

  record(saleId: string, grant: ClaimGrant): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      const queue = this.pending.get(saleId) ?? [];
      queue.push({ grant, done: { resolve, reject } });
      this.pending.set(saleId, queue);
      if (!this.running.has(saleId)) this.running.set(saleId, this.drainLoop(saleId));
    });
  }

  /** Resolves once every grant handed over so far for this sale is in the log (or has failed). */
  async flush(saleId: string): Promise<void> {
    while (this.running.has(saleId)) await this.running.get(saleId);
  }

  private async drainLoop(saleId: string): Promise<void> {
    try {
      for (;;) {
        const queue = this.pending.get(saleId) ?? [];
        if (queue.length === 0) return;
        const batch = queue.splice(0, this.options.maxBatch ?? 1000);
        const claims = batch.map((p) => p.grant);
        try {
          const { state } = await this.writer.write(saleId, {
            // The same claims always make the same command id: a retried batch is recognised.
            commandId: uuidV5(JSON.stringify(["flashSale-claims", saleId, claims.map((c) => c.claimId)]), EVENT_ID_NAMESPACE),
            actor: RECORDER_ACTOR,
            command: { type: "RecordClaims", saleId, claims, at: this.options.now().toISOString() },
          });
          const inLog = state.status === "NONE" ? undefined : state.claims;
          for (const p of batch) p.done.resolve(inLog?.get(p.grant.claimId)?.customerId === p.grant.customerId);
        } catch (error) {
          for (const p of batch) p.done.reject(error);
        }
      }
    } finally {
      this.running.delete(saleId);
      this.pending.delete(saleId);
    }
  }
}
