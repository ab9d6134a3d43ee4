// The event store port: the only way anything in this system writes or reads the event log.
// Adapters (PostgreSQL, embedded PGlite, EventStoreDB) implement it; one contract suite
// (test/eventstore/contract.ts) proves they behave the same.

import type { SnapshotStore } from "./snapshots/port.js";

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** Who or what caused an event, and the request/trace it belongs to. */
export interface EventMetadata {
  correlationId: string;
  causationId: string;
  /** e.g. "customer:c-1", "admin:a-7", "saga:order", "gateway:simulated" */
  actor: string;
  traceId?: string;
  [key: string]: JsonValue | undefined;
}

/** An event to append. `id` is a UUID chosen by the caller: retrying with the same ids is idempotent. */
export interface NewEvent<Type extends string = string, Data extends JsonValue = JsonValue> {
  id: string;
  type: Type;
  /** Defaults to 1. */
  schemaVersion?: number;
  data: Data;
  metadata: EventMetadata;
}

/**
 * An opaque, totally ordered position in the global log. Compare with `compareCheckpoints`
 * (plain string order: adapters encode them so that string order equals commit order).
 * `START` is before every event.
 */
export type Checkpoint = string;
export const START: Checkpoint = "";
export const compareCheckpoints = (a: Checkpoint, b: Checkpoint): number => (a < b ? -1 : a > b ? 1 : 0);

export interface RecordedEvent<Type extends string = string, Data = JsonValue> {
  id: string;
  streamId: string;
  /** 0-based position of the event inside its stream. */
  revision: number;
  /** Position in the global log (commit order). */
  position: Checkpoint;
  type: Type;
  schemaVersion: number;
  data: Data;
  metadata: EventMetadata;
  recordedAt: Date;
}

/**
 * - "any": append whatever the stream's state
 * - "no_stream": the stream must have no events
 * - "stream_exists": the stream must have at least one event
 * - a number: the revision of the stream's last event must be exactly this
 */
export type ExpectedRevision = "any" | "no_stream" | "stream_exists" | number;

export interface AppendResult {
  /** Revision of the last event of the batch: pass it as `expectedRevision` for the next append. */
  nextExpectedRevision: number;
  /** Global position of the last event of the batch. */
  position: Checkpoint;
  /** false when every event id was already in the stream and nothing was written (an idempotent retry). */
  appended: boolean;
}

/** One stream's part of a multi-stream append. */
export interface StreamAppend {
  streamId: string;
  events: readonly NewEvent[];
  /** As for appendToStream; defaults to "any". */
  expectedRevision?: ExpectedRevision;
}

export interface ReadStreamOptions {
  direction?: "forwards" | "backwards";
  /** Inclusive. Forwards defaults to 0, backwards to the last revision. */
  fromRevision?: number;
  /** Inclusive upper bound on revision (forwards) or lower bound (backwards). */
  toRevision?: number;
  maxCount?: number;
}

export interface AllFilter {
  eventTypes?: readonly string[];
  /** The part of a stream id before its first "-": "order" for "order-123". */
  streamCategories?: readonly string[];
}

export interface ReadAllOptions {
  /** Exclusive: events strictly after this checkpoint. Defaults to START. */
  from?: Checkpoint;
  maxCount?: number;
  filter?: AllFilter;
}

export interface ReadAllResult {
  events: RecordedEvent[];
  /** Where to continue from; equals `from` when nothing was returned. */
  checkpoint: Checkpoint;
}

export interface SubscribeOptions {
  from?: Checkpoint;
  filter?: AllFilter;
  batchSize?: number;
}

/**
 * Called with each batch of events in commit order; the next batch is not delivered before the
 * returned promise settles. A handler that throws stops the subscription (`done` rejects):
 * retrying and parking are the processor's business, not the store's.
 */
export type BatchHandler = (events: RecordedEvent[], checkpoint: Checkpoint) => Promise<void>;

export interface Subscription {
  /** Stops after the batch in progress; resolves when stopped. */
  stop(): Promise<void>;
  /** Settles when the subscription ends: resolves after stop(), rejects on a handler or store failure. */
  readonly done: Promise<void>;
  /** Resolves once the subscription has delivered everything committed at or before `checkpoint`. */
  caughtUpTo?(checkpoint: Checkpoint): Promise<void>;
}

/** A statement over the store's own database: its text, with $1… placeholders, and their values. */
export interface StoredLogQuery {
  readonly text: string;
  readonly params: readonly unknown[];
}

export interface EventStore {
  readonly kind: "postgres" | "pglite" | "eventstoredb";
  appendToStream(streamId: string, events: readonly NewEvent[], options?: { expectedRevision?: ExpectedRevision }): Promise<AppendResult>;
  /**
   * Appends to several streams at once, each checked against its own expected revision (a
   * mismatch on any throws WrongExpectedVersionError naming that stream). Where
   * `atomicMultiStreamAppend` is true (PostgreSQL, PGlite) it is one transaction: all of it or
   * nothing, and its events are consecutive in the log. Otherwise (EventStoreDB) the streams are
   * appended one after another in the given order, and a failure leaves the earlier ones written.
   * Idempotency as for appendToStream, per stream: a call whose every batch is already stored in
   * its stream writes nothing and answers `appended: false` for each. Results in the given order.
   * A stream may appear once per call.
   */
  appendToStreams(appends: readonly StreamAppend[]): Promise<AppendResult[]>;
  readonly atomicMultiStreamAppend: boolean;
  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  /** Several whole streams read at once (one query where the adapter can): stream id -> its events (empty when it does not exist). */
  readStreams(streamIds: readonly string[]): Promise<Map<string, RecordedEvent[]>>;
  readAll(options?: ReadAllOptions): Promise<ReadAllResult>;
  subscribeToAll(options: SubscribeOptions, handler: BatchHandler): Subscription;
  /**
   * Snapshots of long streams, stored beside them (PostgreSQL, PGlite); undefined where the store
   * keeps none (EventStoreDB, or SNAPSHOT_EVERY=0): commands then fold whole streams.
   */
  readonly snapshots?: SnapshotStore;
  /** The checkpoint of the newest event a subscriber can see now (START for an empty log). */
  headCheckpoint(): Promise<Checkpoint>;
  /**
   * Optional (PostgreSQL, PGlite): the log up to and including `upTo`, of the filter's events, as a
   * query over the store's own database, for set-based work there (a read model built by one
   * INSERT … SELECT in a rebuild: src/projections/rebuild.ts). Its columns: stream_id, category,
   * revision (bigint), position (text: the event's checkpoint), type, data (jsonb). `upTo` must be a
   * checkpoint a reader reached (everything up to it is committed). Undefined while upcasters are
   * registered: the stored rows are then not the events as read.
   */
  storedLog?(upTo: Checkpoint, filter?: AllFilter): StoredLogQuery | undefined;
  close(): Promise<void>;
}

export const streamCategory = (streamId: string): string => {
  const dash = streamId.indexOf("-");
  return dash === -1 ? streamId : streamId.slice(0, dash);
};
