// The translator's batch path (one multi-row outbox INSERT per batch) writes the same outbox as
// its event-by-event path, and under a lease it is fenced like `handle`: a translator that lost
// its lease writes nothing, whichever path the processor takes.

import { afterEach, describe, expect, it } from "vitest";
import type { RecordedEvent } from "../../src/eventstore/port.js";
import { outboxBacklog, readOutbox } from "../../src/integration/outbox.js";
import { migrateIntegration, translatorDefinition } from "../../src/integration/translator.js";
import { fencedDefinition, LeaseLostError, type UnitLease } from "../../src/processing/ownership/index.js";
import { openPgliteWorld, type StoreWorld } from "../support/stores.js";
import { appendScript, shopScript } from "./fixtures.js";

const worlds: StoreWorld[] = [];
afterEach(async () => {
  for (const w of worlds.splice(0)) await w.close();
});

async function scriptedWorld(run: string): Promise<{ world: StoreWorld; events: RecordedEvent[] }> {
  const world = await openPgliteWorld();
  worlds.push(world);
  await migrateIntegration(world.sql);
  await appendScript(world.store, shopScript(run, 4));
  return { world, events: (await world.store.readAll({ maxCount: 10_000 })).events };
}

const lostLease: UnitLease = {
  unit: "integration/translator",
  token: 1,
  instanceId: "stale",
  valid: () => false,
  fence: async () => {
    throw new LeaseLostError("integration/translator");
  },
};

describe("translator batches", () => {
  it("a batch writes the same outbox rows, in the same order, as the events one by one", async () => {
    const batched = await scriptedWorld("batch");
    const single = await scriptedWorld("batch");
    const definition = translatorDefinition({ mode: "relay" });
    await batched.world.sql.transaction((tx) => definition.handleBatch!(batched.events, { sql: tx }));
    const one = translatorDefinition({ mode: "relay" });
    for (const e of single.events) await single.world.sql.transaction((tx) => one.handle(e, { sql: tx }));
    const rowsOf = async (w: StoreWorld) => (await readOutbox(w.sql, 10_000)).map((r) => ({ ...r, seq: 0 }));
    const expected = await rowsOf(single.world);
    expect(expected.length).toBeGreaterThan(20);
    expect(await rowsOf(batched.world)).toEqual(expected);
  });

  it("a batch reads its SKUs' stock and product facts once up front, however many of its events need them", async () => {
    const { world, events } = await scriptedWorld("reads");
    const definition = translatorDefinition({ mode: "relay" });
    // The product's creation first (a product event makes the batch read its SKU's facts again), then
    // the orders and their stock movements as one batch (the script's last event, a product change, left out).
    await world.sql.transaction((tx) => definition.handleBatch!(events.slice(0, 1), { sql: tx }));
    const rest = events.slice(1).filter((e) => !e.streamId.startsWith("product-"));
    const texts: string[] = [];
    await world.sql.transaction((tx) =>
      definition.handleBatch!(rest, {
        sql: {
          query: (text, params) => {
            texts.push(text);
            return tx.query(text, params);
          },
          exec: (script) => tx.exec(script),
          copyIn: (table, columns, text) => tx.copyIn(table, columns, text),
        },
      }),
    );
    const reads = (table: string) => texts.filter((t) => t.startsWith("SELECT") && t.includes(table)).length;
    expect(rest.filter((e) => e.streamId.startsWith("inventory-")).length).toBeGreaterThanOrEqual(5);
    expect(rest.filter((e) => e.type === "OrderPlaced").length).toBe(4);
    expect(reads("integration_stock_facts")).toBe(1);
    expect(reads("integration_product_facts")).toBe(1);
  });

  it("under a lost lease neither the batch path nor the one-event path writes anything", async () => {
    const { world, events } = await scriptedWorld("fenced");
    const fenced = fencedDefinition(translatorDefinition({ mode: "relay" }), lostLease);
    await expect(world.sql.transaction((tx) => fenced.handleBatch!(events, { sql: tx }))).rejects.toBeInstanceOf(LeaseLostError);
    await expect(world.sql.transaction((tx) => fenced.handle(events[0]!, { sql: tx }))).rejects.toBeInstanceOf(LeaseLostError);
    expect(await outboxBacklog(world.sql)).toBe(0);
  });
});
