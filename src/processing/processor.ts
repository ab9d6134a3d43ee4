// Checkpointed processors over the ordered event log: projectors, the saga, relays and timers all
// run on this. A processor's checkpoint lives in SQL beside its work:
// - "transactional": `handle` runs inside the transaction that also stores the checkpoint, so a
//   read-model change and its checkpoint commit together (SQL projections);
// - "at-least-once": `handle` runs first and the checkpoint is stored after it succeeds (saga,
//   Redis/search writes, outbox relay): a crash in between re-delivers the event, so the handler
//   must be idempotent.
// A failing event is retried with backoff, then parked (visible in processor_parked_events,
// retryable) and the processor moves on: one bad event never stops it or any other processor.
// A failure of the store itself (database down, a lost connection, in the handler too) restarts
// the processor from the stored checkpoint after a pause, so nothing is lost or parked for it.
//
// Batches: every processor of a process takes its batches from one shared reader of the log
// (log-reader.ts) and stores its checkpoint once per batch, after the whole batch is handled (in
// the batch's transaction in "transactional" mode). An at-least-once processor with an
// `orderingKey` handles the events of different keys of a batch concurrently (up to
// `concurrency` at once) and the events of one key strictly in log order: the saga keys by order
// id, so one order's inputs stay in order while steps of different orders overlap. A crash
// between a batch's effects and its checkpoint re-delivers the whole batch (handlers are
// idempotent). A stop lets the events in progress finish and stores the checkpoint of the longest
// fully handled prefix of the batch.

import { ROOT_CONTEXT } from "@opentelemetry/api";
import type { Logger } from "pino";
import type { AllFilter, Checkpoint, EventStore, RecordedEvent } from "../eventstore/port.js";
import { START } from "../eventstore/port.js";
import { inSpan } from "../observability/tracing.js";
import { sharedLogReader, type LogPage, type LogReader } from "./log-reader.js";
import { migrate, type Migration } from "../infrastructure/sql/migrations.js";
import { isConnectionLost, type SqlClient, type SqlExecutor } from "../infrastructure/sql/sql-client.js";

export interface ProcessorDefinition {
  /** Stable forever: the checkpoint's key. */
  name: string;
  filter?: AllFilter;
  mode: "transactional" | "at-least-once";
  /** In "transactional" mode `sql` is the checkpoint's transaction; otherwise the plain client. */
  handle(event: RecordedEvent, context: { sql: SqlExecutor }): Promise<void>;
  /**
   * Optional: handles a whole batch (in log order) with the same effect as `handle` on each event,
   * in a few statements instead of a few per event (in the batch's transaction in "transactional"
   * mode). When it fails, the batch is handled event by event through `handle`, with retries and
   * parking as usual.
   */
  handleBatch?(events: readonly RecordedEvent[], context: { sql: SqlExecutor }): Promise<void>;
  batchSize?: number;
  /**
   * At-least-once mode only: events with different keys may be handled at the same time, events
   * with the same key (or no key) one after another in log order. Without it, one at a time.
   */
  orderingKey?(event: RecordedEvent): string | undefined;
  /** With `orderingKey`: at most this many keys in flight at once (default 16). */
  concurrency?: number;
}

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export interface ProcessorDeps {
  store: EventStore;
  sql: SqlClient;
  retry?: Partial<RetryPolicy>;
  logger?: Logger;
  /** The shared reader of the log (default: the one of `store` in this process). */
  reader?: LogReader;
  /** Tests only: called after a batch's events are handled and before its checkpoint is stored; throwing there simulates a crash at that point. */
  beforeCheckpoint?(name: string, events: readonly RecordedEvent[], checkpoint: Checkpoint): void | Promise<void>;
}

export interface ProcessorStatus {
  name: string;
  checkpoint: Checkpoint;
  /** The newest checkpoint in the log a subscriber can see. */
  head: Checkpoint;
  caughtUp: boolean;
  parked: number;
  lastProcessedAt: string | null;
}

