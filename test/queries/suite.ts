// The query side over live projectors, field by field, for one backend (PGlite or PostgreSQL):
// real commands through handleCommand -> event store -> transactional projectors -> queries.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProjections, type RunningProjections } from "../../src/projections/index.js";
import { getCart, getInventory, getOrder, getPayment, getProduct, listOrders } from "../../src/queries/index.js";
import { address, at, World, type Backend } from "../projections/world.js";

export function querySuite(label: string, open: () => Promise<Backend>): void {
  describe(`queries over the read models (${label})`, () => {
    let backend: Backend;
    let projections: RunningProjections;
    let world: World;
    const caughtUp = async () => expect(await projections.waitFor(world.last, 20_000)).toBe(true);

    beforeAll(async () => {
      backend = await open();
      projections = await startProjections({
        store: backend.store,
        sql: backend.sql,
        retry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 10 },
      });
      world = new World(backend.store);
    });
    afterAll(async () => {
      await projections?.stop();
      await backend?.close();
    });

    it("follows a prepaid order through its whole life: placed, payment pending, confirmed, processing, shipped, delivered", async () => {
      const sql = backend.sql;
      await world.order(0, {
        type: "PlaceOrder",
        orderId: "o-life",
        customerId: "c-1",
        lines: [
          { sku: "PHONE", quantity: 2, unitPrice: 49_900 },
          { sku: "CASE", quantity: 1, unitPrice: 1_500 },
        ],
        discountAmount: 1_300,
        couponCode: "SAVE",
        paymentMethod: "UPI",
        shippingAddress: address,
      });
      await caughtUp();
      const placed = await getOrder(sql, "o-life");
      expect(placed).toEqual({
        orderId: "o-life",
        customerId: "c-1",
        status: "CREATED",
        paymentStatus: "PENDING",
        fulfillmentStatus: "UNFULFILLED",
        items: [
          { sku: "PHONE", quantity: 2, unitPrice: 49_900 },
          { sku: "CASE", quantity: 1, unitPrice: 1_500 },
        ],
        subtotal: 101_300,
        discountAmount: 1_300,
        totalAmount: 100_000,
        capturedAmount: 0,
        refundedAmount: 0,
        currency: "INR",
        couponCode: "SAVE",
        payment: { paymentId: null, status: "PENDING", method: "UPI" },
        refunds: [],
        returns: [],
        shippingAddress: address,
        createdAt: at(0),
        updatedAt: at(0),
        version: 0,
      });

      await world.payment(1, {
        type: "InitiatePayment",
        paymentId: "pay-life",
        orderId: "o-life",
        amount: 100_000,
        method: "UPI",
        paymentUrl: "https://pay.example/pay-life",
      });
      await world.order(1, {
        type: "MarkPaymentPending",
        orderId: "o-life",
        paymentId: "pay-life",
        paymentUrl: "https://pay.example/pay-life",
      });
      await caughtUp();
      expect(await getOrder(sql, "o-life")).toMatchObject({
        status: "PAYMENT_PENDING",
        paymentStatus: "PENDING",
        fulfillmentStatus: "RESERVED",
        payment: { paymentId: "pay-life", status: "INITIATED", method: "UPI", paymentUrl: "https://pay.example/pay-life" },
        updatedAt: at(1),
        version: 1,
      });

      await world.payment(2, { type: "RecordPaymentCaptured", paymentId: "pay-life", gatewayEventId: "evt-1", amount: 100_000 });
      await world.order(2, { type: "ConfirmOrder", orderId: "o-life", payment: { paymentId: "pay-life", amount: 100_000 } });
      await caughtUp();
      expect(await getOrder(sql, "o-life")).toMatchObject({
        status: "CONFIRMED",
        paymentStatus: "CAPTURED",
        capturedAmount: 100_000,
        payment: { paymentId: "pay-life", status: "CAPTURED" },
        version: 2,
      });

      await world.order(3, { type: "StartProcessing", orderId: "o-life", shipmentId: "shp-1", warehouseId: "BLR" });
      await caughtUp();
      const processing = await getOrder(sql, "o-life");
      expect(processing).toMatchObject({ status: "PROCESSING", fulfillmentStatus: "ALLOCATED", version: 3 });
      expect(processing?.shipment).toBeUndefined();

      await world.order(4, { type: "ShipOrder", orderId: "o-life", carrier: "BlueDart", trackingNumber: "BD123" });
      await caughtUp();
      expect(await getOrder(sql, "o-life")).toMatchObject({
        status: "SHIPPED",
        fulfillmentStatus: "SHIPPED",
        shipment: { carrier: "BlueDart", trackingNumber: "BD123", status: "SHIPPED", shipmentId: "shp-1", warehouseId: "BLR" },
        version: 4,
      });

      await world.order(5, { type: "DeliverOrder", orderId: "o-life" });
      await caughtUp();
      const delivered = await getOrder(sql, "o-life");
      expect(delivered).toMatchObject({
        status: "DELIVERED",
        paymentStatus: "CAPTURED",
        fulfillmentStatus: "DELIVERED",
        shipment: { carrier: "BlueDart", trackingNumber: "BD123", status: "DELIVERED" },
        createdAt: at(0),
        updatedAt: at(5),
        version: 5,
      });
      expect(delivered?.cancellationReason).toBeUndefined();
      expect(await getOrder(sql, "no-such-order")).toBeNull();
    });

    it("shows a cancelled order with its reason", async () => {
      await world.order(10, {
        type: "PlaceOrder",
        orderId: "o-cod",
        customerId: "c-2",
        lines: [{ sku: "CASE", quantity: 3, unitPrice: 1_500 }],
        paymentMethod: "COD",
        shippingAddress: address,
      });
      await world.order(11, { type: "CancelOrder", orderId: "o-cod", reason: "OUT_OF_STOCK" });
      await caughtUp();
      expect(await getOrder(backend.sql, "o-cod")).toMatchObject({
        status: "CANCELLED",
        paymentStatus: "NOT_REQUIRED",
        fulfillmentStatus: "CANCELLED",
        cancellationReason: "OUT_OF_STOCK",
        totalAmount: 4_500,
        payment: { paymentId: null, status: "NOT_REQUIRED", method: "COD" },
        updatedAt: at(11),
        version: 1,
      });
    });

    it("shows a cancellation after payment with its refunds, on the order and on the payment (partial refunds, one failed)", async () => {
      const sql = backend.sql;
      await world.order(20, {
        type: "PlaceOrder",
        orderId: "o-ref",
        customerId: "c-3",
        lines: [{ sku: "PHONE", quantity: 1, unitPrice: 10_000 }],
        paymentMethod: "CARD",
        shippingAddress: address,
      });
      await world.payment(20, { type: "InitiatePayment", paymentId: "pay-ref", orderId: "o-ref", amount: 10_000, method: "CARD" });
      await world.order(20, { type: "MarkPaymentPending", orderId: "o-ref", paymentId: "pay-ref" });
      await world.payment(21, { type: "RecordPaymentCaptured", paymentId: "pay-ref", gatewayEventId: "evt-c", amount: 10_000 });
      await world.order(21, { type: "ConfirmOrder", orderId: "o-ref", payment: { paymentId: "pay-ref", amount: 10_000 } });
      await world.order(22, { type: "CancelOrder", orderId: "o-ref", reason: "CUSTOMER_REQUEST" });
      // Two partial refunds; the gateway pays the first and fails the second.
      await world.payment(23, { type: "RequestRefund", paymentId: "pay-ref", refundId: "r-1", amount: 3_000, reason: "CUSTOMER_REQUEST" });
      await world.payment(23, { type: "RequestRefund", paymentId: "pay-ref", refundId: "r-2", amount: 2_000, reason: "CUSTOMER_REQUEST" });
      await world.order(23, {
        type: "RecordRefundRequested",
        orderId: "o-ref",
        refundId: "r-1",
        amount: 3_000,
        reason: "CUSTOMER_REQUEST",
      });
      await world.order(23, {
        type: "RecordRefundRequested",
        orderId: "o-ref",
        refundId: "r-2",
        amount: 2_000,
        reason: "CUSTOMER_REQUEST",
      });
      await world.payment(24, { type: "RecordRefundProcessed", paymentId: "pay-ref", refundId: "r-1", gatewayEventId: "evt-r1" });
      await world.payment(25, {
        type: "RecordRefundFailed",
        paymentId: "pay-ref",
        refundId: "r-2",
        gatewayEventId: "evt-r2",
        reason: "bank down",
      });
      // A webhook replayed after the refund failed moves nothing (GatewayEventIgnored).
      await world.payment(26, { type: "RecordPaymentFailed", paymentId: "pay-ref", gatewayEventId: "evt-late", reason: "late" });
      await world.order(24, { type: "RecordRefundProcessed", orderId: "o-ref", refundId: "r-1" });
      await world.order(25, { type: "RecordRefundFailed", orderId: "o-ref", refundId: "r-2", reason: "bank down" });
      await caughtUp();

      expect(await getPayment(sql, "pay-ref")).toEqual({
        paymentId: "pay-ref",
        orderId: "o-ref",
        customerId: "c-3",
        amount: 10_000,
        currency: "INR",
        method: "CARD",
        status: "PARTIALLY_REFUNDED",
        capturedAmount: 10_000,
        refundedAmount: 3_000,
        refunds: [
          { refundId: "r-1", amount: 3_000, status: "PROCESSED", reason: "CUSTOMER_REQUEST", requestedAt: at(23), processedAt: at(24) },
          { refundId: "r-2", amount: 2_000, status: "FAILED", reason: "CUSTOMER_REQUEST", failureReason: "bank down", requestedAt: at(23) },
        ],
        captureAfterVoid: false,
        createdAt: at(20),
        updatedAt: at(26),
        version: 6,
      });
      expect(await getOrder(sql, "o-ref")).toMatchObject({
        status: "CANCELLED",
        cancellationReason: "CUSTOMER_REQUEST",
        paymentStatus: "PARTIALLY_REFUNDED",
        capturedAmount: 10_000,
        refundedAmount: 3_000,
        payment: { paymentId: "pay-ref", status: "PARTIALLY_REFUNDED", method: "CARD" },
        refunds: [
          { refundId: "r-1", amount: 3_000, status: "PROCESSED", reason: "CUSTOMER_REQUEST", requestedAt: at(23), processedAt: at(24) },
          { refundId: "r-2", amount: 2_000, status: "FAILED", reason: "CUSTOMER_REQUEST", requestedAt: at(23) },
        ],
      });

      // The rest refunded: the payment is REFUNDED.
      await world.payment(27, { type: "RequestRefund", paymentId: "pay-ref", refundId: "r-3", amount: 7_000, reason: "CUSTOMER_REQUEST" });
      await world.payment(28, { type: "RecordRefundProcessed", paymentId: "pay-ref", refundId: "r-3", gatewayEventId: "evt-r3" });
      await caughtUp();
      expect(await getPayment(sql, "pay-ref")).toMatchObject({ status: "REFUNDED", refundedAmount: 10_000, version: 8 });
      expect(await getPayment(sql, "nope")).toBeNull();
    });

    it("shows a failed payment, the cancellation it caused, a late capture after a void, and its automatic refund", async () => {
      const sql = backend.sql;
      await world.order(60, {
        type: "PlaceOrder",
        orderId: "o-late",
        customerId: "c-4",
        lines: [{ sku: "PHONE", quantity: 1, unitPrice: 5_000 }],
        paymentMethod: "WALLET",
        shippingAddress: address,
      });
      await world.payment(60, { type: "InitiatePayment", paymentId: "pay-late", orderId: "o-late", amount: 5_000, method: "WALLET" });
      await world.order(60, { type: "MarkPaymentPending", orderId: "o-late", paymentId: "pay-late" });
      await world.payment(61, { type: "VoidPayment", paymentId: "pay-late", reason: "PAYMENT_TIMEOUT" });
      await world.order(61, { type: "RecordPaymentVoided", orderId: "o-late", paymentId: "pay-late" });
      await world.order(61, { type: "CancelOrder", orderId: "o-late", reason: "PAYMENT_TIMEOUT" });
      await caughtUp();
      expect(await getOrder(sql, "o-late")).toMatchObject({
        status: "CANCELLED",
        cancellationReason: "PAYMENT_TIMEOUT",
        paymentStatus: "VOIDED",
        payment: { status: "VOIDED" },
      });

      // The gateway captures anyway: recorded on both, flagged, and refunded in full.
      await world.payment(62, { type: "RecordPaymentCaptured", paymentId: "pay-late", gatewayEventId: "evt-late-cap", amount: 5_000 });
      await world.order(62, { type: "RecordPaymentCaptured", orderId: "o-late", paymentId: "pay-late", amount: 5_000 });
      await caughtUp();
      expect(await getPayment(sql, "pay-late")).toMatchObject({ status: "CAPTURED", capturedAmount: 5_000, captureAfterVoid: true });
      expect(await getOrder(sql, "o-late")).toMatchObject({ status: "CANCELLED", paymentStatus: "CAPTURED", capturedAmount: 5_000 });

      await world.payment(63, {
        type: "RequestRefund",
        paymentId: "pay-late",
        refundId: "r-late",
        amount: 5_000,
        reason: "CAPTURE_AFTER_VOID",
      });
      await world.order(63, {
        type: "RecordRefundRequested",
        orderId: "o-late",
        refundId: "r-late",
        amount: 5_000,
        reason: "CAPTURE_AFTER_VOID",
      });
      await world.payment(64, { type: "RecordRefundProcessed", paymentId: "pay-late", refundId: "r-late", gatewayEventId: "evt-late-ref" });
      await world.order(64, { type: "RecordRefundProcessed", orderId: "o-late", refundId: "r-late" });
      await caughtUp();
      expect(await getPayment(sql, "pay-late")).toMatchObject({ status: "REFUNDED", refundedAmount: 5_000 });
      expect(await getOrder(sql, "o-late")).toMatchObject({
        paymentStatus: "REFUNDED",
        refundedAmount: 5_000,
        payment: { paymentId: "pay-late", status: "REFUNDED", method: "WALLET" },
        refunds: [
          {
            refundId: "r-late",
            amount: 5_000,
            status: "PROCESSED",
            reason: "CAPTURE_AFTER_VOID",
            requestedAt: at(63),
            processedAt: at(64),
          },
        ],
        version: 6,
      });

      // A failed payment: the order records it and is cancelled for it.
      await world.order(70, {
        type: "PlaceOrder",
        orderId: "o-fail",
        customerId: "c-4",
        lines: [{ sku: "CASE", quantity: 1, unitPrice: 900 }],
        paymentMethod: "NETBANKING",
        shippingAddress: address,
      });
      await world.payment(70, { type: "InitiatePayment", paymentId: "pay-fail", orderId: "o-fail", amount: 900, method: "NETBANKING" });
      await world.order(70, { type: "MarkPaymentPending", orderId: "o-fail", paymentId: "pay-fail" });
      await world.payment(71, {
        type: "RecordPaymentFailed",
        paymentId: "pay-fail",
        gatewayEventId: "evt-f",
        reason: "insufficient funds",
      });
      await world.order(71, { type: "RecordPaymentFailed", orderId: "o-fail", paymentId: "pay-fail", reason: "insufficient funds" });
      await world.order(71, { type: "CancelOrder", orderId: "o-fail", reason: "PAYMENT_FAILED" });
      await caughtUp();
      expect(await getOrder(sql, "o-fail")).toMatchObject({
        status: "CANCELLED",
        cancellationReason: "PAYMENT_FAILED",
        paymentStatus: "FAILED",
        payment: { paymentId: "pay-fail", status: "FAILED" },
      });
      expect(await getPayment(sql, "pay-fail")).toMatchObject({ status: "FAILED", capturedAmount: 0, customerId: "c-4" });
    });

    it("keeps stock per warehouse and sums it per SKU; products show it as available", async () => {
      const sql = backend.sql;
      await world.product(30, { type: "CreateProduct", sku: "TV-55", name: "TV 55", category: ["Electronics", "TV"], price: 5_499_900 });
      await world.stock(30, { type: "ReceiveStock", sku: "TV-55", warehouseId: "BLR", quantity: 10 });
      await world.stock(30, { type: "ReceiveStock", sku: "TV-55", warehouseId: "DEL", quantity: 5 });
      await world.stock(31, { type: "ReserveStock", sku: "TV-55", warehouseId: "BLR", orderId: "o-a", quantity: 3, expiresAt: at(60) });
      await world.stock(31, { type: "ReserveStock", sku: "TV-55", warehouseId: "BLR", orderId: "o-b", quantity: 2, expiresAt: at(60) });
      await world.stock(32, { type: "CommitReservation", sku: "TV-55", warehouseId: "BLR", orderId: "o-a" });
      await world.stock(33, { type: "ShipStock", sku: "TV-55", warehouseId: "BLR", orderId: "o-a" });
      await world.stock(31, { type: "ReserveStock", sku: "TV-55", warehouseId: "DEL", orderId: "o-c", quantity: 4, expiresAt: at(60) });
      await world.stock(32, { type: "CommitReservation", sku: "TV-55", warehouseId: "DEL", orderId: "o-c" });
      await world.stock(34, { type: "ReserveStock", sku: "TV-55", warehouseId: "DEL", orderId: "o-d", quantity: 5, expiresAt: at(60) }); // rejected: 1 left
      await world.stock(35, { type: "ReleaseReservation", sku: "TV-55", warehouseId: "BLR", orderId: "o-b" });
      await world.stock(36, { type: "RestockReturn", sku: "TV-55", warehouseId: "BLR", orderId: "o-a", returnId: "ret-1", quantity: 1 });
      await world.stock(37, { type: "AdjustStock", sku: "TV-55", warehouseId: "DEL", countedAvailable: 0, reason: "damaged" });
      await caughtUp();

      expect(await getInventory(sql, "TV-55")).toEqual({
        sku: "TV-55",
        available: 8 + 0,
        reserved: 0,
        committed: 4,
        warehouses: [
          { warehouseId: "BLR", available: 8, reserved: 0, committed: 0, shipped: 3, received: 10 },
          { warehouseId: "DEL", available: 0, reserved: 0, committed: 4, shipped: 0, received: 5 },
        ],
      });
      expect(await getProduct(sql, "TV-55")).toMatchObject({ sku: "TV-55", available: 8, price: 5_499_900 });
      expect(await getInventory(sql, "NOTHING")).toBeNull();
    });

    it("shows products with their details, price changes, activity and available stock", async () => {
      const sql = backend.sql;
      await world.product(40, {
        type: "CreateProduct",
        sku: "SHOE-9",
        name: "Runner",
        description: "Light running shoe",
        category: ["Fashion", "Footwear"],
        brand: "Fleet",
        price: 2_99_900,
        attributes: { size: 9, colour: "blue", waterproof: false },
      });
      await caughtUp();
      expect(await getProduct(sql, "SHOE-9")).toEqual({
        sku: "SHOE-9",
        name: "Runner",
        description: "Light running shoe",
        category: ["Fashion", "Footwear"],
        brand: "Fleet",
        price: 2_99_900,
        currency: "INR",
        attributes: { size: 9, colour: "blue", waterproof: false },
        status: "ACTIVE",
        active: true,
        available: 0,
        createdAt: at(40),
        updatedAt: at(40),
        version: 0,
      });
      await world.product(41, { type: "ChangeProductPrice", sku: "SHOE-9", price: 2_49_900 });
      await world.product(42, { type: "ChangeProductDetails", sku: "SHOE-9", name: "Runner 2", attributes: { size: 9 } });
      await world.product(43, { type: "DeactivateProduct", sku: "SHOE-9" });
      await world.stock(43, { type: "ReceiveStock", sku: "SHOE-9", warehouseId: "BLR", quantity: 7 });
      await world.stock(43, { type: "ReceiveStock", sku: "SHOE-9", warehouseId: "DEL", quantity: 4 });
      await caughtUp();
      expect(await getProduct(sql, "SHOE-9")).toEqual({
        sku: "SHOE-9",
        name: "Runner 2",
        description: "Light running shoe",
        category: ["Fashion", "Footwear"],
        brand: "Fleet",
        price: 2_49_900,
        currency: "INR",
        attributes: { size: 9 },
        status: "INACTIVE",
        active: false,
        available: 11,
        createdAt: at(40),
        updatedAt: at(43),
        version: 3,
      });
      await world.product(44, { type: "ReactivateProduct", sku: "SHOE-9" });
      await caughtUp();
      expect(await getProduct(sql, "SHOE-9")).toMatchObject({ active: true, version: 4 });
      expect(await getProduct(sql, "NO-SKU")).toBeNull();
    });

    it("shows a cart with a coupon and its totals, drops the coupon when the minimum is no longer met, and empties on checkout", async () => {
      const sql = backend.sql;
      expect(await getCart(sql, "c-cart")).toMatchObject({ customerId: "c-cart", items: [], totalAmount: 0, version: -1 });
      await world.cart(50, { type: "AddCartItem", customerId: "c-cart", sku: "PHONE", quantity: 1, unitPrice: 49_999 });
      await world.cart(50, { type: "AddCartItem", customerId: "c-cart", sku: "CASE", quantity: 2, unitPrice: 1_500 });
      await world.cart(51, { type: "AddCartItem", customerId: "c-cart", sku: "PHONE", quantity: 1, unitPrice: 48_999 });
      const coupon = { code: "TEN", kind: "percent" as const, value: 10, minOrderAmount: 50_000 };
      await world.cart(52, { type: "ApplyCoupon", customerId: "c-cart", coupon });
      await caughtUp();
      expect(await getCart(sql, "c-cart")).toEqual({
        customerId: "c-cart",
        status: "OPEN",
        items: [
          { sku: "PHONE", quantity: 2, unitPrice: 48_999, lineTotal: 97_998 },
          { sku: "CASE", quantity: 2, unitPrice: 1_500, lineTotal: 3_000 },
        ],
        coupon,
        subtotal: 100_998,
        discountAmount: 10_099,
        totalAmount: 90_899,
        currency: "INR",
        lastOrderId: null,
        updatedAt: at(52),
        version: 3,
      });

      await world.cart(53, { type: "ChangeCartItemQuantity", customerId: "c-cart", sku: "PHONE", quantity: 1 }); // 51_999: still met
      await world.cart(54, { type: "RemoveCartItem", customerId: "c-cart", sku: "CASE" }); // 48_999 < 50_000: coupon removed
      await caughtUp();
      expect(await getCart(sql, "c-cart")).toMatchObject({
        items: [{ sku: "PHONE", quantity: 1, unitPrice: 48_999, lineTotal: 48_999 }],
        coupon: null,
        subtotal: 48_999,
        discountAmount: 0,
        totalAmount: 48_999,
        version: 6,
      });

      await world.cart(55, { type: "ApplyCoupon", customerId: "c-cart", coupon: { code: "FLAT500", kind: "flat", value: 500 } });
      await world.cart(56, { type: "CheckOutCart", customerId: "c-cart", orderId: "o-from-cart" });
      await caughtUp();
      expect(await getCart(sql, "c-cart")).toMatchObject({
        status: "CHECKED_OUT",
        items: [],
        coupon: null,
        totalAmount: 0,
        lastOrderId: "o-from-cart",
        version: 8,
      });
    });

    it("lists orders filtered by status, customer and time, newest first, in pages", async () => {
      const sql = backend.sql;
      for (let i = 0; i < 5; i++) {
        await world.order(100 + i, {
          type: "PlaceOrder",
          orderId: `o-list-${i}`,
          customerId: i % 2 === 0 ? "c-list-even" : "c-list-odd",
          lines: [{ sku: "CASE", quantity: 1, unitPrice: 1_000 + i }],
          paymentMethod: "COD",
          shippingAddress: address,
        });
      }
      await world.order(110, { type: "ConfirmOrder", orderId: "o-list-4" });
      await caughtUp();

      const even = await listOrders(sql, { customerId: "c-list-even" });
      expect(even.total).toBe(3);
      expect(even.items.map((o) => o.orderId)).toEqual(["o-list-4", "o-list-2", "o-list-0"]);
      expect(even.items[0]).toEqual(await getOrder(sql, "o-list-4"));

      const confirmed = await listOrders(sql, { customerId: "c-list-even", status: "CONFIRMED" });
      expect(confirmed.items.map((o) => o.orderId)).toEqual(["o-list-4"]);

      const window = await listOrders(sql, { from: at(101), to: at(103) });
      expect(window.items.map((o) => o.orderId)).toEqual(["o-list-2", "o-list-1"]);

      const page2 = await listOrders(sql, { from: at(100), to: at(105), page: 2, size: 2 });
      expect(page2).toMatchObject({ total: 5, page: 2, size: 2 });
      expect(page2.items.map((o) => o.orderId)).toEqual(["o-list-2", "o-list-1"]);
      expect((await listOrders(sql, { customerId: "nobody" })).total).toBe(0);
    });
  });
}
