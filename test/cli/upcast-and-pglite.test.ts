// The CLI on the embedded default (PGlite under DATA_DIR, the server's own layout), spawned as a
// process; and the stored-versus-upcast views of `events` and `order`, run in-process with an
// upcaster registered (the server registers none today, so a spawned CLI has none to show).

import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openCliContext } from "../../src/cli/context.js";
import { eventsCommand } from "../../src/cli/events.js";
import { orderCommand } from "../../src/cli/order.js";
import { Output } from "../../src/cli/output.js";
import { UpcasterRegistry } from "../../src/eventstore/index.js";
import { awaitStatus, placeOrder } from "../api/flow.js";
import { createStorage, seedProduct, startApp, type Storage } from "../api/harness.js";
import { caughtUp } from "./caught-up.js";
import { replay } from "./spawn.js";

describe("replay on the embedded PGlite database (DATA_DIR)", () => {
  let storage: Storage;
  let orderId: string;
  beforeAll(async () => {
    storage = await createStorage("pglite");
    const app = await startApp(storage, { ADMISSION_MAX_LAG_SECONDS: "0", ADMISSION_MAX_LAG_EVENTS: "0" });
    try {
      await seedProduct(app, "SKU-P", 5_000, 10);
      const customer = await app.token("customer", "c-p");
      orderId = (await placeOrder(app, customer, [{ sku: "SKU-P", quantity: 1 }], "COD")).orderId;
      await awaitStatus(app, customer, orderId, "PROCESSING");
      await caughtUp(app);
    } finally {
      await app.close();
    }
  }, 180_000);
  afterAll(async () => storage?.dispose());

  it("reads the order, checks the invariants and verifies the read models, with the server stopped", async () => {
    const env = { DATA_DIR: storage.dataDir, DATABASE_URL: "" };
    const order = await replay(["order", orderId, "--json"], env);
    expect(order.code, order.stderr).toBe(0);
    const body = JSON.parse(order.stdout);
    expect(body.state).toMatchObject({ orderId, status: "PROCESSING", paymentMethod: "COD" });
    expect(body.events.map((e: { type: string }) => e.type)).toEqual(
      expect.arrayContaining(["OrderPlaced", "StockReserved", "StockCommitted", "SagaStepRecorded"]),
    );
    const invariants = await replay(["invariants", "--json"], env);
    expect(invariants.code, invariants.stdout + invariants.stderr).toBe(0);
    expect(JSON.parse(invariants.stdout)).toMatchObject({ ok: true, violations: [] });
    expect((await replay(["verify"], env)).code).toBe(0);
  });
});

describe("events and order show an event as stored and as upcast", () => {
  let dataDir: string;
  const captured: string[] = [];
  const notes: string[] = [];
  const sink = { write: (text: string) => captured.push(text), isTTY: false };
  const noteSink = { write: (text: string) => notes.push(text), isTTY: false };
  // v1 of OrderPlaced named the customer "buyer"; v2 calls it customerId.
  const upcasters = new UpcasterRegistry([
    {
      type: "OrderPlaced",
      fromSchemaVersion: 1,
      upcast: ({ data }) => ({ data: { ...(data as object), customerId: (data as { buyer: string }).buyer } }),
    },
  ]);
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "replay-upcast-"));
    const ctx = await openCliContext(new Output("json", sink, sink), { env: { DATA_DIR: dataDir } });
    const meta = { correlationId: "c", causationId: "c", actor: "test:legacy" };
    await ctx.stored.appendToStream("order-legacy", [
      {
        id: randomUUID(),
        type: "OrderPlaced",
        schemaVersion: 1,
        data: {
          orderId: "legacy",
          buyer: "c-old",
          lines: [{ sku: "S", quantity: 1, unitPrice: 100 }],
          subtotal: 100,
          discountAmount: 0,
          totalAmount: 100,
          currency: "INR",
          paymentMethod: "COD",
          paymentRequired: false,
          shippingAddress: {},
          at: "2026-03-01T10:00:00.000Z",
        },
        metadata: meta,
      },
    ]);
    await ctx.close();
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  const run = async (mode: "json" | "plain", work: (ctx: Awaited<ReturnType<typeof openCliContext>>) => Promise<number>) => {
    captured.length = 0;
    const ctx = await openCliContext(new Output(mode, sink, noteSink), { env: { DATA_DIR: dataDir }, upcasters });
    try {
      expect(await work(ctx)).toBe(0);
    } finally {
      await ctx.close();
    }
    return captured.join("");
  };

  it("events --view both gives the stored v1 beside the upcast v2", async () => {
    const out = JSON.parse(await run("json", (ctx) => eventsCommand(ctx, { view: "both", stream: "order-legacy" })));
    expect(out.stored).toMatchObject({ type: "OrderPlaced", schemaVersion: 1, data: { buyer: "c-old" } });
    expect(out.stored.data.customerId).toBeUndefined();
    expect(out.upcast).toMatchObject({ type: "OrderPlaced", schemaVersion: 2, data: { buyer: "c-old", customerId: "c-old" } });
    const stored = JSON.parse(await run("json", (ctx) => eventsCommand(ctx, { view: "stored", stream: "order-legacy" })));
    expect(stored.schemaVersion).toBe(1);
    const plain = await run("plain", (ctx) => eventsCommand(ctx, { view: "both", stream: "order-legacy" }));
    expect(plain).toMatch(/OrderPlaced v1 \{[^\n]*"buyer":"c-old"[^\n]*\} => OrderPlaced v2 \{[^\n]*"customerId":"c-old"/);
  });

  it("order folds the upcast events: the state has the customer the v1 event called buyer", async () => {
    const out = JSON.parse(await run("json", (ctx) => orderCommand(ctx, "legacy", { view: "both" })));
    expect(out.state).toMatchObject({ orderId: "legacy", customerId: "c-old", status: "CREATED" });
    expect(out.events[0]).toMatchObject({ stored: { schemaVersion: 1 }, upcast: { schemaVersion: 2 } });
    // No projector ran here: the order-history index is behind, and the command says so.
    expect(notes.join("")).toMatch(/order-history index is \d+ event\(s\) behind the log/);
  });
});
