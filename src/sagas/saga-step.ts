// One step of the order saga: what its handler does for each relevant event of the log,
//
//   1. loads the saga stream `orderSaga-<orderId>` and folds its state (or takes it from the
//      streams this process read or wrote last, recent-sagas.ts);
//   2. records the step: SagaStepRecorded {input, commands, deadlines, status}, whose event id is
//      derived from the input event's id, appended at the stream's expected revision. When the
//      step is already there (a re-delivery after a crash), the recorded step is used as is: the
//      same commands, the same ids, the same `at`;
//   3. issues the commands in order (saga-commands.ts) with their deterministic command ids (an
//      aggregate that already took a command id appends nothing; the gateway gets the command id
//      as idempotency key, and calls whose effect is already on the Payment are skipped);
//   4. schedules / cancels the step's deadlines (idempotent by deadline id).
//
// The processor (order-saga-runner.ts) stores the checkpoint after the handler returns; a crash
// anywhere above re-delivers the event and the handler converges to the same result. Gateway
// errors do not fail the event: they are recorded (SagaCommandFailed), retried by a `retry`
// deadline with exponential backoff, and after `maxAttempts` the saga is parked as needing
// attention (saga_attention table, see attention.ts) until `resumeSaga` is called.

import { DomainError } from "../aggregates/decider.js";
import { inventoryDecider, streamId as inventoryStream } from "../aggregates/inventory.js";
import { metadataOf, type CommandOrigin } from "../commands/envelope.js";
import { EVENT_ID_NAMESPACE, uuidV5 } from "../commands/event-id.js";
import { decideBatch, loadTargets, type BatchedCommand, type LoadedStream } from "../commands/command-batch.js";
import { EventIdConflictError, WrongExpectedVersionError } from "../eventstore/errors.js";
import type { EventMetadata, EventStore, RecordedEvent } from "../eventstore/port.js";
import type { SqlClient } from "../infrastructure/sql/sql-client.js";
import { activeTraceId, continueTraceOf, inSpan } from "../observability/tracing.js";
import { GatewayError } from "../payments/payment-gateway.js";
import { cancelDeadlines, scheduleDeadline, scheduleDeadlines } from "../scheduling/deadlines.js";
import { clearAttention, markNeedsAttention } from "./attention.js";
import { EventStoreInventoryLocator, type InventoryLocator } from "./inventory-locator.js";
import {
  foldSaga,
  react,
  SAGA_ACTOR,
  sagaInboxStreamId,
  sagaStreamId,
  type SagaCommand,
  type SagaConfig,
  type SagaEvent,
  type SagaInput,
  type SagaState,
  type SagaStepRecorded,
  type WarehouseAvailability,
} from "./order-saga.js";
import { batchablePrefix, sagaCommandIssuer, type SagaCommandTargets } from "./saga-commands.js";
import { RecentSagas, type RememberedSaga } from "./recent-sagas.js";
import { toSagaInput } from "./saga-inputs.js";
import { holdSkus, inProcessStockPlanningLock, type StockPlanningLock } from "./stock-planning-lock.js";

export interface SagaRetryPolicy {
  /** Gateway attempts before the saga is parked. Default 5. */
  maxAttempts: number;
  /** Backoff before attempt n+1: min(maxDelayMs, baseDelayMs * 2^(n-1)). Defaults 1 s and 5 min. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export interface OrderSagaDeps extends SagaCommandTargets {
  sql: SqlClient;
  config: SagaConfig & { retry?: Partial<SagaRetryPolicy> };
  locator?: InventoryLocator;
  /** Holds an order's SKUs while its stock is planned; default: within this process only. */
  stockLock?: StockPlanningLock;
  /** Tests only: called at each point of the handler; throwing there simulates a crash at that point. */
  faults?: (point: FaultPoint, event: RecordedEvent) => void | Promise<void>;
}

/**
 * "decided" (a new step decided, nothing written yet), "recorded" (step appended, together with its
 * leading aggregate commands on the fast path), "deadlines" (kept), "command:<i>" (after the i-th
 * command), "commands" (all done), "failed" (a gateway failure recorded).
 */
export type FaultPoint = `command:${number}` | "decided" | "recorded" | "commands" | "deadlines" | "failed";

export const stepIdFor = (orderId: string, inputEventId: string): string =>
  uuidV5(JSON.stringify(["orderSaga-step", orderId, inputEventId]), EVENT_ID_NAMESPACE);

const DEFAULT_RETRY: SagaRetryPolicy = { maxAttempts: 5, baseDelayMs: 1_000, maxDelayMs: 300_000 };

export interface LoadedSaga {
  state: SagaState;
  revision: number;
  events: RecordedEvent[];
}

const remembered = (saga: LoadedSaga): RememberedSaga => ({
  state: saga.state,
  revision: saga.revision,
  recorded: new Map(saga.events.map((e) => [e.id, e.data])),
});

const unstartedSaga = (): RememberedSaga => ({ state: foldSaga([]), revision: -1, recorded: new Map() });

