// Concurrent reservers on one hot SKU with snapshots on, on real PostgreSQL: three "processes"
// (stores with their own snapshot caches, one database) reserve from one stream at once while
// snapshots are written every few events. Nobody oversells: the stock law holds over the whole log,
// exactly the received units are reserved, and the state loaded from the snapshot equals the full fold.

import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { asEvent, fold } from "../../src/aggregates/decider.js";
import { inventoryDecider, stockLawHolds, streamId as inventoryStream, type InventoryCommand } from "../../src/aggregates/inventory.js";
import { handleCommand } from "../../src/commands/handle-command.js";
import { loadLatest } from "../../src/commands/load.js";
import { PostgresEventStore, type EventStore } from "../../src/eventstore/index.js";
import { createPgClient } from "../../src/infrastructure/sql/pg-client.js";
import type { SqlClient } from "../../src/infrastructure/sql/sql-client.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { missing, server } from "../support/env.js";

const databaseUrl = server("DATABASE_URL");
const at = "2026-01-01T10:00:00.000Z";
const expiresAt = "2026-01-01T10:15:00.000Z";

describe.skipIf(missing(databaseUrl))("hot SKU with snapshots on PostgreSQL", () => {
  let database: TestDatabase;
  let sql: SqlClient;
  beforeAll(async () => {
    database = await createTestDatabase();
    sql = createPgClient({ connectionString: database.url, max: 40 });
  });
  afterAll(async () => {
    await sql?.close();
    await database?.drop();
  });

  it("concurrent reservers never oversell: 3 processes, 4 waves of 40 concurrent orders of 1 unit, 100 units, a snapshot every 7 events", async () => {
    const stores = await Promise.all([0, 1, 2].map(() => PostgresEventStore.open(sql, { snapshotEvery: 7 })));
    const sku = `HOT-${randomUUID().slice(0, 8)}`;
    const streamId = inventoryStream(sku, "W1");
    const run = (store: EventStore, command: Record<string, unknown>) =>
      handleCommand(
        store,
        inventoryDecider,
        {
          streamId,
          commandId: randomUUID(),
          actor: "test:race",
          command: { sku, warehouseId: "W1", at, ...command } as InventoryCommand,
        },
        { maxAttempts: 200, baseDelayMs: 2, maxDelayMs: 50 },
      );
    await run(stores[0]!, { type: "ReceiveStock", quantity: 100 });
    // Some history first, so the race starts from a snapshot.
    for (let i = 0; i < 20; i++) await run(stores[i % 3]!, { type: "ReserveStock", orderId: `pre-${i}`, quantity: 1, expiresAt });

    for (let wave = 0; wave < 4; wave++) {
      const outcomes = await Promise.allSettled(
        Array.from({ length: 40 }, (_, i) =>
          run(stores[i % 3]!, { type: "ReserveStock", orderId: `o-${wave}-${i}`, quantity: 1, expiresAt }),
        ),
      );
      expect(outcomes.filter((o) => o.status === "rejected")).toEqual([]);
    }

    const events = await stores[0]!.readStream(streamId);
    const whole = fold(inventoryDecider, events.map(asEvent));
    expect(stockLawHolds(whole)).toBe(true);
    expect(whole).toMatchObject({ received: 100, available: 0, reserved: 100 });
    const reservedOrders = events.filter((e) => e.type === "StockReserved").map((e) => (e.data as { orderId: string }).orderId);
    expect(reservedOrders).toHaveLength(100);
    expect(new Set(reservedOrders).size).toBe(100);
    expect(events.filter((e) => e.type === "StockReservationRejected")).toHaveLength(80);

    const { rows } = await sql.query<{ revision: string }>("SELECT revision::text AS revision FROM es_snapshots WHERE stream_id = $1", [
      streamId,
    ]);
    expect(Number(rows[0]?.revision)).toBeGreaterThan(170);
    for (const reader of [...stores, await PostgresEventStore.open(sql, { snapshotEvery: 7 })]) {
      const loaded = await loadLatest(reader, inventoryDecider, streamId);
      expect(loaded.snapshot).toBeDefined();
      expect(loaded.state).toEqual(whole);
    }
  });
});
