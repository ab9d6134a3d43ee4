// A whole little world for saga integration tests: event store + SQL (PGlite or a throwaway
// PostgreSQL database), the simulated gateway, a controllable clock, the saga processor and the
// deadline scheduler, and helpers to place orders, pay, and read the aggregates back.

import { randomUUID } from "node:crypto";
import { fold, type Decider, type DomainEvent } from "../../src/aggregates/decider.js";
import { inventoryDecider, stockLawHolds, streamId as inventoryStream, type InventoryState } from "../../src/aggregates/inventory.js";
import { orderDecider, streamId as orderStream, type Order, type OrderCommand, type OrderLine } from "../../src/aggregates/order.js";
import { paymentDecider, streamId as paymentStream, type Payment } from "../../src/aggregates/payment.js";
import type { PaymentMethod } from "../../src/aggregates/rules.js";
import { applyGatewayEvent } from "../../src/payments/gateway-events.js";
import { handleCommand } from "../../src/commands/handle-command.js";
import { openEventStore, openSqlClient, START, type Checkpoint, type EventStore, type RecordedEvent } from "../../src/eventstore/index.js";
import { encodeCheckpoint } from "../../src/eventstore/postgres/postgres-event-store.js";
import type { SqlClient } from "../../src/infrastructure/sql/sql-client.js";
import type { GatewayWebhookBody } from "../../src/payments/gateway-webhook.js";
import { SimulatedPaymentGateway } from "../../src/payments/simulated-gateway.js";
import { paymentIdFor, sagaStreamId, type SagaEvent } from "../../src/sagas/order-saga.js";
import { startOrderSaga, type RunningOrderSaga } from "../../src/sagas/order-saga-runner.js";
import type { InventoryLocator } from "../../src/sagas/inventory-locator.js";
import { loadSaga, type FaultPoint } from "../../src/sagas/saga-step.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";

export const PAYMENT_TIMEOUT_MS = 60_000;
export const RESERVATION_TTL_MS = 120_000;

/** An Order command without its orderId and time (the world adds them). */
export type OrderCommandBody = OrderCommand extends infer C ? (C extends OrderCommand ? Omit<C, "orderId" | "at"> : never) : never;

export class TestClock {
  constructor(private ms = Date.parse("2026-03-01T10:00:00.000Z")) {}
  now = (): Date => new Date(this.ms);
  advance(ms: number): void {
    this.ms += ms;
  }
}

export type Backend = "pglite" | "postgres";

export interface WorldOptions {
  faults?: (point: FaultPoint, event: RecordedEvent) => void | Promise<void>;
  retry?: { maxAttempts?: number; baseDelayMs?: number; maxDelayMs?: number };
  /** The processor's own retry of a failing event (default: 2 quick attempts). */
  processorRetry?: { maxAttempts?: number; baseDelayMs?: number; maxDelayMs?: number };
  /** Saga partitions (default 1). */
  partitions?: number;
  /** Where the saga learns which warehouses stock a SKU (default: a fresh EventStoreInventoryLocator). */
  locator?: InventoryLocator;
}

export interface World {
  store: EventStore;
  sql: SqlClient;
  gateway: SimulatedPaymentGateway;
  clock: TestClock;
  saga: RunningOrderSaga;
  /** Unique per world: prefix for SKUs and order ids. */
  id: string;
  restartSaga(options?: WorldOptions): Promise<void>;
  settle(): Promise<void>;
  receive(sku: string, warehouseId: string, quantity: number): Promise<void>;
  place(lines: { sku: string; quantity: number; unitPrice?: number }[], paymentMethod?: PaymentMethod, orderId?: string): Promise<string>;
  orderCommand(orderId: string, command: OrderCommandBody): Promise<void>;
  gatewayEvent(orderId: string, outcome: "captured" | "failed", eventId?: string): Promise<GatewayWebhookBody>;
  order(orderId: string): Promise<Order>;
  payment(orderId: string): Promise<Payment | undefined>;
  inventory(sku: string, warehouseId: string): Promise<InventoryState>;
  sagaEvents(orderId: string): Promise<SagaEvent[]>;
  sagaStatus(orderId: string): Promise<string>;
  /** Counts of event types over the whole log, optionally only streams starting with a prefix. */
  countTypes(streamPrefix?: string): Promise<Record<string, number>>;
  allInventoryLawsHold(): Promise<boolean>;
  /** True when every committed event is visible to subscribers (no transaction holds the horizon back). */
  allVisible(): Promise<boolean>;
  /** The newest committed event's checkpoint, read past the subscription horizon (START for an empty log). */
  lastCommitted(): Promise<Checkpoint>;
  close(): Promise<void>;
}

