// What an operator sees and does through /api/ops: the work that stopped and waits for a person
// (parked sagas and parked processor events), a resume button for a parked saga, and the read
// models with their lag and a shadow rebuild whose progress can be watched.
//
// Built only from the public functions of the saga (listSagasNeedingAttention, resume), the
// processor (listParked) and the projections (projectionStatus, rebuild with onProgress), so the
// engines underneath can change without this file knowing.

import type { AllFilter, EventStore } from "../eventstore/port.js";
import { logPages } from "../eventstore/pages.js";
import { sqlErrorCode, type SqlExecutor } from "../infrastructure/sql/sql-client.js";
import { listParked } from "../processing/processor.js";
import { projections as knownProjections, type RunningProjections } from "../projections/index.js";
import { LAG_EVENTS_LIMIT, type ReadModelLag } from "../projections/lag.js";
import { REDIS_FILTER, REDIS_PROJECTOR, type RunningRedisModels } from "../projections/redis/index.js";
import { searchProjection } from "../projections/search/documents.js";
import type { RunningSearch } from "../projections/search/index.js";
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
  /** sql: a SQL read model; search: the search documents (and their Elasticsearch index); redis: the Redis hot read models. */
  kind: "sql" | "search" | "redis";
  checkpoint: string;
  lagEvents: number;
  /** true when there were more than the counting limit and lagEvents is that limit. */
  lagCapped: boolean;
  /** Age of the oldest event it has still to process (0 when caught up). */
  lagSeconds: number;
  parked: number;
  /** Search on Elasticsearch: documents changed in the read model and not yet in the index. */
  pendingDocuments?: number;
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
  /** Search, when it runs here: listed and rebuilt beside the SQL read models. */
  search?: RunningSearch;
  /** The Redis hot read models, when REDIS_URL is set. */
  redisModels?: RunningRedisModels;
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

  /** The read models kept outside the SQL projections: their lag (from their own processors' checkpoints) and their rebuild. */
  interface OtherReadModel {
    name: string;
    processor: string;
    kind: "search" | "redis";
    filter: AllFilter;
    /** Lag entries; search on Elasticsearch reports the read model and its index. */
    lag(): Promise<ReadModelLag[]>;
    rebuild(onProgress: (replayed: number) => void): Promise<void>;
  }
  const others: OtherReadModel[] = [];
  if (deps.search) {
    const search = deps.search;
    others.push({
      name: "search",
      processor: searchProjection.name,
      kind: "search",
      filter: searchProjection.filter,
      lag: () => search.status(),
      rebuild: (onProgress) => search.rebuild({ onProgress }),
    });
  }
  if (deps.redisModels) {
    const redis = deps.redisModels;
    others.push({
      name: "redis",
      processor: REDIS_PROJECTOR,
      kind: "redis",
      filter: REDIS_FILTER,
      lag: async () => [await redis.status()],
      rebuild: (onProgress) => redis.rebuild({ onProgress }),
    });
  }

  const statusOf = (name: string, lagEvents: number, running: boolean): ReadModelView["status"] =>
    rebuilds.get(name)?.state === "running" ? "rebuilding" : lagEvents === 0 ? "live" : running ? "catching-up" : "stopped";

  async function otherViews(): Promise<ReadModelView[]> {
    return Promise.all(
      others.map(async (model) => {
        const [lag, index] = await model.lag();
        if (!lag) throw new Error(`no lag reported for ${model.name}`);
        const rebuild = rebuilds.get(model.processor);
        return {
          name: model.name,
          processor: model.processor,
          kind: model.kind,
          checkpoint: lag.checkpoint,
          lagEvents: lag.lagEvents,
          lagCapped: lag.lagEvents >= LAG_EVENTS_LIMIT,
          // The index trails the read model by what the shipper has still to send.
          lagSeconds: Math.round(Math.max(lag.lagSeconds, index?.lagSeconds ?? 0) * 1000) / 1000,
          parked: lag.parked,
          ...(index?.pendingDocuments === undefined ? {} : { pendingDocuments: index.pendingDocuments }),
          status: statusOf(model.processor, lag.lagEvents, lag.running),
          ...(rebuild ? { rebuild: { ...rebuild } } : {}),
        };
      }),
    );
  }

  async function readModels(): Promise<ReadModelView[]> {
    const statuses = await deps.projections.projectionStatus();
    const sqlViews = await Promise.all(
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
    return [...sqlViews, ...(await otherViews())];
  }

  /** How many events of the projection's streams the log holds now (what a full replay reads). */
  async function countEvents(processor: string): Promise<number> {
    const filter = (knownProjections.find((p) => p.name === processor) ?? others.find((o) => o.processor === processor))?.filter;
    if (!filter) return 0;
    let n = 0;
    for await (const page of logPages(deps.store, { filter, pageSize: COUNT_PAGE })) n += page.events.length;
    return n;
  }

  async function rebuild(name: string): Promise<ReadModelView> {
    const statuses = await deps.projections.projectionStatus();
    const other = others.find((o) => o.name === name || o.processor === name);
    const status = other ? { name: other.processor } : statuses.find((s) => s.name === name || shortName(s.name) === name);
    if (!status)
      throw new UnknownReadModelError(
        `no read model ${JSON.stringify(name)}; known: ${[...statuses.map((s) => shortName(s.name)), ...others.map((o) => o.name)].join(", ")}`,
      );
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
        const onProgress = (replayed: number) => {
          progress.replayed = replayed;
          progress.progress = fraction();
        };
        if (other) await other.rebuild(onProgress);
        else await deps.projections.rebuild(status.name, { shadow: true, onProgress });
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
