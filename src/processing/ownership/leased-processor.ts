// Processors and the deadline scheduler as units of work under leases. What the rest of the app
// holds is a stand-in with the same interface (RunningProcessor, Scheduler) on every instance:
// the real processor runs only on the instance that holds the lease, the stand-in's caughtUpTo
// and status read the stored checkpoint, so read-your-writes and readiness work whichever
// instance answers (an API-only instance runs no processor at all).
//
// Fencing: a transactional processor's handler checks, inside the transaction that also stores
// its checkpoint, that the lease is still this instance's (once per transaction: before an event's
// handler, after a batch handler); an at-least-once handler (the saga: its effects are idempotent
// by design) checks the lease's local validity before each event; a batch handler (handleBatch) is
// checked the same way. A
// failed check stops the unit before the handler throws, so the processor ends at its last stored
// checkpoint instead of retrying or parking the event.

import type { Checkpoint, EventStore } from "../../eventstore/port.js";
import { START } from "../../eventstore/port.js";
import { migrate } from "../../infrastructure/sql/migrations.js";
import type { SqlExecutor } from "../../infrastructure/sql/sql-client.js";
import type { Scheduler, SchedulerOptions } from "../../scheduling/deadlines.js";
import {
  loadCheckpoint,
  processingMigrations,
  startProcessor,
  type ProcessorDefinition,
  type ProcessorDeps,
  type ProcessorStatus,
  type RunningProcessor,
} from "../processor.js";
import { LeaseLostError } from "./leases.js";
import type { Ownership, UnitLease } from "./ownership.js";

export type StartProcessor = (definition: ProcessorDefinition, deps: ProcessorDeps) => Promise<RunningProcessor>;
export type StartScheduler = (options: SchedulerOptions) => Promise<Scheduler>;

/** The lease name of the deadline scheduler. */
export const SCHEDULER_UNIT = "deadline-scheduler";

const STORED_POLL_MS = 25;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The definition, checking its lease before it handles anything (see the top of this file). */
export function fencedDefinition(definition: ProcessorDefinition, lease: UnitLease): ProcessorDefinition {
  if (definition.mode === "transactional") {
    const fenced = new WeakSet<SqlExecutor>();
    const fence = async (tx: SqlExecutor) => {
      if (fenced.has(tx)) return;
      await lease.fence(tx);
      fenced.add(tx);
    };
    const { handleBatch } = definition;
    return {
      ...definition,
      handle: async (event, context) => {
        await fence(context.sql);
        await definition.handle(event, context);
      },
      // A batch handler commits with the checkpoint too (projectors, translator): fenced alike, but
      // last. The fence's row lock gives the transaction its id, and with it every reader's horizon
      // of the log (ADR 0001): taken first, it held that horizon through the batch's reads and
      // folding (the translator's, 1 to 4 s at 100 orders/s). Last is as safe: a takeover's
      // FOR UPDATE came first (the fence finds another token, the batch rolls back) or waits for
      // this commit. A failing batch is handled again event by event, fenced first as before.
      ...(handleBatch
        ? {
            handleBatch: async (events, context) => {
              await handleBatch.call(definition, events, context);
              await fence(context.sql);
            },
          }
        : {}),
    };
  }
  const { handleBatch } = definition;
  return {
    ...definition,
    handle: async (event, context) => {
      if (!lease.valid()) throw new LeaseLostError(lease.unit);
      await definition.handle(event, context);
    },
    ...(handleBatch
      ? {
          handleBatch: async (events, context) => {
            if (!lease.valid()) throw new LeaseLostError(lease.unit);
            await handleBatch.call(definition, events, context);
          },
        }
      : {}),
  };
}

/**
 * Whether the processor has handled everything up to `position`, from what is stored: its
 * checkpoint is there already, or no event of its filter lies between its checkpoint and
 * `position` (and `position` is visible to readers).
 */
