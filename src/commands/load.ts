// Read an aggregate's current state straight from its stream (strongly consistent reads for
// command preconditions and for resources the API serves from the log itself).
//
// `loadAggregate` folds the whole stream. `loadLatest`/`loadLatestMany` start from the stream's
// snapshot where its aggregate keeps them (src/commands/snapshot-schema.ts) and the store has
// them, and read only the events after it. A snapshot is used only when everything checks out:
//   - its schema key is the decider's current one (another key is never even read);
//   - the stream holds, at the snapshot's revision, the very event the snapshot was folded up to
//     (a snapshot ahead of its stream, or written by a process whose events never committed, fails here);
//   - its digest matches and the aggregate's codec accepts the state (a damaged row fails here).
// Otherwise the snapshot is discarded and the whole stream folded: the log wins, always.
// Whoever reads at least SNAPSHOT_EVERY events past the last snapshot writes a new one at the head
// it read, outside any append's transaction and without waiting for it: a failed write costs
// nothing but the next reader's time.

import { asEvent, fold, type Decider, type DomainEvent } from "../aggregates/decider.js";
import type { EventStore, RecordedEvent } from "../eventstore/port.js";
import type { Snapshot, SnapshotStore } from "../eventstore/snapshots/port.js";
import { snapshotDigest, snapshotSchemaOf, type SnapshotSchema } from "./snapshot-schema.js";

export interface Loaded<State> {
  state: State;
  /** Revision of the stream's last event; -1 when empty. */
  revision: number;
  events: RecordedEvent[];
}

export async function loadAggregate<Command, Event extends DomainEvent, State>(
  store: EventStore,
  decider: Decider<Command, Event, State>,
  streamId: string,
): Promise<Loaded<State>> {
  const events = await store.readStream(streamId);
  const state = fold(decider, events.map(asEvent<Event>));
  return { state, revision: events.at(-1)?.revision ?? -1, events };
}

/** A stream loaded from its snapshot where it has a trustworthy one: `state` is `base` folded over `events`. */
export interface LoadedLatest<State> extends Loaded<State> {
  /** The state before `events`: the snapshot's, or the initial state. */
  base: State;
  /** The snapshot `base` came from; undefined when the whole stream was read. `events` are those after it. */
  snapshot?: Snapshot;
}

// biome-ignore lint/suspicious/noExplicitAny: a batch loads streams of every aggregate, each folded by its own decider
type AnyDecider = Decider<any, DomainEvent, any>;

export interface LoadTarget {
  streamId: string;
  decider: AnyDecider;
}

/** Snapshots already checked and decoded in this process (a hot stream's snapshot is checked once, not per command). */
const verified = new WeakMap<Snapshot, { state: unknown }>();

export async function loadLatest<Command, Event extends DomainEvent, State>(
  store: EventStore,
  decider: Decider<Command, Event, State>,
  streamId: string,
  schema: SnapshotSchema<State> | undefined = snapshotSchemaOf(decider as Decider<never, DomainEvent, State>),
): Promise<LoadedLatest<State>> {
  const loaded = await loadTargetsLatest(
    store,
    [{ streamId, decider }],
    (t) => (t.decider === decider ? schema : undefined),
    async (ids) => (ids.length === 0 ? new Map() : new Map([[streamId, await store.readStream(streamId)]])),
  );
  return loaded.get(streamId) as LoadedLatest<State>;
}

/** Loads several streams: their snapshots in one query, the tails after them in parallel, the rest in one readStreams. */
export function loadLatestMany(store: EventStore, targets: readonly LoadTarget[]): Promise<Map<string, LoadedLatest<unknown>>> {
  return loadTargetsLatest(
    store,
    targets,
    (t) => snapshotSchemaOf(t.decider),
    (ids) => (ids.length === 0 ? Promise.resolve(new Map()) : store.readStreams(ids)),
  );
}

