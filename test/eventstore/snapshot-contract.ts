// The snapshot store contract: every SnapshotStore (the SQL table on PGlite and PostgreSQL, and
// the in-process cache in front of it) keeps these promises. Each test uses its own streams.

import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { Snapshot, SnapshotStore } from "../../src/eventstore/snapshots/port.js";

const stream = () => `inventory-SNAP-${randomUUID().slice(0, 8)}@W1`;
const snapshot = (streamId: string, revision: number, extra: Partial<Snapshot> = {}): Snapshot => ({
  streamId,
  revision,
  eventId: randomUUID(),
  schemaKey: "inventory/v1/abc",
  state: { available: revision, reservations: [{ orderId: "o-1", quantity: 2 }], sku: null, nested: { b: 1, a: [true, null, "x"] } },
  causations: [`cmd-${revision}`],
  digest: `digest-${revision}`,
  ...extra,
});

export function snapshotStoreContract(name: string, open: () => Promise<SnapshotStore>): void {
  describe(`snapshot store contract: ${name}`, () => {
    it("answers nothing for streams without a snapshot, and stores every field of one as written", async () => {
      const store = await open();
      const [a, b] = [stream(), stream()];
      expect(await store.load([a, b], "inventory/v1/abc")).toEqual(new Map());
      const written = snapshot(a, 41);
      await store.save(written);
      const loaded = await store.load([a, b], "inventory/v1/abc");
      expect([...loaded.keys()]).toEqual([a]);
      expect(loaded.get(a)).toEqual(written);
      expect(store.every).toBeGreaterThan(0);
    });

    it("keeps the newest: a snapshot at an earlier or the same revision does not replace a later one", async () => {
      const store = await open();
      const a = stream();
      await store.save(snapshot(a, 10));
      await store.save(snapshot(a, 30));
      await store.save(snapshot(a, 20));
      await store.save(snapshot(a, 30, { digest: "another" }));
      expect((await store.load([a], "inventory/v1/abc")).get(a)).toMatchObject({ revision: 30, digest: "digest-30" });
      expect((await (await open()).load([a], "inventory/v1/abc")).get(a)).toMatchObject({ revision: 30, digest: "digest-30" });
    });

    it("keeps one snapshot per schema key: another key neither sees nor replaces it", async () => {
      const store = await open();
      const a = stream();
      await store.save(snapshot(a, 50, { schemaKey: "inventory/v1/old" }));
      await store.save(snapshot(a, 5, { schemaKey: "inventory/v2/new" }));
      expect((await store.load([a], "inventory/v1/old")).get(a)?.revision).toBe(50);
      expect((await store.load([a], "inventory/v2/new")).get(a)?.revision).toBe(5);
      expect((await store.load([a], "inventory/v3/none")).size).toBe(0);
    });

    it("discards exactly the snapshot at the given revision, so a lower one can be written after it", async () => {
      const store = await open();
      const a = stream();
      await store.save(snapshot(a, 900));
      await store.discard(a, "inventory/v1/abc", 899); // not that one: nothing happens
      expect((await store.load([a], "inventory/v1/abc")).get(a)?.revision).toBe(900);
      await store.discard(a, "inventory/v1/abc", 900);
      expect((await store.load([a], "inventory/v1/abc")).size).toBe(0);
      expect((await (await open()).load([a], "inventory/v1/abc")).size).toBe(0);
      await store.save(snapshot(a, 7));
      expect((await (await open()).load([a], "inventory/v1/abc")).get(a)?.revision).toBe(7);
    });

    it("loads many streams in one call", async () => {
      const store = await open();
      const streams = Array.from({ length: 25 }, stream);
      for (const [i, s] of streams.entries()) if (i % 2 === 0) await store.save(snapshot(s, i));
      const loaded = await store.load([...streams, streams[0]!], "inventory/v1/abc");
      expect([...loaded.keys()].sort()).toEqual(streams.filter((_, i) => i % 2 === 0).sort());
      for (const [i, s] of streams.entries()) if (i % 2 === 0) expect(loaded.get(s)?.revision).toBe(i);
    });
  });
}
