// Random command sequences against the pure deciders. Commands that are rejected (DomainError)
// are skipped, as a real caller's would be; anything else thrown fails the property.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DomainError, type Decider, type DomainEvent } from "../../src/aggregates/decider.js";
import {
  inventoryDecider,
  inventorySnapshotCodec,
  stockLawHolds,
  type InventoryCommand,
  type InventoryState,
} from "../../src/aggregates/inventory.js";
import { committedRefunds, paymentDecider, type Payment, type PaymentCommand, type PaymentEvent } from "../../src/aggregates/payment.js";
import { orderDecider, promisedRefunds, type Order, type OrderCommand, type OrderEvent } from "../../src/aggregates/order.js";

/** Command sequences long enough to reach deep states (fast-check's default size keeps arrays short). */
const sequence = <T>(command: fc.Arbitrary<T>, maxLength: number) => fc.array(command, { minLength: 5, maxLength, size: "max" });

const BASE = Date.parse("2026-01-01T00:00:00.000Z");
const minute = (n: number) => new Date(BASE + n * 60_000).toISOString();

/** Runs the commands in order, skipping rejected ones; calls `check` after every event. */
function run<C, E extends DomainEvent, S>(
  decider: Decider<C, E, S>,
  commands: readonly C[],
  check: (state: S, event: E, history: readonly E[]) => void,
): { state: S; history: E[] } {
  let state = decider.initialState;
  const history: E[] = [];
  for (const command of commands) {
    let events: E[];
    try {
      events = decider.decide(command, state);
    } catch (error) {
      if (error instanceof DomainError) continue;
      throw error;
    }
    for (const event of events) {
      state = decider.evolve(state, event);
      history.push(event);
      check(state, event, history);
    }
  }
  return { state, history };
}

// ---------------------------------------------------------------- inventory

const orderIds = fc.constantFrom("o-1", "o-2", "o-3");
const qty = fc.integer({ min: 1, max: 12 });
const stock = { sku: "SKU-1", warehouseId: "BLR-1" };
const saleIds = fc.constantFrom("s-1", "s-2");
const saleOrderIds = fc.constantFrom("o-1", "fo-1", "fo-2", "fo-3", "fo-4");

const inventoryCommand: fc.Arbitrary<InventoryCommand> = fc
  .tuple(
    fc.integer({ min: 0, max: 120 }),
    fc.oneof(
      { weight: 2, arbitrary: qty.map((quantity) => ({ type: "ReceiveStock" as const, quantity })) },
      {
        weight: 3,
        arbitrary: fc
          .record({ orderId: orderIds, quantity: qty, ttl: fc.integer({ min: 1, max: 30 }) })
          .map((r) => ({ type: "ReserveStock" as const, ...r })),
      },
      { weight: 2, arbitrary: orderIds.map((orderId) => ({ type: "CommitReservation" as const, orderId })) },
      orderIds.map((orderId) => ({ type: "ReleaseReservation" as const, orderId })),
      orderIds.map((orderId) => ({ type: "ExpireReservation" as const, orderId })),
      { weight: 2, arbitrary: orderIds.map((orderId) => ({ type: "ShipStock" as const, orderId })) },
      fc
        .record({ orderId: orderIds, returnId: fc.constantFrom("r-1", "r-2", "r-3", "r-4"), quantity: fc.integer({ min: 1, max: 4 }) })
        .map((r) => ({ type: "RestockReturn" as const, ...r })),
      fc.integer({ min: 0, max: 30 }).map((countedAvailable) => ({ type: "AdjustStock" as const, countedAvailable, reason: "COUNT" })),
      // flash sales: one reservation per sale, batched draws, returns, unsold units released
      fc.record({ saleId: saleIds, quantity: qty }).map((r) => ({ type: "SetAsideForSale" as const, ...r })),
      fc
        .record({
          saleId: saleIds,
          allocations: fc.array(fc.record({ orderId: saleOrderIds, quantity: fc.integer({ min: 1, max: 3 }) }), {
            minLength: 1,
            maxLength: 3,
          }),
        })
        .map((r) => ({ type: "DrawFromSale" as const, ...r })),
      fc.record({ saleId: saleIds, orderId: saleOrderIds }).map((r) => ({ type: "ReturnToSale" as const, ...r })),
      fc
        .record({ saleId: saleIds, quantity: fc.integer({ min: 1, max: 6 }) })
        .map((r) => ({ type: "ReleaseSaleStock" as const, ...r, reason: "sale ended" })),
    ),
  )
  .map(([t, c]): InventoryCommand => {
    const at = minute(t);
    if (c.type === "ReserveStock")
      return { ...stock, at, type: c.type, orderId: c.orderId, quantity: c.quantity, expiresAt: minute(t + c.ttl) };
    return { ...stock, at, ...c } as InventoryCommand;
  });

const sumByStatus = (s: InventoryState, status: string) =>
  [...s.reservations.values()].filter((r) => r.status === status).reduce((n, r) => n + r.quantity, 0);