export interface RunningProcessor {
  readonly name: string;
  /** Resolves once everything up to `checkpoint` was handled (or parked). */
  caughtUpTo(checkpoint: Checkpoint, timeoutMs?: number): Promise<void>;
  status(): Promise<ProcessorStatus>;
  /** Stops after the events in progress; the checkpoint of what is fully handled is stored. */
  stop(): Promise<void>;
}

export interface ParkedEvent {
  id: number;
  processor: string;
  eventId: string;
  streamId: string;
  position: Checkpoint;
  type: string;
  error: string;
  attempts: number;
  parkedAt: string;
  resolvedAt: string | null;
}

export const processingMigrations: readonly Migration[] = [
  {
    id: "processing/001-checkpoints-and-parked-events",
    sql: `
      CREATE TABLE processor_checkpoints (
        name text PRIMARY KEY,
        checkpoint text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE processor_parked_events (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        processor text NOT NULL,
        event_id text NOT NULL,
        stream_id text NOT NULL,
        position text NOT NULL,
        event_type text NOT NULL,
        event jsonb NOT NULL,
        error text NOT NULL,
        attempts int NOT NULL,
        parked_at timestamptz NOT NULL DEFAULT now(),
        resolved_at timestamptz,
        UNIQUE (processor, event_id)
      );
    `,
  },
];

const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 50, maxDelayMs: 2_000 };
const RESTART_DELAY_MS = 500;
/** How often a processor that only moves past other processors' events stores where it is. */
export const CHECKPOINT_IDLE_SAVE_MS = 500;

class StopRequested extends Error {}

export async function loadCheckpoint(sql: SqlExecutor, name: string): Promise<Checkpoint> {
  const { rows } = await sql.query<{ checkpoint: string }>("SELECT checkpoint FROM processor_checkpoints WHERE name = $1", [name]);
  return rows[0]?.checkpoint ?? START;
}

export async function saveCheckpoint(sql: SqlExecutor, name: string, checkpoint: Checkpoint): Promise<void> {
  await sql.query(
    `INSERT INTO processor_checkpoints (name, checkpoint, updated_at) VALUES ($1, $2, now())
     ON CONFLICT (name) DO UPDATE SET checkpoint = excluded.checkpoint, updated_at = now()
     WHERE processor_checkpoints.checkpoint < excluded.checkpoint`,
    [name, checkpoint],
  );
}

/** Forgets a processor's checkpoint so it replays the whole log (a rebuild). Parked events are kept. */
export async function resetProcessor(sql: SqlExecutor, name: string): Promise<void> {
  await sql.query("DELETE FROM processor_checkpoints WHERE name = $1", [name]);
}

export async function listParked(sql: SqlExecutor, processor?: string, includeResolved = false): Promise<ParkedEvent[]> {
  const { rows } = await sql.query<Record<string, unknown>>(
    `SELECT id::int AS id, processor, event_id, stream_id, position, event_type, error, attempts, parked_at, resolved_at
       FROM processor_parked_events
      WHERE ($1::text IS NULL OR processor = $1) AND ($2 OR resolved_at IS NULL)
      ORDER BY id`,
    [processor ?? null, includeResolved],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    processor: String(r.processor),
    eventId: String(r.event_id),
    streamId: String(r.stream_id),
    position: String(r.position),
    type: String(r.event_type),
    error: String(r.error),
    attempts: Number(r.attempts),
    parkedAt: new Date(r.parked_at as string).toISOString(),
    resolvedAt: r.resolved_at ? new Date(r.resolved_at as string).toISOString() : null,
  }));
}

/**
 * Runs a parked event through the processor's handler again (once the cause is fixed) and marks it
 * resolved. Throws, leaving it parked, when the handler still fails.
 */
