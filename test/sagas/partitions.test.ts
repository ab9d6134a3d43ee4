// The order saga as N partitions (src/sagas/partitions.ts): the same orders end in the same states
// with the same events through 4 partitions as through 1; changing the partition count between
// runs (also in the middle of the work, also with a partition far behind) loses nothing and
// doubles nothing; parked events of a partition are listed and resumed.
// Runs on PGlite always and on PostgreSQL when DATABASE_URL is set.

import { describe, expect, it } from "vitest";
import { START } from "../../src/eventstore/port.js";
import { listSagasNeedingAttention } from "../../src/sagas/attention.js";
import { isSagaProcessorName, rebalanceSagaCheckpoints, sagaPartitionOf, sagaProcessorName } from "../../src/sagas/partitions.js";
import { backends, openWorld, type World, type WorldOptions } from "./harness.js";

const ORDERS = 30;
type Kind = "happy" | "cancelAfterCapture" | "outOfStock" | "cod" | "paymentFailed";
const KINDS: Kind[] = ["happy", "cancelAfterCapture", "outOfStock", "cod", "paymentFailed"];
const kindOf = (k: number): Kind => KINDS[k % KINDS.length]!;
const orderIdOf = (k: number) => `o-part-${k}`;

interface OrderSummary {
  kind: Kind;
  order: { status: string; cancellationReason?: string; paymentStatus?: string; fulfillmentStatus?: string };
  saga: string;
  own: { available: number; reserved: number; committed: number };
  /** Event types (of every stream) whose data names this order, and of its saga streams, with their counts. */
  events: Record<string, number>;
}

async function summarize(w: World): Promise<Record<string, OrderSummary>> {
  const byOrder: Record<string, Record<string, number>> = {};
  let from = START;
  for (;;) {
    const page = await w.store.readAll({ from, maxCount: 1000 });
    for (const e of page.events) {
      // The aggregates' events name their order; the saga's own streams are named after it.
      const orderId = (e.data as { orderId?: unknown }).orderId ?? /^orderSaga(?:Inbox)?-(.+)$/.exec(e.streamId)?.[1];
      if (typeof orderId !== "string") continue;
      const counts = (byOrder[orderId] ??= {});
      counts[e.type] = (counts[e.type] ?? 0) + 1;
    }
    if (page.events.length === 0 || page.checkpoint === from) break;
    from = page.checkpoint;
  }
  const result: Record<string, OrderSummary> = {};
  for (let k = 0; k < ORDERS; k++) {
    const orderId = orderIdOf(k);
    const order = await w.order(orderId);
    const own = await w.inventory(`S${k}-${w.id}`, "w1");
    result[orderId] = {
      kind: kindOf(k),
      order: {
        status: order.status,
        cancellationReason: order.cancellationReason,
        paymentStatus: order.paymentStatus,
        fulfillmentStatus: order.fulfillmentStatus,
      } as OrderSummary["order"],
      saga: await w.sagaStatus(orderId),
      own: { available: own.available, reserved: own.reserved, committed: own.committed },
      events: Object.fromEntries(Object.entries(byOrder[orderId] ?? {}).sort(([a], [b]) => a.localeCompare(b))),
    };
  }
  return result;
}

/**
 * 30 orders, each with its own SKU plus one line of a SKU they all share (so the partitions race
 * on one inventory stream): happy, cancelled after capture (refund), out of stock, COD, payment failed.
 * `between` runs after each phase (a restart, a rewind).
 */
async function scenario(w: World, between: (phase: number) => Promise<void> = async () => {}): Promise<void> {
  const shared = `SHARED-${w.id}`;
  await w.receive(shared, "w1", 1_000);
  for (let k = 0; k < ORDERS; k++) await w.receive(`S${k}-${w.id}`, "w1", kindOf(k) === "outOfStock" ? 1 : 5);
  for (let k = 0; k < ORDERS; k++) {
    await w.place(
      [
        { sku: `S${k}-${w.id}`, quantity: 2, unitPrice: 1000 },
        { sku: shared, quantity: 1, unitPrice: 100 },
      ],
      kindOf(k) === "cod" ? "COD" : "UPI",
      orderIdOf(k),
    );
  }
  await between(0);
  await w.settle();
  await between(1);
  for (let k = 0; k < ORDERS; k++) {
    const kind = kindOf(k);
    if (kind === "happy" || kind === "cancelAfterCapture") await w.gatewayEvent(orderIdOf(k), "captured");
    if (kind === "paymentFailed") await w.gatewayEvent(orderIdOf(k), "failed");
  }
  await between(2);
  await w.settle();
  for (let k = 0; k < ORDERS; k++)
    if (kindOf(k) === "cancelAfterCapture") await w.orderCommand(orderIdOf(k), { type: "CancelOrder", reason: "CUSTOMER_REQUEST" });
  await between(3);
  await w.settle();
}

