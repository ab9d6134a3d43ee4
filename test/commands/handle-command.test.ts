// Command handling against real event stores: always on embedded PGlite, and on PostgreSQL when
// DATABASE_URL is set. Each test uses its own streams, so tests on one store never interfere.

import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DomainError, fold, type DomainEvent } from "../../src/aggregates/decider.js";
import {
  inventoryDecider,
  stockLawHolds,
  streamId as inventoryStream,
  type InventoryCommand,
  type InventoryEvent,
} from "../../src/aggregates/inventory.js";
import { orderDecider, streamId as orderStream } from "../../src/aggregates/order.js";
import { eventIdFor } from "../../src/commands/event-id.js";
import { handleCommand, type CommandEnvelope, type CommandResult } from "../../src/commands/handle-command.js";
import {
  openEventStore,
  UpcasterRegistry,
  WrongExpectedVersionError,
  type EventStore,
  type RecordedEvent,
} from "../../src/eventstore/index.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { missing, server } from "../support/env.js";

const at = "2026-01-01T10:00:00.000Z";
const expiresAt = "2026-01-01T10:15:00.000Z";
const warehouseId = "BLR-1";

/** An inventory command without the fields every command of one stream shares (Omit over each member of the union). */
type Without<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type StockCommandBody = Without<InventoryCommand, "sku" | "warehouseId" | "at">;

function freshStock() {
  const sku = `SKU-${randomUUID().slice(0, 8)}`;
  const streamId = inventoryStream(sku, warehouseId);
  const envelope = (
    commandId: string,
    command: StockCommandBody,
    extra: Partial<CommandEnvelope<InventoryCommand>> = {},
  ): CommandEnvelope<InventoryCommand> => ({
    streamId,
    commandId,
    actor: "saga:order",
    command: { sku, warehouseId, at, ...command } as InventoryCommand,
    ...extra,
  });
  return { sku, streamId, envelope };
}

const reserve = (orderId: string, quantity: number) => ({ type: "ReserveStock" as const, orderId, quantity, expiresAt });
const release = (orderId: string) => ({ type: "ReleaseReservation" as const, orderId, reason: "CUSTOMER_REQUEST" });

/** The stored events of each command id, in stream order. */
function byCommand(stored: readonly RecordedEvent[]): Map<string, RecordedEvent[]> {
  const groups = new Map<string, RecordedEvent[]>();
  for (const e of stored) groups.set(e.metadata.causationId, [...(groups.get(e.metadata.causationId) ?? []), e]);
  return groups;
}
const domain = (events: readonly RecordedEvent[]): DomainEvent[] => events.map((e) => ({ type: e.type, data: e.data }));

/** Wraps a store so tests can count reads and inject append conflicts. */
function instrumented(store: EventStore, conflicts: number) {
  const calls = { reads: 0, appends: 0 };
  let left = conflicts;
  const wrapped: EventStore = {
    kind: store.kind,
    atomicMultiStreamAppend: store.atomicMultiStreamAppend,
    appendToStreams: (appends) => store.appendToStreams(appends),
    readStreams: (ids) => store.readStreams(ids),
    readAll: (options) => store.readAll(options),
    subscribeToAll: (options, handler) => store.subscribeToAll(options, handler),
    headCheckpoint: () => store.headCheckpoint(),
    close: () => store.close(),
    readStream: (...args) => {
      calls.reads++;
      return store.readStream(...args);
    },
    appendToStream: async (streamId, events, options) => {
      calls.appends++;
      if (left-- > 0) throw new WrongExpectedVersionError(streamId, options?.expectedRevision ?? "any", 99);
      return store.appendToStream(streamId, events, options);
    },
  };
  return { store: wrapped, calls };
}

