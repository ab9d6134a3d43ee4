// Crash injection: the saga is stopped at every step boundary of every event it handles, and
// restarted from its stored checkpoint. Two ways:
//   - "crash before checkpoint": the handler dies right after a boundary (step recorded, deadlines
//     kept, i-th command issued, all commands issued): nothing is checkpointed, the event is
//     delivered again after the restart;
//   - "stop after checkpoint": the processor is stopped at that boundary and finishes the event
//     (its checkpoint is stored) before the restart.
// The final state must equal an uninterrupted run's, with no second reservation, capture, void or
// refund (counted by event type and by real gateway effects).

import { afterEach, describe, expect, it } from "vitest";
import type { RecordedEvent } from "../../src/eventstore/port.js";
import { listSagasNeedingAttention, resumeSaga } from "../../src/sagas/attention.js";
import type { FaultPoint } from "../../src/sagas/saga-step.js";
import { backends, openWorld, PAYMENT_TIMEOUT_MS, type World, type WorldOptions } from "./harness.js";

class Crash extends Error {
  override readonly name = "Crash";
}

type Mode = "none" | "crash before checkpoint" | "stop after checkpoint";

interface Controller {
  options: WorldOptions;
  restarts: number;
  pending: boolean;
  signal(): Promise<"crash">;
}

function controller(mode: Mode): Controller {
  const seen = new Set<string>();
  const pointsSeen = new Map<string, number>();
  let wake: (() => void) | undefined;
  const ctl: Controller = {
    restarts: 0,
    pending: false,
    signal: () => new Promise<"crash">((resolve) => (ctl.pending ? resolve("crash") : (wake = () => resolve("crash")))),
    // Fresh options for each start of the saga: each start is one "process", which a crash kills.
    get options(): WorldOptions {
      const life = { dead: false };
      return {
        // The processor waits (a long backoff) after a crash instead of retrying at once: the test restarts it.
        processorRetry: { maxAttempts: 1_000, baseDelayMs: 600_000, maxDelayMs: 600_000 },
        faults: (point: FaultPoint, event: RecordedEvent) => {
          if (mode === "none") return;
          // A crashed process does nothing more: the steps of other orders it was running side by
          // side die at their next boundary too (else another order's step, waiting for the crashed
          // one's SKUs, could take its stock before the restart, which no real crash allows).
          if (life.dead && mode === "crash before checkpoint") throw new Crash(`crashed before ${point} of ${event.type}`);
          if (ctl.pending) return;
          const key = `${event.id}:${point}`;
          if (seen.has(key)) return;
          seen.add(key);
          if (mode === "stop after checkpoint") {
            // The processor finishes the event and checkpoints it before stopping, so each event
            // is stopped at one boundary: the n-th event at its (n mod 5)-th boundary.
            if (!pointsSeen.has(event.id)) pointsSeen.set(event.id, pointsSeen.size * 100);
            const n = pointsSeen.get(event.id)!;
            pointsSeen.set(event.id, n + 1);
            if (n % 100 !== Math.floor(n / 100) % 5) return;
          }
          ctl.pending = true;
          wake?.();
          if (mode === "crash before checkpoint") {
            life.dead = true;
            throw new Crash(`crash at ${point} of ${event.type}`);
          }
        },
      };
    },
  };
  return ctl;
}