async function runWorld(backend: "pglite" | "postgres", options: WorldOptions, between?: (w: World, phase: number) => Promise<void>) {
  const w = await openWorld(backend, options);
  try {
    await scenario(w, between ? (phase) => between(w, phase) : undefined);
    const summary = await summarize(w);
    const shared = await w.inventory(`SHARED-${w.id}`, "w1");
    const { rows } = await w.sql.query<{ name: string }>("SELECT name FROM processor_checkpoints ORDER BY name");
    return {
      summary,
      shared: { available: shared.available, reserved: shared.reserved, committed: shared.committed },
      laws: await w.allInventoryLawsHold(),
      checkpoints: rows.map((r) => r.name).filter(isSagaProcessorName),
      attention: await listSagasNeedingAttention({ sql: w.sql, store: w.store }),
    };
  } finally {
    await w.close();
  }
}

const counted = [
  "PaymentInitiated",
  "StockReserved",
  "StockReservationRejected",
  "RefundRequested",
  "RefundProcessed",
  "SagaStepRecorded",
  "OrderCancelled",
  "OrderConfirmed",
];

describe("saga partitions: assignment and names", () => {
  it("an order's partition is stable and in range; the orders spread over the partitions", () => {
    expect(sagaPartitionOf("o-1", 1)).toBe(0);
    const seen = new Map<number, number>();
    for (let i = 0; i < 1_000; i++) {
      const p = sagaPartitionOf(`o-${i}`, 4);
      expect(p).toBe(sagaPartitionOf(`o-${i}`, 4));
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(4);
      seen.set(p, (seen.get(p) ?? 0) + 1);
    }
    for (let p = 0; p < 4; p++) expect(seen.get(p)).toBeGreaterThan(180);
  });

  it("one partition keeps the historic checkpoint name; more partitions have their own", () => {
    expect(sagaProcessorName(0, 1)).toBe("order-saga");
    expect(sagaProcessorName(2, 4)).toBe("order-saga/p2of4");
    expect(isSagaProcessorName("order-saga/p2of4")).toBe(true);
    expect(isSagaProcessorName("order-saga")).toBe(true);
    expect(isSagaProcessorName("order-projection")).toBe(false);
  });
});

