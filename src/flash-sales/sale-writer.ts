// Appends to sale streams (flashSale-<saleId>) from this process, one write at a time per sale,
// keeping each sale's folded state and revision: a write decides on the state it keeps and
// appends at that revision; only when another process appended meanwhile (the append's expected
// revision does not match) does it read the events appended since and decide again. So a batch of
// claims costs one round trip to the log, not two (a read, then the append). A sale's
// stream grows by a batch per write, so re-reading and re-folding it whole for every batch of
// claims would make recording the sale quadratic.

import {
  flashSaleDecider,
  streamId as saleStream,
  type FlashSaleCommand,
  type FlashSaleEvent,
  type FlashSaleState,
} from "../aggregates/flash-sale.js";
import { asEvent } from "../aggregates/decider.js";
import { metadataOf, type CommandOrigin } from "../commands/envelope.js";
import { eventIdFor } from "../commands/event-id.js";
import { WrongExpectedVersionError } from "../eventstore/errors.js";
import type { EventStore, JsonValue } from "../eventstore/port.js";

interface Cached {
  state: FlashSaleState;
  revision: number;
}

export interface SaleWrite extends CommandOrigin {
  command: FlashSaleCommand;
}

export class SaleWriter {
  private readonly cache = new Map<string, Cached>();
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(private readonly store: EventStore) {}

  /** The sale as this process last read it, brought up to date with the log. */
  read(saleId: string): Promise<FlashSaleState> {
    return this.serial(saleId, async () => (await this.refresh(saleId)).state);
  }

  /** Decides `command` on the current state and appends its events; returns them (empty when it decided nothing). */
  write(saleId: string, write: SaleWrite): Promise<{ events: FlashSaleEvent[]; state: FlashSaleState; position: string | null }> {
    return this.serial(saleId, async () => {
      for (let attempt = 1; ; attempt++) {
        const kept = attempt === 1 ? this.cache.get(saleId) : undefined;
        const current = kept ?? (await this.refresh(saleId));
        const events = flashSaleDecider.decide(write.command, current.state);
        if (events.length === 0) return { events, state: current.state, position: null };
        const stream = saleStream(saleId);
        try {
          const result = await this.store.appendToStream(
            stream,
            events.map((e, i) => ({
              id: eventIdFor(write.commandId, stream, i),
              type: e.type,
              schemaVersion: flashSaleDecider.schemaVersions[e.type],
              data: e.data as unknown as JsonValue,
              metadata: { ...metadataOf(write), causationId: write.commandId },
            })),
            { expectedRevision: current.revision === -1 ? "no_stream" : current.revision },
          );
          if (!result.appended) return { events: [], state: (await this.refresh(saleId)).state, position: result.position };
          const state = events.reduce(flashSaleDecider.evolve, current.state);
          this.cache.set(saleId, { state, revision: result.nextExpectedRevision });
          return { events, state, position: result.position };
        } catch (error) {
          if (!(error instanceof WrongExpectedVersionError) || attempt >= 20) throw error;
        }
      }
    });
  }

  private async refresh(saleId: string): Promise<Cached> {
    const cached = this.cache.get(saleId) ?? { state: flashSaleDecider.initialState, revision: -1 };
    const fresh = await this.store.readStream(saleStream(saleId), { fromRevision: cached.revision + 1 });
    if (fresh.length === 0) return cached;
    const state = fresh.reduce((s, e) => flashSaleDecider.evolve(s, asEvent<FlashSaleEvent>(e)), cached.state);
    const next = { state, revision: fresh.at(-1)!.revision };
    this.cache.set(saleId, next);
    return next;
  }

  private serial<T>(saleId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(saleId) ?? Promise.resolve();
    const run = previous.then(work, work);
    const tail = run.catch(() => undefined);
    this.queues.set(saleId, tail);
    void tail.then(() => {
      if (this.queues.get(saleId) === tail) this.queues.delete(saleId);
    });
    return run;
  }
}
