// Runs the order saga over the ordered log: the wiring. Each partition (partitions.ts) is an
// at-least-once checkpointed processor whose handler is the saga step (saga-step.ts), fed the
// events saga-inputs.ts says the saga reads; beside them runs the scheduler that turns due
// deadlines into DeadlineReached inputs. startOrderSaga starts all of them, and resume() retries
// an order's parked events before asking the saga to re-run a parked step.

import { START, type Checkpoint } from "../eventstore/port.js";
import { retryParked, startProcessor, type ProcessorDefinition, type RunningProcessor } from "../processing/processor.js";
import { processorGroup } from "../processing/processor-group.js";
import { migrateScheduling, startScheduler, type Scheduler } from "../scheduling/deadlines.js";
import { migrateSagas, ORDER_SAGA_PROCESSOR, parkedSagaEvents, resumeSaga } from "./attention.js";
import { assertPartitions, rebalanceSagaCheckpoints, sagaPartitionOf, sagaProcessorName } from "./partitions.js";
import { ORDER_SAGA_FILTER, toSagaInput } from "./saga-inputs.js";
import { createOrderSagaHandler, type OrderSagaDeps } from "./saga-step.js";

/**
 * The saga's processor definition. With `partition` ({index, of}), the one of partition `index`
 * of `of`: it handles only the events of the orders sagaPartitionOf assigns to it and skips the
 * others (its checkpoint still moves past them). `handle` lets partitions share one handler.
 */
export function orderSagaProcessor(
  deps: OrderSagaDeps,
  partition: { index: number; of: number } = { index: 0, of: 1 },
  handle = createOrderSagaHandler(deps),
): ProcessorDefinition {
  const { index, of } = partition;
  return {
    name: sagaProcessorName(index, of),
    mode: "at-least-once",
    filter: { streamCategories: [...ORDER_SAGA_FILTER.streamCategories], eventTypes: [...ORDER_SAGA_FILTER.eventTypes] },
    handle: async (event) => {
      if (of > 1) {
        const orderId = toSagaInput(event)?.data.orderId;
        if (orderId === undefined || sagaPartitionOf(orderId, of) !== index) return;
      }
      await handle(event);
    },
    // One order's inputs in log order; different orders' steps side by side.
    orderingKey: (event) => toSagaInput(event)?.data.orderId,
    concurrency: SAGA_CONCURRENCY,
    batchSize: 200,
  };
}

/** Orders whose steps one partition runs at once. */
const SAGA_CONCURRENCY = 16;

export interface RunningOrderSaga {
  /** All partitions as one: caughtUpTo waits for every one; status() is the aggregate (lowest checkpoint, caughtUp when all are, parked summed). */
  readonly processor: RunningProcessor;
  /** Each partition's own processor (one when partitions = 1). */
  readonly partitions: readonly RunningProcessor[];
  readonly scheduler: Scheduler;
  caughtUpTo(checkpoint: Checkpoint, timeoutMs?: number): Promise<void>;
  /** Retries the order's parked events through the saga, then asks it to re-run a parked gateway step. */
  resume(orderId: string, by?: string): Promise<void>;
  stop(): Promise<void>;
}

export interface StartOrderSagaDeps extends OrderSagaDeps {
  /** Scheduler poll interval (default 250 ms); `false` runs no loop (tests call scheduler.tick()). */
  schedulerPollMs?: number | false;
  /** Retry policy of the processor for events whose handling fails (not gateway failures). */
  processorRetry?: { maxAttempts?: number; baseDelayMs?: number; maxDelayMs?: number };
  /** Processors the saga runs as, each owning the orders hashed to it (default 1; see partitions.ts). */
  partitions?: number;
  /** Start each partition's processor and the scheduler (defaults: here, now); several instances pass the leased ones (src/processing/ownership). */
  startProcessor?: typeof startProcessor;
  startScheduler?: typeof startScheduler;
}

/** Starts the saga processor(s) and the deadline scheduler. The app calls this once at start-up. */
export async function startOrderSaga(deps: StartOrderSagaDeps): Promise<RunningOrderSaga> {
  const partitions = deps.partitions ?? 1;
  assertPartitions(partitions);
  await migrateScheduling(deps.sql);
  await migrateSagas(deps.sql);
  const rebalanced = await rebalanceSagaCheckpoints(deps.sql, partitions);
  if (rebalanced)
    deps.logger?.info(
      { partitions, from: rebalanced.from, replaced: rebalanced.replaced },
      "saga partition count changed: every partition starts from the lowest old checkpoint",
    );
  const schedulerLogger = deps.logger ? { warn: (obj: object, msg?: string) => deps.logger?.warn(obj, msg) } : undefined;
  const scheduler = await (deps.startScheduler ?? startScheduler)({
    store: deps.store,
    sql: deps.sql,
    clock: deps.clock,
    ...(deps.schedulerPollMs === false ? { autoStart: false } : { pollIntervalMs: deps.schedulerPollMs ?? 250 }),
    ...(schedulerLogger ? { logger: schedulerLogger } : {}),
  });
  const handle = createOrderSagaHandler(deps);
  const processorDeps = {
    store: deps.store,
    sql: deps.sql,
    ...(deps.processorRetry ? { retry: deps.processorRetry } : {}),
    ...(deps.logger ? { logger: deps.logger } : {}),
  };
  const parts: RunningProcessor[] = [];
  try {
    for (let index = 0; index < partitions; index++)
      parts.push(await (deps.startProcessor ?? startProcessor)(orderSagaProcessor(deps, { index, of: partitions }, handle), processorDeps));
    // Wait until the processors' subscriptions exist: a stop() issued before that would not reach them.
    await Promise.all(parts.map((p) => p.caughtUpTo(START, 30_000)));
  } catch (error) {
    await Promise.all(parts.map((p) => p.stop().catch(() => undefined)));
    await scheduler.stop();
    throw error;
  }
  const processor = parts.length === 1 ? parts[0]! : processorGroup(ORDER_SAGA_PROCESSOR, parts);
  return {
    processor,
    partitions: parts,
    scheduler,
    caughtUpTo: (checkpoint, timeoutMs) => processor.caughtUpTo(checkpoint, timeoutMs),
    async resume(orderId, by = "operator") {
      for (const parked of await parkedSagaEvents(deps.sql, deps.store)) {
        if (parked.orderId !== orderId || parked.parkedId === undefined) continue;
        // Under the name it was parked with: its partition's, or one of an earlier partition count.
        const definition: ProcessorDefinition = {
          ...orderSagaProcessor(deps, undefined, handle),
          name: parked.processor ?? ORDER_SAGA_PROCESSOR,
          handle: (event) => handle(event),
        };
        await retryParked({ store: deps.store, sql: deps.sql }, definition, parked.parkedId);
      }
      await resumeSaga({ store: deps.store, clock: deps.clock }, orderId, by);
    },
    async stop() {
      await scheduler.stop();
      await processor.stop();
    },
  };
}
