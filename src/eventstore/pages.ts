// Reading the log page by page over the port's readAll: the one loop every full or filtered scan
// (replays, rebuilds, the command line's reads) uses instead of writing its own.

import { START, type AllFilter, type Checkpoint, type EventStore, type ReadAllResult } from "./port.js";

export interface LogPagesOptions {
  /** Exclusive: pages start strictly after this checkpoint (START by default). */
  from?: Checkpoint;
  filter?: AllFilter;
  /** Events per readAll; 1000 by default. */
  pageSize?: number;
}

/**
 * Every page of `readAll` from `from` on, in log order. The page that ends the read (empty, or
 * not moving the checkpoint) is yielded too: its checkpoint is where the read got to, which a
 * filtered read moves up to the head. Breaking out of the loop stops reading.
 */
export async function* logPages(store: Pick<EventStore, "readAll">, options: LogPagesOptions = {}): AsyncGenerator<ReadAllResult> {
  let from = options.from ?? START;
  for (;;) {
    const page = await store.readAll({ from, maxCount: options.pageSize ?? 1000, ...(options.filter ? { filter: options.filter } : {}) });
    yield page;
    if (page.events.length === 0 || page.checkpoint === from) return;
    from = page.checkpoint;
  }
}
