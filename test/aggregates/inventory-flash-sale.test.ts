// Inventory and flash sales: one reservation sets the sale's units aside, orders draw from it in
// batches, an order given up puts its units back, the unsold units go back to ordinary stock.
// The stock law holds after every step.

import { describe, expect, it } from "vitest";
import { fold } from "../../src/aggregates/decider.js";
import { inventoryDecider, stockLawHolds, type InventoryCommand, type InventoryEvent } from "../../src/aggregates/inventory.js";
import { specFor } from "./given-when-then.js";

const { given } = specFor(inventoryDecider);
const at = "2026-01-01T10:00:00.000Z";
const where = { sku: "SKU-1", warehouseId: "BLR-1" };
const fact = { ...where, at };
const cmd = <T extends InventoryCommand["type"]>(
  type: T,
  rest: Omit<Extract<InventoryCommand, { type: T }>, "type" | "sku" | "warehouseId" | "at">,
) => ({ type, ...where, at, ...rest }) as Extract<InventoryCommand, { type: T }>;

const received: InventoryEvent = { type: "StockReceived", data: { ...fact, quantity: 10 } };
const setAside: InventoryEvent = { type: "StockSetAsideForSale", data: { ...fact, saleId: "s1", quantity: 6 } };
const drawn: InventoryEvent = {
  type: "StockDrawnFromSale",
  data: {
    ...fact,
    saleId: "s1",
    allocations: [
      { orderId: "o1", quantity: 2 },
      { orderId: "o2", quantity: 1 },
    ],
  },
};

describe("Inventory: flash sales", () => {
  it("sets the sale's units aside with one reservation, so ordinary orders cannot take them; the same sale again is a no-op", () => {
    const { state } = given([received])
      .when(cmd("SetAsideForSale", { saleId: "s1", quantity: 6 }))
      .then([setAside]);
    expect(state).toMatchObject({ available: 4, reserved: 6 });
    expect(stockLawHolds(state)).toBe(true);
    given([received, setAside])
      .when(cmd("SetAsideForSale", { saleId: "s1", quantity: 6 }))
      .thenNothing();
    given([received, setAside])
      .when(cmd("ReserveStock", { orderId: "o9", quantity: 5, expiresAt: "2026-01-01T11:00:00.000Z" }))
      .then([{ type: "StockReservationRejected", data: { ...fact, orderId: "o9", quantity: 5, available: 4, reason: "OUT_OF_STOCK" } }]);
  });

  it("refuses to set aside more than the warehouse holds, as a business outcome", () => {
    given([received])
      .when(cmd("SetAsideForSale", { saleId: "s1", quantity: 11 }))
      .then([{ type: "SaleSetAsideRejected", data: { ...fact, saleId: "s1", quantity: 11, available: 10, reason: "OUT_OF_STOCK" } }]);
  });

  it("lets many orders draw from the sale in one event, each getting a committed reservation that ships as usual; never more than is left", () => {
    const { state } = given([received, setAside])
      .when(
        cmd("DrawFromSale", {
          saleId: "s1",
          allocations: [
            { orderId: "o1", quantity: 2 },
            { orderId: "o2", quantity: 1 },
          ],
        }),
      )
      .then([drawn]);
    expect(state).toMatchObject({ available: 4, reserved: 3, committed: 3 });
    expect(state.sales.get("s1")).toEqual({ setAside: 6, left: 3 });
    expect(stockLawHolds(state)).toBe(true);
    given([received, setAside, drawn])
      .when(cmd("DrawFromSale", { saleId: "s1", allocations: [{ orderId: "o1", quantity: 2 }] }))
      .thenNothing();
    given([received, setAside, drawn])
      .when(cmd("DrawFromSale", { saleId: "s1", allocations: [{ orderId: "o3", quantity: 4 }] }))
      .thenThrows("sale_stock_exhausted");
    given([received, setAside, drawn])
      .when(cmd("ShipStock", { orderId: "o1" }))
      .then([{ type: "StockShipped", data: { ...fact, orderId: "o1", quantity: 2 } }]);
  });

  it("puts a cancelled order's units back into the sale, and releases the unsold units to ordinary stock", () => {
    const returned: InventoryEvent = { type: "StockReturnedToSale", data: { ...fact, saleId: "s1", orderId: "o2", quantity: 1 } };
    const after = given([received, setAside, drawn])
      .when(cmd("ReturnToSale", { saleId: "s1", orderId: "o2" }))
      .then([returned]);
    expect(after.state.sales.get("s1")).toEqual({ setAside: 6, left: 4 });
    given([received, setAside, drawn, returned])
      .when(cmd("ReturnToSale", { saleId: "s1", orderId: "o2" }))
      .thenNothing();
    const released: InventoryEvent = { type: "SaleStockReleased", data: { ...fact, saleId: "s1", quantity: 4, reason: "sale ended" } };
    const end = given([received, setAside, drawn, returned])
      .when(cmd("ReleaseSaleStock", { saleId: "s1", quantity: 4, reason: "sale ended" }))
      .then([released]);
    expect(end.state).toMatchObject({ available: 8, reserved: 0, committed: 2 });
    expect(stockLawHolds(end.state)).toBe(true);
    given([received, setAside, drawn, returned, released])
      .when(cmd("ReleaseSaleStock", { saleId: "s1", quantity: 1, reason: "again" }))
      .thenThrows("sale_stock_exhausted");
    given([received])
      .when(cmd("ReleaseSaleStock", { saleId: "s1", quantity: 1, reason: "x" }))
      .thenThrows("sale_reservation_not_found");
    expect(stockLawHolds(fold(inventoryDecider, [received, setAside, drawn, returned, released]))).toBe(true);
  });
});
