// The saga streams this process read or wrote last, so a step need not read its saga stream again
// (the checkout benchmark counted 5.1 saga-stream reads per order, the largest share of its ~60
// statements). A remembered stream can be behind the store only if another instance wrote to it
// (a partition that moved and came back); the step handler copes: a decision that writes appends at
// the remembered revision and fails if it is stale, and a decision to do nothing is taken again on
// a fresh read. Bounded: the least recently used order is forgotten first.

import type { SagaState } from "./order-saga.js";

export interface RememberedSaga {
  state: SagaState;
  revision: number;
  /** The data of each event of the stream, by event id (a re-delivered step finds its record here). */
  recorded: ReadonlyMap<string, unknown>;
}

export class RecentSagas {
  private readonly byOrder = new Map<string, RememberedSaga>();

  constructor(private readonly capacity = 20_000) {}

  get(orderId: string): RememberedSaga | undefined {
    const saga = this.byOrder.get(orderId);
    if (saga) {
      // Map order is insertion order: re-inserting marks it as the most recently used.
      this.byOrder.delete(orderId);
      this.byOrder.set(orderId, saga);
    }
    return saga;
  }

  remember(orderId: string, saga: RememberedSaga): void {
    this.byOrder.delete(orderId);
    this.byOrder.set(orderId, saga);
    if (this.byOrder.size > this.capacity) this.byOrder.delete(this.byOrder.keys().next().value!);
  }

  forget(orderId: string): void {
    this.byOrder.delete(orderId);
  }
}