describe("Inventory properties", () => {
  it("the generated sequences reach every inventory event", () => {
    const seen = new Set<string>();
    for (const commands of fc.sample(sequence(inventoryCommand, 80), { numRuns: 300, seed: 42 })) {
      run(inventoryDecider, commands, (_s, e) => seen.add(e.type));
    }
    expect([...seen].sort()).toEqual(Object.keys(inventoryDecider.schemaVersions).sort());
  });
  it("keeps received + adjusted = available + reserved + committed + shipped - restocked, and available >= 0, after every event", () => {
    fc.assert(
      fc.property(sequence(inventoryCommand, 80), (commands) => {
        run(inventoryDecider, commands, (s) => {
          expect(stockLawHolds(s)).toBe(true);
          expect(s.available).toBeGreaterThanOrEqual(0);
          expect(s.reserved).toBe(sumByStatus(s, "RESERVED") + [...s.sales.values()].reduce((n, sale) => n + sale.left, 0));
          for (const sale of s.sales.values()) expect(sale.left).toBeGreaterThanOrEqual(0);
          expect(s.committed).toBe(sumByStatus(s, "COMMITTED"));
          expect(s.shipped).toBe(sumByStatus(s, "SHIPPED"));
        });
      }),
      { numRuns: 300 },
    );
  });
  it("folds a whole history at once (evolveAll) to the same state as event by event, leaving the state it started from unchanged", () => {
    fc.assert(
      fc.property(sequence(inventoryCommand, 80), fc.nat(80), (commands, cut) => {
        const { state, history } = run(inventoryDecider, commands, () => {});
        const at = Math.min(cut, history.length);
        const middle = history.slice(0, at).reduce(inventoryDecider.evolve, inventoryDecider.initialState);
        const before = inventorySnapshotCodec.encode(middle);
        const folded = inventoryDecider.evolveAll!(middle, history.slice(at));
        expect(inventorySnapshotCodec.encode(folded)).toEqual(inventorySnapshotCodec.encode(state));
        expect(inventorySnapshotCodec.encode(middle)).toEqual(before);
      }),
      { numRuns: 200 },
    );
  });
  it("keeps the design's law exactly when there are no adjustments", () => {
    fc.assert(
      fc.property(
        sequence(
          inventoryCommand.filter((c) => c.type !== "AdjustStock"),
          80,
        ),
        (commands) => {
          run(inventoryDecider, commands, (s) => {
            expect(s.received).toBe(s.available + s.reserved + s.committed + s.shipped - s.restocked);
          });
        },
      ),
      { numRuns: 200 },
    );
  });
});

// ---------------------------------------------------------------- payment

const AMOUNT = 10_000;
const gatewayIds = fc.constantFrom("g-1", "g-2", "g-3", "g-4", "g-5", "g-6");
const refundIds = fc.constantFrom("rf-1", "rf-2", "rf-3", "rf-4");
const paymentBase = { paymentId: "pay-1", at: minute(0) };

const paymentCommand: fc.Arbitrary<PaymentCommand> = fc.oneof(
  gatewayIds.map((gatewayEventId): PaymentCommand => ({ ...paymentBase, type: "RecordPaymentAuthorized", gatewayEventId })),
  fc
    .record({ gatewayEventId: gatewayIds, amount: fc.integer({ min: 1, max: AMOUNT }) })
    .map((r): PaymentCommand => ({ ...paymentBase, type: "RecordPaymentCaptured", ...r })),
  gatewayIds.map((gatewayEventId): PaymentCommand => ({ ...paymentBase, type: "RecordPaymentFailed", gatewayEventId, reason: "DECLINED" })),
  fc.constant<PaymentCommand>({ ...paymentBase, type: "VoidPayment", reason: "CANCELLED" }),
  fc
    .record({ refundId: refundIds, amount: fc.integer({ min: 1, max: AMOUNT }) })
    .map((r): PaymentCommand => ({ ...paymentBase, type: "RequestRefund", reason: "x", ...r })),
  fc
    .record({ refundId: refundIds, gatewayEventId: gatewayIds })
    .map((r): PaymentCommand => ({ ...paymentBase, type: "RecordRefundProcessed", ...r })),
  fc
    .record({ refundId: refundIds, gatewayEventId: gatewayIds })
    .map((r): PaymentCommand => ({ ...paymentBase, type: "RecordRefundFailed", reason: "x", ...r })),
);
const initiate: PaymentCommand = { ...paymentBase, type: "InitiatePayment", orderId: "o-1", amount: AMOUNT, method: "CARD" };

