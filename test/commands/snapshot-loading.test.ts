// Loading from snapshots (src/commands/load.ts) on embedded PGlite: a state loaded from a
// snapshot equals the full fold of its stream, whatever the commands were; a snapshot of another
// schema key, or one a crashed process left behind (ahead of its stream, folded over events that
// never committed, damaged), is not trusted; a hot stream's commands read a bounded number of events.

import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { asEvent, DomainError, fold } from "../../src/aggregates/decider.js";
import {
  inventoryDecider,
  inventorySnapshotCodec,
  stockLawHolds,
  streamId as inventoryStream,
  type InventoryCommand,
  type InventoryState,
} from "../../src/aggregates/inventory.js";
import { handleCommand } from "../../src/commands/handle-command.js";
import { loadLatest } from "../../src/commands/load.js";
import { snapshotDigest, snapshotSchema, snapshotSchemaOf } from "../../src/commands/snapshot-schema.js";
import { openSqlClient, PostgresEventStore, type EventStore } from "../../src/eventstore/index.js";
import type { Snapshot } from "../../src/eventstore/snapshots/port.js";
import type { SqlClient } from "../../src/infrastructure/sql/sql-client.js";

const at = "2026-01-01T10:00:00.000Z";
const expiresAt = "2026-01-01T10:15:00.000Z";
const W = "W1";
type Body = InventoryCommand extends infer C ? (C extends unknown ? Omit<C, "sku" | "warehouseId" | "at"> : never) : never;

let sql: SqlClient;
beforeAll(async () => {
  sql = await openSqlClient({});
});
afterAll(() => sql?.close());

/** A store as a fresh process opens it: its own snapshot cache, snapshots every `every` events. */
const open = (every: number) => PostgresEventStore.open(sql, { snapshotEvery: every });

function stock() {
  const sku = `SNAP-${randomUUID().slice(0, 8)}`;
  const streamId = inventoryStream(sku, W);
  const run = (store: EventStore, command: Body, commandId: string = randomUUID()) =>
    handleCommand(store, inventoryDecider, {
      streamId,
      commandId,
      actor: "test:snapshots",
      command: { sku, warehouseId: W, at, ...command } as InventoryCommand,
    });
  return { sku, streamId, run };
}

const fullFold = async (store: EventStore, streamId: string) => {
  const events = await store.readStream(streamId);
  return { state: fold(inventoryDecider, events.map(asEvent)), revision: events.at(-1)?.revision ?? -1 };
};

/** The store, counting the events its reads return. */
function counting(store: EventStore) {
  const counter = { events: 0 };
  const counted = new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (property === "readStream")
        return async (...args: Parameters<EventStore["readStream"]>) => {
          const events = await target.readStream(...args);
          counter.events += events.length;
          return events;
        };
      if (property === "readStreams")
        return async (ids: readonly string[]) => {
          const read = await target.readStreams(ids);
          for (const events of read.values()) counter.events += events.length;
          return read;
        };
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { store: counted, counter };
}

const snapshotRows = async (streamId: string) =>
  (
    await sql.query<{ revision: string; schema_key: string }>(
      "SELECT revision::text AS revision, schema_key FROM es_snapshots WHERE stream_id = $1 ORDER BY schema_key",
      [streamId],
    )
  ).rows;

/** Waits for the snapshot writes a command started without waiting for them. */
async function untilSnapshot(streamId: string, atLeast: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await snapshotRows(streamId)).some((r) => Number(r.revision) >= atLeast)) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`no snapshot of ${streamId} at revision ${atLeast} or later`);
}

/** A snapshot as a writer would sign it, of any state, at any revision, naming any event. */
function forged(streamId: string, revision: number, eventId: string, state: InventoryState): Snapshot {
  const schema = snapshotSchemaOf(inventoryDecider)!;
  const unsigned = { streamId, revision, eventId, schemaKey: schema.key, state: schema.encode(state), causations: [] };
  return { ...unsigned, digest: snapshotDigest(unsigned) };
}
const saveRow = (s: Snapshot) =>
  sql.query(
    `INSERT INTO es_snapshots (stream_id, schema_key, revision, event_id, state, causations, digest) VALUES ($1, $2, $3, $4, $5::jsonb, '[]'::jsonb, $6)
     ON CONFLICT (stream_id, schema_key) DO UPDATE SET revision = EXCLUDED.revision, event_id = EXCLUDED.event_id, state = EXCLUDED.state, causations = EXCLUDED.causations, digest = EXCLUDED.digest`,
    [s.streamId, s.schemaKey, s.revision, s.eventId, JSON.stringify(s.state), s.digest],
  );

