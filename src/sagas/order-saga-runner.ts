// Runs the order saga over the ordered log: a checkpointed processor (at-least-once) whose
// handler, for each relevant event,
//
//   1. loads the saga stream `orderSaga-<orderId>` and folds its state;
//   2. records the step: SagaStepRecorded {input, commands, deadlines, status}, whose event id is
//      derived from the input event's id, appended at the stream's expected revision. When the
//      step is already there (a re-delivery after a crash), the recorded step is used as is: the
//      same commands, the same ids, the same `at`;
//   3. issues the commands in order through handleCommand with their deterministic command ids
//      (an aggregate that already took a command id appends nothing) and calls the gateway with the
//      command id as idempotency key, skipping calls whose effect is already on the Payment;
//   4. schedules / cancels the step's deadlines (idempotent by deadline id).
//
// The processor stores the checkpoint after the handler returns; a crash anywhere above re-delivers
// the event and the handler converges to the same result. Gateway errors do not fail the event:
// they are recorded (SagaCommandFailed), retried by a `retry` deadline with exponential backoff,
// and after `maxAttempts` the saga is parked as needing attention (saga_attention table, see
// attention.ts) until `resumeSaga` is called.

import type { Logger } from "pino";
import { activeTraceId, continueTraceOf, inSpan } from "../observability/tracing.js";
import { DomainError } from "../aggregates/decider.js";
import { inventoryDecider, streamId as inventoryStream } from "../aggregates/inventory.js";
import { orderDecider, streamId as orderStream } from "../aggregates/order.js";
import { paymentDecider, streamId as paymentStream, type PaymentState } from "../aggregates/payment.js";
import { EVENT_ID_NAMESPACE, uuidV5 } from "../commands/event-id.js";
import { decideBatch, loadTargets, type BatchedCommand, type LoadedStream } from "../commands/command-batch.js";
import { handleCommand } from "../commands/handle-command.js";
import { WrongExpectedVersionError } from "../eventstore/errors.js";
import { loadAggregate } from "../commands/load.js";
import { START, streamCategory, type Checkpoint, type EventMetadata, type EventStore, type RecordedEvent } from "../eventstore/port.js";
import type { SqlClient } from "../infrastructure/sql/sql-client.js";
import { GatewayError, type PaymentGateway } from "../payments/payment-gateway.js";
import {
  retryParked,
  startProcessor,
  type ProcessorDefinition,
  type ProcessorStatus,
  type RunningProcessor,
} from "../processing/processor.js";
import {
  cancelDeadline,
  migrateScheduling,
  scheduleDeadline,
  startScheduler,
  type Clock,
  type Scheduler,
} from "../scheduling/deadlines.js";
import { clearAttention, markNeedsAttention, migrateSagas, ORDER_SAGA_PROCESSOR, parkedSagaEvents, resumeSaga } from "./attention.js";
import type { FlashSaleStock } from "./flash-sale-orders.js";
import { EventStoreInventoryLocator, type InventoryLocator } from "./inventory-locator.js";
import { inProcessStockPlanningLock, type StockPlanningLock } from "./stock-planning-lock.js";
import { assertPartitions, rebalanceSagaCheckpoints, sagaPartitionOf, sagaProcessorName } from "./partitions.js";
import {
  foldSaga,
  react,
  SAGA_ACTOR,
  SAGA_INBOX_CATEGORY,
  SAGA_INPUT_TYPES,
  sagaInboxStreamId,
  sagaStreamId,
  type SagaCommand,
  type SagaConfig,
  type SagaEvent,
  type SagaInput,
  type SagaState,
  type SagaStepRecorded,
} from "./order-saga.js";

