// The snapshots this process has read or written, kept in memory in front of the table: a hot
// stream's snapshot is read from the database once per process, not once per command. A stream
// known to have none is remembered as such until this process writes one (it does so itself once
// it has read N events of the stream), so a short stream costs no extra query either.
//
// What is cached is only a hint, like the table itself: the loader checks every snapshot against
// the stream before using it, so a stale or foreign entry costs a full read, never a wrong state.

import type { Snapshot, SnapshotStore } from "./port.js";

export class CachedSnapshotStore implements SnapshotStore {
  private readonly known = new Map<string, Snapshot | null>();

  constructor(
    private readonly inner: SnapshotStore,
    /** Streams remembered at most (least recently used forgotten first). */
    private readonly capacity = 10_000,
  ) {}

  get every(): number {
    return this.inner.every;
  }

  async load(streamIds: readonly string[], schemaKey: string): Promise<Map<string, Snapshot>> {
    const found = new Map<string, Snapshot>();
    const unknown: string[] = [];
    for (const streamId of new Set(streamIds)) {
      const entry = this.known.get(keyOf(schemaKey, streamId));
      if (entry === undefined) unknown.push(streamId);
      else {
        this.remember(schemaKey, streamId, entry);
        if (entry) found.set(streamId, entry);
      }
    }
    if (unknown.length === 0) return found;
    const loaded = await this.inner.load(unknown, schemaKey);
    for (const streamId of unknown) {
      const snapshot = loaded.get(streamId);
      // A snapshot another call cached meanwhile may be newer than the one just read.
      const current = this.known.get(keyOf(schemaKey, streamId));
      const newest = current && (!snapshot || current.revision > snapshot.revision) ? current : (snapshot ?? null);
      this.remember(schemaKey, streamId, newest);
      if (newest) found.set(streamId, newest);
    }
    return found;
  }

  async save(snapshot: Snapshot): Promise<void> {
    const current = this.known.get(keyOf(snapshot.schemaKey, snapshot.streamId));
    if (!current || current.revision < snapshot.revision) this.remember(snapshot.schemaKey, snapshot.streamId, snapshot);
    await this.inner.save(snapshot);
  }

  async discard(streamId: string, schemaKey: string, revision: number): Promise<void> {
    if (this.known.get(keyOf(schemaKey, streamId))?.revision === revision) this.known.set(keyOf(schemaKey, streamId), null);
    await this.inner.discard(streamId, schemaKey, revision);
  }

  private remember(schemaKey: string, streamId: string, entry: Snapshot | null): void {
    const key = keyOf(schemaKey, streamId);
    this.known.delete(key);
    this.known.set(key, entry);
    if (this.known.size > this.capacity) this.known.delete(this.known.keys().next().value!);
  }
}

const keyOf = (schemaKey: string, streamId: string) => `${schemaKey}\u0000${streamId}`;