describe.each(backends())("saga partitions (%s)", (backend) => {
  it("30 orders end in the same states with the same events through 4 partitions as through 1", async () => {
    const one = await runWorld(backend, { partitions: 1 });
    const four = await runWorld(backend, { partitions: 4 });
    expect(one.checkpoints).toEqual(["order-saga"]);
    expect(four.checkpoints).toEqual(["order-saga/p0of4", "order-saga/p1of4", "order-saga/p2of4", "order-saga/p3of4"]);
    expect(four.summary).toEqual(one.summary);
    expect(four.shared).toEqual(one.shared);
    expect(one.laws && four.laws).toBe(true);
    expect(one.attention).toEqual([]);
    expect(four.attention).toEqual([]);
    // The scenario did what it says (so the equality above is about something).
    const byKind = (kind: Kind) => Object.values(one.summary).filter((s) => s.kind === kind);
    for (const s of byKind("happy")) expect(s.order.status).toBe("PROCESSING");
    for (const s of byKind("cod")) expect(s.order.status).toBe("PROCESSING");
    for (const s of byKind("outOfStock")) expect(s.order).toMatchObject({ status: "CANCELLED", cancellationReason: "OUT_OF_STOCK" });
    for (const s of byKind("paymentFailed")) expect(s.order).toMatchObject({ status: "CANCELLED", cancellationReason: "PAYMENT_FAILED" });
    for (const s of byKind("cancelAfterCapture")) expect(s.order.status).toBe("CANCELLED");
    for (const s of byKind("cancelAfterCapture")) expect(s.events).toMatchObject({ PaymentInitiated: 1, RefundRequested: 1 });
    // Every order's shared line was reserved once; the 6 out-of-stock orders released theirs (or never got it).
    expect(one.shared.available + one.shared.reserved + one.shared.committed).toBe(1_000);
  });

  it("changes of the partition count in the middle (4 -> 2 -> 3 -> 2, one partition behind, one far behind) lose nothing and double nothing", async () => {
    const reference = await runWorld(backend, { partitions: 1 });
    const rebalances: ({ from: string; replaced: string[] } | null)[] = [];
    const checkpointOf = async (w: World, name: string) =>
      (await w.sql.query<{ checkpoint: string }>("SELECT checkpoint FROM processor_checkpoints WHERE name = $1", [name])).rows[0]
        ?.checkpoint;
    const changed = await runWorld(backend, { partitions: 4 }, async (w, phase) => {
      if (phase === 0) {
        // The 4 partitions are working through the placements: restart with 2 while they are at it.
        await new Promise((r) => setTimeout(r, 30));
        await w.restartSaga({ partitions: 2 });
        expect(w.saga.partitions.map((p) => p.name)).toEqual(["order-saga/p0of2", "order-saga/p1of2"]);
      }
      if (phase === 1) await w.saga.partitions[0]!.stop(); // partition 0 of 2 misses the payments below
      if (phase === 2) {
        // Partition 1 of 2 handles its orders' payments; 0 of 2 is behind with its orders' payments unhandled.
        // The head a reader can see may trail the payments just appended (the xmin horizon is
        // server-wide): wait until it is past where partition 0 stopped, then for partition 1 to get there.
        const stoppedAt = await checkpointOf(w, "order-saga/p0of2");
        let head = await w.store.headCheckpoint();
        for (const until = Date.now() + 20_000; !(head > stoppedAt!) && Date.now() < until; head = await w.store.headCheckpoint())
          await new Promise((r) => setTimeout(r, 20));
        await w.saga.partitions[1]!.caughtUpTo(head, 20_000);
        await w.saga.partitions[1]!.stop();
        const [behind, ahead] = [await checkpointOf(w, "order-saga/p0of2"), await checkpointOf(w, "order-saga/p1of2")];
        expect(behind! < ahead!).toBe(true);
        // 2 -> 3: every new partition starts where the one behind stopped (nothing lost); partition
        // 1's payment steps in between are handled again (must be no-ops).
        rebalances.push(await rebalanceSagaCheckpoints(w.sql, 3));
        expect(rebalances[0]).toEqual({ from: behind, replaced: ["order-saga/p0of2", "order-saga/p1of2"] });
        await w.restartSaga({ partitions: 3 });
      }
      if (phase === 3) {
        // One partition far behind (back at the start of the log): 3 -> 2 replays the whole log.
        await Promise.all(w.saga.partitions.map((p) => p.stop()));
        await w.sql.query("UPDATE processor_checkpoints SET checkpoint = $1 WHERE name = $2", [START, "order-saga/p0of3"]);
        rebalances.push(await rebalanceSagaCheckpoints(w.sql, 2));
        expect(rebalances[1]).toEqual({ from: START, replaced: ["order-saga/p0of3", "order-saga/p1of3", "order-saga/p2of3"] });
        await w.restartSaga({ partitions: 2 });
      }
    });
    expect(changed.checkpoints).toEqual(["order-saga/p0of2", "order-saga/p1of2"]);
    for (const [orderId, expected] of Object.entries(reference.summary)) {
      const got = changed.summary[orderId]!;
      // Payment initiations, reservations, refunds, steps: exactly as many as with one uninterrupted partition.
      for (const type of counted) expect([orderId, type, got.events[type] ?? 0]).toEqual([orderId, type, expected.events[type] ?? 0]);
    }
    expect(changed.summary).toEqual(reference.summary);
    expect(changed.shared).toEqual(reference.shared);
    expect(changed.laws).toBe(true);
    expect(changed.attention).toEqual([]);
  });

  it("an event a partition parked is listed with its partition and resumed through it", async () => {
    let broken = true;
    const victim = orderIdOf(7);
    const w = await openWorld(backend, {
      partitions: 4,
      faults: (point, event) => {
        if (broken && point === "recorded" && event.type === "OrderPlaced" && (event.data as { orderId: string }).orderId === victim)
          throw new Error("warehouse is down");
      },
    });
    try {
      await w.receive(`S-${w.id}`, "w1", 10);
      const other = await w.place([{ sku: `S-${w.id}`, quantity: 1 }], "COD", orderIdOf(8));
      await w.place([{ sku: `S-${w.id}`, quantity: 1 }], "COD", victim);
      await w.settle();
      expect((await w.order(other)).status).toBe("PROCESSING");
      const attention = await listSagasNeedingAttention({ sql: w.sql, store: w.store });
      expect(attention).toEqual([
        expect.objectContaining({
          orderId: victim,
          kind: "event",
          processor: `order-saga/p${sagaPartitionOf(victim, 4)}of4`,
          parkedId: expect.any(Number),
        }),
      ]);
      expect((await w.saga.processor.status()).parked).toBe(1);
      broken = false;
      await w.saga.resume(victim);
      await w.settle();
      expect((await w.order(victim)).status).toBe("PROCESSING");
      expect(await listSagasNeedingAttention({ sql: w.sql, store: w.store })).toEqual([]);
      const status = await w.saga.processor.status();
      expect(status).toMatchObject({ caughtUp: true, parked: 0 });
    } finally {
      await w.close();
    }
  });
});
