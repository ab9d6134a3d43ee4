import { describe, expect, it } from "vitest";
import { inventoryDecider, stockLawHolds, streamId, type InventoryCommand, type InventoryEvent } from "../../src/aggregates/inventory.js";
import { specFor } from "./given-when-then.js";

const { given } = specFor(inventoryDecider);

const at = "2026-01-01T10:00:00.000Z";
const later = "2026-01-01T10:30:00.000Z";
const expiresAt = "2026-01-01T10:15:00.000Z";
const where = { sku: "SKU-1", warehouseId: "BLR-1" };
const fact = { ...where, at };

const received = (quantity: number): InventoryEvent => ({ type: "StockReceived", data: { ...fact, quantity } });
const reserved = (orderId: string, quantity: number): InventoryEvent => ({
  type: "StockReserved",
  data: { ...fact, orderId, quantity, expiresAt },
});
const committed = (orderId: string, quantity: number): InventoryEvent => ({ type: "StockCommitted", data: { ...fact, orderId, quantity } });
const shipped = (orderId: string, quantity: number): InventoryEvent => ({ type: "StockShipped", data: { ...fact, orderId, quantity } });
const cmd = <T extends InventoryCommand["type"]>(
  type: T,
  rest: Omit<Extract<InventoryCommand, { type: T }>, "type" | "sku" | "warehouseId" | "at"> & { at?: string },
) => ({ type, ...where, at, ...rest }) as Extract<InventoryCommand, { type: T }>;

describe("Inventory stream id", () => {
  it("puts the category before the first dash and the warehouse after the last @", () => {
    expect(streamId("SKU-1", "BLR-1")).toBe("inventory-SKU-1@BLR-1");
  });
});

describe("ReceiveStock", () => {
  it("adds received and available stock", () => {
    const { state } = given([])
      .when(cmd("ReceiveStock", { quantity: 10, receiptId: "r-1" }))
      .then([{ type: "StockReceived", data: { ...fact, quantity: 10, receiptId: "r-1" } }]);
    expect(state).toMatchObject({ sku: "SKU-1", warehouseId: "BLR-1", received: 10, available: 10 });
    expect(stockLawHolds(state)).toBe(true);
  });
  it("rejects a quantity that is not a positive integer", () => {
    given([])
      .when(cmd("ReceiveStock", { quantity: 0 }))
      .thenThrows("invalid_quantity");
    given([])
      .when(cmd("ReceiveStock", { quantity: 1.5 }))
      .thenThrows("invalid_quantity");
  });
  it("rejects a command for another SKU or warehouse", () => {
    given([received(1)])
      .when({ ...cmd("ReceiveStock", { quantity: 1 }), sku: "SKU-2" })
      .thenThrows("wrong_stream");
    given([received(1)])
      .when({ ...cmd("ReceiveStock", { quantity: 1 }), warehouseId: "DEL-1" })
      .thenThrows("wrong_stream");
  });
  it("rejects an empty SKU and a bad time", () => {
    given([])
      .when({ ...cmd("ReceiveStock", { quantity: 1 }), sku: "" })
      .thenThrows("invalid_field");
    given([])
      .when(cmd("ReceiveStock", { quantity: 1, at: "yesterday" }))
      .thenThrows("invalid_time");
  });
});

describe("ReserveStock", () => {
  it("moves stock from available to reserved", () => {
    const { state } = given([received(5)])
      .when(cmd("ReserveStock", { orderId: "o-1", quantity: 3, expiresAt }))
      .then([reserved("o-1", 3)]);
    expect(state).toMatchObject({ available: 2, reserved: 3 });
    expect(state.reservations.get("o-1")).toEqual({ orderId: "o-1", quantity: 3, expiresAt, status: "RESERVED", restocked: 0 });
    expect(stockLawHolds(state)).toBe(true);
  });
  it("is a no-op when the same order reserves again while its reservation is live", () => {
    given([received(5), reserved("o-1", 3)])
      .when(cmd("ReserveStock", { orderId: "o-1", quantity: 3, expiresAt }))
      .thenNothing();
    given([received(5), reserved("o-1", 3), committed("o-1", 3)])
      .when(cmd("ReserveStock", { orderId: "o-1", quantity: 1, expiresAt }))
      .thenNothing();
  });
  it("reserves again after the order's reservation was released", () => {
    given([received(5), reserved("o-1", 3), { type: "StockReleased", data: { ...fact, orderId: "o-1", quantity: 3, from: "RESERVED" } }])
      .when(cmd("ReserveStock", { orderId: "o-1", quantity: 2, expiresAt }))
      .then([reserved("o-1", 2)]);
  });
  it("records an out-of-stock rejection as an event, not an error", () => {
    const { state } = given([received(2)])
      .when(cmd("ReserveStock", { orderId: "o-1", quantity: 3, expiresAt }))
      .then([{ type: "StockReservationRejected", data: { ...fact, orderId: "o-1", quantity: 3, available: 2, reason: "OUT_OF_STOCK" } }]);
    expect(state).toMatchObject({ available: 2, reserved: 0 });
    expect(state.reservations.has("o-1")).toBe(false);
  });
  it("rejects out of stock on a stream that never received anything", () => {
    given([])
      .when(cmd("ReserveStock", { orderId: "o-1", quantity: 1, expiresAt }))
      .then([{ type: "StockReservationRejected", data: { ...fact, orderId: "o-1", quantity: 1, available: 0, reason: "OUT_OF_STOCK" } }]);
  });
  it("rejects reserving for an order that already shipped from here", () => {
    given([received(5), reserved("o-1", 3), committed("o-1", 3), shipped("o-1", 3)])
      .when(cmd("ReserveStock", { orderId: "o-1", quantity: 3, expiresAt }))
      .thenThrows("reservation_already_shipped", "SHIPPED");
  });
  it("rejects bad input", () => {
    given([received(5)])
      .when(cmd("ReserveStock", { orderId: "o-1", quantity: -1, expiresAt }))
      .thenThrows("invalid_quantity");
    given([received(5)])
      .when(cmd("ReserveStock", { orderId: "", quantity: 1, expiresAt }))
      .thenThrows("invalid_field");
    given([received(5)])
      .when(cmd("ReserveStock", { orderId: "o-1", quantity: 1, expiresAt: "soon" }))
      .thenThrows("invalid_time");
    given([received(5)])
      .when(cmd("ReserveStock", { orderId: "o-1", quantity: 1, expiresAt: at }))
      .thenThrows("invalid_time");
  });
});