async function settle(w: World, ctl: Controller): Promise<void> {
  for (let i = 0; i < 5_000; i++) {
    if (ctl.pending) {
      ctl.restarts++;
      await w.restartSaga(ctl.options);
      ctl.pending = false;
      continue;
    }
    const head = await w.store.headCheckpoint();
    const saga = w.saga;
    const outcome = await Promise.race([
      saga.caughtUpTo(head, 30_000).then(
        () => "ok" as const,
        (e: unknown) => (ctl.pending ? ("crash" as const) : Promise.reject(e)),
      ),
      ctl.signal(),
    ]);
    if (outcome === "crash" || ctl.pending) continue;
    const fired = await w.saga.scheduler.tick();
    if (fired === 0 && !ctl.pending && (await w.lastCommitted()) === head) return;
    if (fired === 0) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error("did not settle");
}

/** Four orders through reserve, pay, confirm, ship, deliver, return, out of stock, timeout + late capture, cancel + refund. */
async function scenario(w: World, ctl: Controller) {
  const A = `A-${w.id}`;
  const B = `B-${w.id}`;
  await w.receive(A, "w1", 4);
  await w.receive(A, "w2", 2);
  await w.receive(B, "w1", 1);
  const happy = await w.place([
    { sku: A, quantity: 5, unitPrice: 300 },
    { sku: B, quantity: 1, unitPrice: 200 },
  ]);
  const outOfStock = await w.place([{ sku: B, quantity: 1 }]);
  await settle(w, ctl);
  await w.gatewayEvent(happy, "captured", `evt-cap-${happy}`);
  await settle(w, ctl);
  await w.receive(B, "w2", 2);
  const timedOut = await w.place([{ sku: B, quantity: 1, unitPrice: 250 }]);
  const cancelled = await w.place([{ sku: B, quantity: 1, unitPrice: 450 }]);
  await settle(w, ctl);
  await w.gatewayEvent(cancelled, "captured", `evt-cap-${cancelled}`);
  await w.orderCommand(happy, { type: "ShipOrder", carrier: "X", trackingNumber: "T1" });
  await settle(w, ctl);
  await w.orderCommand(cancelled, { type: "CancelOrder", reason: "CUSTOMER_REQUEST" });
  await w.orderCommand(happy, { type: "DeliverOrder" });
  w.clock.advance(PAYMENT_TIMEOUT_MS);
  await settle(w, ctl);
  await w.gatewayEvent(timedOut, "captured", `evt-cap-${timedOut}`);
  await w.orderCommand(happy, {
    type: "RequestReturn",
    returnId: "r1",
    lines: [
      { sku: A, quantity: 5 },
      { sku: B, quantity: 1 },
    ],
    reason: "not needed",
    returnWindowMs: 864_000_000,
  });
  await settle(w, ctl);
  await w.orderCommand(happy, { type: "ReceiveReturn", returnId: "r1" });
  await settle(w, ctl);
  // A refund the gateway refuses: retried with backoff, parked, resumed once the gateway is fixed.
  await w.receive(B, "w3", 1);
  const stubborn = await w.place([{ sku: B, quantity: 1, unitPrice: 333 }]);
  await settle(w, ctl);
  await w.gatewayEvent(stubborn, "captured", `evt-cap-${stubborn}`);
  await settle(w, ctl);
  w.gateway.failRefunds = true;
  await w.orderCommand(stubborn, { type: "CancelOrder", reason: "CUSTOMER_REQUEST" });
  await settle(w, ctl);
  w.clock.advance(1_000);
  await settle(w, ctl);
  w.clock.advance(2_000);
  await settle(w, ctl);
  const parked = (await listSagasNeedingAttention(w.sql)).map((a) => [a.orderId === stubborn, a.attempts]);
  w.gateway.failRefunds = false;
  await resumeSaga({ store: w.store }, stubborn);
  await settle(w, ctl);
  const afterResume = await listSagasNeedingAttention(w.sql);

  const orders = await Promise.all(
    [happy, outOfStock, timedOut, cancelled, stubborn].map(async (id) => {
      const o = await w.order(id);
      const p = await w.payment(id);
      return {
        order: {
          status: o.status,
          paymentStatus: o.paymentStatus,
          fulfillmentStatus: o.fulfillmentStatus,
          capturedAmount: o.capturedAmount,
          refundedAmount: o.refundedAmount,
          cancellationReason: o.cancellationReason,
          refunds: o.refunds.map((r) => [r.amount, r.status]),
        },
        payment: p
          ? {
              status: p.status,
              capturedAmount: p.capturedAmount,
              refundedAmount: p.refundedAmount,
              refunds: p.refunds.map((r) => [r.amount, r.status]),
            }
          : null,
        saga: await w.sagaStatus(id),
      };
    }),
  );
  const stock = await Promise.all(
    [
      [A, "w1"],
      [A, "w2"],
      [B, "w1"],
      [B, "w2"],
      [B, "w3"],
    ].map(async ([sku, wh]) => {
      const s = await w.inventory(sku!, wh!);
      return {
        available: s.available,
        reserved: s.reserved,
        committed: s.committed,
        shipped: s.shipped,
        restocked: s.restocked,
        reservations: [...s.reservations.values()].map((r) => [r.quantity, r.status, r.restocked]),
      };
    }),
  );
  const counts = await w.countTypes();
  const { SagaStepRecorded: _steps, SagaCommandFailed: _failed, ...aggregateCounts } = counts;
  return {
    parked,
    afterResume,
    orders,
    stock,
    counts: aggregateCounts,
    sagaSteps: counts.SagaStepRecorded,
    gateway: { ...w.gateway.effects },
    lawsHold: await w.allInventoryLawsHold(),
  };
}

describe.each(backends())("order saga crash recovery (%s)", (backend) => {
  let w: World | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });

  let baselineRun: Promise<Awaited<ReturnType<typeof scenario>>> | undefined;
  const uninterrupted = () =>
    (baselineRun ??= (async () => {
      const ctl = controller("none");
      const world = await openWorld(backend, ctl.options);
      try {
        return await scenario(world, ctl);
      } finally {
        await world.close();
      }
    })());

  it("an uninterrupted run (the baseline)", async () => {
    const baseline = await uninterrupted();
    expect(baseline.orders.map((o) => [o.order.status, o.order.cancellationReason])).toEqual([
      ["RETURNED", undefined],
      ["CANCELLED", "OUT_OF_STOCK"],
      ["CANCELLED", "PAYMENT_TIMEOUT"],
      ["CANCELLED", "CUSTOMER_REQUEST"],
      ["CANCELLED", "CUSTOMER_REQUEST"],
    ]);
    expect(baseline.orders.map((o) => o.payment?.status ?? null)).toEqual(["REFUNDED", null, "REFUNDED", "REFUNDED", "REFUNDED"]);
    expect(baseline.counts).toMatchObject({
      PaymentCaptured: 4,
      PaymentVoided: 1,
      RefundRequested: 4,
      RefundProcessed: 4,
      SagaRecovered: 1,
    });
    expect(baseline.gateway).toEqual({ initiate: 4, void: 1, refund: 4 });
    expect(baseline.parked).toEqual([[true, 3]]);
    expect(baseline.afterResume).toEqual([]);
    expect(baseline.lawsHold).toBe(true);
  });

  it.each<Mode>(["crash before checkpoint", "stop after checkpoint"])(
    "%s at every step boundary: same final state, nothing twice",
    async (mode) => {
      const baseline = await uninterrupted();
      const ctl = controller(mode);
      w = await openWorld(backend, ctl.options);
      const result = await scenario(w, ctl);
      expect(ctl.restarts).toBeGreaterThan(mode === "stop after checkpoint" ? 20 : 100);
      expect(result).toEqual(baseline);
    },
    300_000,
  );
});
