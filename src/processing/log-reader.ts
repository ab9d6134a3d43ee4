// One reader of the live end of the log, shared by every processor of a process. It follows the
// log with a single unfiltered subscription and keeps the newest events in memory; a processor
// whose checkpoint lies inside that window takes its next batch from memory (filtered to its own
// categories and types) instead of querying the store itself. A processor behind the window (a
// rebuild, a restart after a long stop) reads its own pages with `readAll` until it reaches the
// window, then joins. So however many processors run, the caught-up ones cost one poll of the
// log, not one each. Each processor keeps its own checkpoint: the reader only serves events.

import type { AllFilter, Checkpoint, EventStore, RecordedEvent, Subscription } from "../eventstore/port.js";
import { streamCategory } from "../eventstore/port.js";

export interface LogReaderOptions {
  /** Events kept in memory; older ones are dropped (processors that far behind read the store). Default 20,000. */
  capacity?: number;
  /** Page size of the shared subscription. Default 1,000. */
  pageSize?: number;
  /**
   * How long processors are left asleep after new events arrive, so that events appended close
   * together reach each processor as one batch (one transaction and one checkpoint per batch, not
   * per event): on embedded PGlite at 20 orders/s, 10 ms took statements per order from 239 to
   * 70 and CPU per order from 220 to 74 ms (bench:checkout --embedded). Default 0 (tests); the app
   * sets LOG_LINGER_MS.
   */
  lingerMs?: number;
}

export interface LogPage {
  events: RecordedEvent[];
  /** Where the next page starts (exclusive). */
  checkpoint: Checkpoint;
}

const matches = (filter: AllFilter | undefined, event: RecordedEvent): boolean =>
  (!filter?.eventTypes || filter.eventTypes.includes(event.type)) &&
  (!filter?.streamCategories || filter.streamCategories.includes(streamCategory(event.streamId)));

export class LogReader {
  private readonly capacity: number;
  private readonly pageSize: number;
  private events: RecordedEvent[] = [];
  /** The window is (start, end]: every event of the log in that range is in `events`. */
  private start: Checkpoint | undefined;
  private end: Checkpoint | undefined;
  private feed: Subscription | undefined;
  private opening: Promise<void> | undefined;
  private users = 0;
  private waiters = new Set<() => void>();
  private readonly lingerMs: number;
  private lingering: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly store: EventStore,
    options: LogReaderOptions = {},
  ) {
    this.capacity = options.capacity ?? 20_000;
    this.pageSize = options.pageSize ?? 1_000;
    this.lingerMs = options.lingerMs ?? 0;
  }

  /** Starts following the log (once, for the first user); resolves when the window is open. */
  async attach(): Promise<void> {
    this.users++;
    await (this.opening ??= this.open());
  }

  /** Stops following the log when the last user leaves. */
  async detach(): Promise<void> {
    this.users = Math.max(0, this.users - 1);
    if (this.users > 0) return;
    const feed = this.feed;
    this.feed = undefined;
    this.opening = undefined;
    this.start = this.end = undefined;
    this.events = [];
    this.wakeAll();
    await feed?.stop();
  }

  private async open(): Promise<void> {
    const head = await this.store.headCheckpoint();
    this.start = this.end = head;
    this.feed = this.store.subscribeToAll({ from: head, batchSize: this.pageSize }, async (events, checkpoint) => {
      this.events.push(...events);
      this.end = checkpoint;
      if (this.events.length > this.capacity) {
        const dropped = this.events.splice(0, this.events.length - this.capacity);
        this.start = dropped.at(-1)!.position;
      }
      this.wakeSoon();
    });
    // Unfiltered, the feed's checkpoint only moves with events, so `end` is always the last one read.
  }

  /**
   * The next page after `from` matching `filter`, served from memory; undefined when `from` is
   * before the window (the caller reads the store itself). An empty page at `from` means nothing
   * new yet: wait with `waitBeyond`.
   */
  take(from: Checkpoint, filter: AllFilter | undefined, maxCount: number): LogPage | undefined {
    if (this.start === undefined || this.end === undefined || from < this.start) return undefined;
    if (from >= this.end) return { events: [], checkpoint: from };
    // First event after `from` (binary search: positions ascend).
    let lo = 0;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.events[mid]!.position <= from) lo = mid + 1;
      else hi = mid;
    }
    const page: RecordedEvent[] = [];
    for (let i = lo; i < this.events.length; i++) {
      const event = this.events[i]!;
      if (!matches(filter, event)) continue;
      page.push(event);
      if (page.length >= maxCount) return { events: page, checkpoint: event.position };
    }
    return { events: page, checkpoint: this.end };
  }

  /** Resolves when the window has moved past `checkpoint`, the reader closes, or `timeoutMs` passes. */
  waitBeyond(checkpoint: Checkpoint, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.end === undefined || this.end > checkpoint || signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.add(done);
      signal?.addEventListener("abort", done);
    });
  }

  /** Wakes the processors once the linger has passed (events arriving meanwhile join the same wake). */
  private wakeSoon(): void {
    if (this.lingerMs <= 0) this.wakeAll();
    else this.lingering ??= setTimeout(() => this.wakeAll(), this.lingerMs);
  }

  private wakeAll(): void {
    clearTimeout(this.lingering);
    this.lingering = undefined;
    for (const wake of [...this.waiters]) wake();
  }
}

const shared = new WeakMap<EventStore, LogReader>();

/**
 * The reader every processor on this store shares (one per store per process). The first call
 * creates it with `options`: the app calls this before it starts any processor.
 */
export function sharedLogReader(store: EventStore, options?: LogReaderOptions): LogReader {
  let reader = shared.get(store);
  if (!reader) {
    reader = new LogReader(store, options);
    shared.set(store, reader);
  }
  return reader;
}
