// The snapshot store port: an aggregate's folded state at one revision of its stream, kept beside
// the stream so a command on a long stream reads only the events after it. A snapshot is a
// cache of the log, never a source of truth: whoever loads one checks it against the stream (the
// event at its revision must be the one it was folded up to) and against its own schema key and
// digest, and folds the whole stream when anything does not match (src/commands/load.ts).
//
// An event store without snapshots (EventStoreDB here) leaves `EventStore.snapshots` undefined;
// commands then fold whole streams, as they always did.

export interface Snapshot {
  streamId: string;
  /** Revision of the last event folded into `state`. */
  revision: number;
  /** Id of that event: a snapshot whose stream holds another event (or none) at `revision` is not trusted. */
  eventId: string;
  /** The aggregate's snapshot schema (version and a hash of its evolve function); another key is ignored. */
  schemaKey: string;
  /** The encoded state, plain JSON; its shape is the aggregate's business. */
  state: unknown;
  /** Command ids of the events folded since the previous snapshot (what a batch needs to skip commands applied lately). */
  causations: string[];
  /** Checksum the writer computed over the fields above; the reader recomputes it. */
  digest: string;
}

export interface SnapshotStore {
  /** A stream gets a new snapshot once it has grown by at least this many events since its last one. */
  readonly every: number;
  /** The newest snapshot of each stream written under `schemaKey` (streams without one are absent). */
  load(streamIds: readonly string[], schemaKey: string): Promise<Map<string, Snapshot>>;
  /** Stores a snapshot unless one at the same or a later revision is stored under its key. */
  save(snapshot: Snapshot): Promise<void>;
  /** Removes the snapshot at exactly this revision (one found untrustworthy), so a sound one can replace it. */
  discard(streamId: string, schemaKey: string, revision: number): Promise<void>;
}
