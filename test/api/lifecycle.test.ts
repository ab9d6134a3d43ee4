// The order lifecycle end to end over HTTP, driven by the real saga, projections and webhooks.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { awaitOrder, awaitStatus, logHead, paymentEvent, placeOrder } from "./flow.js";
import { address, backends, createStorage, eventually, seedProduct, startApp, type Storage, type TestApp } from "./harness.js";

describe.each(backends())("order lifecycle over HTTP (%s)", (backend) => {
  let storage: Storage;
  let app: TestApp;
  let customer: string;
  let ops: string;
  beforeAll(async () => {
    storage = await createStorage(backend);
    app = await startApp(storage, { PAYMENT_TIMEOUT_MS: "60000" });
    await seedProduct(app, "SKU-A", 10_000, 100);
    await seedProduct(app, "SKU-B", 2_500, 100);
    customer = await app.token("customer", "c-life");
    ops = await app.token("ops", "ops-1");
  });
  afterAll(async () => {
    await app?.close();
    await storage?.dispose();
  });

  it("goes CREATED -> PAYMENT_PENDING -> (captured) -> PROCESSING -> SHIPPED -> DELIVERED -> RETURNED with a full refund", async () => {
    const placed = await placeOrder(app, customer, [
      { sku: "SKU-A", quantity: 2 },
      { sku: "SKU-B", quantity: 1 },
    ]);
    expect(placed.status).toBe("CREATED");
    const pending = await awaitStatus(app, customer, placed.orderId, "PAYMENT_PENDING");
    expect(pending).toMatchObject({
      customerId: "c-life",
      totalAmount: 22_500,
      currency: "INR",
      paymentStatus: "PENDING",
      items: [
        { sku: "SKU-A", quantity: 2, unitPrice: 10_000 },
        { sku: "SKU-B", quantity: 1, unitPrice: 2_500 },
      ],
    });
    expect(pending.payment.paymentUrl).toBe(`${app.url}/simulated-gateway/payments/${pending.payment.paymentId}`);
    const paymentId = pending.payment.paymentId as string;

    const hook = await app.webhook(paymentEvent("payment.captured", paymentId, 22_500));
    expect(hook.status).toBe(200);
    const processing = await awaitStatus(app, customer, placed.orderId, "PROCESSING");
    expect(processing.paymentStatus).toBe("CAPTURED");

    // Reads come from the read models: wait for what the log holds now (the saga's writes answer no position).
    const payment = await app.request("GET", `/api/payments/${paymentId}?waitFor=${await logHead(app)}`, { token: customer });
    expect(payment.body).toMatchObject({
      paymentId,
      orderId: placed.orderId,
      amount: 22_500,
      status: "CAPTURED",
      capturedAmount: 22_500,
      refundedAmount: 0,
    });

    const shipped = await app.request("POST", `/api/orders/${placed.orderId}/ship`, {
      token: ops,
      body: { carrier: "BlueDart", trackingNumber: "BD123" },
    });
    expect(shipped.status).toBe(202);
    expect(shipped.body.status).toBe("SHIPPED");
    const delivered = await app.request("POST", `/api/orders/${placed.orderId}/deliver`, { token: ops });
    expect(delivered.status).toBe(202);
    const order = await app.request("GET", `/api/orders/${placed.orderId}?waitFor=${encodeURIComponent(delivered.body.position)}`, {
      token: customer,
    });
    expect(order.body).toMatchObject({ status: "DELIVERED", shipment: { carrier: "BlueDart", trackingNumber: "BD123" } });

    const ret = await app.request("POST", `/api/orders/${placed.orderId}/returns`, {
      token: customer,
      body: {
        items: [
          { sku: "SKU-A", quantity: 2 },
          { sku: "SKU-B", quantity: 1 },
        ],
        reason: "did not fit",
      },
    });
    expect(ret.status).toBe(202);
    expect(ret.body.returnId).toBeTruthy();
    const received = await app.request("POST", `/api/orders/${placed.orderId}/returns/${ret.body.returnId}/receive`, { token: ops });
    expect(received.status).toBe(202);
    const returned = await awaitOrder(
      app,
      customer,
      placed.orderId,
      (o) => o.status === "RETURNED" && o.paymentStatus === "REFUNDED",
      "RETURNED and REFUNDED",
    );
    expect(returned.refundedAmount).toBe(22_500);

    // History: order, payment, reservations and saga events in commit order.
    const auditor = await app.token("auditor", "aud-1");
    const expectedTypes = [
      "OrderPlaced",
      "StockReserved",
      "PaymentInitiated",
      "PaymentCaptured",
      "OrderConfirmed",
      "OrderShipped",
      "OrderDelivered",
      "OrderReturned",
      "SagaStepRecorded",
      "StockRestocked",
      "RefundProcessed",
    ];
    // History reads the log as far as no older transaction on the server holds it back: it may trail for a moment.
    const history = await eventually(
      async () => {
        const h = await app.request("GET", `/api/orders/${placed.orderId}/history`, { token: auditor });
        const seen = new Set(h.body?.events?.map((e: { type: string }) => e.type) ?? []);
        return h.status !== 200 || expectedTypes.every((t) => seen.has(t)) ? h : undefined;
      },
      20_000,
      "history to show the whole lifecycle",
    );
    expect(history.status).toBe(200);
    const types = history.body.events.map((e: { type: string }) => e.type);
    expect(types).toEqual(expect.arrayContaining(expectedTypes));
    const positions = history.body.events.map((e: { position: string }) => e.position);
    expect([...positions].sort()).toEqual(positions);
    expect(history.body.events[0].metadata).toMatchObject({ actor: "customer:c-life" });
    const deliveredAt = history.body.events.find((e: { type: string }) => e.type === "OrderDelivered").occurredAt as string;
    const asOf = await app.request("GET", `/api/orders/${placed.orderId}/history?asOf=${encodeURIComponent(deliveredAt)}`, {
      token: customer,
    });
    expect(asOf.body.state.status).toBe("DELIVERED");
    // As of a position: exactly after that event, whatever else shares its millisecond.
    const orderEvents = history.body.events.filter((e: { streamId: string }) => e.streamId === `order-${placed.orderId}`);
    for (const [i, e] of orderEvents.entries()) {
      const at = await app.request("GET", `/api/orders/${placed.orderId}/history?asOf=${encodeURIComponent(e.position)}`, {
        token: auditor,
      });
      expect(at.status).toBe(200);
      expect(at.body.asOf).toBe(e.position);
      expect(at.body.state.version, `as of ${e.type}`).toBe(i);
    }
    const shippedEvent = orderEvents.find((e: { type: string }) => e.type === "OrderShipped");
    const atShipped = await app.request("GET", `/api/orders/${placed.orderId}/history?asOf=${encodeURIComponent(shippedEvent.position)}`, {
      token: customer,
    });
    expect(atShipped.body.state.status).toBe("SHIPPED");
    // Another customer cannot read it, nor its payment.
    const other = await app.token("customer", "c-other");
    expect((await app.request("GET", `/api/orders/${placed.orderId}`, { token: other })).status).toBe(404);
    expect((await app.request("GET", `/api/orders/${placed.orderId}/history`, { token: other })).status).toBe(404);
    expect((await app.request("GET", `/api/payments/${paymentId}`, { token: other })).status).toBe(404);
    const finance = await app.token("finance", "fin-1");
    expect((await app.request("GET", `/api/payments/${paymentId}`, { token: finance })).status).toBe(200);

    // The list (read model) shows it to its owner once the projection has the position.
    const list = await app.request("GET", `/api/orders?waitFor=${encodeURIComponent(received.headers.get("x-commit-position")!)}`, {
      token: customer,
    });
    expect(list.status).toBe(200);
    expect(list.body.items.map((o: { orderId: string }) => o.orderId)).toContain(placed.orderId);
    expect((await app.request("GET", "/api/orders", { token: other })).body.items.map((o: { orderId: string }) => o.orderId)).not.toContain(
      placed.orderId,
    );
  });

  it("cancels before payment: CANCELLED, reservations released", async () => {
    const placed = await placeOrder(app, customer, [{ sku: "SKU-B", quantity: 3 }]);
    await awaitStatus(app, customer, placed.orderId, "PAYMENT_PENDING");
    const cancel = await app.request("POST", `/api/orders/${placed.orderId}/cancel`, {
      token: customer,
      body: { reason: "changed my mind" },
    });
    expect(cancel.status).toBe(202);
    const order = await awaitStatus(app, customer, placed.orderId, "CANCELLED");
    expect(order.cancellationReason).toBe("CUSTOMER_REQUEST");
    await eventually(
      async () => {
        const history = await app.request("GET", `/api/orders/${placed.orderId}/history`, { token: customer });
        return history.body.events.some((e: { type: string }) => e.type === "StockReleased");
      },
      15_000,
      "StockReleased",
    );
  });

  it("cancels after payment: refunded in full", async () => {
    const placed = await placeOrder(app, customer, [{ sku: "SKU-A", quantity: 1 }]);
    const pending = await awaitStatus(app, customer, placed.orderId, "PAYMENT_PENDING");
    // Paid through the simulated gateway's page: it sends the signed webhook to this server.
    const paid = await app.request("POST", `/simulated-gateway/payments/${pending.payment.paymentId}`, { body: { outcome: "captured" } });
    expect(paid.body.webhookStatus).toBe(200);
    await awaitStatus(app, customer, placed.orderId, "CONFIRMED", "PROCESSING");
    const cancel = await app.request("POST", `/api/orders/${placed.orderId}/cancel`, {
      token: customer,
      body: { reason: "found it cheaper" },
    });
    expect(cancel.status).toBe(202);
    const refunded = await awaitOrder(
      app,
      customer,
      placed.orderId,
      (o) => o.status === "CANCELLED" && o.paymentStatus === "REFUNDED",
      "CANCELLED and REFUNDED",
    );
    expect(refunded.refundedAmount).toBe(10_000);
    // Finance sees the refund in the reconciliation computed from the log, with no mismatch for this order.
    const finance = await app.token("finance", "fin-1");
    const from = new Date(Date.now() - 3600_000).toISOString();
    const to = new Date(Date.now() + 3600_000).toISOString();
    // The report reads the log as far as no older transaction on the server holds it back, so it
    // may trail the order's own stream for a moment.
    const report = await eventually(
      async () => {
        const r = await app.request("GET", `/api/finance/refunds/reconciliation?from=${from}&to=${to}`, { token: finance });
        const settled =
          r.status !== 200 ||
          (r.body.mismatches.every((m: { orderId: string }) => m.orderId !== placed.orderId) &&
            r.body.refunds.some((x: { orderId: string; status: string }) => x.orderId === placed.orderId && x.status === "PROCESSED"));
        return settled ? r : undefined;
      },
      20_000,
      "reconciliation to include the processed refund",
    );
    expect(report.status).toBe(200);
    expect(report.body.totals.captured).toBeGreaterThanOrEqual(10_000);
    expect(report.body.totals.refunded).toBeGreaterThanOrEqual(10_000);
    expect(report.body.refunds).toEqual(
      expect.arrayContaining([expect.objectContaining({ orderId: placed.orderId, amount: 10_000, status: "PROCESSED" })]),
    );
    expect(report.body.mismatches.filter((m: { orderId: string }) => m.orderId === placed.orderId)).toEqual([]);
    expect((await app.request("GET", `/api/finance/refunds/reconciliation?from=${to}&to=${from}`, { token: finance })).status).toBe(422);
  });

  it("refuses to cancel after shipping (409 with the current status) and to ship a cancelled order", async () => {
    const placed = await placeOrder(app, customer, [{ sku: "SKU-A", quantity: 1 }], "COD");
    await awaitStatus(app, customer, placed.orderId, "PROCESSING");
    expect(
      (await app.request("POST", `/api/orders/${placed.orderId}/ship`, { token: ops, body: { carrier: "DTDC", trackingNumber: "D1" } }))
        .status,
    ).toBe(202);
    const cancel = await app.request("POST", `/api/orders/${placed.orderId}/cancel`, { token: customer, body: { reason: "too late" } });
    expect(cancel.status).toBe(409);
    expect(cancel.headers.get("content-type")).toContain("application/problem+json");
    expect(cancel.body).toMatchObject({ status: 409, currentStatus: "SHIPPED" });
    const ship = await app.request("POST", `/api/orders/${placed.orderId}/ship`, {
      token: ops,
      body: { carrier: "DTDC", trackingNumber: "D2" },
    });
    expect(ship.status).toBe(409);
  });

  it("payment failure cancels the order with PAYMENT_FAILED; a late failure after capture changes nothing", async () => {
    const placed = await placeOrder(app, customer, [{ sku: "SKU-B", quantity: 1 }]);
    const pending = await awaitStatus(app, customer, placed.orderId, "PAYMENT_PENDING");
    expect(
      (await app.webhook(paymentEvent("payment.failed", pending.payment.paymentId, 2_500, undefined, { reason: "insufficient funds" })))
        .status,
    ).toBe(200);
    const cancelled = await awaitStatus(app, customer, placed.orderId, "CANCELLED");
    expect(cancelled).toMatchObject({ cancellationReason: "PAYMENT_FAILED", paymentStatus: "FAILED" });

    // Another order is paid; then the gateway reports a failure for the same payment, late.
    const paid = await placeOrder(app, customer, [{ sku: "SKU-B", quantity: 1 }]);
    const paidPending = await awaitStatus(app, customer, paid.orderId, "PAYMENT_PENDING");
    const paymentId = paidPending.payment.paymentId as string;
    expect((await app.webhook(paymentEvent("payment.captured", paymentId, 2_500))).status).toBe(200);
    await awaitStatus(app, customer, paid.orderId, "PROCESSING");
    await app.built.saga.processor.caughtUpTo(await app.built.store.headCheckpoint(), 20_000);
    const settled = await logHead(app);
    const before = (await app.request("GET", `/api/orders/${paid.orderId}?waitFor=${settled}`, { token: customer })).body;
    const paymentBefore = await app.request("GET", `/api/payments/${paymentId}?waitFor=${settled}`, { token: customer });
    const late = await app.webhook(paymentEvent("payment.failed", paymentId, 2_500, undefined, { reason: "timeout at the bank" }));
    expect(late.status).toBe(200);
    expect(late.body.outcome).toBe("ignored");
    // Once the saga has handled everything up to now, neither the order nor the payment has moved.
    await app.built.saga.processor.caughtUpTo(await app.built.store.headCheckpoint(), 20_000);
    const later = await logHead(app);
    const after = await app.request("GET", `/api/orders/${paid.orderId}?waitFor=${later}`, { token: customer });
    expect(after.body).toEqual(before);
    const paymentAfter = await app.request("GET", `/api/payments/${paymentId}?waitFor=${later}`, { token: customer });
    expect(paymentAfter.body).toMatchObject({ status: "CAPTURED", capturedAmount: 2_500 });
    expect(paymentAfter.body.failureReason).toBeUndefined();
    expect(paymentAfter.body.refunds).toEqual(paymentBefore.body.refunds);
  });

  it("webhooks: bad signature and stale timestamp are 401 and write nothing; a duplicate id is 200 with no second effect; out of order never moves backwards", async () => {
    const placed = await placeOrder(app, customer, [{ sku: "SKU-B", quantity: 2 }]);
    const pending = await awaitStatus(app, customer, placed.orderId, "PAYMENT_PENDING");
    const paymentId = pending.payment.paymentId as string;
    const captured = paymentEvent("payment.captured", paymentId, 5_000, `evt-cap-${paymentId}`);

    const before = await app.eventCount();
    expect((await app.webhook(captured, { secret: "wrong-secret-wrong-secret" })).status).toBe(401);
    expect((await app.webhook(captured, { t: Math.floor(Date.now() / 1000) - 301 })).status).toBe(401);
    expect((await app.webhook(captured, { signature: "garbage" })).status).toBe(401);
    expect((await app.request("POST", "/api/payments/webhook", { body: captured })).status).toBe(401);
    const tampered = await app.request("POST", "/api/payments/webhook", {
      raw: JSON.stringify({ ...captured, data: { ...captured.data, amount: 1 } }),
      headers: {
        "x-webhook-signature": (await import("../../src/payments/webhook-signature.js")).signWebhook(
          "test-webhook-secret-0123456789",
          JSON.stringify(captured),
          Math.floor(Date.now() / 1000),
        ),
      },
    });
    expect(tampered.status).toBe(401);
    expect(await app.eventCount()).toBe(before);
    // A correctly signed event for a payment not (yet) known: a 4xx problem the gateway retries later, nothing written.
    const early = await app.webhook(paymentEvent("payment.captured", "pay-not-started-yet", 5_000));
    expect(early.status).toBeGreaterThanOrEqual(400);
    expect(early.status).toBeLessThan(500);
    expect(early.headers.get("content-type")).toContain("application/problem+json");
    expect(await app.built.store.readStream("payment-pay-not-started-yet")).toEqual([]);

    const first = await app.webhook(captured);
    expect(first.status).toBe(200);
    await awaitStatus(app, customer, placed.orderId, "PROCESSING");
    const afterFirst = await app.eventCount();
    const again = await app.webhook(captured);
    expect(again.status).toBe(200);
    expect(again.body.outcome).toBe("duplicate");
    // A failure arriving after the capture changes nothing about the payment.
    const late = await app.webhook(paymentEvent("payment.failed", paymentId, 5_000, `evt-late-${paymentId}`, { reason: "timeout" }));
    expect(late.status).toBe(200);
    await app.built.saga.processor.caughtUpTo(await app.built.store.headCheckpoint(), 20_000);
    const head = await logHead(app);
    const payment = await app.request("GET", `/api/payments/${paymentId}?waitFor=${head}`, { token: customer });
    expect(payment.body.status).toBe("CAPTURED");
    const order = await app.request("GET", `/api/orders/${placed.orderId}?waitFor=${head}`, { token: customer });
    expect(order.body.status).toBe("PROCESSING");
    expect(afterFirst).toBeGreaterThan(before);
  });

  it("checkout from the cart with a coupon places the order at catalog prices minus the discount", async () => {
    const admin = await app.token("admin", "a-1");
    expect(
      (await app.request("POST", "/api/coupons", { token: admin, body: { code: "FLAT500", kind: "flat", value: 500, maxRedemptions: 1 } }))
        .status,
    ).toBe(201);
    const buyer = await app.token("customer", "c-cart");
    await app.request("POST", "/api/cart/items", { token: buyer, body: { sku: "SKU-A", quantity: 1 } });
    expect((await app.request("POST", "/api/cart/coupon", { token: buyer, body: { code: "flat500" } })).status).toBe(200);
    const out = await app.request("POST", "/api/cart/checkout", { token: buyer, body: { shippingAddress: address, paymentMethod: "COD" } });
    expect(out.status).toBe(202);
    expect(out.body.status).toBe("CREATED");
    const order = await awaitStatus(app, buyer, out.body.orderId, "CONFIRMED", "PROCESSING");
    expect(order).toMatchObject({ totalAmount: 9_500, discountAmount: 500, couponCode: "FLAT500" });
    const cart = await app.request("GET", `/api/cart?waitFor=${encodeURIComponent(out.body.position)}`, { token: buyer });
    expect(cart.body.items).toEqual([]);
    const empty = await app.request("POST", "/api/cart/checkout", {
      token: buyer,
      body: { shippingAddress: address, paymentMethod: "COD" },
    });
    expect(empty.status).toBe(409);
  });
});