export async function loadSaga(store: EventStore, orderId: string): Promise<LoadedSaga> {
  const events = await store.readStream(sagaStreamId(orderId));
  return {
    state: foldSaga(events.map((e) => ({ type: e.type, data: e.data }) as unknown as SagaEvent)),
    revision: events.at(-1)?.revision ?? -1,
    events,
  };
}

const MAX_STEP_ATTEMPTS = 8;

/** The saga's event handler (what the processor calls for each event). */
export function createOrderSagaHandler(deps: OrderSagaDeps): (event: RecordedEvent) => Promise<void> {
  const { store, sql, clock, logger } = deps;
  const locator = deps.locator ?? new EventStoreInventoryLocator(store);
  const retry: SagaRetryPolicy = { ...DEFAULT_RETRY, ...deps.config.retry };
  const fault = async (point: FaultPoint, event: RecordedEvent) => deps.faults?.(point, event);
  const issue = sagaCommandIssuer(deps);

  // An OrderPlaced step reads where the stock is and reserves it while holding the order's SKUs
  // (stock-planning-lock.ts), so two orders placed at once, in this process or another, never
  // plan on the same units. It holds them until its reservations are in the log, not for the rest
  // of the step (its deadlines): every placement of a hot SKU queues for that lock, so what it
  // covers bounds one SKU's placements per second.
  const stockLock = deps.stockLock ?? inProcessStockPlanningLock();
  // And every step of this process that writes to inventory streams (commits, releases, the
  // placements inside their stock lock) takes its SKUs in one in-process queue, from reading the
  // streams to appending. On a hot SKU, the steps of every lane of every partition otherwise raced
  // on its one stream, and each loser read it again and retried (after eight, the whole event).
  const inventoryWrites = inProcessStockPlanningLock();
  const recent = new RecentSagas();

  return async function handle(event: RecordedEvent): Promise<void> {
    const input = toSagaInput(event);
    if (!input) return;
    // One span per step, in the trace of the event it reacts to, so an order's flow stays one trace.
    const step = (planned?: () => void) =>
      inSpan(
        `saga step ${input.type}`,
        { "order.id": input.data.orderId, "event.id": event.id },
        () => handleInput(event, input, planned),
        continueTraceOf(event),
      );
    // An order from a flash-sale claim plans on no stock: its claim holds the units.
    if (input.type === "OrderPlaced" && !input.data.flashSale) {
      let planned!: () => void;
      const reserved = new Promise<void>((resolve) => (planned = resolve));
      let stepping!: Promise<void>;
      // Held until the step says its reservations are written, or until it ends (done or failed).
      const skus = input.data.lines.map((l) => l.sku);
      await stockLock.withSkus(skus, () =>
        inventoryWrites.withSkus(skus, () => {
          stepping = step(planned);
          return Promise.race([reserved, stepping]);
        }),
      );
      return stepping;
    }
    return step();
  };

  /**
   * `planned`, when given, is called once the step's stock reservations are in the log; it is
   * given to a placement, which holds its SKUs (stock and inventory writes) until then.
   */
  async function handleInput(event: RecordedEvent, firstInput: SagaInput, planned?: () => void): Promise<void> {
    let input = firstInput;
    const orderId = input.data.orderId;
    const streamId = sagaStreamId(orderId);
    const stepId = stepIdFor(orderId, event.id);
    // The step is the origin of its commands: they continue the input's conversation, and the trace
    // handle() continues (the span this runs in), which the step's own events store too.
    const origin: CommandOrigin = {
      commandId: stepId,
      correlationId: event.metadata.correlationId,
      actor: SAGA_ACTOR,
      traceId: activeTraceId(),
    };
    const meta: EventMetadata = { ...metadataOf(origin), causationId: event.id };
    // Decided once: a retry after a concurrent write decides again at the same time.
    const now = clock.now().toISOString();

    let step: SagaStepRecorded["data"] | undefined;
    /** Commands of the step already written together with it (the fast path). */
    let written = 0;
    for (let attempt = 1; ; attempt++) {
      // The remembered stream on the first try; a retry (or a decision to do nothing) reads it anew.
      // A placement's saga is taken to be new without reading it: if it is not (a re-delivery), the
      // append at "no stream" fails and the step reads the stream.
      const known = attempt === 1 ? (recent.get(orderId) ?? (input.type === "OrderPlaced" ? unstartedSaga() : undefined)) : undefined;
      const saga = known ?? remembered(await loadSaga(store, orderId));
      if (!known) recent.remember(orderId, saga);
      step = saga.recorded.get(stepId) as SagaStepRecorded["data"] | undefined;
      if (step) break;
      if (saga.state.status === "NEW" && input.type !== "OrderPlaced") {
        if (known) continue;
        return;
      }
      const loaded = new Map<string, LoadedStream>();
      if (input.type === "OrderPlaced" && !input.data.flashSale) {
        // Where the stock is, read from the inventory streams themselves: the reservations below
        // are appended at exactly the revisions this plan was made from, so a concurrent
        // reservation (another partition, another instance) fails the append and the step is
        // planned again; the per-SKU lock only makes that rare.
        const stock: Record<string, WarehouseAvailability[]> = {};
        const warehouses = new Map<string, string[]>();
        const wanted = new Map<string, number>();
        for (const line of input.data.lines) wanted.set(line.sku, (wanted.get(line.sku) ?? 0) + line.quantity);
        const availableIn = (sku: string, warehouseId: string) =>
          (loaded.get(inventoryStream(sku, warehouseId))?.state as { available: number } | undefined)?.available ?? 0;
        const load = (skus: Iterable<string>) =>
          loadTargets(
            store,
            [...skus].flatMap((sku) =>
              warehouses.get(sku)!.map(
                (warehouseId): BatchedCommand => ({
                  decider: inventoryDecider,
                  streamId: inventoryStream(sku, warehouseId),
                  command: null,
                  commandId: "",
                }),
              ),
            ),
            loaded,
          );
        for (const sku of wanted.keys()) warehouses.set(sku, await locator.warehousesOf(sku));
        await load(wanted.keys());
        // The locator's map may be a moment old: where the warehouses it knows cannot cover a SKU,
        // ask again with the log read to its head (a warehouse stocked just now may).
        const short = [...wanted].filter(([sku, n]) => warehouses.get(sku)!.reduce((sum, id) => sum + availableIn(sku, id), 0) < n);
        for (const [sku] of short) warehouses.set(sku, await locator.warehousesOf(sku, { fresh: true }));
        await load(short.map(([sku]) => sku));
        for (const sku of wanted.keys())
          stock[sku] = warehouses.get(sku)!.map((warehouseId) => ({ warehouseId, available: availableIn(sku, warehouseId) }));
        input = { type: "OrderPlaced", data: { ...input.data, stock } };
      }
      const reaction = react(saga.state, input, { now, config: deps.config });
      if (!reaction) {
        if (known) continue;
        return;
      }
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
      const writesSkus = planned
        ? []
        : step.commands.slice(0, batchable.length).flatMap((c) => (c.target === "inventory" ? [c.command.sku] : []));
      let sagaAppended = false;
      const release = writesSkus.length > 0 ? await holdSkus(inventoryWrites, writesSkus) : undefined;
      try {
        let batch: ReturnType<typeof decideBatch> | undefined;
        if (batchable.length > 0) {
          try {
            batch = decideBatch(batchable, await loadTargets(store, batchable, loaded), metadataOf(origin));
          } catch (error) {
            if (!(error instanceof DomainError)) throw error;
            batch = undefined;
          }
        }
        await fault("decided", event);
        try {
          if (batch) {
            sagaAppended = (await store.appendToStreams([sagaAppend, ...batch.appends]))[0]!.appended;
            for (const m of batch.moot)
              logger?.info({ commandId: m.commandId, rule: m.error.rule, err: m.error.message }, "saga command moot");
            written = batchable.length;
          } else {
            const appended = await store.appendToStream(streamId, sagaAppend.events, { expectedRevision: sagaAppend.expectedRevision });
            if (!appended.appended) continue; // recorded by another instance meanwhile: follow its decision
            sagaAppended = true;
          }
        } catch (error) {
          // Decided from memory (or taken as new): the stream had moved on. Read it and look again.
          if (known && (error instanceof WrongExpectedVersionError || error instanceof EventIdConflictError)) {
            recent.forget(orderId);
            continue;
          }
          if (!(error instanceof WrongExpectedVersionError) || attempt >= MAX_STEP_ATTEMPTS) throw error;
          // Someone else wrote to the saga or to a target stream: read again and decide again.
          recent.forget(orderId);
          release?.(); // not held while waiting
          await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(200, 5 * 2 ** attempt)));
          continue;
        }
      } finally {
        release?.();
      }
      // Already stored by an earlier delivery: the recorded step, not this decision, is the one to follow.
      if (!sagaAppended && known) {
        recent.forget(orderId);
        continue;
      }
      // The stream as it is now, without reading it: what was known plus the step just appended.
      if (sagaAppended)
        recent.remember(orderId, {
          state: foldSaga([{ type: "SagaStepRecorded", data: step } as SagaEvent], saga.state),
          revision: saga.revision + 1,
          recorded: new Map([...saga.recorded, [stepId, step]]),
        });
      else recent.forget(orderId);
      logger?.debug(
        { orderId, input: input.type, status: reaction.status, commands: reaction.commands.length, batched: written },
        "saga step recorded",
      );
      break;
    }
    await fault("recorded", event);
    const recorded = step;
    // Written with the step (the fast path): the next order of these SKUs may plan now. Otherwise
    // (a step recorded alone, or found recorded) they are issued below, and the lock is held to the end.
    if (recorded.commands.slice(written).every((c) => c.target !== "inventory")) planned?.();

    // The step's deadlines first: a timeout must exist even if a command below keeps failing.
    await scheduleDeadlines(
      sql,
      recorded.schedule.map((d) => ({
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
      })),
    );
    await cancelDeadlines(sql, recorded.cancel, clock.now());
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
        if (i >= written) await issue(command, origin);
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
      recent.forget(orderId);
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
    recent.forget(orderId);
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
}