export interface SagaRetryPolicy {
  /** Gateway attempts before the saga is parked. Default 5. */
  maxAttempts: number;
  /** Backoff before attempt n+1: min(maxDelayMs, baseDelayMs * 2^(n-1)). Defaults 1 s and 5 min. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export interface OrderSagaDeps {
  store: EventStore;
  sql: SqlClient;
  gateway: PaymentGateway;
  clock: Clock;
  config: SagaConfig & { retry?: Partial<SagaRetryPolicy> };
  locator?: InventoryLocator;
  /** Where orders from flash-sale claims draw and give back their units (src/flash-sales/sale-stock.ts). */
  flashSaleStock?: FlashSaleStock;
  /** Holds an order's SKUs while its stock is planned; default: within this process only. */
  stockLock?: StockPlanningLock;
  logger?: Logger;
  /** Tests only: called at each point of the handler; throwing there simulates a crash at that point. */
  faults?: (point: FaultPoint, event: RecordedEvent) => void | Promise<void>;
}

/**
 * "decided" (a new step decided, nothing written yet), "recorded" (step appended, together with its
 * leading aggregate commands on the fast path), "deadlines" (kept), "command:<i>" (after the i-th
 * command), "commands" (all done), "failed" (a gateway failure recorded).
 */
export type FaultPoint = `command:${number}` | "decided" | "recorded" | "commands" | "deadlines" | "failed";

/** Which categories (and types) the saga listens to. */
export const ORDER_SAGA_FILTER = {
  streamCategories: ["order", "payment", "inventory", SAGA_INBOX_CATEGORY],
  eventTypes: SAGA_INPUT_TYPES,
} as const;

const EXPECTED_CATEGORY: Record<SagaInput["type"], string> = {
  OrderPlaced: "order",
  OrderCancelled: "order",
  OrderShipped: "order",
  OrderDelivered: "order",
  OrderReturnRequested: "order",
  OrderReturnReceived: "order",
  OrderReturned: "order",
  StockReserved: "inventory",
  StockReservationRejected: "inventory",
  StockCommitted: "inventory",
  StockReleased: "inventory",
  StockReservationExpired: "inventory",
  StockShipped: "inventory",
  PaymentInitiated: "payment",
  PaymentCaptured: "payment",
  PaymentFailed: "payment",
  PaymentVoided: "payment",
  RefundRequested: "payment",
  RefundProcessed: "payment",
  RefundFailed: "payment",
  DeadlineReached: SAGA_INBOX_CATEGORY,
  SagaResumeRequested: SAGA_INBOX_CATEGORY,
};

/** The saga input an event of the log is, or undefined when the saga does not read it. */
export function toSagaInput(event: RecordedEvent): SagaInput | undefined {
  const type = event.type as SagaInput["type"];
  if (EXPECTED_CATEGORY[type] === undefined || EXPECTED_CATEGORY[type] !== streamCategory(event.streamId)) return undefined;
  const data = event.data as { orderId?: unknown };
  if (typeof data?.orderId !== "string" || data.orderId === "") return undefined;
  if (type === "OrderPlaced") {
    // Only what the saga decides on: no customer or address copied into the saga stream.
    const d = event.data as unknown as Extract<SagaInput, { type: "OrderPlaced" }>["data"];
    return {
      type,
      data: {
        orderId: d.orderId,
        lines: d.lines,
        totalAmount: d.totalAmount,
        currency: d.currency,
        paymentMethod: d.paymentMethod,
        paymentRequired: d.paymentRequired,
        at: d.at,
        stock: {},
        ...(d.flashSale ? { flashSale: d.flashSale } : {}),
      },
    };
  }
  return { type, data } as SagaInput;
}

export const stepIdFor = (orderId: string, inputEventId: string): string =>
  uuidV5(JSON.stringify(["orderSaga-step", orderId, inputEventId]), EVENT_ID_NAMESPACE);

const DEFAULT_RETRY: SagaRetryPolicy = { maxAttempts: 5, baseDelayMs: 1_000, maxDelayMs: 300_000 };

export interface LoadedSaga {
  state: SagaState;
  revision: number;
  events: RecordedEvent[];
}

export async function loadSaga(store: EventStore, orderId: string): Promise<LoadedSaga> {
  const events = await store.readStream(sagaStreamId(orderId));
  return {
    state: foldSaga(events.map((e) => ({ type: e.type, data: e.data }) as unknown as SagaEvent)),
    revision: events.at(-1)?.revision ?? -1,
    events,
  };
}

const MAX_STEP_ATTEMPTS = 8;

