// The event store contract: every adapter runs this same suite (PGlite, PostgreSQL, EventStoreDB).
// Each test writes to its own stream category, so tests on one store never see each other's events.

import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  EventIdConflictError,
  InvalidAppendError,
  START,
  UpcasterRegistry,
  WrongExpectedVersionError,
  compareCheckpoints,
  type EventStore,
  type NewEvent,
  type RecordedEvent,
} from "../../src/eventstore/index.js";

export interface StoreFactory {
  open(options?: { upcasters?: UpcasterRegistry }): Promise<EventStore>;
  teardown?(): Promise<void>;
}

const category = () => `t${randomUUID().slice(0, 8)}`;
const event = (type = "ThingHappened", data: NewEvent["data"] = { n: 1 }, extra: Partial<NewEvent> = {}): NewEvent => ({
  id: randomUUID(),
  type,
  data,
  metadata: { correlationId: "corr-1", causationId: "cmd-1", actor: "test:contract", traceId: "trace-1" },
  ...extra,
});
const events = (count: number, type = "ThingHappened") => Array.from({ length: count }, (_, n) => event(type, { n }));

/**
 * Waits until readers can see `position`. On PostgreSQL the horizon is the oldest transaction still
 * running anywhere on the server, so an event appended here becomes readable only once every
 * transaction older than it (other test files included) has ended.
 */
