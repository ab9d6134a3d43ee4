// What an operator sees and does through /api/ops: the work that stopped and waits for a person
// (parked sagas and parked processor events), a resume button for a parked saga, and the read
// models with their lag and a shadow rebuild whose progress can be watched.
//
// Built only from the public functions of the saga (listSagasNeedingAttention, resume), the
// processor (listParked) and the projections (projectionStatus, rebuild with onProgress), so the
// engines underneath can change without this file knowing.

import type { EventStore } from "../eventstore/port.js";
import { logPages } from "../eventstore/pages.js";
import { sqlErrorCode, type SqlExecutor } from "../infrastructure/sql/sql-client.js";
import { listParked } from "../processing/processor.js";
import { projections as knownProjections, type RunningProjections } from "../projections/index.js";
import { listSagasNeedingAttention, ORDER_SAGA_PROCESSOR, parkedSagaEvents, type SagaNeedingAttention } from "../sagas/attention.js";

/** One item of work that waits for an operator. */
export interface AttentionItem {
  /**
   * gateway: the saga's gateway step (void, refund) kept failing and was parked;
   * event: the saga processor parked one of the order's events after its retries;
   * processor: another processor (a projector, a relay) parked an event.
   */
  kind: "gateway" | "event" | "processor";
  /** The order it belongs to; null for a processor event that names no order. */
  orderId: string | null;
  processor: string;
  /** The failed saga step (gateway) or the parked event's id. */
  stepId: string;
  eventType?: string;
  streamId?: string;
  error: string;
  attempts: number;
  since: string;
  /** true when POST /api/ops/attention/{orderId}/resume acts on it (the saga's items). */
  resumable: boolean;
}

export interface RebuildProgress {
  state: "running" | "done" | "failed";
  startedAt: string;
  finishedAt?: string;
  /** Events replayed into the shadow tables so far. */
  replayed: number;
  /** Events of this read model's streams in the log when the rebuild started (null until counted). */
  total: number | null;
  /** 0..1; 1 only once the shadow tables were swapped in. */
  progress: number;
  error?: string;
}

export interface ReadModelView {
  /** Short name, as used in /api/ops/projections/{name}/rebuild. */
  name: string;
  /** The processor (checkpoint key) keeping it. */
  processor: string;
  kind: "sql";
  checkpoint: string;
  lagEvents: number;
  /** true when there were more than the counting limit and lagEvents is that limit. */
  lagCapped: boolean;
  /** Age of the oldest event it has still to process (0 when caught up). */
  lagSeconds: number;
  parked: number;
  /** rebuilding; live (caught up); catching-up (behind, its projector runs here); stopped (behind, no projector here). */
  status: "live" | "catching-up" | "stopped" | "rebuilding";
  rebuild?: RebuildProgress;
}

export class UnknownReadModelError extends Error {
  override readonly name = "UnknownReadModelError";
}
export class RebuildRunningError extends Error {
  override readonly name = "RebuildRunningError";
}
export class NothingToResumeError extends Error {
  override readonly name = "NothingToResumeError";
}
export class StillFailingError extends Error {
  override readonly name = "StillFailingError";
}

/** The port the HTTP routes (src/api/ops.ts) use. */
export interface OperationsConsole {
  attention(): Promise<AttentionItem[]>;
  /** Retries the order's parked saga events and asks the saga to re-run its parked step. */
  resume(orderId: string, by: string): Promise<{ orderId: string; retriedEvents: number; gatewaySteps: number }>;
  readModels(): Promise<ReadModelView[]>;
  /** Starts a shadow rebuild in the background and returns its first progress report. */
  rebuild(name: string): Promise<ReadModelView>;
  /** Resolves when the rebuilds started here have ended (shutdown, tests). */
  settled(): Promise<void>;
}

export interface OperationsConsoleDeps {
  store: EventStore;
  sql: SqlExecutor;
  projections: RunningProjections;
  /** The running saga's resume (retries its parked events through its handler, then asks for a re-run). */
  resumeSaga(orderId: string, by: string): Promise<void>;
  now?: () => Date;
}