async function loadTargetsLatest(
  store: EventStore,
  targets: readonly LoadTarget[],
  schemaFor: (t: LoadTarget) => SnapshotSchema<unknown> | undefined,
  readWhole: (streamIds: string[]) => Promise<Map<string, RecordedEvent[]>>,
): Promise<Map<string, LoadedLatest<unknown>>> {
  const result = new Map<string, LoadedLatest<unknown>>();
  const snapshots = store.snapshots;
  const schemaOf = (t: LoadTarget) => (snapshots ? schemaFor(t) : undefined);

  // Snapshots, one load per schema key (all the saga's targets are inventory streams: one key).
  const byKey = new Map<string, LoadTarget[]>();
  for (const t of targets) {
    const schema = schemaOf(t);
    if (schema) byKey.set(schema.key, [...(byKey.get(schema.key) ?? []), t]);
  }
  const found = new Map<string, Snapshot>();
  for (const [key, group] of byKey) {
    for (const [streamId, snapshot] of await snapshots!.load(
      group.map((t) => t.streamId),
      key,
    ))
      found.set(streamId, snapshot);
  }

  const whole = targets.filter((t) => !found.has(t.streamId));
  const tailed = targets.filter((t) => found.has(t.streamId));
  const [wholeRead, tails] = await Promise.all([
    readWhole(whole.map((t) => t.streamId)),
    Promise.all(tailed.map((t) => store.readStream(t.streamId, { fromRevision: found.get(t.streamId)!.revision }))),
  ]);

  const untrusted: LoadTarget[] = [];
  tailed.forEach((t, i) => {
    const snapshot = found.get(t.streamId)!;
    const tail = tails[i]!;
    const base = trusted(schemaOf(t)!, snapshot, tail);
    if (!base) {
      untrusted.push(t);
      snapshots!.discard(t.streamId, snapshot.schemaKey, snapshot.revision).catch(() => undefined);
      return;
    }
    const events = tail.slice(1);
    result.set(t.streamId, {
      base: base.state,
      state: fold(t.decider, events.map(asEvent), base.state),
      revision: snapshot.revision + events.length,
      events,
      snapshot,
    });
  });
  const reread = await readWhole(untrusted.map((t) => t.streamId));

  for (const t of [...whole, ...untrusted]) {
    const events = wholeRead.get(t.streamId) ?? reread.get(t.streamId) ?? [];
    result.set(t.streamId, {
      base: t.decider.initialState,
      state: fold(t.decider, events.map(asEvent)),
      revision: events.at(-1)?.revision ?? -1,
      events,
    });
  }

  for (const t of targets) {
    const schema = schemaOf(t);
    const loaded = result.get(t.streamId)!;
    const last = loaded.events.at(-1);
    if (schema && last && loaded.events.length >= snapshots!.every)
      writeSnapshot(snapshots!, schema, t.streamId, loaded.state, last.revision, last.id, causationsOf(loaded.events));
  }
  return result;
}

/**
 * After an append: writes a snapshot at the new head when the stream has grown by SNAPSHOT_EVERY
 * events since the one it was loaded from. Does not wait for the write, and never fails.
 */
export function snapshotAfterAppend<State>(
  store: EventStore,
  decider: Decider<never, DomainEvent, State>,
  streamId: string,
  loaded: LoadedLatest<State>,
  after: { state: State; revision: number; eventId: string; commandId: string },
  schema: SnapshotSchema<State> | undefined = snapshotSchemaOf(decider),
): void {
  const snapshots = store.snapshots;
  if (!schema || !snapshots) return;
  if (after.revision - (loaded.snapshot?.revision ?? -1) < snapshots.every) return;
  writeSnapshot(snapshots, schema, streamId, after.state, after.revision, after.eventId, [...causationsOf(loaded.events), after.commandId]);
}

function trusted<State>(schema: SnapshotSchema<State>, snapshot: Snapshot, tail: readonly RecordedEvent[]): { state: State } | undefined {
  const first = tail[0];
  if (!first || first.revision !== snapshot.revision || first.id !== snapshot.eventId || snapshot.schemaKey !== schema.key)
    return undefined;
  const known = verified.get(snapshot);
  if (known) return known as { state: State };
  if (snapshotDigest(snapshot) !== snapshot.digest) return undefined;
  try {
    const decoded = { state: schema.decode(snapshot.state) };
    verified.set(snapshot, decoded);
    return decoded;
  } catch {
    return undefined;
  }
}

function writeSnapshot<State>(
  snapshots: SnapshotStore,
  schema: SnapshotSchema<State>,
  streamId: string,
  state: State,
  revision: number,
  eventId: string,
  causations: string[],
): void {
  try {
    // Encoded JSON round-trips through jsonb unchanged (the codec emits plain JSON only).
    const unsigned = { streamId, revision, eventId, schemaKey: schema.key, state: schema.encode(state), causations };
    const snapshot: Snapshot = { ...unsigned, digest: snapshotDigest(unsigned) };
    verified.set(snapshot, { state });
    snapshots.save(snapshot).catch(() => undefined);
  } catch {
    // A state the codec cannot encode stays without a snapshot; the stream is folded whole instead.
  }
}

const causationsOf = (events: readonly RecordedEvent[]) => [...new Set(events.map((e) => e.metadata.causationId))];
