// `replay invariants` streams in bounded memory: over generated logs of sound order lives (placed,
// reserved, paid, committed, shipped; every fifth cancelled and released; every seventh returned),
// a few orders in flight at a time, the entries the checker retains are counted after every event.
// What is kept per order (terminal orders waiting for their saga, cancelled orders still holding
// stock, open reservations) stays within the orders in flight whether the log has 300 orders or
// 3,000; what is kept per payment grows with the payments, as stated. Planted violations are
// still found at the end.

import { describe, expect, it } from "vitest";
import { InvariantChecker } from "../../src/cli/invariants.js";
import type { RecordedEvent } from "../../src/eventstore/port.js";

const IN_FLIGHT = 4;

/** The events of `orders` order lives, interleaved `IN_FLIGHT` at a time, in log order. */
type Fact = { streamId: string; type: string; data: Record<string, unknown> };

function generatedLog(orders: number, plant: { lateReservation?: number; sagaMissing?: number } = {}): RecordedEvent[] {
  const lives: Fact[][] = [];
  for (let i = 0; i < orders; i++) {
    const orderId = `o${i}`;
    const inv = `inventory-SKU-${i % 3}@W1`;
    const pay = `payment-p${i}`;
    const saga = `orderSaga-${orderId}`;
    const stock = { sku: `SKU-${i % 3}`, warehouseId: "W1", orderId, quantity: 1 };
    const life: Fact[] = [
      { streamId: `order-${orderId}`, type: "OrderPlaced", data: { orderId } },
      { streamId: saga, type: "SagaStepRecorded", data: { status: "RESERVING" } },
      { streamId: inv, type: "StockReserved", data: stock },
      { streamId: pay, type: "PaymentInitiated", data: { paymentId: `p${i}`, amount: 100 } },
      { streamId: pay, type: "PaymentCaptured", data: { paymentId: `p${i}`, amount: 100 } },
      { streamId: inv, type: "StockCommitted", data: stock },
      { streamId: saga, type: "SagaStepRecorded", data: { status: "PROCESSING" } },
    ];
    if (i % 5 === 0) {
      life.push(
        { streamId: `order-${orderId}`, type: "OrderCancelled", data: { orderId } },
        { streamId: inv, type: "StockReleased", data: { ...stock, from: "COMMITTED" } },
        { streamId: pay, type: "RefundRequested", data: { paymentId: `p${i}`, refundId: `r${i}`, amount: 100 } },
        { streamId: pay, type: "RefundProcessed", data: { paymentId: `p${i}`, refundId: `r${i}`, amount: 100 } },
      );
      if (plant.sagaMissing !== i) life.push({ streamId: saga, type: "SagaStepRecorded", data: { status: "CANCELLED" } });
      if (plant.lateReservation === i) life.push({ streamId: inv, type: "StockReserved", data: stock });
    } else {
      life.push({ streamId: inv, type: "StockShipped", data: stock });
      if (i % 7 === 0)
        life.push(
          { streamId: `order-${orderId}`, type: "OrderReturned", data: { orderId, fullyReturned: true } },
          { streamId: saga, type: "SagaStepRecorded", data: { status: "RETURNED" } },
        );
    }
    lives.push(life);
  }
  // Round-robin over a window of IN_FLIGHT lives: a new order starts when one ends.
  const revisions = new Map<string, number>();
  const log: RecordedEvent[] = [];
  const stock = { streamId: "inventory-SKU-0@W1", type: "StockReceived", data: { quantity: 1_000_000 } };
  const receipts = [0, 1, 2].map((n) => ({ ...stock, streamId: `inventory-SKU-${n}@W1` }));
  const active: (typeof lives)[number][] = [];
  let next = 0;
  const emit = (e: { streamId: string; type: string; data: Record<string, unknown> }) => {
    const revision = (revisions.get(e.streamId) ?? -1) + 1;
    revisions.set(e.streamId, revision);
    const n = log.length + 1;
    log.push({
      id: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
      streamId: e.streamId,
      revision,
      position: `${String(n).padStart(20, "0")}:${String(n).padStart(20, "0")}`,
      type: e.type,
      schemaVersion: 1,
      data: e.data,
      metadata: { correlationId: "c", causationId: "c", actor: "test" },
      recordedAt: new Date(0),
    } as RecordedEvent);
  };
  for (const r of receipts) emit(r);
  while (next < lives.length || active.length > 0) {
    while (active.length < IN_FLIGHT && next < lives.length) active.push([...lives[next++]!]);
    for (const life of [...active]) {
      emit(life.shift()!);
      if (life.length === 0) active.splice(active.indexOf(life), 1);
    }
  }
  return log;
}

async function* cancellationsOf(log: readonly RecordedEvent[]) {
  for (const e of log) if (e.type === "OrderCancelled") yield { orderId: e.streamId.slice("order-".length), position: e.position };
}

const lastSagaStepIn = (log: readonly RecordedEvent[]) => async (orderId: string) => {
  const step = log.filter((e) => e.streamId === `orderSaga-${orderId}`).at(-1);
  return step ? { status: (step.data as { status: string }).status, position: step.position } : null;
};

/** Runs the checker over a log, returning the most entries of each kind it held at any point. */
async function check(log: readonly RecordedEvent[]) {
  const checker = new InvariantChecker();
  const most: Record<string, number> = {};
  for (const e of log) {
    checker.observe(e);
    for (const [kind, n] of Object.entries(checker.retained())) most[kind] = Math.max(most[kind] ?? 0, n);
  }
  await checker.confirm({ cancellations: cancellationsOf(log), lastSagaStep: lastSagaStepIn(log) });
  return { most, end: checker.retained(), violations: checker.finish() };
}

describe("replay invariants: bounded memory", () => {
  it("keeps per-order entries within the orders in flight, whatever the length of the log", async () => {
    const small = await check(generatedLog(300));
    const large = await check(generatedLog(3_000));
    expect(small.violations).toEqual([]);
    expect(large.violations).toEqual([]);
    for (const run of [small, large]) {
      // Per order: only orders in flight (each holds at most one reservation and one saga wait).
      expect(run.most.openReservations).toBeLessThanOrEqual(IN_FLIGHT);
      expect(run.most.awaitingSaga).toBeLessThanOrEqual(IN_FLIGHT);
      expect(run.most.unreleased).toBeLessThanOrEqual(IN_FLIGHT);
      expect(run.most.pendingRefunds).toBeLessThanOrEqual(IN_FLIGHT);
      expect(run.end).toMatchObject({ openReservations: 0, awaitingSaga: 0, unreleased: 0, pendingRefunds: 0, stockStreams: 3 });
    }
    // The same bound at ten times the orders: nothing per order is kept to the end.
    expect(large.most.openReservations).toBe(small.most.openReservations);
    expect(large.most.awaitingSaga).toBe(small.most.awaitingSaga);
    // Per payment, as stated: a few numbers for each payment seen.
    expect(small.end.payments).toBe(300);
    expect(large.end.payments).toBe(3_000);
  });

  it("still finds a reservation taken after the order was cancelled, and a terminal order whose saga never finished", async () => {
    const { violations, most } = await check(generatedLog(1_000, { lateReservation: 500, sagaMissing: 700 }));
    expect(violations.map((v) => [v.kind, v.streams[0]])).toEqual([
      ["cancelled_order_stock_held", "order-o500"],
      ["terminal_order_saga_unfinished", "order-o700"],
    ]);
    // The order waiting for its saga stays one entry (plus those in flight), not one per order.
    expect(most.awaitingSaga).toBeLessThanOrEqual(IN_FLIGHT + 1);
  });
});