const shortName = (processor: string): string => processor.replace(/^projections\//, "");
const isSagaProcessor = (name: string): boolean => name === ORDER_SAGA_PROCESSOR || name.startsWith(`${ORDER_SAGA_PROCESSOR}/`);
const COUNT_PAGE = 5000;

export function createOperationsConsole(deps: OperationsConsoleDeps): OperationsConsole {
  const now = deps.now ?? (() => new Date());
  const rebuilds = new Map<string, RebuildProgress>();
  const running = new Set<Promise<void>>();

  /** Where the saga never ran against this database its tables do not exist yet: nothing is waiting. */
  const missingTable = (error: unknown) => sqlErrorCode(error) === "42P01";

  async function sagasNeedingAttention(): Promise<SagaNeedingAttention[]> {
    try {
      return await listSagasNeedingAttention({ sql: deps.sql, store: deps.store });
    } catch (error) {
      if (!missingTable(error)) throw error;
      return parkedSagaEvents(deps.sql, deps.store);
    }
  }

  async function attention(): Promise<AttentionItem[]> {
    const sagas = await sagasNeedingAttention();
    const items: AttentionItem[] = sagas.map((s) => ({
      kind: s.kind,
      orderId: s.orderId,
      processor: s.processor ?? ORDER_SAGA_PROCESSOR,
      stepId: s.stepId,
      error: s.error,
      attempts: s.attempts,
      since: s.since,
      resumable: true,
    }));
    const parked = await listParked(deps.sql).catch((error: unknown) => {
      if (missingTable(error)) return [];
      throw error;
    });
    for (const p of parked) {
      if (isSagaProcessor(p.processor)) continue; // listed above, with its order
      const event = (await deps.store.readStream(p.streamId)).find((e) => e.id === p.eventId);
      const orderId = (event?.data as { orderId?: unknown } | undefined)?.orderId;
      items.push({
        kind: "processor",
        orderId: typeof orderId === "string" ? orderId : null,
        processor: p.processor,
        stepId: p.eventId,
        eventType: p.type,
        streamId: p.streamId,
        error: p.error,
        attempts: p.attempts,
        since: p.parkedAt,
        resumable: false,
      });
    }
    return items.sort((a, b) => a.since.localeCompare(b.since));
  }

  async function resume(orderId: string, by: string) {
    const mine = (await attention()).filter((i) => i.resumable && i.orderId === orderId);
    if (mine.length === 0) throw new NothingToResumeError(`the saga of order ${orderId} is not waiting for an operator`);
    try {
      await deps.resumeSaga(orderId, by);
    } catch (error) {
      throw new StillFailingError(`the saga of order ${orderId} still fails: ${(error as Error).message}`);
    }
    return {
      orderId,
      retriedEvents: mine.filter((i) => i.kind === "event").length,
      gatewaySteps: mine.filter((i) => i.kind === "gateway").length,
    };
  }

  async function readModels(): Promise<ReadModelView[]> {
    const statuses = await deps.projections.projectionStatus();
    return Promise.all(
      statuses.map(async (s) => {
        const projection = knownProjections.find((p) => p.name === s.name);
        let lagSeconds = 0;
        if (s.lagEvents > 0 && projection) {
          // The oldest event still to process says how stale the model is.
          const first = (await deps.store.readAll({ from: s.checkpoint, filter: projection.filter, maxCount: 1 })).events[0];
          if (first) lagSeconds = Math.max(0, (now().getTime() - first.recordedAt.getTime()) / 1000);
        }
        const rebuild = rebuilds.get(s.name);
        return {
          name: shortName(s.name),
          processor: s.name,
          kind: "sql" as const,
          checkpoint: s.checkpoint,
          lagEvents: s.lagEvents,
          lagCapped: s.lagCapped,
          lagSeconds: Math.round(lagSeconds * 1000) / 1000,
          parked: s.parked,
          // Caught up is live wherever its projector runs (another instance may own it); behind with
          // no projector here is "stopped" as far as this process can tell.
          status:
            rebuild?.state === "running"
              ? ("rebuilding" as const)
              : s.lagEvents === 0
                ? ("live" as const)
                : s.running
                  ? ("catching-up" as const)
                  : ("stopped" as const),
          ...(rebuild ? { rebuild: { ...rebuild } } : {}),
        };
      }),
    );
  }

  /** How many events of the projection's streams the log holds now (what a full replay reads). */
  async function countEvents(processor: string): Promise<number> {
    const projection = knownProjections.find((p) => p.name === processor);
    if (!projection) return 0;
    let n = 0;
    for await (const page of logPages(deps.store, { filter: projection.filter, pageSize: COUNT_PAGE })) n += page.events.length;
    return n;
  }

  async function rebuild(name: string): Promise<ReadModelView> {
    const statuses = await deps.projections.projectionStatus();
    const status = statuses.find((s) => s.name === name || shortName(s.name) === name);
    if (!status)
      throw new UnknownReadModelError(`no read model ${JSON.stringify(name)}; known: ${statuses.map((s) => shortName(s.name)).join(", ")}`);
    if (rebuilds.get(status.name)?.state === "running")
      throw new RebuildRunningError(`read model ${shortName(status.name)} is already being rebuilt`);
    const progress: RebuildProgress = { state: "running", startedAt: now().toISOString(), replayed: 0, total: null, progress: 0 };
    rebuilds.set(status.name, progress);
    const fraction = () => (progress.total ? Math.min(0.99, progress.replayed / progress.total) : 0);
    const work = (async () => {
      // Counted beside the rebuild, not before it: the rebuild starts at once and the fraction
      // appears as soon as the total is known.
      void countEvents(status.name).then(
        (total) => {
          if (progress.state !== "running") return; // finished first: its total is what it replayed
          progress.total = total;
          progress.progress = fraction();
        },
        () => undefined,
      );
      try {
        await deps.projections.rebuild(status.name, {
          shadow: true,
          onProgress: (replayed) => {
            progress.replayed = replayed;
            progress.progress = fraction();
          },
        });
        // Events that became visible after the count was taken were replayed too.
        Object.assign(progress, {
          state: "done",
          progress: 1,
          total: Math.max(progress.total ?? 0, progress.replayed),
          finishedAt: now().toISOString(),
        });
      } catch (error) {
        Object.assign(progress, { state: "failed", error: (error as Error).message, finishedAt: now().toISOString() });
      }
    })();
    running.add(work);
    void work.finally(() => running.delete(work));
    const view = (await readModels()).find((v) => v.processor === status.name);
    if (!view) throw new UnknownReadModelError(`read model ${shortName(status.name)} disappeared`);
    return view;
  }

  return {
    attention,
    resume,
    readModels,
    rebuild,
    async settled() {
      await Promise.all([...running]);
    },
  };
}
