// The whole flow through real aggregates, the event store and the saga processor, for every path.
// Runs on PGlite always and on PostgreSQL when DATABASE_URL is set.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { applyGatewayEvent } from "../../src/payments/gateway-events.js";
import { listSagasNeedingAttention, resumeSaga } from "../../src/sagas/attention.js";
import { EventStoreInventoryLocator } from "../../src/sagas/inventory-locator.js";
import { listDeadlines } from "../../src/scheduling/deadlines.js";
import { backends, openWorld, PAYMENT_TIMEOUT_MS, type World } from "./harness.js";

describe.each(backends())("order saga flows (%s)", (backend) => {
  let w: World;
  let A: string;
  let B: string;
  beforeEach(async () => {
    w = await openWorld(backend);
    A = `A-${w.id}`;
    B = `B-${w.id}`;
  });
  afterEach(async () => w.close());

  it("happy path: reserved, payment pending, captured -> PROCESSING; shipped and delivered -> DELIVERED with the stock shipped", async () => {
    await w.receive(A, "w1", 5);
    await w.receive(B, "w1", 1);
    await w.receive(B, "w2", 3);
    const orderId = await w.place([
      { sku: A, quantity: 2, unitPrice: 1000 },
      { sku: B, quantity: 2, unitPrice: 500 },
    ]);
    await w.settle();
    let order = await w.order(orderId);
    expect(order.status).toBe("PAYMENT_PENDING");
    expect(order.payment?.paymentUrl).toBe(`http://shop.test/simulated-gateway/payments/pay-${orderId}`);
    expect((await w.inventory(A, "w1")).reserved).toBe(2);
    expect((await w.inventory(B, "w2")).reserved).toBe(2);

    await w.gatewayEvent(orderId, "captured");
    await w.settle();
    order = await w.order(orderId);
    expect(order).toMatchObject({ status: "PROCESSING", paymentStatus: "CAPTURED", capturedAmount: 3000, fulfillmentStatus: "ALLOCATED" });
    expect((await w.inventory(A, "w1")).committed).toBe(2);
    expect((await listDeadlines(w.sql, { prefix: orderId })).map((d) => d.status)).toEqual(["CANCELLED", "CANCELLED"]);

    await w.orderCommand(orderId, { type: "ShipOrder", carrier: "BlueDart", trackingNumber: "BD1" });
    await w.settle();
    await w.orderCommand(orderId, { type: "DeliverOrder" });
    await w.settle();
    expect((await w.order(orderId)).status).toBe("DELIVERED");
    expect(await w.inventory(A, "w1")).toMatchObject({ shipped: 2, committed: 0, reserved: 0, available: 3 });
    expect(await w.inventory(B, "w2")).toMatchObject({ shipped: 2, committed: 0, available: 1 });
    expect(await w.sagaStatus(orderId)).toBe("DELIVERED");
    expect(await w.allInventoryLawsHold()).toBe(true);
  });

  it("a line no warehouse can serve alone is split across warehouses", async () => {
    await w.receive(A, "w1", 2);
    await w.receive(A, "w2", 2);
    const orderId = await w.place([{ sku: A, quantity: 3 }], "COD");
    await w.settle();
    expect((await w.order(orderId)).status).toBe("PROCESSING");
    const w1 = await w.inventory(A, "w1");
    const w2 = await w.inventory(A, "w2");
    expect(w1.committed + w2.committed).toBe(3);
    expect(w1.available + w2.available).toBe(1);
  });

  it("a warehouse stocked after the saga last looked is used when the warehouses it knows are short", async () => {
    // A locator whose map of a SKU it has seen never ages: only the saga's fresh read can find w2.
    await w.restartSaga({ locator: new EventStoreInventoryLocator(w.store, { maxAgeMs: 3_600_000 }) });
    await w.receive(A, "w1", 1);
    const first = await w.place([{ sku: A, quantity: 1 }], "COD");
    await w.settle();
    expect((await w.order(first)).status).toBe("PROCESSING");
    await w.receive(A, "w2", 2);
    const second = await w.place([{ sku: A, quantity: 2 }], "COD");
    await w.settle();
    expect((await w.order(second)).status).toBe("PROCESSING");
    expect(await w.inventory(A, "w2")).toMatchObject({ committed: 2, available: 0 });
    expect(await w.allInventoryLawsHold()).toBe(true);
  });

  it("COD: straight to CONFIRMED and PROCESSING, no payment", async () => {
    await w.receive(A, "w1", 1);
    const orderId = await w.place([{ sku: A, quantity: 1 }], "COD");
    await w.settle();
    expect(await w.order(orderId)).toMatchObject({ status: "PROCESSING", paymentStatus: "NOT_REQUIRED" });
    expect(await w.payment(orderId)).toBeUndefined();
    expect(w.gateway.calls).toEqual([]);
  });

  it("out of stock: CANCELLED (OUT_OF_STOCK) and every reservation released", async () => {
    await w.receive(A, "w1", 5);
    await w.receive(B, "w1", 1);
    const orderId = await w.place([
      { sku: A, quantity: 2 },
      { sku: B, quantity: 2 },
    ]);
    await w.settle();
    expect(await w.order(orderId)).toMatchObject({ status: "CANCELLED", cancellationReason: "OUT_OF_STOCK" });
    expect(await w.inventory(A, "w1")).toMatchObject({ available: 5, reserved: 0 });
    expect(await w.payment(orderId)).toBeUndefined();
    expect(await w.sagaStatus(orderId)).toBe("CANCELLED");
  });

  it("an unknown SKU (no warehouse at all) is cancelled OUT_OF_STOCK", async () => {
    const orderId = await w.place([{ sku: `nothing-${w.id}`, quantity: 1 }]);
    await w.settle();
    expect(await w.order(orderId)).toMatchObject({ status: "CANCELLED", cancellationReason: "OUT_OF_STOCK" });
  });

  it("payment failed: CANCELLED (PAYMENT_FAILED), stock released, no void", async () => {
    await w.receive(A, "w1", 2);
    const orderId = await w.place([{ sku: A, quantity: 2 }]);
    await w.settle();
    await w.gatewayEvent(orderId, "failed");
    await w.settle();
    expect(await w.order(orderId)).toMatchObject({ status: "CANCELLED", cancellationReason: "PAYMENT_FAILED", paymentStatus: "FAILED" });
    expect(await w.inventory(A, "w1")).toMatchObject({ available: 2, reserved: 0 });
    expect((await w.payment(orderId))?.status).toBe("FAILED");
    expect(w.gateway.effects.void).toBe(0);
  });

  it("payment timeout: voided, stock available again, CANCELLED (PAYMENT_TIMEOUT)", async () => {
    await w.receive(A, "w1", 1);
    const orderId = await w.place([{ sku: A, quantity: 1 }]);
    await w.settle();
    w.clock.advance(PAYMENT_TIMEOUT_MS - 1);
    await w.settle();
    expect((await w.order(orderId)).status).toBe("PAYMENT_PENDING");
    w.clock.advance(1);
    await w.settle();
    expect(await w.order(orderId)).toMatchObject({ status: "CANCELLED", cancellationReason: "PAYMENT_TIMEOUT", paymentStatus: "VOIDED" });
    expect((await w.payment(orderId))?.status).toBe("VOIDED");
    expect(await w.inventory(A, "w1")).toMatchObject({ available: 1, reserved: 0 });
    expect(w.gateway.effects.void).toBe(1);
  });

  it("a capture after the timeout is refunded automatically", async () => {
    await w.receive(A, "w1", 1);
    const orderId = await w.place([{ sku: A, quantity: 1, unitPrice: 700 }]);
    await w.settle();
    w.clock.advance(PAYMENT_TIMEOUT_MS);
    await w.settle();
    await w.gatewayEvent(orderId, "captured");
    await w.settle();
    const payment = await w.payment(orderId);
    expect(payment).toMatchObject({ status: "REFUNDED", capturedAmount: 700, refundedAmount: 700, captureAfterVoid: true });
    expect(await w.order(orderId)).toMatchObject({ status: "CANCELLED", paymentStatus: "REFUNDED", refundedAmount: 700 });
    expect(w.gateway.effects.refund).toBe(1);
    expect((await w.inventory(A, "w1")).available).toBe(1);
  });

  it("customer cancel before payment: voided and released", async () => {
    await w.receive(A, "w1", 3);
    const orderId = await w.place([{ sku: A, quantity: 3 }]);
    await w.settle();
    await w.orderCommand(orderId, { type: "CancelOrder", reason: "CUSTOMER_REQUEST" });
    await w.settle();
    expect(await w.order(orderId)).toMatchObject({ status: "CANCELLED", cancellationReason: "CUSTOMER_REQUEST", paymentStatus: "VOIDED" });
    expect((await w.inventory(A, "w1")).available).toBe(3);
    expect((await listDeadlines(w.sql, { prefix: orderId, status: "PENDING" })).length).toBe(0);
  });

  it("customer cancel after capture: stock un-committed and refunded in full", async () => {
    await w.receive(A, "w1", 3);
    const orderId = await w.place([{ sku: A, quantity: 3, unitPrice: 400 }]);
    await w.settle();
    await w.gatewayEvent(orderId, "captured");
    await w.settle();
    await w.orderCommand(orderId, { type: "CancelOrder", reason: "CUSTOMER_REQUEST" });
    await w.settle();
    expect(await w.order(orderId)).toMatchObject({ status: "CANCELLED", paymentStatus: "REFUNDED", refundedAmount: 1200 });
    expect(await w.payment(orderId)).toMatchObject({ status: "REFUNDED", refundedAmount: 1200 });
    expect(await w.inventory(A, "w1")).toMatchObject({ available: 3, committed: 0 });
    expect(await w.allInventoryLawsHold()).toBe(true);
  });

  it("return received: restocked and refunded -> RETURNED", async () => {
    await w.receive(A, "w1", 2);
    await w.receive(B, "w1", 1);
    const orderId = await w.place([
      { sku: A, quantity: 2, unitPrice: 1000 },
      { sku: B, quantity: 1, unitPrice: 500 },
    ]);
    await w.settle();
    await w.gatewayEvent(orderId, "captured");
    await w.settle();
    await w.orderCommand(orderId, { type: "ShipOrder", carrier: "X", trackingNumber: "1" });
    await w.settle();
    await w.orderCommand(orderId, { type: "DeliverOrder" });
    await w.settle();
    await w.orderCommand(orderId, {
      type: "RequestReturn",
      returnId: "r1",
      lines: [
        { sku: A, quantity: 2 },
        { sku: B, quantity: 1 },
      ],
      reason: "did not fit",
      returnWindowMs: 864_000_000,
    });
    await w.settle();
    await w.orderCommand(orderId, { type: "ReceiveReturn", returnId: "r1" });
    await w.settle();
    expect(await w.order(orderId)).toMatchObject({ status: "RETURNED", paymentStatus: "REFUNDED", refundedAmount: 2500 });
    expect(await w.inventory(A, "w1")).toMatchObject({ available: 2, shipped: 2, restocked: 2 });
    expect(await w.sagaStatus(orderId)).toBe("RETURNED");
    expect(await w.allInventoryLawsHold()).toBe(true);
  });

  it("a refund the gateway keeps failing parks the saga; fixing the gateway and resuming completes it", async () => {
    await w.receive(A, "w1", 1);
    const orderId = await w.place([{ sku: A, quantity: 1, unitPrice: 900 }]);
    await w.settle();
    await w.gatewayEvent(orderId, "captured");
    await w.settle();
    w.gateway.failRefunds = true;
    await w.orderCommand(orderId, { type: "CancelOrder", reason: "CUSTOMER_REQUEST" });
    await w.settle();
    // attempt 1 failed; retries come with backoff (1 s, then 2 s), then it parks (maxAttempts 3).
    expect(await listSagasNeedingAttention(w.sql)).toEqual([]);
    w.clock.advance(1_000);
    await w.settle();
    w.clock.advance(2_000);
    await w.settle();
    const parked = await listSagasNeedingAttention(w.sql);
    expect(parked).toEqual([expect.objectContaining({ orderId, attempts: 3, error: expect.stringContaining("refund") })]);
    expect((await w.payment(orderId))?.refunds).toEqual([expect.objectContaining({ status: "PENDING", amount: 900 })]);
    w.clock.advance(60_000);
    await w.settle();
    expect((await w.payment(orderId))?.refunds[0]?.status).toBe("PENDING"); // parked: no more retries

    // Resuming while the gateway is still down: another round of retries, then parked again.
    await resumeSaga({ store: w.store, clock: w.clock }, orderId, "ops:test");
    await w.settle();
    expect(await listSagasNeedingAttention(w.sql)).toEqual([]);
    w.clock.advance(1_000);
    await w.settle();
    w.clock.advance(2_000);
    await w.settle();
    expect(await listSagasNeedingAttention(w.sql)).toEqual([expect.objectContaining({ orderId, attempts: 3 })]);

    w.gateway.failRefunds = false;
    await resumeSaga({ store: w.store, clock: w.clock }, orderId, "ops:test");
    await w.settle();
    expect(await listSagasNeedingAttention(w.sql)).toEqual([]);
    expect(await w.payment(orderId)).toMatchObject({ status: "REFUNDED", refundedAmount: 900 });
    expect(await w.order(orderId)).toMatchObject({ status: "CANCELLED", paymentStatus: "REFUNDED" });
    expect(w.gateway.effects.refund).toBe(1);
    expect((await w.sagaEvents(orderId)).map((e) => e.type)).toContain("SagaRecovered");
  });

  it("a void the gateway keeps failing parks the saga (the order is already CANCELLED); resumed once fixed", async () => {
    await w.receive(A, "w1", 1);
    const orderId = await w.place([{ sku: A, quantity: 1 }]);
    await w.settle();
    w.gateway.failVoids = true;
    w.clock.advance(PAYMENT_TIMEOUT_MS);
    await w.settle();
    w.clock.advance(1_000);
    await w.settle();
    w.clock.advance(2_000);
    await w.settle();
    // The customer-facing outcome does not wait for the gateway.
    expect(await w.order(orderId)).toMatchObject({ status: "CANCELLED", cancellationReason: "PAYMENT_TIMEOUT", paymentStatus: "VOIDED" });
    expect((await w.inventory(A, "w1")).available).toBe(1);
    expect(await listSagasNeedingAttention(w.sql)).toEqual([
      expect.objectContaining({ orderId, attempts: 3, error: expect.stringContaining("void") }),
    ]);
    expect(w.gateway.effects.void).toBe(0);
    w.gateway.failVoids = false;
    await resumeSaga({ store: w.store }, orderId);
    await w.settle();
    expect(w.gateway.effects.void).toBe(1);
    expect(await listSagasNeedingAttention(w.sql)).toEqual([]);
  });

  it("a refund.failed webhook parks the saga; resuming requests the refund again under a new id", async () => {
    await w.receive(A, "w1", 1);
    const orderId = await w.place([{ sku: A, quantity: 1, unitPrice: 650 }]);
    await w.settle();
    await w.gatewayEvent(orderId, "captured");
    await w.settle();
    w.gateway.refundsPending = true;
    await w.orderCommand(orderId, { type: "CancelOrder", reason: "CUSTOMER_REQUEST" });
    await w.settle();
    const refundId = (await w.payment(orderId))!.refunds[0]!.refundId;
    expect((await w.payment(orderId))!.refunds[0]!.status).toBe("PENDING");
    await applyGatewayEvent({ store: w.store }, await w.gateway.refundWebhookBody(`pay-${orderId}`, refundId, 650, "failed"));
    await w.settle();
    expect(await w.order(orderId)).toMatchObject({ status: "CANCELLED", paymentStatus: "CAPTURED" });
    expect((await w.order(orderId)).refunds.map((r) => r.status)).toEqual(["FAILED"]);
    expect(await listSagasNeedingAttention(w.sql)).toEqual([
      expect.objectContaining({ orderId, error: expect.stringContaining("closed") }),
    ]);

    w.gateway.refundsPending = false;
    await resumeSaga({ store: w.store }, orderId);
    await w.settle();
    expect(await w.payment(orderId)).toMatchObject({ status: "REFUNDED", refundedAmount: 650 });
    expect(await w.order(orderId)).toMatchObject({ paymentStatus: "REFUNDED", refundedAmount: 650 });
    expect((await w.order(orderId)).refunds.map((r) => [r.refundId, r.status])).toEqual([
      [refundId, "FAILED"],
      [`${refundId}-r1`, "PROCESSED"],
    ]);
    expect(await listSagasNeedingAttention(w.sql)).toEqual([]);
  });
});