describe("loading from snapshots", () => {
  it("equals the full fold of the stream after any sequence of commands (property)", async () => {
    const orderIds = ["o-1", "o-2", "o-3", "o-4", "o-5", "o-6"];
    const command: fc.Arbitrary<Body> = fc.oneof(
      fc.record({ type: fc.constant("ReceiveStock" as const), quantity: fc.integer({ min: 1, max: 6 }) }),
      fc.record({
        type: fc.constant("ReserveStock" as const),
        orderId: fc.constantFrom(...orderIds),
        quantity: fc.integer({ min: 1, max: 4 }),
        expiresAt: fc.constant(expiresAt),
      }),
      fc.record({ type: fc.constant("CommitReservation" as const), orderId: fc.constantFrom(...orderIds) }),
      fc.record({ type: fc.constant("ReleaseReservation" as const), orderId: fc.constantFrom(...orderIds) }),
      fc.record({ type: fc.constant("ShipStock" as const), orderId: fc.constantFrom(...orderIds) }),
      fc.record({
        type: fc.constant("RestockReturn" as const),
        orderId: fc.constantFrom(...orderIds),
        returnId: fc.constantFrom("r-1", "r-2"),
        quantity: fc.constant(1),
      }),
      fc.record({
        type: fc.constant("AdjustStock" as const),
        countedAvailable: fc.integer({ min: 0, max: 20 }),
        reason: fc.constant("count"),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 6 }), async (commands, every) => {
        const store = await open(every);
        const { streamId, run } = stock();
        for (const c of commands) {
          try {
            const result = await run(store, c);
            expect(result.state).toEqual((await fullFold(store, streamId)).state);
          } catch (error) {
            if (!(error instanceof DomainError)) throw error;
          }
        }
        const expected = await fullFold(store, streamId);
        for (const reader of [store, await open(every)]) {
          const loaded = await loadLatest(reader, inventoryDecider, streamId);
          expect(loaded.state).toEqual(expected.state);
          expect(loaded.revision).toBe(expected.revision);
          expect(stockLawHolds(loaded.state)).toBe(true);
        }
      }),
      { numRuns: 25 },
    );
  });

  it("reads from the snapshot once there is one, and a fresh process finds it in the table", async () => {
    const store = await open(5);
    const { streamId, run } = stock();
    await run(store, { type: "ReceiveStock", quantity: 100 });
    for (let i = 0; i < 12; i++) await run(store, { type: "ReserveStock", orderId: `o-${i}`, quantity: 1, expiresAt });
    await untilSnapshot(streamId, 9); // written at revisions 4 and 9 (every 5 events); the head is 12
    const fresh = await loadLatest(await open(5), inventoryDecider, streamId);
    expect(fresh.snapshot?.revision).toBe(9);
    expect(fresh.events.length).toBeLessThan(5);
    expect(fresh.state).toEqual((await fullFold(store, streamId)).state);
    expect(fresh.state.reserved).toBe(12);
  });

  it("ignores a snapshot of another schema key (a changed evolve or version) and writes its own beside it", async () => {
    const store = await open(5);
    const { streamId, run } = stock();
    await run(store, { type: "ReceiveStock", quantity: 100 });
    for (let i = 0; i < 11; i++) await run(store, { type: "ReserveStock", orderId: `o-${i}`, quantity: 1, expiresAt });
    await untilSnapshot(streamId, 5);

    const current = snapshotSchemaOf(inventoryDecider)!;
    const changedEvolve = {
      ...inventoryDecider,
      evolve: (s: InventoryState, e: Parameters<typeof inventoryDecider.evolve>[1]) => inventoryDecider.evolve(s, e),
    };
    const bumped = snapshotSchema(inventoryDecider, { ...inventorySnapshotCodec, version: 2 });
    const rehashed = snapshotSchema(changedEvolve, inventorySnapshotCodec);
    expect(new Set([current.key, bumped.key, rehashed.key]).size).toBe(3);

    for (const schema of [bumped, rehashed]) {
      const loaded = await loadLatest(await open(5), inventoryDecider, streamId, schema);
      expect(loaded.snapshot).toBeUndefined();
      expect(loaded.events).toHaveLength(12);
      expect(loaded.state).toEqual((await fullFold(store, streamId)).state);
    }
    // Each read 12 events past no snapshot of its key: each wrote one, the old key's stays.
    for (let i = 0; i < 100 && (await snapshotRows(streamId)).length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    expect((await snapshotRows(streamId)).map((r) => r.schema_key).sort()).toEqual([current.key, bumped.key, rehashed.key].sort());
  });

  describe("a snapshot left by a crashed process is not trusted: the state is the full fold", () => {
    async function streamWithSnapshot() {
      const store = await open(4);
      const s = stock();
      await s.run(store, { type: "ReceiveStock", quantity: 10 });
      for (let i = 0; i < 8; i++) await s.run(store, { type: "ReserveStock", orderId: `o-${i}`, quantity: 1, expiresAt });
      await untilSnapshot(s.streamId, 7); // written at revisions 3 and 7; the head is 8
      return { ...s, store };
    }
    const rich: InventoryState = { ...inventoryDecider.initialState, sku: "X", warehouseId: W, received: 1000, available: 1000 };

    async function expectFullFold(streamId: string) {
      const reader = await open(4);
      const loaded = await loadLatest(reader, inventoryDecider, streamId);
      const expected = await fullFold(reader, streamId);
      expect(loaded.snapshot).toBeUndefined();
      expect(loaded.state).toEqual(expected.state);
      expect(loaded.revision).toBe(expected.revision);
      return { reader, loaded };
    }

    it("folded over events whose append never committed (another event now holds its revision)", async () => {
      const { streamId, run, store } = await streamWithSnapshot();
      const head = (await fullFold(store, streamId)).revision;
      // The crashed writer's append of revision head+1 rolled back; its snapshot was written anyway.
      await saveRow(forged(streamId, head + 1, randomUUID(), rich));
      await run(store, { type: "ReserveStock", orderId: "o-late", quantity: 1, expiresAt }); // the real head+1
      const { reader, loaded } = await expectFullFold(streamId);
      expect(loaded.state.available).toBe(1);
      // Nor is it trusted for deciding: 2 units are not there, whatever the snapshot said.
      const result = await run(reader, { type: "ReserveStock", orderId: "o-big", quantity: 2, expiresAt });
      expect(result.events.map((e) => e.type)).toEqual(["StockReservationRejected"]);
    });

    it("ahead of its stream", async () => {
      const { streamId, store } = await streamWithSnapshot();
      const head = (await fullFold(store, streamId)).revision;
      await saveRow(forged(streamId, head + 50, randomUUID(), rich));
      await expectFullFold(streamId);
    });

    it("half-written, garbled, or signed but not a state the codec accepts", async () => {
      const { streamId, store } = await streamWithSnapshot();
      const key = snapshotSchemaOf(inventoryDecider)!.key;
      const last = (await store.readStream(streamId)).at(-1)!;
      const damage = [
        // a truncated document stored as a JSON string
        () =>
          sql.query('UPDATE es_snapshots SET state = to_jsonb(\'{"sku": "SNAP\'::text) WHERE stream_id = $1 AND schema_key = $2', [
            streamId,
            key,
          ]),
        // one number changed: the digest no longer matches
        () =>
          sql.query("UPDATE es_snapshots SET state = jsonb_set(state, '{available}', '999') WHERE stream_id = $1 AND schema_key = $2", [
            streamId,
            key,
          ]),
        // a correctly signed snapshot at the right event whose state breaks the stock law
        () => saveRow(forged(streamId, last.revision, last.id, { ...rich, received: 1 })),
        // a correctly signed snapshot at the right event that is not an inventory state at all
        () =>
          saveRow({ ...forged(streamId, last.revision, last.id, rich), state: { nonsense: true } }).then(async () => {
            const unsigned = {
              streamId,
              revision: last.revision,
              eventId: last.id,
              schemaKey: key,
              state: { nonsense: true },
              causations: [],
            };
            await saveRow({ ...unsigned, digest: snapshotDigest(unsigned) });
          }),
      ];
      for (const harm of damage) {
        await saveRow(forged(streamId, last.revision, last.id, (await fullFold(store, streamId)).state)); // a sound one first
        expect((await loadLatest(await open(4), inventoryDecider, streamId)).snapshot).toBeDefined();
        await harm();
        await expectFullFold(streamId);
      }
    });

    it("is discarded, and a sound snapshot replaces it", async () => {
      const { streamId, run, store } = await streamWithSnapshot();
      const head = (await fullFold(store, streamId)).revision;
      await saveRow(forged(streamId, head + 1000, randomUUID(), rich));
      const { reader } = await expectFullFold(streamId);
      // Gone; in its place at most the reader's own snapshot of what it read (9 events, more than every 4).
      const forgedGone = async () => (await snapshotRows(streamId)).every((r) => Number(r.revision) <= head);
      for (let i = 0; i < 100 && !(await forgedGone()); i++) await new Promise((r) => setTimeout(r, 10));
      expect(await forgedGone()).toBe(true);
      for (let i = 0; i < 5; i++) await run(reader, { type: "ReserveStock", orderId: `n-${i}`, quantity: 1, expiresAt });
      await untilSnapshot(streamId, head + 1);
      const loaded = await loadLatest(await open(4), inventoryDecider, streamId);
      expect(loaded.snapshot).toBeDefined();
      expect(loaded.state).toEqual((await fullFold(store, streamId)).state);
    });
  });

  it("keeps command idempotency across a snapshot: a command applied before it and run again appends nothing", async () => {
    const store = await open(3);
    const { streamId, run } = stock();
    await run(store, { type: "ReceiveStock", quantity: 50 }, "receive-1");
    const first = await run(store, { type: "ReserveStock", orderId: "o-early", quantity: 2, expiresAt }, "reserve-early");
    const commit = await run(store, { type: "CommitReservation", orderId: "o-early" }, "commit-early");
    for (let i = 0; i < 10; i++) await run(store, { type: "ReserveStock", orderId: `o-${i}`, quantity: 1, expiresAt });
    await untilSnapshot(streamId, 9);
    const before = (await fullFold(store, streamId)).revision;
    for (const reader of [store, await open(3)]) {
      // decided again it would be [] (a live reservation), a DomainError (commit twice), or a second receipt
      const again = await run(reader, { type: "ReserveStock", orderId: "o-early", quantity: 2, expiresAt }, "reserve-early");
      expect(again).toMatchObject({ alreadyApplied: true, nextExpectedRevision: first.nextExpectedRevision, events: first.events });
      const commitAgain = await run(reader, { type: "CommitReservation", orderId: "o-early" }, "commit-early");
      expect(commitAgain).toMatchObject({ alreadyApplied: true, nextExpectedRevision: commit.nextExpectedRevision, state: commit.state });
      expect(await run(reader, { type: "ReceiveStock", quantity: 50 }, "receive-1")).toMatchObject({ alreadyApplied: true });
    }
    expect((await fullFold(store, streamId)).revision).toBe(before);
  });

  it("a hot SKU: events read per command stay bounded as its stream grows (and grow without snapshots)", async () => {
    const every = 20;
    const perCommand = async (store: EventStore) => {
      const { store: counted, counter } = counting(store);
      const { run } = stock();
      await run(counted, { type: "ReceiveStock", quantity: 100_000 });
      const reads: number[] = [];
      for (let i = 0; i < 120; i++) {
        for (const command of [
          { type: "ReserveStock" as const, orderId: `o-${i}`, quantity: 1, expiresAt },
          { type: "CommitReservation" as const, orderId: `o-${i}` },
        ]) {
          const before = counter.events;
          await run(counted, command);
          reads.push(counter.events - before);
        }
      }
      return reads;
    };
    const withSnapshots = await perCommand(await open(every));
    const without = await perCommand(await open(0));
    // From a snapshot: its own event plus at most `every` events after it.
    expect(Math.max(...withSnapshots.slice(every))).toBeLessThanOrEqual(every + 1);
    expect(without.at(-1)).toBe(240);
    expect(without.reduce((a, b) => a + b, 0)).toBeGreaterThan(5 * withSnapshots.reduce((a, b) => a + b, 0));
  });
});