/** The aggregate commands at the head of a step, before its first gateway call, as batched commands. */
function batchablePrefix(commands: readonly SagaCommand[]): BatchedCommand[] {
  const batch: BatchedCommand[] = [];
  for (const c of commands) {
    const common = { commandId: c.commandId, ...(c.mootOk ? { mootOk: true } : {}) };
    if (c.target === "order")
      batch.push({ ...common, decider: orderDecider, streamId: orderStream(c.command.orderId), command: c.command });
    else if (c.target === "inventory")
      batch.push({
        ...common,
        decider: inventoryDecider,
        streamId: inventoryStream(c.command.sku, c.command.warehouseId),
        command: c.command,
      });
    else if (c.target === "payment")
      batch.push({ ...common, decider: paymentDecider, streamId: paymentStream(c.command.paymentId), command: c.command });
    else break;
  }
  return batch;
}

/** The saga's event handler (what the processor calls for each event). */
export function createOrderSagaHandler(deps: OrderSagaDeps): (event: RecordedEvent) => Promise<void> {
  const { store, sql, gateway, clock, logger } = deps;
  const locator = deps.locator ?? new EventStoreInventoryLocator(store);
  const retry: SagaRetryPolicy = { ...DEFAULT_RETRY, ...deps.config.retry };
  const fault = async (point: FaultPoint, event: RecordedEvent) => deps.faults?.(point, event);

  // An OrderPlaced step reads where the stock is and reserves it while holding the order's SKUs
  // (stock-planning-lock.ts), so two orders placed at once, in this process or another, never
  // plan on the same units.
  const stockLock = deps.stockLock ?? inProcessStockPlanningLock();

  return async function handle(event: RecordedEvent): Promise<void> {
    const input = toSagaInput(event);
    if (!input) return;
    // One span per step, in the trace of the event it reacts to, so an order's flow stays one trace.
    const step = () =>
      inSpan(
        `saga step ${input.type}`,
        { "order.id": input.data.orderId, "event.id": event.id },
        () => handleInput(event, input),
        continueTraceOf(event),
      );
    // An order from a flash-sale claim plans on no stock: its claim holds the units.
    if (input.type === "OrderPlaced" && !input.data.flashSale)
      return stockLock.withSkus(
        input.data.lines.map((l) => l.sku),
        step,
      );
    return step();
  };

  async function handleInput(event: RecordedEvent, firstInput: SagaInput): Promise<void> {
    let input = firstInput;
    const orderId = input.data.orderId;
    const streamId = sagaStreamId(orderId);
    const stepId = stepIdFor(orderId, event.id);
    // handle() runs this in a span continuing the input's trace: the step's events store that trace too.
    const traceId = activeTraceId();
    const meta: EventMetadata = {
      correlationId: event.metadata.correlationId,
      causationId: event.id,
      actor: SAGA_ACTOR,
      ...(traceId ? { traceId } : {}),
    };
    // Decided once: a retry after a concurrent write decides again at the same time.
    const now = clock.now().toISOString();

    let step: SagaStepRecorded["data"] | undefined;
    /** Commands of the step already written together with it (the fast path). */
    let written = 0;
    for (let attempt = 1; ; attempt++) {
      const saga = await loadSaga(store, orderId);
      step = saga.events.find((e) => e.id === stepId)?.data as SagaStepRecorded["data"] | undefined;
      if (step) break;
      if (saga.state.status === "NEW" && input.type !== "OrderPlaced") return;
      const loaded = new Map<string, LoadedStream>();
      if (input.type === "OrderPlaced" && !input.data.flashSale) {
        // Where the stock is, read from the inventory streams themselves: the reservations below
        // are appended at exactly the revisions this plan was made from, so a concurrent
        // reservation (another partition, another instance) fails the append and the step is
        // planned again; the per-SKU lock only makes that rare.
        const stock: Record<string, { warehouseId: string; available: number }[]> = {};
        const warehouses = new Map<string, string[]>();
        for (const line of input.data.lines) if (!warehouses.has(line.sku)) warehouses.set(line.sku, await locator.warehousesOf(line.sku));
        const candidates = [...warehouses].flatMap(([sku, ids]) =>
          ids.map(
            (warehouseId): BatchedCommand => ({
              decider: inventoryDecider,
              streamId: inventoryStream(sku, warehouseId),
              command: null,
              commandId: "",
            }),
          ),
        );
        await loadTargets(store, candidates, loaded);
        for (const line of input.data.lines) {
          stock[line.sku] = warehouses.get(line.sku)!.map((warehouseId) => ({
            warehouseId,
            available: (loaded.get(inventoryStream(line.sku, warehouseId))?.state as { available: number } | undefined)?.available ?? 0,
          }));
        }
        input = { type: "OrderPlaced", data: { ...input.data, stock } };
      }
      const reaction = react(saga.state, input, { now, config: deps.config });
      if (!reaction) return;
      step = { stepId, input, inputEventId: event.id, decidedAt: now, ...reaction };
      const sagaAppend = {
        streamId,
        events: [{ id: stepId, type: "SagaStepRecorded", data: step as never, metadata: meta }],
        expectedRevision: saga.revision === -1 ? ("no_stream" as const) : saga.revision,
      };

      // The fast path: the step and its aggregate commands up to the first gateway call, in one
      // transaction. A command that fails on a rule it may not fail on takes the slow path below
      // (the step recorded alone, then each command), where it fails the event as before.
      const batchable = store.atomicMultiStreamAppend ? batchablePrefix(step.commands) : [];
      let batch: ReturnType<typeof decideBatch> | undefined;
      if (batchable.length > 0) {
        try {
          batch = decideBatch(batchable, await loadTargets(store, batchable, loaded), {
            correlationId: meta.correlationId,
            actor: SAGA_ACTOR,
            ...(traceId ? { traceId } : {}),
          });
        } catch (error) {
          if (!(error instanceof DomainError)) throw error;
          batch = undefined;
        }
      }
      await fault("decided", event);
      try {
        if (batch) {
          await store.appendToStreams([sagaAppend, ...batch.appends]);
          for (const m of batch.moot)
            logger?.info({ commandId: m.commandId, rule: m.error.rule, err: m.error.message }, "saga command moot");
          written = batchable.length;
        } else {
          const appended = await store.appendToStream(streamId, sagaAppend.events, { expectedRevision: sagaAppend.expectedRevision });
          if (!appended.appended) continue; // recorded by another instance meanwhile: follow its decision
        }
      } catch (error) {
        if (!(error instanceof WrongExpectedVersionError) || attempt >= MAX_STEP_ATTEMPTS) throw error;
        // Someone else wrote to the saga or to a target stream: read again and decide again.
        await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(200, 5 * 2 ** attempt)));
        continue;
      }
      logger?.debug(
        { orderId, input: input.type, status: reaction.status, commands: reaction.commands.length, batched: written },
        "saga step recorded",
      );
      break;
    }
    await fault("recorded", event);
    const recorded = step;

    // The step's deadlines first: a timeout must exist even if a command below keeps failing.
    for (const d of recorded.schedule) {
      await scheduleDeadline(sql, {
        deadlineId: d.deadlineId,
        streamId: sagaInboxStreamId(orderId),
        payload: {
          orderId,
          kind: d.kind,
          correlationId: meta.correlationId,
          ...(d.stepId === undefined ? {} : { stepId: d.stepId }),
          ...(d.attempt === undefined ? {} : { attempt: d.attempt }),
        },
        dueAt: d.dueAt,
      });
    }
    for (const id of recorded.cancel) await cancelDeadline(sql, id, clock.now());
    await fault("deadlines", event);

    if (recorded.park)
      await markNeedsAttention(sql, {
        orderId,
        stepId: recorded.stepId,
        error: recorded.park.error,
        attempts: 0,
        since: recorded.decidedAt,
      });

    try {
      for (const [i, command] of recorded.commands.entries()) {
        if (i >= written) await issue(command, meta);
        await fault(`command:${i}`, event);
      }
    } catch (error) {
      if (!(error instanceof GatewayError)) throw error;
      await recordGatewayFailure(orderId, recorded, error, meta, event);
      return;
    }
    await fault("commands", event);

    if (recorded.retryOf) {
      await store.appendToStream(
        streamId,
        [
          {
            id: uuidV5(JSON.stringify(["orderSaga-recovered", orderId, recorded.stepId]), EVENT_ID_NAMESPACE),
            type: "SagaRecovered",
            data: { stepId: recorded.retryOf, at: clock.now().toISOString() },
            metadata: meta,
          },
        ],
        { expectedRevision: "any" },
      );
      await clearAttention(sql, orderId);
      logger?.info({ orderId, stepId: recorded.retryOf }, "saga recovered");
    }
  }

  async function recordGatewayFailure(
    orderId: string,
    step: SagaStepRecorded["data"],
    error: GatewayError,
    meta: EventMetadata,
    event: RecordedEvent,
  ): Promise<void> {
    const origin = step.retryOf ?? step.stepId;
    const failureId = uuidV5(JSON.stringify(["orderSaga-failed", orderId, origin, step.stepId]), EVENT_ID_NAMESPACE);
    const saga = await loadSaga(store, orderId);
    // A re-delivered step whose failure is already recorded keeps that record's attempt and times.
    const earlier = saga.events.find((e) => e.id === failureId)?.data as { attempt: number; at: string } | undefined;
    const attempt = earlier?.attempt ?? (saga.state.failure?.stepId === origin ? saga.state.failure.attempts : 0) + 1;
    const parked = attempt >= retry.maxAttempts;
    const now = earlier ? new Date(earlier.at) : clock.now();
    const nextAttemptAt = parked
      ? undefined
      : new Date(now.getTime() + Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1))).toISOString();
    const commands: SagaCommand[] = step.commands;
    await store.appendToStream(
      sagaStreamId(orderId),
      [
        {
          // One failure per executing step (the original, each retry, each resume): a re-delivery of
          // the same step finds its failure already recorded.
          id: failureId,
          type: "SagaCommandFailed",
          data: {
            stepId: origin,
            attempt,
            error: error.message,
            commands,
            parked,
            at: now.toISOString(),
            ...(nextAttemptAt ? { nextAttemptAt } : {}),
          } as never,
          metadata: meta,
        },
      ],
      { expectedRevision: "any" },
    );
    await fault("failed", event);
    if (parked) {
      logger?.error({ orderId, stepId: origin, attempt, err: error }, "saga parked: needs attention");
      await markNeedsAttention(sql, { orderId, stepId: origin, error: error.message, attempts: attempt, since: now.toISOString() });
    } else {
      logger?.warn({ orderId, stepId: origin, attempt, nextAttemptAt, err: error }, "saga command failed at the gateway; retry scheduled");
      await clearAttention(sql, orderId); // retrying (again, after a resume): not parked any more
      await scheduleDeadline(sql, {
        deadlineId: `${orderId}/retry/${step.stepId}`,
        streamId: sagaInboxStreamId(orderId),
        payload: { orderId, kind: "retry", stepId: origin, attempt, correlationId: meta.correlationId },
        dueAt: nextAttemptAt!,
      });
    }
  }

  async function issue(c: SagaCommand, meta: EventMetadata): Promise<void> {
    const envelope = { commandId: c.commandId, correlationId: meta.correlationId, actor: SAGA_ACTOR };
    try {
      switch (c.target) {
        case "order":
          await handleCommand(store, orderDecider, { ...envelope, streamId: orderStream(c.command.orderId), command: c.command });
          return;
        case "inventory":
          await handleCommand(store, inventoryDecider, {
            ...envelope,
            streamId: inventoryStream(c.command.sku, c.command.warehouseId),
            command: c.command,
          });
          return;
        case "payment":
          await handleCommand(store, paymentDecider, { ...envelope, streamId: paymentStream(c.command.paymentId), command: c.command });
          return;
        case "gateway":
          await callGateway(c, envelope);
          return;
        case "flashSale":
          if (!deps.flashSaleStock)
            throw new Error(`order ${c.orderId} came from a flash-sale claim, but no flash-sale stock is wired into the saga`);
          await deps.flashSaleStock.apply(c);
          return;
      }
    } catch (error) {
      if (error instanceof DomainError && c.mootOk) {
        logger?.info({ commandId: c.commandId, rule: error.rule, err: error.message }, "saga command moot");
        return;
      }
      throw error;
    }
  }

  async function callGateway(
    c: Extract<SagaCommand, { target: "gateway" }>,
    envelope: { commandId: string; correlationId: string; actor: string },
  ): Promise<void> {
    const payment = (await loadAggregate(store, paymentDecider, paymentStream(c.paymentId))).state;
    const gatewayPaymentId = (p: PaymentState) => (p.status !== "NONE" ? (p.gatewayPaymentId ?? p.gatewayReference) : undefined);
    switch (c.op) {
      case "startPayment": {
        if (payment.status !== "NONE") return; // already initiated: the gateway was called before
        const result = await gateway.initiate({
          paymentId: c.paymentId,
          orderId: c.orderId,
          amount: c.amount,
          currency: c.currency,
          method: c.method,
          idempotencyKey: c.commandId,
        });
        await handleCommand(store, paymentDecider, {
          ...envelope,
          streamId: paymentStream(c.paymentId),
          command: {
            type: "InitiatePayment",
            paymentId: c.paymentId,
            orderId: c.orderId,
            amount: c.amount,
            currency: c.currency,
            method: c.method,
            gatewayReference: result.gatewayPaymentId,
            paymentUrl: result.paymentUrl,
            at: c.at,
          },
        });
        return;
      }
      case "void": {
        const gp = gatewayPaymentId(payment);
        await gateway.void({
          paymentId: c.paymentId,
          ...(gp ? { gatewayPaymentId: gp } : {}),
          reason: c.reason,
          idempotencyKey: c.commandId,
        });
        return;
      }
      case "refund": {
        const refund = payment.status === "NONE" ? undefined : payment.refunds.find((r) => r.refundId === c.refundId);
        if (refund?.status !== "PENDING") return; // done already (or never asked)
        const gp = gatewayPaymentId(payment);
        const result = await gateway.refund({
          paymentId: c.paymentId,
          ...(gp ? { gatewayPaymentId: gp } : {}),
          refundId: c.refundId,
          amount: c.amount,
          currency: c.currency,
          reason: c.reason,
          idempotencyKey: c.commandId,
        });
        if (result.status === "processed") {
          await handleCommand(store, paymentDecider, {
            ...envelope,
            commandId: `${c.commandId}/processed`,
            streamId: paymentStream(c.paymentId),
            command: {
              type: "RecordRefundProcessed",
              paymentId: c.paymentId,
              refundId: c.refundId,
              gatewayEventId: `direct:${result.gatewayRefundId}`,
              at: clock.now().toISOString(),
            },
          });
        }
        return;
      }
    }
  }
}

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

