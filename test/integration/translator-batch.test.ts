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

  it("under a lost lease neither the batch path nor the one-event path writes anything", async () => {
    const { world, events } = await scriptedWorld("fenced");
    const fenced = fencedDefinition(translatorDefinition({ mode: "relay" }), lostLease);
    await expect(world.sql.transaction((tx) => fenced.handleBatch!(events, { sql: tx }))).rejects.toBeInstanceOf(LeaseLostError);
    await expect(world.sql.transaction((tx) => fenced.handle(events[0]!, { sql: tx }))).rejects.toBeInstanceOf(LeaseLostError);
    expect(await outboxBacklog(world.sql)).toBe(0);
  });
});
