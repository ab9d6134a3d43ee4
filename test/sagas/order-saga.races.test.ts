// Duplicate, late and out-of-order inputs; orders racing for the last unit; deadlines across a
// restart of the whole process (saga + scheduler).

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RecordedEvent } from "../../src/eventstore/port.js";
import { toSagaInput } from "../../src/sagas/saga-inputs.js";
import { streamId as inventoryStream } from "../../src/aggregates/inventory.js";
import { streamId as paymentStream } from "../../src/aggregates/payment.js";
import { WrongExpectedVersionError } from "../../src/eventstore/errors.js";
import { paymentIdFor } from "../../src/sagas/order-saga.js";
import { createOrderSagaHandler, type FaultPoint } from "../../src/sagas/saga-step.js";
import { listSagasNeedingAttention } from "../../src/sagas/attention.js";
import { listDeadlines } from "../../src/scheduling/deadlines.js";
import { backends, openWorld, PAYMENT_TIMEOUT_MS, RESERVATION_TTL_MS, type World } from "./harness.js";

describe.each(backends())("order saga: duplicates, races, restarts (%s)", (backend) => {
  let w: World;
  let A: string;
  beforeEach(async () => {
    w = await openWorld(backend);
    A = `A-${w.id}`;
  });
  afterEach(async () => w.close());
  /** What a saga instance of its own (as another app process would run) is built from. */
  const sagaDeps = () => ({
    store: w.store,
    sql: w.sql,
    gateway: w.gateway,
    clock: w.clock,
    config: { paymentTimeoutMs: PAYMENT_TIMEOUT_MS, reservationTtlMs: RESERVATION_TTL_MS },
  });

  it("the same capture webhook twice: one capture, one confirmation", async () => {
    await w.receive(A, "w1", 1);
    const orderId = await w.place([{ sku: A, quantity: 1 }]);
    await w.settle();
    await w.gatewayEvent(orderId, "captured", "evt-same");
    await w.gatewayEvent(orderId, "captured", "evt-same");
    await w.settle();
    await w.gatewayEvent(orderId, "captured", "evt-same");
    await w.settle();
    const counts = await w.countTypes();
    expect(counts).toMatchObject({ PaymentCaptured: 1, OrderConfirmed: 1, StockCommitted: 1, OrderProcessingStarted: 1 });
    expect(counts.GatewayEventIgnored).toBeUndefined();
    expect((await w.order(orderId)).status).toBe("PROCESSING");
  });

  it("a second capture with another id is ignored (no double charge, no refund)", async () => {
    await w.receive(A, "w1", 1);
    const orderId = await w.place([{ sku: A, quantity: 1 }]);
    await w.settle();
    await w.gatewayEvent(orderId, "captured", "evt-1");
    await w.gatewayEvent(orderId, "captured", "evt-2");
    await w.settle();
    expect(await w.countTypes()).toMatchObject({ PaymentCaptured: 1, GatewayEventIgnored: 1, OrderConfirmed: 1 });
    expect((await w.countTypes()).RefundRequested).toBeUndefined();
  });

  it("`failed` after `captured` changes nothing", async () => {
    await w.receive(A, "w1", 1);
    const orderId = await w.place([{ sku: A, quantity: 1 }]);
    await w.settle();
    await w.gatewayEvent(orderId, "captured", "evt-cap");
    await w.gatewayEvent(orderId, "failed", "evt-fail");
    await w.settle();
    expect(await w.order(orderId)).toMatchObject({ status: "PROCESSING", paymentStatus: "CAPTURED" });
    expect((await w.payment(orderId))?.status).toBe("CAPTURED");
    const counts = await w.countTypes();
    expect(counts.PaymentFailed).toBeUndefined();
    expect(counts.GatewayEventIgnored).toBe(1);
    expect((await w.inventory(A, "w1")).committed).toBe(1);
  });

  it("`failed` then a late `captured`: cancelled, and the late money is refunded once", async () => {
    await w.receive(A, "w1", 1);
    const orderId = await w.place([{ sku: A, quantity: 1, unitPrice: 1500 }]);
    await w.settle();
    await w.gatewayEvent(orderId, "failed", "evt-fail");
    await w.settle();
    await w.gatewayEvent(orderId, "captured", "evt-cap");
    await w.gatewayEvent(orderId, "captured", "evt-cap");
    await w.settle();
    // Money did arrive after `failed`: the Payment records the capture, and the saga gives it back.
    expect(await w.payment(orderId)).toMatchObject({ status: "REFUNDED", capturedAmount: 1500, refundedAmount: 1500 });
    expect(await w.order(orderId)).toMatchObject({ status: "CANCELLED", cancellationReason: "PAYMENT_FAILED", paymentStatus: "REFUNDED" });
    expect(await w.countTypes()).toMatchObject({ PaymentCaptured: 1, RefundRequested: 1, RefundProcessed: 1 });
    expect(w.gateway.effects.refund).toBe(1);
  });

  it("a capture after the timeout: refunded exactly once, even when the webhook repeats", async () => {
    await w.receive(A, "w1", 1);
    const orderId = await w.place([{ sku: A, quantity: 1, unitPrice: 800 }]);
    await w.settle();
    w.clock.advance(PAYMENT_TIMEOUT_MS + 5);
    await w.settle();
    await w.gatewayEvent(orderId, "captured", "evt-late");
    await w.settle();
    await w.gatewayEvent(orderId, "captured", "evt-late");
    await w.gatewayEvent(orderId, "captured", "evt-late-2");
    await w.settle();
    expect(await w.countTypes()).toMatchObject({
      PaymentCaptured: 1,
      CaptureAfterVoidFlagged: 1,
      RefundRequested: 1,
      RefundProcessed: 1,
      PaymentVoided: 1,
    });
    expect(w.gateway.effects).toMatchObject({ refund: 1, void: 1 });
    expect(await w.order(orderId)).toMatchObject({ status: "CANCELLED", cancellationReason: "PAYMENT_TIMEOUT", paymentStatus: "REFUNDED" });
  });

  it("two orders racing for the last unit (two saga instances at once): exactly one proceeds, the other is OUT_OF_STOCK", async () => {
    await w.saga.stop();
    const skus = [0, 1, 2].map((i) => `${A}-${i}`);
    for (const sku of skus) await w.receive(sku, "w1", 1);
    const pairs = await Promise.all(
      skus.map(async (sku) => [await w.place([{ sku, quantity: 1 }], "COD"), await w.place([{ sku, quantity: 1 }], "COD")] as const),
    );
    const placed: RecordedEvent[] = [];
    for (const pair of pairs) for (const id of pair) placed.push(...(await w.store.readStream(`order-${id}`)));
    expect(placed).toHaveLength(6);
    // A processor would deliver them only once they are below the subscription horizon; so do we.
    while (!(await w.allVisible())) await new Promise((resolve) => setTimeout(resolve, 20));
    // Two saga instances (as two app processes would be) handle the placements concurrently.
    const deps = sagaDeps();
    const one = createOrderSagaHandler(deps);
    const two = createOrderSagaHandler(deps);
    await Promise.all(placed.map((e, i) => (i % 2 === 0 ? one(e) : two(e))));
    await w.restartSaga();
    await w.settle();
    for (const [first, second] of pairs) {
      const statuses = [(await w.order(first)).status, (await w.order(second)).status].sort();
      expect(statuses).toEqual(["CANCELLED", "PROCESSING"]);
      const loser = (await w.order(first)).status === "CANCELLED" ? first : second;
      expect((await w.order(loser)).cancellationReason).toBe("OUT_OF_STOCK");
    }
    for (const sku of skus) expect(await w.inventory(sku, "w1")).toMatchObject({ available: 0, committed: 1, reserved: 0 });
    // Both instances saw the unit available and asked for it; the Inventory aggregate refused one.
    expect(await w.countTypes()).toMatchObject({ StockReserved: 3, StockReservationRejected: 3 });
    expect(await w.allInventoryLawsHold()).toBe(true);
  });

  it("a placement holds its SKU only until its reservation is written: the next order of that SKU plans while the first step still runs", async () => {
    await w.saga.stop();
    await w.receive(A, "w1", 10);
    const first = await w.place([{ sku: A, quantity: 1 }]);
    const second = await w.place([{ sku: A, quantity: 1 }]);
    while (!(await w.allVisible())) await new Promise((resolve) => setTimeout(resolve, 20));
    const placements = [...(await w.store.readStream(`order-${first}`)), ...(await w.store.readStream(`order-${second}`))];
    const reservedFor = async (orderId: string) =>
      (await w.store.readStream(inventoryStream(A, "w1"))).some(
        (e) => e.type === "StockReserved" && (e.data as { orderId: string }).orderId === orderId,
      );
    // The first order's step stops after its reservation and its deadlines, before it ends, until
    // the second order has reserved too (or 5 s have passed).
    let secondReservedMeanwhile: boolean | undefined;
    const faults = async (point: FaultPoint, event: RecordedEvent) => {
      if (point !== "deadlines" || toSagaInput(event)?.data.orderId !== first) return;
      for (const until = Date.now() + 5_000; !(await reservedFor(second)) && Date.now() < until; )
        await new Promise((resolve) => setTimeout(resolve, 20));
      secondReservedMeanwhile = await reservedFor(second);
    };
    const handle = createOrderSagaHandler({ ...sagaDeps(), faults });
    await Promise.all(placements.map((e) => handle(e)));
    expect(secondReservedMeanwhile).toBe(true);
    expect(await w.inventory(A, "w1")).toMatchObject({ available: 8, reserved: 2 });
    // (From the streams: the log as a subscriber reads it may lag behind another test's open transaction.)
    for (const orderId of [first, second]) expect((await w.sagaEvents(orderId)).map((e) => e.type)).toEqual(["SagaStepRecorded"]);
  });

  it("captures of one hot SKU's orders handled side by side: their stock commits queue in the process instead of racing on the stream", async () => {
    await w.receive(A, "w1", 100);
    const orders: string[] = [];
    for (let i = 0; i < 12; i++) orders.push(await w.place([{ sku: A, quantity: 1 }]));
    await w.settle();
    await w.saga.stop();
    for (const orderId of orders) await w.gatewayEvent(orderId, "captured");
    while (!(await w.allVisible())) await new Promise((resolve) => setTimeout(resolve, 20));
    const captures = (await Promise.all(orders.map((id) => w.store.readStream(paymentStream(paymentIdFor(id)))))).map(
      (events) => events.find((e) => e.type === "PaymentCaptured")!,
    );
    // One saga instance, every capture at once (as a partition's lanes would), over a store that counts lost races.
    let conflicts = 0;
    const store = new Proxy(w.store, {
      get(target, property) {
        const value = Reflect.get(target, property, target);
        if (typeof value !== "function") return value;
        if (property !== "appendToStreams" && property !== "appendToStream") return value.bind(target);
        return async (...args: unknown[]) => {
          try {
            return await value.apply(target, args);
          } catch (error) {
            if (error instanceof WrongExpectedVersionError) conflicts++;
            throw error;
          }
        };
      },
    });
    const handle = createOrderSagaHandler({ ...sagaDeps(), store });
    await Promise.all(captures.map((e) => handle(e)));
    expect(conflicts).toBe(0);
    expect(await w.inventory(A, "w1")).toMatchObject({ available: 88, reserved: 0, committed: 12 });
    for (const orderId of orders) expect((await w.order(orderId)).status).toBe("PROCESSING");
    expect(await w.allInventoryLawsHold()).toBe(true);
  });

  it("a saga instance that remembers an order, while another instance moved it on, decides from the stream: no step twice, nothing skipped", async () => {
    await w.saga.stop();
    await w.receive(A, "w1", 1);
    const orderId = await w.place([{ sku: A, quantity: 1 }]);
    const deps = sagaDeps();
    const one = createOrderSagaHandler(deps);
    const two = createOrderSagaHandler(deps);
    const input = async (type: string): Promise<RecordedEvent> => {
      while (!(await w.allVisible())) await new Promise((resolve) => setTimeout(resolve, 20));
      const { events } = await w.store.readAll({ maxCount: 10_000 });
      const found = events.find((e) => e.type === type && toSagaInput(e)?.data.orderId === orderId);
      if (!found) throw new Error(`no ${type} for ${orderId}`);
      return found;
    };
    // One handles the placement (and remembers the saga stream as it wrote it) ...
    await one(await input("OrderPlaced"));
    // ... two takes the reservation, and starts the payment: a step one has not seen.
    await two(await input("StockReserved"));
    // One gets the next input: from its memory (still reserving) it would ignore it; it reads anew.
    const initiated = await input("PaymentInitiated");
    await one(initiated);
    // Two gets that input again (a re-delivery): its memory is behind, the step is recorded once.
    await two(initiated);
    const steps = (await w.sagaEvents(orderId)).filter((e) => e.type === "SagaStepRecorded");
    expect(steps.map((e) => (e.data as { input: { type: string } }).input.type)).toEqual([
      "OrderPlaced",
      "StockReserved",
      "PaymentInitiated",
    ]);
    expect((await w.order(orderId)).status).toBe("PAYMENT_PENDING");
    expect(w.gateway.effects.initiate).toBe(1);
  });

  it("payment deadline across a restart: the saga and scheduler stop while waiting; after the restart the order is cancelled and the stock is back", async () => {
    await w.receive(A, "w1", 2);
    const orderId = await w.place([{ sku: A, quantity: 2 }]);
    await w.settle();
    expect((await w.order(orderId)).status).toBe("PAYMENT_PENDING");
    expect((await listDeadlines(w.sql, { prefix: orderId, status: "PENDING" })).map((d) => d.deadlineId).sort()).toEqual([
      `${orderId}/paymentTimeout`,
      `${orderId}/reservationExpiry`,
    ]);
    await w.saga.stop();
    w.clock.advance(PAYMENT_TIMEOUT_MS + 1_000);
    await w.restartSaga();
    await w.settle();
    expect(await w.order(orderId)).toMatchObject({ status: "CANCELLED", cancellationReason: "PAYMENT_TIMEOUT" });
    expect(await w.inventory(A, "w1")).toMatchObject({ available: 2, reserved: 0 });
    expect(await listDeadlines(w.sql, { prefix: orderId })).toEqual([
      expect.objectContaining({ deadlineId: `${orderId}/paymentTimeout`, status: "FIRED" }),
      expect.objectContaining({ deadlineId: `${orderId}/reservationExpiry`, status: "CANCELLED" }),
    ]);
  });

  it("a deadline that fired while the saga was down is handled after the restart", async () => {
    await w.receive(A, "w1", 1);
    const orderId = await w.place([{ sku: A, quantity: 1 }]);
    await w.settle();
    const scheduler = w.saga.scheduler;
    await w.saga.processor.stop();
    w.clock.advance(PAYMENT_TIMEOUT_MS);
    expect(await scheduler.tick()).toBe(1); // DeadlineReached is in the log; nobody has read it yet
    expect((await w.order(orderId)).status).toBe("PAYMENT_PENDING");
    await w.restartSaga();
    await w.settle();
    expect(await w.order(orderId)).toMatchObject({ status: "CANCELLED", cancellationReason: "PAYMENT_TIMEOUT" });
    expect((await w.inventory(A, "w1")).available).toBe(1);
  });

  it("reservation expiry while unpaid (TTL shorter than the payment timeout): the reservation expires and the order is cancelled", async () => {
    await w.close();
    w = await openWorld(backend);
    A = `A-${w.id}`;
    // Restart this world's saga with a TTL shorter than the payment timeout.
    await w.saga.stop();
    const { startOrderSaga } = await import("../../src/sagas/order-saga-runner.js");
    w.saga = await startOrderSaga({
      store: w.store,
      sql: w.sql,
      gateway: w.gateway,
      clock: w.clock,
      config: { paymentTimeoutMs: 10 * 60_000, reservationTtlMs: 30_000 },
      schedulerPollMs: false,
    });
    await w.receive(A, "w1", 3);
    const orderId = await w.place([{ sku: A, quantity: 3 }]);
    await w.settle();
    w.clock.advance(30_000);
    await w.settle();
    expect(await w.order(orderId)).toMatchObject({ status: "CANCELLED", cancellationReason: "PAYMENT_TIMEOUT", paymentStatus: "VOIDED" });
    const stock = await w.inventory(A, "w1");
    expect(stock).toMatchObject({ available: 3, reserved: 0 });
    expect([...stock.reservations.values()][0]?.status).toBe("EXPIRED");
    expect(await w.allInventoryLawsHold()).toBe(true);
  });

  it("an event the saga keeps failing on is parked by the processor, listed for operators, and resumed once fixed", async () => {
    await w.close();
    let broken = true;
    w = await openWorld(backend, {
      faults: (point, event) => {
        // "decided": before anything of the step is written (from "recorded" on, the step's leading commands are written with it).
        if (broken && point === "decided" && event.type === "PaymentCaptured") throw new Error("read model of the warehouse is down");
      },
    });
    A = `A-${w.id}`;
    await w.receive(A, "w1", 1);
    const orderId = await w.place([{ sku: A, quantity: 1 }]);
    await w.settle();
    await w.gatewayEvent(orderId, "captured");
    await w.settle();
    expect((await w.order(orderId)).status).toBe("PAYMENT_PENDING");
    expect(await listSagasNeedingAttention({ sql: w.sql, store: w.store })).toEqual([
      expect.objectContaining({
        orderId,
        kind: "event",
        error: expect.stringContaining("warehouse is down"),
        parkedId: expect.any(Number),
      }),
    ]);
    broken = false;
    await w.saga.resume(orderId, "ops:test");
    await w.settle();
    expect((await w.order(orderId)).status).toBe("PROCESSING");
    expect(await listSagasNeedingAttention({ sql: w.sql, store: w.store })).toEqual([]);
  });
});