export async function retryParked(deps: ProcessorDeps, definition: ProcessorDefinition, parkedId: number): Promise<void> {
  const { rows } = await deps.sql.query<{ event: RecordedEvent & { recordedAt: string } }>(
    "SELECT event FROM processor_parked_events WHERE id = $1 AND processor = $2 AND resolved_at IS NULL",
    [parkedId, definition.name],
  );
  const stored = rows[0]?.event;
  if (!stored) throw new Error(`no unresolved parked event ${parkedId} for processor ${definition.name}`);
  const event: RecordedEvent = { ...stored, recordedAt: new Date(stored.recordedAt) };
  const resolve = (sql: SqlExecutor) => sql.query("UPDATE processor_parked_events SET resolved_at = now() WHERE id = $1", [parkedId]);
  if (definition.mode === "transactional") {
    await deps.sql.transaction(async (tx) => {
      await definition.handle(event, { sql: tx });
      await resolve(tx);
    });
  } else {
    await definition.handle(event, { sql: deps.sql });
    await resolve(deps.sql);
  }
}

export async function startProcessor(definition: ProcessorDefinition, deps: ProcessorDeps): Promise<RunningProcessor> {
  const { store, sql, logger } = deps;
  const retry: RetryPolicy = { ...DEFAULT_RETRY, ...deps.retry };
  const log = logger?.child({ processor: definition.name });
  const reader = deps.reader ?? sharedLogReader(store);
  const batchSize = definition.batchSize ?? 200;
  await migrate(sql, processingMigrations);
  await reader.attach();

  let stopped = false;
  /** How far this processor has handled the log (in memory; the stored checkpoint may lag behind for skipped pages). */
  let position: Checkpoint | undefined;
  let lastProcessedAt: Date | null = null;
  const stopSignal = new AbortController();
  const waiters = new Set<{ target: Checkpoint; resolve: () => void }>();
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      if (stopSignal.signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        stopSignal.signal.removeEventListener("abort", done);
        resolve();
      }
      stopSignal.signal.addEventListener("abort", done);
    });

  const moveTo = (checkpoint: Checkpoint) => {
    position = checkpoint;
    for (const waiter of [...waiters]) {
      if (waiter.target <= checkpoint) {
        waiters.delete(waiter);
        waiter.resolve();
      }
    }
  };

  /** Parks an event. In transactional mode (events handled one by one) its checkpoint moves with it. */
  const park = async (event: RecordedEvent, error: unknown, attempts: number) => {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    log?.error({ eventId: event.id, type: event.type, streamId: event.streamId, attempts, err: error }, "event parked");
    await sql.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO processor_parked_events (processor, event_id, stream_id, position, event_type, event, error, attempts)
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8) ON CONFLICT (processor, event_id) DO NOTHING`,
        [definition.name, event.id, event.streamId, event.position, event.type, JSON.stringify(event), message, attempts],
      );
      if (definition.mode === "transactional") await saveCheckpoint(tx, definition.name, event.position);
    });
  };

  /** Handles one event with retries and backoff; parks it when it keeps failing. */
  const handleOne = async (event: RecordedEvent) => {
    for (let attempt = 1; ; attempt++) {
      if (stopped) throw new StopRequested();
      try {
        if (definition.mode === "transactional") {
          await sql.transaction(async (tx) => {
            await definition.handle(event, { sql: tx });
            await saveCheckpoint(tx, definition.name, event.position);
          });
        } else {
          await definition.handle(event, { sql });
        }
        return;
      } catch (error) {
        // The database unreachable is no fault of the event: parking it would strand it (an order
        // stuck for good after a restart of the database). The whole processor restarts from its
        // checkpoint instead, after a pause, as on any store failure, until the database is back.
        if (isConnectionLost(error)) throw error;
        if (attempt >= retry.maxAttempts) return park(event, error, attempt);
        log?.warn({ eventId: event.id, type: event.type, attempt, err: error }, "event failed, retrying");
        await pause(Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random())));
      }
    }
  };

  let lastSavedAt = 0;
  const storeCheckpoint = async (events: readonly RecordedEvent[], checkpoint: Checkpoint) => {
    await deps.beforeCheckpoint?.(definition.name, events, checkpoint);
    await saveCheckpoint(sql, definition.name, checkpoint);
    lastSavedAt = Date.now();
  };

  const handleTransactional = async (events: RecordedEvent[], checkpoint: Checkpoint) => {
    if (events.length > 1) {
      // The fast path: the whole batch and its checkpoint in one transaction. If any event fails,
      // the batch rolls back and is replayed one event at a time to isolate the culprit.
      try {
        await sql.transaction(async (tx) => {
          if (definition.handleBatch) await definition.handleBatch(events, { sql: tx });
          else for (const event of events) await definition.handle(event, { sql: tx });
          await deps.beforeCheckpoint?.(definition.name, events, checkpoint);
          await saveCheckpoint(tx, definition.name, checkpoint);
        });
        return;
      } catch (error) {
        if (stopped) throw new StopRequested();
        log?.warn({ err: error }, "batch failed, replaying it event by event");
      }
    }
    for (const event of events) await handleOne(event);
    if (events.at(-1)?.position !== checkpoint) await storeCheckpoint(events, checkpoint);
  };

  const handleAtLeastOnce = async (events: RecordedEvent[], checkpoint: Checkpoint) => {
    if (definition.handleBatch) {
      let whole = false;
      try {
        await definition.handleBatch(events, { sql });
        whole = true;
      } catch (error) {
        if (stopped) throw new StopRequested();
        log?.warn({ err: error }, "batch failed, handling it event by event");
      }
      if (whole) return storeCheckpoint(events, checkpoint);
    }
    const handled = new Array<boolean>(events.length).fill(false);
    // Events of one key in log order; keys side by side, at most `concurrency` at once.
    const groups = new Map<string, number[]>();
    events.forEach((event, index) => {
      const key = definition.orderingKey?.(event) ?? "";
      const group = groups.get(key);
      if (group) group.push(index);
      else groups.set(key, [index]);
    });
    const queue = [...groups.values()];
    const lanes = definition.orderingKey ? Math.max(1, definition.concurrency ?? 16) : 1;
    const lane = async () => {
      for (let group = queue.shift(); group; group = queue.shift()) {
        for (const index of group) {
          await handleOne(events[index]!);
          handled[index] = true;
        }
      }
    };
    const outcomes = await Promise.allSettled(Array.from({ length: Math.min(lanes, queue.length) }, lane));
    const failure = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
    if (!failure) return storeCheckpoint(events, checkpoint);
    if (failure.reason instanceof StopRequested) {
      // Stopping: keep what is fully handled from the start of the batch; the rest comes again.
      const prefix = handled.indexOf(false);
      if (prefix > 0) await saveCheckpoint(sql, definition.name, events[prefix - 1]!.position);
    }
    throw failure.reason;
  };

  const handleBatch = (events: RecordedEvent[], checkpoint: Checkpoint) =>
    // A batch spans many orders' traces, so it is a root span of its own; handlers that continue an
    // event's trace (the saga's steps) start their spans from the event.
    inSpan(
      `process ${definition.name}`,
      { "processor.name": definition.name, "processor.events": events.length },
      async () => {
        if (definition.mode === "transactional") await handleTransactional(events, checkpoint);
        else await handleAtLeastOnce(events, checkpoint);
        lastProcessedAt = new Date();
      },
      ROOT_CONTEXT,
    );

  /** The next page: from the shared reader when this processor is inside its window, else from the store. */
  const nextPage = async (from: Checkpoint): Promise<LogPage & { shared: boolean }> => {
    const page = reader.take(from, definition.filter, batchSize);
    if (page) return { ...page, shared: true };
    return {
      ...(await store.readAll({ from, maxCount: batchSize, ...(definition.filter ? { filter: definition.filter } : {}) })),
      shared: false,
    };
  };

  // Runs batches from the stored checkpoint; a store failure restarts it from there after a pause.
  const run = (async () => {
    while (!stopped) {
      try {
        let checkpoint = await loadCheckpoint(sql, definition.name);
        if (stopped) break; // stop() came while the checkpoint was loading
        moveTo(checkpoint);
        started();
        /** Moved past events of no interest without storing it (the idle save was not due yet). */
        let unsaved = false;
        /** The next page, read from the store while this one is handled (a processor catching up). */
        let ahead: Promise<LogPage & { shared: boolean }> | undefined;
        while (!stopped) {
          const page = await (ahead ?? nextPage(checkpoint));
          ahead = undefined;
          if (page.events.length > 0) {
            if (!page.shared && page.checkpoint !== checkpoint) {
              ahead = nextPage(page.checkpoint);
              ahead.catch(() => undefined); // a failed read surfaces when it is awaited
            }
            await handleBatch(page.events, page.checkpoint);
            unsaved = false;
          }
          if (page.checkpoint === checkpoint) {
            // The log is quiet: store how far it read once CHECKPOINT_IDLE_SAVE_MS have passed
            // since the last save, or the lag figures would count the events it passed as
            // unhandled for as long as the log stays quiet (and admission control, refusing the
            // orders that would wake it, would never reopen). Not at once: between a flash sale's
            // claim appends the log is "quiet" every few ms, and saving each time cost ~8
            // checkpoint commits per claim append (1,767 saves in 5 s against 211 appends).
            let waitMs = 1_000;
            if (unsaved) {
              const dueInMs = CHECKPOINT_IDLE_SAVE_MS - (Date.now() - lastSavedAt);
              if (dueInMs <= 0) {
                await saveCheckpoint(sql, definition.name, checkpoint);
                lastSavedAt = Date.now();
                unsaved = false;
              } else waitMs = dueInMs;
            }
            if (page.shared) await reader.waitBeyond(checkpoint, waitMs, stopSignal.signal);
            else await pause(20);
            continue;
          }
          checkpoint = page.checkpoint;
          moveTo(checkpoint);
          // Moving past events of no interest is stored too, at most every CHECKPOINT_IDLE_SAVE_MS:
          // enough for the lag figures (lag.ts) and for a restart not to re-read much.
          if (page.events.length === 0) {
            unsaved = Date.now() - lastSavedAt < CHECKPOINT_IDLE_SAVE_MS;
            if (!unsaved) {
              await saveCheckpoint(sql, definition.name, checkpoint);
              lastSavedAt = Date.now();
            }
          }
        }
      } catch (error) {
        if (stopped || error instanceof StopRequested) break;
        log?.error({ err: error }, "processor failed; restarting from its checkpoint");
        await pause(RESTART_DELAY_MS);
      }
    }
    started();
  })();
  await running;

  return {
    name: definition.name,
    async caughtUpTo(checkpoint, timeoutMs = 30_000) {
      if (stopped) throw new Error(`processor ${definition.name} is stopped`);
      if (position !== undefined && checkpoint <= position) return;
      let timer: NodeJS.Timeout | undefined;
      const waiter = { target: checkpoint, resolve: () => {} };
      try {
        await new Promise<void>((resolve, reject) => {
          waiter.resolve = resolve;
          waiters.add(waiter);
          timer = setTimeout(
            () => reject(new Error(`processor ${definition.name} did not reach ${checkpoint} within ${timeoutMs} ms`)),
            timeoutMs,
          );
        });
      } finally {
        clearTimeout(timer);
        waiters.delete(waiter);
      }
    },
    async status() {
      const [checkpoint, head, parked] = await Promise.all([
        loadCheckpoint(sql, definition.name),
        store.headCheckpoint(),
        sql.query<{ n: number }>("SELECT count(*)::int AS n FROM processor_parked_events WHERE processor = $1 AND resolved_at IS NULL", [
          definition.name,
        ]),
      ]);
      // The stored checkpoint only moves with batches this processor handles; whether it has also
      // read past everything else up to the head is the running loop's to say.
      const caughtUp = checkpoint >= head || (position !== undefined && position >= head);
      return {
        name: definition.name,
        checkpoint,
        head,
        caughtUp,
        parked: parked.rows[0]?.n ?? 0,
        lastProcessedAt: lastProcessedAt?.toISOString() ?? null,
      };
    },
    async stop() {
      if (stopped) return run;
      stopped = true;
      stopSignal.abort();
      await run;
      // Hand over at how far it has read: everything before `position` is handled (it moves only
      // after a whole batch), including events of no interest whose idle save was still due.
      if (position !== undefined)
        await saveCheckpoint(sql, definition.name, position).catch((error: unknown) =>
          log?.warn({ err: error }, "checkpoint not stored at stop"),
        );
      await reader.detach();
    },
  };
}