describe("CommitReservation", () => {
  it("moves the reservation to committed", () => {
    const { state } = given([received(5), reserved("o-1", 3)])
      .when(cmd("CommitReservation", { orderId: "o-1" }))
      .then([committed("o-1", 3)]);
    expect(state).toMatchObject({ available: 2, reserved: 0, committed: 3 });
    expect(state.reservations.get("o-1")?.status).toBe("COMMITTED");
  });
  it("rejects an unknown reservation", () => {
    given([received(5)])
      .when(cmd("CommitReservation", { orderId: "o-9" }))
      .thenThrows("reservation_not_found", "NONE");
  });
  it("rejects committing twice", () => {
    given([received(5), reserved("o-1", 3), committed("o-1", 3)])
      .when(cmd("CommitReservation", { orderId: "o-1" }))
      .thenThrows("illegal_transition", "COMMITTED");
  });
});

describe("ReleaseReservation", () => {
  it("returns reserved stock to available", () => {
    const { state } = given([received(5), reserved("o-1", 3)])
      .when(cmd("ReleaseReservation", { orderId: "o-1", reason: "PAYMENT_FAILED" }))
      .then([{ type: "StockReleased", data: { ...fact, orderId: "o-1", quantity: 3, from: "RESERVED", reason: "PAYMENT_FAILED" } }]);
    expect(state).toMatchObject({ available: 5, reserved: 0 });
    expect(state.reservations.get("o-1")?.status).toBe("RELEASED");
  });
  it("returns committed stock to available (an order cancelled before shipping)", () => {
    const { state } = given([received(5), reserved("o-1", 3), committed("o-1", 3)])
      .when(cmd("ReleaseReservation", { orderId: "o-1" }))
      .then([{ type: "StockReleased", data: { ...fact, orderId: "o-1", quantity: 3, from: "COMMITTED" } }]);
    expect(state).toMatchObject({ available: 5, committed: 0 });
    expect(stockLawHolds(state)).toBe(true);
  });
  it("rejects releasing shipped or already released stock", () => {
    given([received(5), reserved("o-1", 3), committed("o-1", 3), shipped("o-1", 3)])
      .when(cmd("ReleaseReservation", { orderId: "o-1" }))
      .thenThrows("illegal_transition", "SHIPPED");
    given([received(5), reserved("o-1", 3), { type: "StockReleased", data: { ...fact, orderId: "o-1", quantity: 3, from: "RESERVED" } }])
      .when(cmd("ReleaseReservation", { orderId: "o-1" }))
      .thenThrows("illegal_transition", "RELEASED");
  });
  it("rejects an unknown reservation", () => {
    given([])
      .when(cmd("ReleaseReservation", { orderId: "o-1" }))
      .thenThrows("reservation_not_found");
  });
});