function commandHandlingSuite(open: () => Promise<{ store: EventStore; close(): Promise<void> }>) {
  let store: EventStore;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ store, close } = await open());
  });
  afterAll(async () => {
    await close?.();
  });

  /**
   * 20 commands at once on one Inventory stream with 13 in stock: reservations for 16 orders
   * (1 or 2 units each) mixed with releases of 4 of them. Returns what happened to each.
   */
  async function race(retry?: { maxAttempts: number }) {
    const { streamId, envelope } = freshStock();
    await handleCommand(store, inventoryDecider, envelope("receive", { type: "ReceiveStock", quantity: 13 }));
    const commands: CommandEnvelope<InventoryCommand>[] = [];
    for (let i = 1; i <= 16; i++) {
      commands.push(envelope(`reserve-${i}`, reserve(`o-${i}`, 1 + (i % 2))));
      if (i % 4 === 0) commands.push(envelope(`release-${i / 4}`, release(`o-${i / 4}`)));
    }
    expect(commands).toHaveLength(20);
    const outcomes = await Promise.allSettled(commands.map((c) => handleCommand(store, inventoryDecider, c, retry)));
    const stored = await store.readStream(streamId);
    return { streamId, commands, outcomes, stored };
  }

  function expectSerialEquivalence({ commands, outcomes, stored }: Awaited<ReturnType<typeof race>>) {
    const groups = byCommand(stored);
    // Every command ended applied or cleanly rejected, and only applied ones left events.
    outcomes.forEach((outcome, i) => {
      const { commandId } = commands[i]!;
      if (outcome.status === "fulfilled") {
        expect(outcome.value.alreadyApplied).toBe(false);
        expect(domain(groups.get(commandId) ?? [])).toEqual(outcome.value.events);
      } else {
        expect(outcome.reason instanceof DomainError || outcome.reason instanceof WrongExpectedVersionError, String(outcome.reason)).toBe(
          true,
        );
        expect(groups.has(commandId)).toBe(false);
      }
    });
    // A serial run of the applied commands, in the order the store committed them, decides
    // exactly the stored events and ends in the same stock.
    const byId = new Map(commands.map((c) => [c.commandId, c.command]));
    let state = inventoryDecider.initialState;
    for (const [commandId, events] of groups) {
      const command =
        commandId === "receive"
          ? ({ type: "ReceiveStock", sku: commands[0]!.command.sku, warehouseId, quantity: 13, at } as InventoryCommand)
          : byId.get(commandId)!;
      const decided = inventoryDecider.decide(command, state);
      expect(decided).toEqual(domain(events));
      state = fold(inventoryDecider, decided, state);
    }
    const final = fold(inventoryDecider, domain(stored) as InventoryEvent[]);
    expect(final).toEqual(state);
    expect(stockLawHolds(final)).toBe(true);
    expect(final.received).toBe(13);
    expect(final.available).toBeGreaterThanOrEqual(0);
    expect(final.reserved).toBe(
      [...final.reservations.values()].filter((r) => r.status === "RESERVED").reduce((n, r) => n + r.quantity, 0),
    );
    // Revisions are gap-free: nothing was lost or doubled.
    expect(stored.map((e) => e.revision)).toEqual(stored.map((_, i) => i));
    return final;
  }

  it("20 concurrent commands on one stream end applied or cleanly rejected, as a serial run of the applied ones", async () => {
    const result = await race();
    const final = expectSerialEquivalence(result);
    const applied = result.outcomes.filter((o) => o.status === "fulfilled").length;
    expect(applied).toBeGreaterThan(0);
    expect(final.available + final.reserved).toBe(13);
  });

  it("with enough attempts every one of 20 concurrent commands is decided (no conflict survives)", async () => {
    const result = await race({ maxAttempts: 100 });
    const final = expectSerialEquivalence(result);
    for (const outcome of result.outcomes) {
      if (outcome.status === "rejected") expect(outcome.reason).toBeInstanceOf(DomainError);
    }
    // Every reservation was decided: reserved or rejected for lack of stock.
    const reservationsDecided = result.stored.filter((e) => e.type === "StockReserved" || e.type === "StockReservationRejected").length;
    expect(reservationsDecided).toBe(16);
    // No oversell: what is held never exceeds what came in.
    expect(final.reserved).toBeLessThanOrEqual(13);
  });

  it("a command repeated with the same id appends once and returns the original result", async () => {
    const { streamId, envelope } = freshStock();
    await handleCommand(store, inventoryDecider, envelope("receive", { type: "ReceiveStock", quantity: 5 }));
    const first = await handleCommand(store, inventoryDecider, envelope("reserve-1", reserve("o-1", 2)));
    await handleCommand(store, inventoryDecider, envelope("reserve-2", reserve("o-2", 1)));
    const again = await handleCommand(store, inventoryDecider, envelope("reserve-1", reserve("o-1", 2)));
    expect(first.alreadyApplied).toBe(false);
    expect(again).toMatchObject({
      alreadyApplied: true,
      events: first.events,
      nextExpectedRevision: first.nextExpectedRevision,
      position: first.position,
    });
    expect(again.state).toEqual(first.state);
    const stored = await store.readStream(streamId);
    expect(stored.filter((e) => e.metadata.causationId === "reserve-1")).toHaveLength(1);
    expect(stored).toHaveLength(3);
  });

  it("concurrent repeats of the same command id append once", async () => {
    const { streamId, envelope } = freshStock();
    await handleCommand(store, inventoryDecider, envelope("receive", { type: "ReceiveStock", quantity: 5 }));
    const twins = await Promise.all(
      Array.from({ length: 10 }, () => handleCommand(store, inventoryDecider, envelope("reserve-1", reserve("o-1", 2)))),
    );
    expect(twins.filter((r) => !r.alreadyApplied)).toHaveLength(1);
    for (const r of twins) expect(r.events).toEqual(twins[0]!.events);
    const stored = await store.readStream(streamId);
    expect(stored.filter((e) => e.metadata.causationId === "reserve-1")).toHaveLength(1);
    expect(fold(inventoryDecider, domain(stored) as InventoryEvent[])).toMatchObject({ available: 3, reserved: 2 });
  });

  it("stores metadata, schema versions and deterministic event ids", async () => {
    const orderId = randomUUID();
    const streamId = orderStream(orderId);
    const result = await handleCommand(store, orderDecider, {
      streamId,
      commandId: "place-1",
      correlationId: "checkout-9",
      actor: "customer:c-1",
      traceId: "trace-abc",
      command: {
        type: "PlaceOrder",
        orderId,
        customerId: "c-1",
        lines: [{ sku: "A", quantity: 1, unitPrice: 49_900 }],
        paymentMethod: "COD",
        shippingAddress: { name: "Asha", line1: "1 MG Road", city: "Bengaluru", state: "KA", pincode: "560001", phone: "+91" },
        at,
      },
    });
    expect(result).toMatchObject({ alreadyApplied: false, nextExpectedRevision: 0 });
    expect(result.state).toMatchObject({ status: "CREATED", paymentStatus: "NOT_REQUIRED", totalAmount: 49_900 });
    const [stored] = await store.readStream(streamId);
    expect(stored).toMatchObject({
      id: eventIdFor("place-1", streamId, 0),
      type: "OrderPlaced",
      schemaVersion: orderDecider.schemaVersions.OrderPlaced,
      data: result.events[0]!.data,
      metadata: { correlationId: "checkout-9", causationId: "place-1", actor: "customer:c-1", traceId: "trace-abc" },
      position: result.position,
    });
    expect(stored!.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it("defaults the correlation id to the command id and leaves out a missing trace id", async () => {
    const { streamId, envelope } = freshStock();
    await handleCommand(store, inventoryDecider, envelope("receive", { type: "ReceiveStock", quantity: 1 }));
    const [stored] = await store.readStream(streamId);
    expect(stored!.metadata).toEqual({ correlationId: "receive", causationId: "receive", actor: "saga:order" });
  });

  it("a rejected command writes nothing; a command that decides nothing returns the current revision", async () => {
    const { streamId, envelope } = freshStock();
    await expect(
      handleCommand(store, inventoryDecider, envelope("commit-1", { type: "CommitReservation", orderId: "o-1" })),
    ).rejects.toMatchObject({ name: "DomainError", rule: "reservation_not_found" });
    expect(await store.readStream(streamId)).toEqual([]);
    const invalid = await handleCommand(store, inventoryDecider, envelope("receive-0", { type: "ReceiveStock", quantity: -1 })).catch(
      (e: unknown) => e,
    );
    expect(invalid).toMatchObject({ name: "DomainError", rule: "invalid_quantity" });
    expect(await store.readStream(streamId)).toEqual([]);
    await handleCommand(store, inventoryDecider, envelope("receive", { type: "ReceiveStock", quantity: 5 }));
    await handleCommand(store, inventoryDecider, envelope("reserve-1", reserve("o-1", 2)));
    const noop = await handleCommand(store, inventoryDecider, envelope("reserve-1-again", reserve("o-1", 2)));
    const stored = await store.readStream(streamId);
    expect(noop).toMatchObject({ events: [], alreadyApplied: false, nextExpectedRevision: 1, position: stored[1]!.position });
    expect(noop.state).toMatchObject({ available: 3, reserved: 2 });
  });

  it("a caller's expected revision (If-Match) applies only at that revision and is not retried", async () => {
    const { streamId, envelope } = freshStock();
    await handleCommand(
      store,
      inventoryDecider,
      envelope("receive", { type: "ReceiveStock", quantity: 5 }, { expectedRevision: "no_stream" }),
    );
    await expect(
      handleCommand(
        store,
        inventoryDecider,
        envelope("receive-2", { type: "ReceiveStock", quantity: 1 }, { expectedRevision: "no_stream" }),
      ),
    ).rejects.toBeInstanceOf(WrongExpectedVersionError);
    const probe = instrumented(store, 0);
    await expect(
      handleCommand(probe.store, inventoryDecider, envelope("receive-3", { type: "ReceiveStock", quantity: 1 }, { expectedRevision: 7 })),
    ).rejects.toMatchObject({
      name: "WrongExpectedVersionError",
      expected: 7,
      actual: 0,
    });
    expect(probe.calls).toEqual({ reads: 1, appends: 0 });
    const applied = await handleCommand(
      store,
      inventoryDecider,
      envelope("receive-4", { type: "ReceiveStock", quantity: 1 }, { expectedRevision: 0 }),
    );
    expect(applied.nextExpectedRevision).toBe(1);
    await handleCommand(
      store,
      inventoryDecider,
      envelope("receive-5", { type: "ReceiveStock", quantity: 1 }, { expectedRevision: "stream_exists" }),
    );
    await handleCommand(store, inventoryDecider, envelope("receive-6", { type: "ReceiveStock", quantity: 1 }, { expectedRevision: "any" }));
    // A repeat carrying the stale If-Match still returns the original result.
    const repeat = await handleCommand(
      store,
      inventoryDecider,
      envelope("receive-4", { type: "ReceiveStock", quantity: 1 }, { expectedRevision: 0 }),
    );
    expect(repeat).toMatchObject({ alreadyApplied: true, nextExpectedRevision: 1 });
    expect(await store.readStream(streamId)).toHaveLength(4);
  });

  it("an If-Match conflict met at append time is thrown at once", async () => {
    const { envelope } = freshStock();
    const probe = instrumented(store, 1);
    await expect(
      handleCommand(
        probe.store,
        inventoryDecider,
        envelope("receive", { type: "ReceiveStock", quantity: 1 }, { expectedRevision: "no_stream" }),
      ),
    ).rejects.toBeInstanceOf(WrongExpectedVersionError);
    expect(probe.calls).toEqual({ reads: 1, appends: 1 });
  });

  it("retries conflicts with jittered exponential backoff, and gives up after the last attempt", async () => {
    const { streamId, envelope } = freshStock();
    const delays: number[] = [];
    const policy = { maxAttempts: 4, baseDelayMs: 8, maxDelayMs: 20, random: () => 0.5, sleep: async (ms: number) => void delays.push(ms) };

    const flaky = instrumented(store, 2);
    const result = await handleCommand(flaky.store, inventoryDecider, envelope("receive", { type: "ReceiveStock", quantity: 3 }), policy);
    expect(result).toMatchObject({ alreadyApplied: false, nextExpectedRevision: 0 });
    expect(flaky.calls).toEqual({ reads: 3, appends: 3 });
    expect(delays).toEqual([4, 8]);

    delays.length = 0;
    const hopeless = instrumented(store, Number.POSITIVE_INFINITY);
    await expect(
      handleCommand(hopeless.store, inventoryDecider, envelope("receive-2", { type: "ReceiveStock", quantity: 3 }), policy),
    ).rejects.toBeInstanceOf(WrongExpectedVersionError);
    expect(hopeless.calls).toEqual({ reads: 4, appends: 4 });
    expect(delays).toEqual([4, 8, 10]);
    expect(await store.readStream(streamId)).toHaveLength(1);
  });

  it("a stream the caller holds is decided over without a read; a stale copy never decides, the stream as it is does", async () => {
    const { streamId, envelope } = freshStock();
    const counted = instrumented(store, 0);
    const isNew = { state: inventoryDecider.initialState, revision: -1, events: [] };

    // Known to be new, and it is: one append, no read.
    const received = await handleCommand(counted.store, inventoryDecider, envelope("receive", { type: "ReceiveStock", quantity: 5 }), {
      known: isNew,
    });
    expect(received).toMatchObject({ alreadyApplied: false, nextExpectedRevision: 0 });
    expect(counted.calls).toEqual({ reads: 0, appends: 1 });

    // Taken to be new, but it holds 5 units: over the empty copy this reservation would be rejected;
    // the append at "no stream" fails, and the reservation is decided over the stream: reserved.
    const reserved = await handleCommand(counted.store, inventoryDecider, envelope("reserve", reserve("o-1", 3)), { known: isNew });
    expect(reserved.events.map((e) => e.type)).toEqual(["StockReserved"]);
    expect(reserved.nextExpectedRevision).toBe(1);

    // The same command again over the stale copy: the stored result, nothing appended.
    const again = await handleCommand(counted.store, inventoryDecider, envelope("reserve", reserve("o-1", 3)), { known: isNew });
    expect(again).toMatchObject({ alreadyApplied: true, nextExpectedRevision: 1 });
    expect((await store.readStream(streamId)).map((e) => e.type)).toEqual(["StockReceived", "StockReserved"]);
    expect(stockLawHolds(again.state)).toBe(true);
  });
}

describe("handleCommand on embedded PGlite", () => {
  commandHandlingSuite(async () => {
    const store = await openEventStore({});
    return { store, close: () => store.close() };
  });

  it("folds upcast events: the decider sees the current schema", async () => {
    // StockReceived v1 once stored `qty`; v2 calls it `quantity`.
    const upcasters = new UpcasterRegistry([
      {
        type: "StockReceived",
        fromSchemaVersion: 1,
        upcast: ({ data }) => {
          const { qty, ...rest } = data as { qty: number };
          return { data: { ...rest, quantity: qty } };
        },
      },
    ]);
    const store = await openEventStore({ upcasters });
    try {
      const { sku, streamId, envelope } = freshStock();
      await store.appendToStream(streamId, [
        {
          id: randomUUID(),
          type: "StockReceived",
          schemaVersion: 1,
          data: { sku, warehouseId, qty: 4, at },
          metadata: { correlationId: "old", causationId: "old", actor: "legacy" },
        },
      ]);
      const v2 = { ...inventoryDecider, schemaVersions: { ...inventoryDecider.schemaVersions, StockReceived: 2 } };
      const result: CommandResult<InventoryEvent, unknown> = await handleCommand(store, v2, envelope("reserve-1", reserve("o-1", 3)));
      expect(result.state).toMatchObject({ received: 4, available: 1, reserved: 3 });
      await handleCommand(store, v2, envelope("receive", { type: "ReceiveStock", quantity: 1 }));
      expect((await store.readStream(streamId)).map((e) => [e.type, e.schemaVersion])).toEqual([
        ["StockReceived", 2],
        ["StockReserved", 1],
        ["StockReceived", 2],
      ]);
    } finally {
      await store.close();
    }
  });
});

describe.skipIf(missing(server("DATABASE_URL")))("handleCommand on PostgreSQL", () => {
  commandHandlingSuite(async () => {
    const database: TestDatabase = await createTestDatabase();
    const store = await openEventStore({ databaseUrl: database.url });
    return {
      store,
      close: async () => {
        await store.close();
        await database.drop();
      },
    };
  });
});