describe.each(backends())("payment timeout (%s)", (backend) => {
  let storage: Storage;
  let app: TestApp;
  beforeAll(async () => {
    storage = await createStorage(backend);
    app = await startApp(storage, { PAYMENT_TIMEOUT_MS: "800" });
    await seedProduct(app, "SKU-T", 1_000, 5);
  });
  afterAll(async () => {
    await app?.close();
    await storage?.dispose();
  });

  it("cancels an unpaid order with PAYMENT_TIMEOUT and releases its stock; a capture after that is refunded", async () => {
    const customer = await app.token("customer", "c-slow");
    const placed = await placeOrder(app, customer, [{ sku: "SKU-T", quantity: 5 }]);
    const pending = await awaitStatus(app, customer, placed.orderId, "PAYMENT_PENDING", "CANCELLED");
    const cancelled = await awaitStatus(app, customer, placed.orderId, "CANCELLED");
    expect(cancelled.cancellationReason).toBe("PAYMENT_TIMEOUT");
    const inventory = await eventually(
      async () => {
        const res = await app.request("GET", "/api/inventory/SKU-T", { token: customer });
        return res.body.available === 5 ? res.body : undefined;
      },
      15_000,
      "stock released",
    );
    expect(inventory.reserved).toBe(0);
    // The customer pays late: the capture is refunded automatically.
    expect((await app.webhook(paymentEvent("payment.captured", pending.payment.paymentId, 5_000))).status).toBe(200);
    await awaitOrder(app, customer, placed.orderId, (o) => o.paymentStatus === "REFUNDED", "late capture refunded");
  });
});