const address = { name: "A Customer", line1: "1 Main Road", city: "Bengaluru", state: "KA", pincode: "560001", phone: "9999999999" };

async function foldStream<C, E extends DomainEvent, S>(store: EventStore, decider: Decider<C, E, S>, streamId: string): Promise<S> {
  const events = await store.readStream(streamId);
  return fold(
    decider,
    events.map((e) => ({ type: e.type, data: e.data }) as unknown as E),
  );
}

export async function openWorld(backend: Backend, options: WorldOptions = {}): Promise<World> {
  let database: TestDatabase | undefined;
  let sql: SqlClient;
  if (backend === "postgres") {
    database = await createTestDatabase();
    sql = await openSqlClient({ databaseUrl: database.url });
  } else {
    sql = await openSqlClient({});
  }
  const store = await openEventStore({ sql, pollIntervalMs: 20 });
  const clock = new TestClock();
  const gateway = new SimulatedPaymentGateway({ publicBaseUrl: "http://shop.test", now: clock.now });
  const id = randomUUID().slice(0, 8);

  const start = (o: WorldOptions) =>
    startOrderSaga({
      store,
      sql,
      gateway,
      clock,
      config: {
        paymentTimeoutMs: PAYMENT_TIMEOUT_MS,
        reservationTtlMs: RESERVATION_TTL_MS,
        retry: { maxAttempts: 3, baseDelayMs: 1_000, maxDelayMs: 10_000, ...o.retry },
      },
      schedulerPollMs: false,
      processorRetry: o.processorRetry ?? { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 20 },
      ...(o.faults ? { faults: o.faults } : {}),
      ...(o.partitions ? { partitions: o.partitions } : {}),
      ...(o.locator ? { locator: o.locator } : {}),
    });

  const world: World = {
    store,
    sql,
    gateway,
    clock,
    id,
    saga: await start(options),
    async restartSaga(o = {}) {
      await world.saga.stop();
      world.saga = await start(o);
    },
    async settle() {
      for (let i = 0; i < 1_000; i++) {
        const head = await store.headCheckpoint();
        await world.saga.caughtUpTo(head, 20_000);
        const fired = await world.saga.scheduler.tick();
        // Settled only when the head the saga caught up with is the newest committed event: a head
        // held back by another database's open transaction may hide events the saga has not seen.
        if (fired === 0 && (await world.lastCommitted()) === head) return;
        if (fired === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      throw new Error("the saga did not settle");
    },
    async receive(sku, warehouseId, quantity) {
      await handleCommand(store, inventoryDecider, {
        streamId: inventoryStream(sku, warehouseId),
        command: { type: "ReceiveStock", sku, warehouseId, quantity, at: clock.now().toISOString() },
        commandId: randomUUID(),
        actor: "admin:test",
      });
    },
    async place(lines, paymentMethod = "UPI", orderId = `o-${randomUUID().slice(0, 8)}`) {
      const orderLines: OrderLine[] = lines.map((l) => ({ sku: l.sku, quantity: l.quantity, unitPrice: l.unitPrice ?? 1000 }));
      await handleCommand(store, orderDecider, {
        streamId: orderStream(orderId),
        command: {
          type: "PlaceOrder",
          orderId,
          customerId: "c-1",
          lines: orderLines,
          paymentMethod,
          shippingAddress: address,
          at: clock.now().toISOString(),
        },
        commandId: randomUUID(),
        actor: "customer:c-1",
      });
      return orderId;
    },
    async orderCommand(orderId, command) {
      await handleCommand(store, orderDecider, {
        streamId: orderStream(orderId),
        command: { ...command, orderId, at: clock.now().toISOString() } as OrderCommand,
        commandId: randomUUID(),
        actor: "ops:test",
      });
    },
    async gatewayEvent(orderId, outcome, eventId) {
      // With several orders in flight per partition, the log can look settled while a step is still
      // initiating its payment at the gateway: the customer pays once the gateway has the payment.
      for (const until = Date.now() + 20_000; !(await gateway.payment(paymentIdFor(orderId))) && Date.now() < until; )
        await new Promise((r) => setTimeout(r, 20));
      const body = await gateway.webhookBody(paymentIdFor(orderId), outcome, eventId);
      await applyGatewayEvent({ store }, body);
      return body;
    },
    order: async (orderId) => (await foldStream(store, orderDecider, orderStream(orderId))) as Order,
    async payment(orderId) {
      const p = await foldStream(store, paymentDecider, paymentStream(paymentIdFor(orderId)));
      return p.status === "NONE" ? undefined : p;
    },
    inventory: (sku, warehouseId) => foldStream(store, inventoryDecider, inventoryStream(sku, warehouseId)),
    async sagaEvents(orderId) {
      return (await store.readStream(sagaStreamId(orderId))).map((e) => ({ type: e.type, data: e.data }) as unknown as SagaEvent);
    },
    sagaStatus: async (orderId) => (await loadSaga(store, orderId)).state.status,
    async countTypes(streamPrefix) {
      const counts: Record<string, number> = {};
      let from = "";
      for (;;) {
        const page = await store.readAll({ from, maxCount: 1000 });
        for (const e of page.events) if (!streamPrefix || e.streamId.startsWith(streamPrefix)) counts[e.type] = (counts[e.type] ?? 0) + 1;
        if (page.events.length === 0 || page.checkpoint === from) return counts;
        from = page.checkpoint;
      }
    },
    async allInventoryLawsHold() {
      const streams = new Set<string>();
      let from = "";
      for (;;) {
        const page = await store.readAll({ from, maxCount: 1000, filter: { streamCategories: ["inventory"] } });
        for (const e of page.events) streams.add(e.streamId);
        if (page.events.length === 0 || page.checkpoint === from) break;
        from = page.checkpoint;
      }
      for (const s of streams) {
        const events = await store.readStream(s);
        let state: InventoryState = inventoryDecider.initialState;
        for (const e of events) {
          state = inventoryDecider.evolve(state, { type: e.type, data: e.data } as never);
          if (!stockLawHolds(state)) return false;
        }
      }
      return true;
    },
    async allVisible() {
      // The log's head as subscribers see it stops below the oldest running transaction (of any
      // database on the server): wait until nothing committed is hidden behind one.
      const { rows } = await sql.query<{ hidden: number }>(
        "SELECT count(*)::int AS hidden FROM es_events WHERE transaction_id >= pg_snapshot_xmin(pg_current_snapshot())",
      );
      return (rows[0]?.hidden ?? 0) === 0;
    },
    async lastCommitted() {
      const { rows } = await sql.query<{ transaction_id: string; global_position: string }>(
        "SELECT e.transaction_id::text AS transaction_id, e.global_position::text AS global_position FROM es_events e ORDER BY e.transaction_id DESC, e.global_position DESC LIMIT 1",
      );
      return rows[0] ? encodeCheckpoint(rows[0].transaction_id, rows[0].global_position) : START;
    },
    async close() {
      await world.saga.stop().catch(() => {});
      await store.close();
      await sql.close();
      await database?.drop();
    },
  };
  return world;
}

export const backends = (): Backend[] => (process.env.DATABASE_URL ? ["pglite", "postgres"] : ["pglite"]);