export async function storedReached(
  deps: { store: EventStore; sql: SqlExecutor },
  definition: Pick<ProcessorDefinition, "name" | "filter">,
  position: Checkpoint,
): Promise<boolean> {
  if (position === START) return true;
  const checkpoint = await loadCheckpoint(deps.sql, definition.name);
  if (checkpoint >= position) return true;
  const page = await deps.store.readAll({ from: checkpoint, maxCount: 1, ...(definition.filter ? { filter: definition.filter } : {}) });
  const next = page.events[0];
  return next ? next.position > position : page.checkpoint >= position;
}

/** Starts processors as leased units: the returned function replaces startProcessor. */
export function leasedProcessors(ownership: Ownership): StartProcessor {
  return async (definition, deps) => {
    await migrate(deps.sql, processingMigrations);
    let local: RunningProcessor | undefined;
    let stopped = false;
    ownership.register({
      name: definition.name,
      async start(lease) {
        const running = await startProcessor(fencedDefinition(definition, lease), deps);
        // Its subscription must exist before a stop can reach it.
        await running.caughtUpTo(START, 30_000);
        local = running;
        return {
          async stop() {
            if (local === running) local = undefined;
            await running.stop();
          },
        };
      },
    });

    const waitStored = async (checkpoint: Checkpoint, deadline: number) => {
      for (;;) {
        if (await storedReached(deps, definition, checkpoint)) return;
        if (Date.now() >= deadline) throw new Error(`processor ${definition.name} did not reach ${checkpoint} in time`);
        // The unit may have started here meanwhile: its own subscription knows sooner.
        if (local) return waitLocal(checkpoint, deadline);
        await sleep(STORED_POLL_MS);
      }
    };
    const waitLocal = async (checkpoint: Checkpoint, deadline: number): Promise<void> => {
      const running = local;
      if (!running) return waitStored(checkpoint, deadline);
      try {
        await running.caughtUpTo(checkpoint, Math.max(1, deadline - Date.now()));
      } catch (error) {
        // Handed over or lost while waiting: the next owner's stored checkpoint says the rest.
        if (local === running || Date.now() >= deadline) throw error;
        await waitStored(checkpoint, deadline);
      }
    };

    return {
      name: definition.name,
      async caughtUpTo(checkpoint, timeoutMs = 30_000) {
        if (stopped) throw new Error(`processor ${definition.name} is stopped`);
        const deadline = Date.now() + timeoutMs;
        return local ? waitLocal(checkpoint, deadline) : waitStored(checkpoint, deadline);
      },
      async status(): Promise<ProcessorStatus> {
        const running = local;
        if (running) return running.status();
        const [checkpoint, head, parked] = await Promise.all([
          loadCheckpoint(deps.sql, definition.name),
          deps.store.headCheckpoint(),
          deps.sql.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM processor_parked_events WHERE processor = $1 AND resolved_at IS NULL",
            [definition.name],
          ),
        ]);
        return {
          name: definition.name,
          checkpoint,
          head,
          caughtUp: await storedReached(deps, definition, head),
          parked: parked.rows[0]?.n ?? 0,
          lastProcessedAt: null,
        };
      },
      async stop() {
        stopped = true;
        await ownership.unregister(definition.name);
      },
    };
  };
}

/** Starts the deadline scheduler as a leased unit: the returned function replaces startScheduler. */
export function leasedScheduler(ownership: Ownership, startScheduler: StartScheduler): StartScheduler {
  return async (options) => {
    let local: Scheduler | undefined;
    ownership.register({
      name: SCHEDULER_UNIT,
      async start() {
        const running = await startScheduler(options);
        local = running;
        return {
          async stop() {
            if (local === running) local = undefined;
            await running.stop();
          },
        };
      },
    });
    return {
      // Fires here only where the scheduler runs; elsewhere its owner does.
      tick: () => local?.tick() ?? Promise.resolve(0),
      stop: () => ownership.unregister(SCHEDULER_UNIT),
    };
  };
}
