// The inventory locator: which warehouses stock a SKU, read from the log, and how often it reads it.

import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { EventStore, ReadAllOptions } from "../../src/eventstore/port.js";
import { EventStoreInventoryLocator } from "../../src/sagas/inventory-locator.js";
import { openPgliteWorld, type StoreWorld } from "../support/stores.js";

describe("EventStoreInventoryLocator", () => {
  let world: StoreWorld;
  let reads: number;
  let store: EventStore;
  let now: number;
  const receive = (sku: string, warehouseId: string) =>
    world.store.appendToStream(`inventory-${sku}@${warehouseId}`, [
      {
        id: randomUUID(),
        type: "StockReceived",
        data: { sku, warehouseId, quantity: 5, at: new Date().toISOString() },
        metadata: { correlationId: "t", causationId: "t", actor: "test" },
      },
    ]);
  const locator = () => new EventStoreInventoryLocator(store, { maxAgeMs: 1_000, now: () => now });

  beforeEach(async () => {
    world = await openPgliteWorld();
    reads = 0;
    now = 0;
    // The store as the locator sees it, counting its reads of the log.
    store = Object.assign(Object.create(world.store) as EventStore, {
      readAll: (options?: ReadAllOptions) => {
        reads++;
        return world.store.readAll(options);
      },
    });
  });
  afterEach(async () => world.close());

  it("answers a SKU it has seen from memory until its map is maxAgeMs old, and reads the log for a SKU it has not", async () => {
    await receive("A", "w1");
    await receive("B", "w1");
    const l = locator();
    expect(await l.warehousesOf("A")).toEqual(["w1"]);
    const afterFirst = reads;
    expect(afterFirst).toBeGreaterThan(0);

    await receive("A", "w2");
    now = 999;
    expect(await l.warehousesOf("A")).toEqual(["w1"]);
    expect(await l.warehousesOf("B")).toEqual(["w1"]);
    expect(reads).toBe(afterFirst);

    // A SKU never seen: the log is read, and what it brings is learned for every SKU.
    expect(await l.warehousesOf("C")).toEqual([]);
    expect(reads).toBeGreaterThan(afterFirst);
    expect(await l.warehousesOf("A")).toEqual(["w1", "w2"]);

    await receive("A", "w3");
    now = 999 + 1_000;
    expect(await l.warehousesOf("A")).toEqual(["w1", "w2", "w3"]);
  });

  it("fresh reads the log to its head at once", async () => {
    await receive("A", "w1");
    const l = locator();
    expect(await l.warehousesOf("A")).toEqual(["w1"]);
    await receive("A", "w2");
    expect(await l.warehousesOf("A")).toEqual(["w1"]);
    expect(await l.warehousesOf("A", { fresh: true })).toEqual(["w1", "w2"]);
  });

  it("a fresh answer does not settle for a read that started before it was asked", async () => {
    await receive("A", "w1");
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let holding = true;
    store = Object.assign(Object.create(world.store) as EventStore, {
      readAll: async (options?: ReadAllOptions) => {
        // The read that finds the log's end takes its page, then waits while w2 is stocked.
        const page = await world.store.readAll(options);
        if (holding && page.events.length === 0) {
          holding = false;
          await held;
        }
        return page;
      },
    });
    const l = locator();
    const early = l.warehousesOf("A");
    while (holding) await new Promise((r) => setTimeout(r, 5));
    await receive("A", "w2");
    const fresh = l.warehousesOf("A", { fresh: true });
    release();
    expect(await early).toEqual(["w1"]);
    expect(await fresh).toEqual(["w1", "w2"]);
  });
});