/** Several partitions seen as one processor (the readiness check, tests). */
function aggregateProcessor(parts: readonly RunningProcessor[]): RunningProcessor {
  return {
    name: ORDER_SAGA_PROCESSOR,
    async caughtUpTo(checkpoint, timeoutMs) {
      await Promise.all(parts.map((p) => p.caughtUpTo(checkpoint, timeoutMs)));
    },
    async status(): Promise<ProcessorStatus> {
      const all = await Promise.all(parts.map((p) => p.status()));
      const min = (a: Checkpoint, b: Checkpoint) => (b < a ? b : a);
      const max = (a: Checkpoint, b: Checkpoint) => (b > a ? b : a);
      const last = all.map((s) => s.lastProcessedAt).filter((t): t is string => t !== null);
      return {
        name: ORDER_SAGA_PROCESSOR,
        checkpoint: all.map((s) => s.checkpoint).reduce(min),
        head: all.map((s) => s.head).reduce(max),
        caughtUp: all.every((s) => s.caughtUp),
        parked: all.reduce((n, s) => n + s.parked, 0),
        lastProcessedAt: last.length === 0 ? null : last.reduce(max),
      };
    },
    async stop() {
      await Promise.all(parts.map((p) => p.stop()));
    },
  };
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
  const processor = parts.length === 1 ? parts[0]! : aggregateProcessor(parts);
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