describe("ExpireReservation", () => {
  it("expires a reservation at or after its deadline", () => {
    const { state } = given([received(5), reserved("o-1", 3)])
      .when(cmd("ExpireReservation", { orderId: "o-1", at: expiresAt }))
      .then([{ type: "StockReservationExpired", data: { ...fact, at: expiresAt, orderId: "o-1", quantity: 3, expiresAt } }]);
    expect(state).toMatchObject({ available: 5, reserved: 0 });
    expect(state.reservations.get("o-1")?.status).toBe("EXPIRED");
  });
  it("rejects expiring before the deadline", () => {
    given([received(5), reserved("o-1", 3)])
      .when(cmd("ExpireReservation", { orderId: "o-1" }))
      .thenThrows("reservation_not_expired", "RESERVED");
  });
  it("does nothing when the reservation is no longer held", () => {
    given([received(5), reserved("o-1", 3), committed("o-1", 3)])
      .when(cmd("ExpireReservation", { orderId: "o-1", at: later }))
      .thenNothing();
  });
  it("rejects an unknown reservation", () => {
    given([])
      .when(cmd("ExpireReservation", { orderId: "o-1", at: later }))
      .thenThrows("reservation_not_found");
  });
});

describe("ShipStock", () => {
  it("moves committed stock to shipped", () => {
    const { state } = given([received(5), reserved("o-1", 3), committed("o-1", 3)])
      .when(cmd("ShipStock", { orderId: "o-1" }))
      .then([shipped("o-1", 3)]);
    expect(state).toMatchObject({ available: 2, committed: 0, shipped: 3 });
    expect(stockLawHolds(state)).toBe(true);
  });
  it("rejects shipping stock that is only reserved", () => {
    given([received(5), reserved("o-1", 3)])
      .when(cmd("ShipStock", { orderId: "o-1" }))
      .thenThrows("illegal_transition", "RESERVED");
  });
});

describe("RestockReturn", () => {
  const shippedThree = [received(5), reserved("o-1", 3), committed("o-1", 3), shipped("o-1", 3)];
  it("puts returned goods back into available stock", () => {
    const { state } = given(shippedThree)
      .when(cmd("RestockReturn", { orderId: "o-1", returnId: "ret-1", quantity: 2 }))
      .then([{ type: "StockRestocked", data: { ...fact, orderId: "o-1", returnId: "ret-1", quantity: 2 } }]);
    expect(state).toMatchObject({ received: 5, available: 4, shipped: 3, restocked: 2 });
    expect(state.reservations.get("o-1")?.restocked).toBe(2);
    expect(stockLawHolds(state)).toBe(true);
  });
  it("is a no-op for a return already restocked", () => {
    given([...shippedThree, { type: "StockRestocked", data: { ...fact, orderId: "o-1", returnId: "ret-1", quantity: 1 } }])
      .when(cmd("RestockReturn", { orderId: "o-1", returnId: "ret-1", quantity: 1 }))
      .thenNothing();
  });
  it("rejects restocking more than was shipped to the order", () => {
    given([...shippedThree, { type: "StockRestocked", data: { ...fact, orderId: "o-1", returnId: "ret-1", quantity: 2 } }])
      .when(cmd("RestockReturn", { orderId: "o-1", returnId: "ret-2", quantity: 2 }))
      .thenThrows("restock_exceeds_shipped", "SHIPPED");
  });
  it("rejects restocking an order that did not ship", () => {
    given([received(5), reserved("o-1", 3)])
      .when(cmd("RestockReturn", { orderId: "o-1", returnId: "ret-1", quantity: 1 }))
      .thenThrows("illegal_transition", "RESERVED");
  });
  it("rejects bad input", () => {
    given(shippedThree)
      .when(cmd("RestockReturn", { orderId: "o-1", returnId: "", quantity: 1 }))
      .thenThrows("invalid_field");
    given(shippedThree)
      .when(cmd("RestockReturn", { orderId: "o-1", returnId: "ret-1", quantity: 0 }))
      .thenThrows("invalid_quantity");
  });
});

describe("AdjustStock", () => {
  it("sets available to the counted quantity and records the signed delta", () => {
    const { state } = given([received(5), reserved("o-1", 2)])
      .when(cmd("AdjustStock", { countedAvailable: 1, reason: "DAMAGED" }))
      .then([{ type: "StockAdjusted", data: { ...fact, countedAvailable: 1, previousAvailable: 3, delta: -2, reason: "DAMAGED" } }]);
    expect(state).toMatchObject({ received: 5, available: 1, reserved: 2, adjusted: -2 });
    expect(stockLawHolds(state)).toBe(true);
  });
  it("can count more than expected", () => {
    const { state } = given([received(5)])
      .when(cmd("AdjustStock", { countedAvailable: 7, reason: "FOUND" }))
      .then([{ type: "StockAdjusted", data: { ...fact, countedAvailable: 7, previousAvailable: 5, delta: 2, reason: "FOUND" } }]);
    expect(stockLawHolds(state)).toBe(true);
  });
  it("rejects a negative count and a missing reason", () => {
    given([received(5)])
      .when(cmd("AdjustStock", { countedAvailable: -1, reason: "LOST" }))
      .thenThrows("invalid_quantity");
    given([received(5)])
      .when(cmd("AdjustStock", { countedAvailable: 1, reason: " " }))
      .thenThrows("invalid_field");
  });
});
