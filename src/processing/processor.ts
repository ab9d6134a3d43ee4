// Checkpointed processors over the ordered event log: projectors, the saga, relays and timers all
// run on this. A processor's checkpoint lives in SQL beside its work:
// - "transactional": `handle` runs inside the transaction that also stores the checkpoint, so a
//   read-model change and its checkpoint commit together (SQL projections);
// - "at-least-once": `handle` runs first and the checkpoint is stored after it succeeds (saga,
//   Redis/search writes, outbox relay): a crash in between re-delivers the event, so the handler
//   must be idempotent.
// A failing event is retried with backoff, then parked (visible in processor_parked_events,
// retryable) and the processor moves on: one bad event never stops it or any other processor.
// A failure of the store itself (database down) restarts the subscription from the stored
// checkpoint after a pause, so nothing is lost.

import type { Logger } from "pino";
import type { AllFilter, Checkpoint, EventStore, RecordedEvent, Subscription } from "../eventstore/port.js";
import { START } from "../eventstore/port.js";
import { migrate, type Migration } from "../infrastructure/sql/migrations.js";
import type { SqlClient, SqlExecutor } from "../infrastructure/sql/sql-client.js";

export interface ProcessorDefinition {
  /** Stable forever: the checkpoint's key. */
  name: string;
  filter?: AllFilter;
  mode: "transactional" | "at-least-once";
  /** In "transactional" mode `sql` is the checkpoint's transaction; otherwise the plain client. */
  handle(event: RecordedEvent, context: { sql: SqlExecutor }): Promise<void>;
  batchSize?: number;
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
  /** Stops after the event in progress; its checkpoint is stored. */
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

class StopRequested extends Error {}

export async function loadCheckpoint(sql: SqlExecutor, name: string): Promise<Checkpoint> {
  const { rows } = await sql.query<{ checkpoint: string }>("SELECT checkpoint FROM processor_checkpoints WHERE name = $1", [name]);
  return rows[0]?.checkpoint ?? START;
}

async function saveCheckpoint(sql: SqlExecutor, name: string, checkpoint: Checkpoint): Promise<void> {
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
  await migrate(sql, processingMigrations);

  let stopped = false;
  let subscription: Subscription | undefined;
  let subscriptionChanged: () => void = () => {};
  let nextSubscription = new Promise<void>((resolve) => (subscriptionChanged = resolve));
  let lastProcessedAt: Date | null = null;
  const stopSignal = new AbortController();

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      if (stopSignal.signal.aborted) return resolve();
      const timer = setTimeout(resolve, ms);
      stopSignal.signal.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve();
      });
    });

  const park = async (event: RecordedEvent, error: unknown, attempts: number) => {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    log?.error({ eventId: event.id, type: event.type, streamId: event.streamId, attempts, err: error }, "event parked");
    await sql.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO processor_parked_events (processor, event_id, stream_id, position, event_type, event, error, attempts)
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8) ON CONFLICT (processor, event_id) DO NOTHING`,
        [definition.name, event.id, event.streamId, event.position, event.type, JSON.stringify(event), message, attempts],
      );
      await saveCheckpoint(tx, definition.name, event.position);
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
          await saveCheckpoint(sql, definition.name, event.position);
        }
        return;
      } catch (error) {
        if (attempt >= retry.maxAttempts) return park(event, error, attempt);
        log?.warn({ eventId: event.id, type: event.type, attempt, err: error }, "event failed, retrying");
        await pause(Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random())));
      }
    }
  };

  const handleBatch = async (events: RecordedEvent[], checkpoint: Checkpoint) => {
    if (definition.mode === "transactional" && events.length > 1) {
      // The fast path: the whole batch and its checkpoint in one transaction. If any event fails,
      // the batch rolls back and is replayed one event at a time to isolate the culprit.
      try {
        await sql.transaction(async (tx) => {
          for (const event of events) await definition.handle(event, { sql: tx });
          await saveCheckpoint(tx, definition.name, checkpoint);
        });
        lastProcessedAt = new Date();
        return;
      } catch (error) {
        log?.warn({ err: error }, "batch failed, replaying it event by event");
      }
    }
    for (const event of events) {
      await handleOne(event);
      lastProcessedAt = new Date();
    }
    if (events.at(-1)?.position !== checkpoint) await saveCheckpoint(sql, definition.name, checkpoint);
  };

  // Supervises the subscription: a store failure ends it, and it starts again from the stored checkpoint.
  const supervise = (async () => {
    while (!stopped) {
      try {
        const from = await loadCheckpoint(sql, definition.name);
        if (stopped) break; // stop() came while the checkpoint was loading
        subscription = store.subscribeToAll({ from, filter: definition.filter, batchSize: definition.batchSize ?? 200 }, handleBatch);
        subscriptionChanged();
        nextSubscription = new Promise<void>((resolve) => (subscriptionChanged = resolve));
        await subscription.done;
      } catch (error) {
        if (stopped || error instanceof StopRequested) break;
        log?.error({ err: error }, "processor failed; restarting from its checkpoint");
        await pause(RESTART_DELAY_MS);
      }
    }
  })();

  return {
    name: definition.name,
    async caughtUpTo(checkpoint, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (stopped) throw new Error(`processor ${definition.name} is stopped`);
        const current = subscription;
        const remaining = deadline - Date.now();
        if (remaining <= 0) throw new Error(`processor ${definition.name} did not reach ${checkpoint} within ${timeoutMs} ms`);
        let timer: NodeJS.Timeout | undefined;
        const outcome = await Promise.race([
          current ? current.caughtUpTo!(checkpoint).then(() => "reached" as const) : nextSubscription.then(() => "restarted" as const),
          current ? current.done.then(() => "restarted" as const, () => "restarted" as const) : new Promise<never>(() => {}),
          new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), remaining))),
        ]);
        clearTimeout(timer);
        if (outcome === "reached") return;
        if (outcome === "restarted" && current) await Promise.race([nextSubscription, pause(RESTART_DELAY_MS * 2)]);
      }
    },
    async status() {
      const [checkpoint, head, parked] = await Promise.all([
        loadCheckpoint(sql, definition.name),
        store.headCheckpoint(),
        sql.query<{ n: number }>("SELECT count(*)::int AS n FROM processor_parked_events WHERE processor = $1 AND resolved_at IS NULL", [definition.name]),
      ]);
      // The stored checkpoint only moves with events this processor handles; whether it has also
      // read past everything else up to the head is the live subscription's to say.
      const caughtUp = checkpoint >= head || (await Promise.race([subscription?.caughtUpTo!(head).then(() => true) ?? Promise.resolve(false), pause(0).then(() => false)]));
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
      stopped = true;
      stopSignal.abort();
      await subscription?.stop();
      await supervise;
    },
  };
}