async function untilVisible(store: EventStore, position: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (compareCheckpoints(await store.headCheckpoint(), position) < 0) {
    if (Date.now() > deadline) throw new Error(`position ${position} not visible after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function readEverything(store: EventStore, filter: { streamCategories: string[] }): Promise<RecordedEvent[]> {
  const all: RecordedEvent[] = [];
  let from = START;
  for (;;) {
    const page = await store.readAll({ from, maxCount: 7, filter });
    all.push(...page.events);
    if (page.events.length === 0) return all;
    from = page.checkpoint;
  }
}

export { untilVisible };

export function eventStoreContract(name: string, factory: StoreFactory): void {
  describe(`event store contract: ${name}`, () => {
    let store: EventStore;
    beforeAll(async () => {
      store = await factory.open();
    });
    afterAll(async () => {
      await store?.close();
      await factory.teardown?.();
    });

    describe("appendToStream", () => {
      it("appends to a new stream from revision 0 and returns the next expected revision and position", async () => {
        const stream = `${category()}-1`;
        const batch = events(3);
        const before = Date.now();
        const result = await store.appendToStream(stream, batch, { expectedRevision: "no_stream" });
        const after = Date.now();
        expect(result).toMatchObject({ nextExpectedRevision: 2, appended: true });
        const read = await store.readStream(stream);
        expect(read.map((e) => [e.id, e.revision, e.type, e.schemaVersion])).toEqual(batch.map((e, i) => [e.id, i, e.type, 1]));
        expect(read[2]!.position).toBe(result.position);
        expect(read[0]!.data).toEqual({ n: 0 });
        expect(read[0]!.metadata).toEqual({ correlationId: "corr-1", causationId: "cmd-1", actor: "test:contract", traceId: "trace-1" });
        expect(read[0]!.recordedAt).toBeInstanceOf(Date);
        // When it was stored (the store's clock, on this machine or near it).
        expect(read[0]!.recordedAt.getTime()).toBeGreaterThanOrEqual(before - 5_000);
        expect(read[0]!.recordedAt.getTime()).toBeLessThanOrEqual(after + 5_000);
        expect(read[0]!.streamId).toBe(stream);
      });

      it("keeps the schema version given with an event", async () => {
        const stream = `${category()}-1`;
        await store.appendToStream(stream, [event("Versioned", { a: 1 }, { schemaVersion: 4 })]);
        expect((await store.readStream(stream))[0]!.schemaVersion).toBe(4);
      });

      it("enforces every expected-revision mode", async () => {
        const stream = `${category()}-1`;
        await expect(store.appendToStream(stream, events(1), { expectedRevision: "stream_exists" })).rejects.toMatchObject({
          name: "WrongExpectedVersionError",
          expected: "stream_exists",
          actual: -1,
        });
        await expect(store.appendToStream(stream, events(1), { expectedRevision: 0 })).rejects.toBeInstanceOf(WrongExpectedVersionError);
        expect((await store.appendToStream(stream, events(2), { expectedRevision: "no_stream" })).nextExpectedRevision).toBe(1);
        await expect(store.appendToStream(stream, events(1), { expectedRevision: "no_stream" })).rejects.toMatchObject({
          expected: "no_stream",
          actual: 1,
        });
        await expect(store.appendToStream(stream, events(1), { expectedRevision: 0 })).rejects.toMatchObject({
          expected: 0,
          actual: 1,
          streamId: stream,
        });
        await expect(store.appendToStream(stream, events(1), { expectedRevision: 5 })).rejects.toMatchObject({ expected: 5, actual: 1 });
        expect((await store.appendToStream(stream, events(1), { expectedRevision: 1 })).nextExpectedRevision).toBe(2);
        expect((await store.appendToStream(stream, events(1), { expectedRevision: "stream_exists" })).nextExpectedRevision).toBe(3);
        expect((await store.appendToStream(stream, events(1), { expectedRevision: "any" })).nextExpectedRevision).toBe(4);
        expect((await store.appendToStream(stream, events(1))).nextExpectedRevision).toBe(5);
        const other = `${category()}-2`;
        expect((await store.appendToStream(other, events(1), { expectedRevision: "any" })).nextExpectedRevision).toBe(0);
        expect((await store.readStream(stream)).map((e) => e.revision)).toEqual([0, 1, 2, 3, 4, 5]);
      });

      it("treats a retried batch (same event ids) as a no-op returning the first result, whatever the expected revision", async () => {
        const stream = `${category()}-1`;
        const batch = events(2);
        const first = await store.appendToStream(stream, batch, { expectedRevision: "no_stream" });
        const retry = await store.appendToStream(stream, batch, { expectedRevision: "no_stream" });
        expect(retry).toEqual({ ...first, appended: false });
        await store.appendToStream(stream, events(1));
        const late = await store.appendToStream(stream, batch, { expectedRevision: 0 });
        expect(late).toEqual({ ...first, appended: false });
        expect(await store.readStream(stream)).toHaveLength(3);
      });

      it("rejects a batch that reuses some ids of stored events, writing nothing", async () => {
        const stream = `${category()}-1`;
        const [a, b] = events(2);
        await store.appendToStream(stream, [a!]);
        await expect(store.appendToStream(stream, [a!, b!])).rejects.toBeInstanceOf(EventIdConflictError);
        expect(await store.readStream(stream)).toHaveLength(1);
      });

      describe("rejects bad input with a clear error and writes nothing", () => {
        const bad: [string, () => [string, unknown[], unknown]][] = [
          ["an empty stream id", () => ["", events(1), "any"]],
          ["a blank stream id", () => ["   ", events(1), "any"]],
          ["a stream id that is not a string", () => [42 as unknown as string, events(1), "any"]],
          ["no events", () => [`${category()}-1`, [], "any"]],
          ["an unknown expected revision word", () => [`${category()}-1`, events(1), "latest"]],
          ["a negative expected revision", () => [`${category()}-1`, events(1), -1]],
          ["a fractional expected revision", () => [`${category()}-1`, events(1), 1.5]],
          ["an event id that is not a UUID", () => [`${category()}-1`, [event("T", {}, { id: "nope" })], "any"]],
          [
            "the same id twice in a batch",
            () => {
              const e = event();
              return [`${category()}-1`, [e, { ...e }], "any"];
            },
          ],
          ["an empty event type", () => [`${category()}-1`, [event("")], "any"]],
          ["a function in data", () => [`${category()}-1`, [event("T", { f: (() => 1) as never })], "any"]],
          ["NaN in data", () => [`${category()}-1`, [event("T", { x: Number.NaN })], "any"]],
          ["a Date in data", () => [`${category()}-1`, [event("T", { at: new Date() as never })], "any"]],
          ["a bigint in data", () => [`${category()}-1`, [event("T", { n: 1n as never })], "any"]],
          [
            "a cycle in data",
            () => {
              const d: Record<string, unknown> = {};
              d.self = d;
              return [`${category()}-1`, [event("T", d as never)], "any"];
            },
          ],
          [
            "metadata without an actor",
            () => [`${category()}-1`, [event("T", {}, { metadata: { correlationId: "c", causationId: "c" } as never })], "any"],
          ],
          ["a schema version of 0", () => [`${category()}-1`, [event("T", {}, { schemaVersion: 0 })], "any"]],
        ];
        it.each(bad)("%s", async (_, make) => {
          // Markers before and after: everything stored between them must be the second marker alone.
          const markers = `${category()}-marker`;
          const before = await store.appendToStream(markers, events(1));
          await untilVisible(store, before.position);
          const [streamId, batch, expectedRevision] = make();
          await expect(
            store.appendToStream(streamId, batch as NewEvent[], { expectedRevision: expectedRevision as never }),
          ).rejects.toBeInstanceOf(InvalidAppendError);
          const after = await store.appendToStream(markers, events(1));
          await untilVisible(store, after.position);
          expect((await store.readAll({ from: before.position })).events.map((e) => e.position)).toEqual([after.position]);
          if (typeof streamId === "string" && streamId.trim() !== "") expect(await store.readStream(streamId)).toEqual([]);
        });
      });
    });

    describe("appendToStreams (several streams in one call)", () => {
      it("appends to each stream at its expected revision and reads them back together", async () => {
        const cat = category();
        const [a, b] = [`${cat}-a`, `${cat}-b`];
        await store.appendToStream(a, events(2));
        const results = await store.appendToStreams([
          { streamId: a, events: events(1), expectedRevision: 1 },
          { streamId: b, events: events(2), expectedRevision: "no_stream" },
        ]);
        expect(results.map((r) => [r.nextExpectedRevision, r.appended])).toEqual([
          [2, true],
          [1, true],
        ]);
        const read = await store.readStreams([a, b, `${cat}-none`]);
        expect(read.get(a)!.map((e) => e.revision)).toEqual([0, 1, 2]);
        expect(read.get(b)!.map((e) => e.revision)).toEqual([0, 1]);
        expect(read.get(`${cat}-none`)).toEqual([]);
        expect(read.get(a)![2]!.position).toBe(results[0]!.position);
        expect(read.get(b)![1]!.position).toBe(results[1]!.position);
      });

      it("rejects a call whose one stream is not at its expected revision, naming that stream", async () => {
        const cat = category();
        const [a, b] = [`${cat}-a`, `${cat}-b`];
        await store.appendToStream(b, events(1));
        const call = store.appendToStreams([
          { streamId: a, events: events(1), expectedRevision: "no_stream" },
          { streamId: b, events: events(1), expectedRevision: "no_stream" },
        ]);
        await expect(call).rejects.toMatchObject({ name: "WrongExpectedVersionError", streamId: b, expected: "no_stream", actual: 0 });
        // Atomic adapters wrote nothing; the others appended the streams before the failing one.
        expect(await store.readStream(a)).toHaveLength(store.atomicMultiStreamAppend ? 0 : 1);
        expect(await store.readStream(b)).toHaveLength(1);
      });

      it("treats a retried call (same ids in the same streams) as a no-op answering the first results", async () => {
        const cat = category();
        const appends = [
          { streamId: `${cat}-a`, events: events(2), expectedRevision: "no_stream" as const },
          { streamId: `${cat}-b`, events: events(1), expectedRevision: "no_stream" as const },
        ];
        const first = await store.appendToStreams(appends);
        const retry = await store.appendToStreams(appends);
        expect(retry).toEqual(first.map((r) => ({ ...r, appended: false })));
        expect(await store.readStream(`${cat}-a`)).toHaveLength(2);
      });

      it("rejects bad input (no appends, a stream twice, a bad event) and writes nothing", async () => {
        const stream = `${category()}-a`;
        await expect(store.appendToStreams([])).rejects.toBeInstanceOf(InvalidAppendError);
        await expect(
          store.appendToStreams([
            { streamId: stream, events: events(1) },
            { streamId: stream, events: events(1) },
          ]),
        ).rejects.toBeInstanceOf(InvalidAppendError);
        await expect(
          store.appendToStreams([
            { streamId: stream, events: events(1) },
            { streamId: `${stream}x`, events: [{ ...event(), id: "not-a-uuid" }] },
          ]),
        ).rejects.toBeInstanceOf(InvalidAppendError);
        expect(await store.readStream(stream)).toHaveLength(0);
      });
    });

    describe("readStream", () => {
      it("reads forwards and backwards, from and to a revision, with a maximum count", async () => {
        const stream = `${category()}-1`;
        await store.appendToStream(stream, events(10));
        const revisions = async (options: Parameters<EventStore["readStream"]>[1]) =>
          (await store.readStream(stream, options)).map((e) => e.revision);
        expect(await revisions({})).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        expect(await revisions({ fromRevision: 3, maxCount: 2 })).toEqual([3, 4]);
        expect(await revisions({ toRevision: 2 })).toEqual([0, 1, 2]);
        expect(await revisions({ fromRevision: 4, toRevision: 6 })).toEqual([4, 5, 6]);
        expect(await revisions({ direction: "backwards", maxCount: 3 })).toEqual([9, 8, 7]);
        expect(await revisions({ direction: "backwards", fromRevision: 5, toRevision: 3 })).toEqual([5, 4, 3]);
      });

      it("returns nothing for a stream that does not exist", async () => {
        expect(await store.readStream(`${category()}-missing`)).toEqual([]);
      });
    });

    describe("readAll", () => {
      it("returns every event in commit order, paged from an exclusive checkpoint", async () => {
        const cat = category();
        const appended: string[] = [];
        for (let i = 0; i < 5; i++) {
          for (const stream of [`${cat}-a`, `${cat}-b`]) {
            const batch = events(2);
            await store.appendToStream(stream, batch);
            appended.push(...batch.map((e) => e.id));
          }
        }
        await untilVisible(store, (await store.readStream(`${cat}-b`, { direction: "backwards", maxCount: 1 }))[0]!.position);
        const all = await readEverything(store, { streamCategories: [cat] });
        expect(all.map((e) => e.id)).toEqual(appended);
        const positions = all.map((e) => e.position);
        expect([...positions].sort(compareCheckpoints)).toEqual(positions);
        expect(new Set(positions).size).toBe(positions.length);
      });

      it("filters by event type and by stream category", async () => {
        const cat = category();
        const other = category();
        await store.appendToStream(`${cat}-1`, [event("Wanted"), event("Unwanted"), event("Wanted")]);
        await untilVisible(store, (await store.appendToStream(`${other}-1`, [event("Wanted")])).position);
        const byType = await store.readAll({ filter: { eventTypes: ["Wanted"], streamCategories: [cat] } });
        expect(byType.events.map((e) => [e.streamId, e.type])).toEqual([
          [`${cat}-1`, "Wanted"],
          [`${cat}-1`, "Wanted"],
        ]);
        const byCategory = await store.readAll({ filter: { streamCategories: [other] } });
        expect(byCategory.events.map((e) => e.streamId)).toEqual([`${other}-1`]);
      });

      it("moves a filtered reader's checkpoint past events it skipped", async () => {
        const cat = category();
        await untilVisible(store, (await store.appendToStream(`${cat}-1`, events(3, "Skipped"))).position);
        const page = await store.readAll({ filter: { streamCategories: [`${cat}-none`] } });
        expect(page.events).toEqual([]);
        expect(compareCheckpoints(page.checkpoint, (await store.readStream(`${cat}-1`))[2]!.position)).toBeGreaterThanOrEqual(0);
      });

      it("reports the newest event as head after many transactions (ids of growing digit count)", async () => {
        // On a fresh embedded database transaction ids pass 999 → 1000 here: a head ordered by
        // the text of the id would answer an old position.
        const stream = `${category()}-1`;
        let last = await store.appendToStream(stream, events(1));
        for (let i = 0; i < 300; i++) last = await store.appendToStream(stream, events(1));
        await untilVisible(store, last.position);
        expect(await store.headCheckpoint()).toBe(last.position);
      });

      it("reports the head checkpoint", async () => {
        const result = await store.appendToStream(`${category()}-1`, events(1));
        await untilVisible(store, result.position);
        expect(await store.headCheckpoint()).toBe(result.position);
      });
    });

    describe("subscribeToAll", () => {
      it("catches up, then delivers live events in order, and resumes from its checkpoint", async () => {
        const cat = category();
        const before = events(5);
        await store.appendToStream(`${cat}-1`, before);
        const seen: RecordedEvent[] = [];
        let checkpoint = START;
        const first = store.subscribeToAll({ filter: { streamCategories: [cat] }, batchSize: 2 }, async (batch, next) => {
          seen.push(...batch);
          checkpoint = next;
        });
        const live = events(3);
        const appended = await store.appendToStream(`${cat}-2`, live);
        await first.caughtUpTo!(appended.position);
        expect(seen.map((e) => e.id)).toEqual([...before, ...live].map((e) => e.id));
        await first.stop();

        const later = events(2);
        const last = await store.appendToStream(`${cat}-1`, later);
        const resumed: string[] = [];
        const second = store.subscribeToAll({ from: checkpoint, filter: { streamCategories: [cat] } }, async (batch) => {
          resumed.push(...batch.map((e) => e.id));
        });
        await second.caughtUpTo!(last.position);
        await second.stop();
        expect(resumed).toEqual(later.map((e) => e.id));
      });

      it("ends with a rejected `done` when its handler throws", async () => {
        const cat = category();
        await store.appendToStream(`${cat}-1`, events(1));
        const subscription = store.subscribeToAll({ filter: { streamCategories: [cat] } }, async () => {
          throw new Error("projector broke");
        });
        await expect(subscription.done).rejects.toThrow("projector broke");
      });
    });

    describe("upcasters", () => {
      it("upgrades old schema versions on every read path, chaining versions", async () => {
        const upcasters = new UpcasterRegistry([
          { type: "PriceSet", fromSchemaVersion: 1, upcast: ({ data }) => ({ data: { ...(data as object), currency: "INR" } }) },
          {
            type: "PriceSet",
            fromSchemaVersion: 2,
            upcast: ({ data }) => ({
              type: "PriceChanged",
              data: { amount: (data as { rupees: number }).rupees * 100, currency: (data as { currency: string }).currency },
            }),
          },
        ]);
        const upcasting = await factory.open({ upcasters });
        try {
          const cat = category();
          const old = event("PriceSet", { rupees: 12 }, { schemaVersion: 1 });
          const appended = await upcasting.appendToStream(`${cat}-1`, [old]);
          const expected = { type: "PriceChanged", schemaVersion: 3, data: { amount: 1200, currency: "INR" } };
          expect((await upcasting.readStream(`${cat}-1`))[0]).toMatchObject(expected);
          expect((await upcasting.readAll({ filter: { streamCategories: [cat] } })).events[0]).toMatchObject(expected);
          const delivered: RecordedEvent[] = [];
          const subscription = upcasting.subscribeToAll({ filter: { streamCategories: [cat] } }, async (batch) => {
            delivered.push(...batch);
          });
          await subscription.caughtUpTo!(appended.position);
          await subscription.stop();
          expect(delivered[0]).toMatchObject(expected);
          // The stored event is untouched: a store without upcasters still reads version 1.
          expect((await store.readStream(`${cat}-1`))[0]).toMatchObject({ type: "PriceSet", schemaVersion: 1, data: { rupees: 12 } });
        } finally {
          await upcasting.close();
        }
      });

      it("refuses two upcasters for the same type and version", () => {
        const registry = new UpcasterRegistry([{ type: "A", fromSchemaVersion: 1, upcast: ({ data }) => ({ data }) }]);
        expect(() => registry.register({ type: "A", fromSchemaVersion: 1, upcast: ({ data }) => ({ data }) })).toThrow(
          /already registered/,
        );
      });
    });
  });
}