describe("Payment properties", () => {
  it("the generated sequences reach every payment event", () => {
    const seen = new Set<string>();
    for (const commands of fc.sample(sequence(paymentCommand, 60), { numRuns: 300, seed: 42 })) {
      run(paymentDecider, [initiate, ...commands], (_s, e) => seen.add(e.type));
    }
    expect([...seen].sort()).toEqual(Object.keys(paymentDecider.schemaVersions).sort());
  });
  it("refunded <= captured, refunds requested and not failed <= captured, at most one capture, the capture never changes", () => {
    fc.assert(
      fc.property(sequence(paymentCommand, 60), (commands) => {
        let firstCapture: number | undefined;
        run(paymentDecider, [initiate, ...commands], (state, _event, history) => {
          const p = state as Payment;
          expect(p.refundedAmount).toBeLessThanOrEqual(p.capturedAmount);
          expect(committedRefunds(p)).toBeLessThanOrEqual(p.capturedAmount);
          expect(p.capturedAmount).toBeLessThanOrEqual(p.amount);
          expect(history.filter((e: PaymentEvent) => e.type === "PaymentCaptured").length).toBeLessThanOrEqual(1);
          if (p.capturedAmount > 0) {
            firstCapture ??= p.capturedAmount;
            expect(p.capturedAmount).toBe(firstCapture);
            expect(["CAPTURED", "PARTIALLY_REFUNDED", "REFUNDED"]).toContain(p.status);
          }
          // captured = refunded + retained, with nothing retained negative
          expect(p.capturedAmount - p.refundedAmount).toBeGreaterThanOrEqual(0);
          expect(p.refundedAmount).toBe(p.refunds.filter((r) => r.status === "PROCESSED").reduce((n, r) => n + r.amount, 0));
          // one refund per refund id
          expect(new Set(p.refunds.map((r) => r.refundId)).size).toBe(p.refunds.length);
        });
      }),
      { numRuns: 300 },
    );
  });
  it("applies a gateway event id at most once", () => {
    fc.assert(
      fc.property(sequence(paymentCommand, 60), (commands) => {
        const { history } = run(paymentDecider, [initiate, ...commands], () => {});
        const ids = history.flatMap((e) => ("gatewayEventId" in e.data ? [e.data.gatewayEventId] : []));
        expect(new Set(ids).size).toBe(ids.length);
      }),
      { numRuns: 200 },
    );
  });
});

// ---------------------------------------------------------------- order returns and refunds

describe("Order properties", () => {
  const delivered: OrderCommand[] = [
    {
      type: "PlaceOrder",
      orderId: "o-1",
      customerId: "c-1",
      lines: [
        { sku: "A", quantity: 3, unitPrice: 33_333 },
        { sku: "B", quantity: 2, unitPrice: 999 },
        { sku: "C", quantity: 1, unitPrice: 12_345 },
      ],
      discountAmount: 7_777,
      paymentMethod: "CARD",
      shippingAddress: { name: "A", line1: "1", city: "X", state: "Y", pincode: "560001", phone: "1" },
      at: minute(0),
    },
    { type: "MarkPaymentPending", orderId: "o-1", paymentId: "pay-1", at: minute(1) },
    { type: "ConfirmOrder", orderId: "o-1", payment: { paymentId: "pay-1", amount: 3 * 33_333 + 2 * 999 + 12_345 - 7_777 }, at: minute(2) },
    { type: "StartProcessing", orderId: "o-1", at: minute(3) },
    { type: "ShipOrder", orderId: "o-1", carrier: "X", trackingNumber: "1", at: minute(4) },
    { type: "DeliverOrder", orderId: "o-1", at: minute(5) },
  ];
  const returnRound = fc.record({
    lines: fc.uniqueArray(fc.record({ sku: fc.constantFrom("A", "B", "C"), quantity: fc.integer({ min: 1, max: 3 }) }), {
      selector: (l) => l.sku,
      minLength: 1,
    }),
    refund: fc.boolean(),
  });

  it("return refunds never exceed what was paid, refunds never exceed the capture, and returning everything refunds exactly the total", () => {
    fc.assert(
      fc.property(fc.array(returnRound, { maxLength: 8, size: "max" }), (rounds) => {
        const commands: OrderCommand[] = [...delivered];
        rounds.forEach(({ lines, refund }, i) => {
          const returnId = `ret-${i}`;
          const at = minute(10 + i);
          commands.push({ type: "RequestReturn", orderId: "o-1", returnId, lines, reason: "x", returnWindowMs: 86_400_000, at });
          commands.push({ type: "ReceiveReturn", orderId: "o-1", returnId, at });
          if (refund)
            commands.push({ type: "RecordRefundRequested", orderId: "o-1", refundId: `rf-${i}`, amount: 1 + i * 1_000, reason: "x", at });
          commands.push({ type: "MarkReturned", orderId: "o-1", returnId, at });
        });
        const { state } = run(orderDecider, commands, (s: unknown, _e: OrderEvent) => {
          const o = s as Order;
          expect(o.returns.reduce((n, r) => n + r.refundAmount, 0)).toBeLessThanOrEqual(o.totalAmount);
          expect(promisedRefunds(o)).toBeLessThanOrEqual(o.capturedAmount);
        });
        const o = state as Order;
        if (o.status === "RETURNED") expect(o.returns.reduce((n, r) => n + r.refundAmount, 0)).toBe(o.totalAmount);
      }),
      { numRuns: 200 },
    );
  });
});
