// Several commands against several streams, decided in memory and written in one multi-stream
// append: what one saga step issues (confirm the order, commit each reservation, start
// processing) costs one read and one write instead of a read and a write per command.
//
// The rules are handleCommand's: event ids derived from (commandId, streamId, index), metadata
// { correlationId, causationId: commandId, actor }, a command id already on its stream appends
// nothing, and each stream is appended at the revision it was read at (optimistic: a concurrent
// writer makes the whole append fail with WrongExpectedVersionError, and the caller reads again
// and decides again). Commands on the same stream see each other's events, in the given order.

import { DomainError, fold, type Decider, type DomainEvent } from "../aggregates/decider.js";
import type { EventMetadata, EventStore, JsonValue, NewEvent, RecordedEvent, StreamAppend } from "../eventstore/port.js";
import { eventIdFor } from "./event-id.js";
import { loadLatestMany } from "./load.js";

// biome-ignore lint/suspicious/noExplicitAny: a batch mixes deciders of every aggregate; each command is checked by its own decider
type AnyDecider = Decider<any, DomainEvent, any>;

export interface BatchedCommand {
  decider: AnyDecider;
  streamId: string;
  command: unknown;
  commandId: string;
  /** A DomainError from this command is expected (a race made it moot): it is skipped. */
  mootOk?: boolean;
}

/**
 * A stream as read for deciding: its folded state, its revision, and the command ids it already
 * holds. Loaded from a snapshot, `causations` holds the commands of the events after it and those
 * the snapshot lists (the ones since the snapshot before). A command applied earlier than that and
 * issued again is decided again, but its derived event ids are already stored, so the append writes
 * nothing: `appended: false` when the whole call is such a repeat, EventIdConflictError when it is
 * mixed with new events. It is never applied twice.
 */
export interface LoadedStream {
  state: unknown;
  revision: number;
  causations: ReadonlySet<string>;
}

export const loadedFrom = (decider: AnyDecider, events: readonly RecordedEvent[]): LoadedStream => ({
  state: fold(
    decider,
    events.map((e) => ({ type: e.type, data: e.data })),
  ),
  revision: events.at(-1)?.revision ?? -1,
  causations: new Set(events.map((e) => e.metadata.causationId)),
});

/**
 * Reads every stream the commands target (those not in `known`) and folds each with its decider:
 * from its snapshot where it has one (src/commands/load.ts), the others in one readStreams call.
 */
export async function loadTargets(
  store: EventStore,
  commands: readonly BatchedCommand[],
  known: Map<string, LoadedStream> = new Map(),
): Promise<Map<string, LoadedStream>> {
  const deciders = new Map(commands.filter((c) => !known.has(c.streamId)).map((c) => [c.streamId, c.decider] as const));
  if (deciders.size === 0) return known;
  const read = await loadLatestMany(
    store,
    [...deciders].map(([streamId, decider]) => ({ streamId, decider })),
  );
  for (const [streamId, loaded] of read) {
    known.set(streamId, {
      state: loaded.state,
      revision: loaded.revision,
      causations: new Set([...(loaded.snapshot?.causations ?? []), ...loaded.events.map((e) => e.metadata.causationId)]),
    });
  }
  return known;
}

export interface DecidedBatch {
  /** One append per stream that gained events, at the revision it was read at. */
  appends: StreamAppend[];
  /** Commands skipped as moot, with their errors. */
  moot: { commandId: string; error: DomainError }[];
}

/**
 * Decides the commands in order over the loaded streams. Throws the first DomainError of a command
 * that is not `mootOk` (nothing is written by this function in any case).
 */
export function decideBatch(
  commands: readonly BatchedCommand[],
  loaded: ReadonlyMap<string, LoadedStream>,
  metadata: Omit<EventMetadata, "causationId">,
): DecidedBatch {
  const states = new Map<string, unknown>();
  const pending = new Map<string, NewEvent[]>();
  const moot: DecidedBatch["moot"] = [];
  for (const c of commands) {
    const stream = loaded.get(c.streamId);
    if (!stream) throw new Error(`stream ${c.streamId} was not loaded`);
    if (stream.causations.has(c.commandId)) continue; // applied before
    const state = states.has(c.streamId) ? states.get(c.streamId) : stream.state;
    let decided: DomainEvent[];
    try {
      decided = c.decider.decide(c.command, state);
    } catch (error) {
      if (error instanceof DomainError && c.mootOk) {
        moot.push({ commandId: c.commandId, error });
        continue;
      }
      throw error;
    }
    if (decided.length === 0) continue;
    const events = pending.get(c.streamId) ?? [];
    events.push(
      ...decided.map((event, index) => ({
        id: eventIdFor(c.commandId, c.streamId, index),
        type: event.type,
        schemaVersion: (c.decider.schemaVersions as Record<string, number>)[event.type] ?? 1,
        data: event.data as JsonValue,
        metadata: { ...metadata, causationId: c.commandId } as EventMetadata,
      })),
    );
    pending.set(c.streamId, events);
    states.set(c.streamId, fold(c.decider, decided, state));
  }
  const appends = [...pending].map(([streamId, events]) => {
    const revision = loaded.get(streamId)!.revision;
    return { streamId, events, expectedRevision: revision === -1 ? ("no_stream" as const) : revision };
  });
  return { appends, moot };
}
