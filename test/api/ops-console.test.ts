// The operations console behind /api/ops, on a real store: a read model whose projector stopped
// shows its lag in events and in seconds; a second rebuild of the same model is refused while the
// first runs; resume refuses an order with nothing waiting without touching the saga.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProduct } from "../../src/commands/catalog.js";
import {
  createOperationsConsole,
  NothingToResumeError,
  RebuildRunningError,
  UnknownReadModelError,
  type OperationsConsole,
} from "../../src/operations/console.js";
import { productsProjection, startProjections, type RunningProjections } from "../../src/projections/index.js";
import { openPgliteWorld, openPostgresWorld, type StoreWorld } from "../support/stores.js";
import { eventually } from "./harness.js";

const worlds: [string, () => Promise<StoreWorld>][] = [
  ["pglite", openPgliteWorld],
  ...(process.env.DATABASE_URL ? [["postgres", openPostgresWorld] as [string, () => Promise<StoreWorld>]] : []),
];

describe.each(worlds)("operations console (%s)", (_name, open) => {
  let world: StoreWorld;
  let projections: RunningProjections;
  let ops: OperationsConsole;
  const resumed: string[] = [];
  let n = 0;
  const product = async () => {
    n += 1;
    return createProduct(
      { store: world.store, actor: "admin:test", commandId: `create-${n}` },
      { sku: `CON-${n}`, name: `Product ${n}`, category: ["Test"], price: 100 * n },
    );
  };

  beforeAll(async () => {
    world = await open();
    projections = await startProjections({ store: world.store, sql: world.sql, projections: [productsProjection] });
    ops = createOperationsConsole({
      store: world.store,
      sql: world.sql,
      projections,
      resumeSaga: async (orderId) => void resumed.push(orderId),
    });
  });
  afterAll(async () => {
    await ops?.settled();
    await projections?.stop();
    await world?.close();
  });

  it("refuses a second rebuild of a model while the first runs, and reports the first to the end", async () => {
    await product();
    const last = await product();
    // Visible to readers first (on PostgreSQL another file's open transaction may hold the log back a moment).
    expect(await projections.waitFor(last.position ?? "", 20_000)).toBe(true);
    // Two at once: whichever reaches the model first starts it; the other is refused.
    const results = await Promise.allSettled([ops.rebuild("products"), ops.rebuild("products")]);
    await ops.settled();
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const refused = results.find((r) => r.status === "rejected");
    expect(refused?.status === "rejected" && refused.reason).toBeInstanceOf(RebuildRunningError);
    const products = (await ops.readModels()).find((m) => m.name === "products");
    expect(products?.rebuild).toMatchObject({ state: "done", progress: 1, replayed: 2, total: 2 });
    await expect(ops.rebuild("nope")).rejects.toBeInstanceOf(UnknownReadModelError);
  });

  it("lists nothing and refuses to resume on a database where the saga never ran (no saga tables), without asking the saga", async () => {
    expect(await ops.attention()).toEqual([]);
    await expect(ops.resume("order-without-trouble", "ops:test")).rejects.toBeInstanceOf(NothingToResumeError);
    expect(resumed).toEqual([]);
  });

  it("shows a read model whose projector stopped as stopped, behind by the events it has not read and by their age in seconds", async () => {
    const last = await product();
    expect(await projections.waitFor(last.position ?? "", 20_000)).toBe(true);
    const live = (await ops.readModels()).find((m) => m.name === "products");
    expect(live).toMatchObject({ status: "live", lagEvents: 0, lagSeconds: 0 });

    await projections.stop();
    for (let i = 0; i < 3; i++) await product();
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const behind = await eventually(
      async () => {
        const m = (await ops.readModels()).find((x) => x.name === "products");
        return m?.lagEvents === 3 ? m : undefined;
      },
      10_000,
      "the three new events to count as lag",
    );
    expect(behind.status).toBe("stopped");
    expect(behind.lagSeconds).toBeGreaterThanOrEqual(1);
    expect(behind.lagSeconds).toBeLessThan(60);
  });
});
