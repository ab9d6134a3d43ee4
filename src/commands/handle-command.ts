// Command handling: load the aggregate's stream, fold its state, decide, append with optimistic
// concurrency. The one place where deciders meet the event store. A stream whose aggregate keeps
// snapshots is loaded from its snapshot and the events after it (src/commands/load.ts).
//
//   - Every appended event carries metadata { correlationId, causationId: commandId, actor, traceId? }
//     and an id derived from (commandId, streamId, index), so a retried append is idempotent.
//   - Running a command id that already produced events on the stream returns those events
//     (alreadyApplied: true) and appends nothing. A command that was rejected or decided nothing
//     left no trace, so running it again decides again.
//   - On a concurrent write (WrongExpectedVersionError) the command is re-read, re-decided and
//     re-appended, a bounded number of times with jittered exponential backoff; the last conflict
//     is rethrown when the attempts run out. A caller-given expectedRevision (HTTP If-Match) is
//     never retried: the conflict is thrown at once.
//   - DomainError from the decider propagates unchanged; nothing is written.

import { asEvent, fold, type Decider, type DomainEvent } from "../aggregates/decider.js";
import { EventIdConflictError, WrongExpectedVersionError } from "../eventstore/errors.js";
import type { Checkpoint, EventMetadata, EventStore, ExpectedRevision, JsonValue, NewEvent, RecordedEvent } from "../eventstore/port.js";
import { inSpan } from "../observability/tracing.js";
import { metadataOf, type CommandEnvelope } from "./envelope.js";
import { eventIdFor } from "./event-id.js";
import { loadLatest, snapshotAfterAppend, type Loaded, type LoadedLatest } from "./load.js";

export type { CommandEnvelope } from "./envelope.js";

export interface CommandResult<Event extends DomainEvent, State> {
  /** The events this command appended, or appended earlier when `alreadyApplied`. Empty when it decided nothing. */
  events: Event[];
  /** The stream's revision after the command's events (-1 for a stream that is still empty). */
  nextExpectedRevision: number;
  /** Global position of the command's last event, or of the stream's last event when nothing was appended; null for an empty stream. */
  position: Checkpoint | null;
  /** true when this command id had already been applied to the stream: nothing was appended now. */
  alreadyApplied: boolean;
  /** The aggregate's state right after the command's events. */
  state: State;
}

export interface RetryPolicy {
  /**
   * Attempts in all, the first included. Default 8: with 20 commands racing on one stream of a
   * local PostgreSQL, 5 attempts left about 1 in 8 commands with a surviving conflict, 8 left none.
   */
  maxAttempts?: number;
  /** Backoff before attempt n+1 is random() * min(maxDelayMs, baseDelayMs * 2^(n-1)) ("full jitter"). Defaults 10 and 500. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface HandleOptions<State> extends RetryPolicy {
  /**
   * The whole stream as the caller already holds it (loadAggregate a moment ago, or a stream
   * known to be new): the first attempt decides over it instead of reading. If it is stale the append conflicts and the
   * command is read, decided and appended again as on any conflict, so it saves a read and risks
   * nothing. A stream known to be new: `{ state: decider.initialState, revision: -1, events: [] }`.
   */
  known?: Loaded<State>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The stream revision of the last event, -1 when there is none. */
const revisionOf = (events: readonly RecordedEvent[]): number => events.at(-1)?.revision ?? -1;

function satisfies(expected: ExpectedRevision, actual: number): boolean {
  if (expected === "any") return true;
  if (expected === "no_stream") return actual === -1;
  if (expected === "stream_exists") return actual >= 0;
  return expected === actual;
}

/** Handles one command in a span of its own; see the top of this file. */
export function handleCommand<Command, Event extends DomainEvent, State>(
  store: EventStore,
  decider: Decider<Command, Event, State>,
  envelope: CommandEnvelope<Command>,
  options: HandleOptions<State> = {},
): Promise<CommandResult<Event, State>> {
  const type = (envelope.command as { type?: unknown } | null)?.type;
  const attributes = {
    "command.stream": envelope.streamId,
    "command.id": envelope.commandId,
    "command.type": typeof type === "string" ? type : "unknown",
  };
  return inSpan(`command ${attributes["command.type"]}`, attributes, () => decideAndAppend(store, decider, envelope, options));
}

async function decideAndAppend<Command, Event extends DomainEvent, State>(
  store: EventStore,
  decider: Decider<Command, Event, State>,
  envelope: CommandEnvelope<Command>,
  retry: HandleOptions<State>,
): Promise<CommandResult<Event, State>> {
  const { streamId, command, commandId } = envelope;
  const maxAttempts = Math.max(1, retry.maxAttempts ?? 8);
  const baseDelayMs = retry.baseDelayMs ?? 10;
  const maxDelayMs = retry.maxDelayMs ?? 500;
  const random = retry.random ?? Math.random;
  const sleep = retry.sleep ?? defaultSleep;
  const metadata: EventMetadata = { ...metadataOf(envelope), causationId: commandId };

  // With a snapshot, only the events after it are read, so a command applied before the snapshot
  // is not seen among them. Its first event id is derived from the command id, so deciding it
  // again and appending collides with what it wrote (appended: false or EventIdConflictError);
  // every outcome other than fresh events appended (nothing decided, a DomainError, such a
  // collision) is therefore decided again over the whole stream, whose answer is the one that counts.
  // A stream the caller already holds (`known`) is trusted the same way: only for fresh events
  // appended over it; any other outcome is decided again over a read of the whole stream.
  let whole = false;
  let known = retry.known;
  for (let attempt = 1; ; attempt++) {
    const loaded: LoadedLatest<State> = known
      ? { ...known, base: decider.initialState }
      : whole
        ? await loadWhole(store, decider, streamId)
        : await loadLatest(store, decider, streamId);
    const fromKnown = known !== undefined;
    const partial = loaded.snapshot !== undefined || fromKnown;
    known = undefined;
    const againWhole = () => {
      whole = true;
      attempt--;
    };
    const stored = loaded.events;

    const earlier = originalResult(decider, loaded, commandId);
    if (earlier) return earlier;

    const revision = loaded.revision;
    if (envelope.expectedRevision !== undefined && !satisfies(envelope.expectedRevision, revision)) {
      if (fromKnown) {
        againWhole();
        continue;
      }
      throw new WrongExpectedVersionError(streamId, envelope.expectedRevision, revision);
    }

    const state = loaded.state;
    let decided: Event[];
    try {
      decided = decider.decide(command, state);
    } catch (error) {
      if (!partial) throw error;
      againWhole();
      continue;
    }
    if (decided.length === 0) {
      if (partial) {
        againWhole();
        continue;
      }
      return { events: [], nextExpectedRevision: revision, position: stored.at(-1)?.position ?? null, alreadyApplied: false, state };
    }

    const batch: NewEvent[] = decided.map((event, index) => ({
      id: eventIdFor(commandId, streamId, index),
      type: event.type,
      schemaVersion: decider.schemaVersions[event.type as Event["type"]] ?? 1,
      data: event.data as JsonValue,
      metadata,
    }));

    try {
      const appended = await store.appendToStream(streamId, batch, {
        expectedRevision: envelope.expectedRevision ?? (revision === -1 ? "no_stream" : revision),
      });
      if (appended.appended) {
        const after = fold(decider, decided, state);
        snapshotAfterAppend(store, decider as Decider<never, Event, State>, streamId, loaded, {
          state: after,
          revision: appended.nextExpectedRevision,
          eventId: batch.at(-1)!.id,
          commandId,
        });
        return {
          events: decided,
          nextExpectedRevision: appended.nextExpectedRevision,
          position: appended.position,
          alreadyApplied: false,
          state: after,
        };
      }
      if (partial) {
        againWhole();
        continue;
      }
      // The store already held these very ids: a twin of this command got there first. Read it back.
      if (attempt >= maxAttempts) throw new Error(`stream "${streamId}": command ${commandId} was stored but could not be read back`);
    } catch (error) {
      if (error instanceof EventIdConflictError && partial) {
        againWhole();
        continue;
      }
      if (error instanceof WrongExpectedVersionError && fromKnown) {
        againWhole(); // the caller's copy was behind: not contention, so no backoff
        continue;
      }
      if (!(error instanceof WrongExpectedVersionError) || envelope.expectedRevision !== undefined || attempt >= maxAttempts) throw error;
      await sleep(random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1)));
    }
  }
}

/** The whole stream, folded from its start (the answer a snapshot's answer is checked against). */
async function loadWhole<Command, Event extends DomainEvent, State>(
  store: EventStore,
  decider: Decider<Command, Event, State>,
  streamId: string,
): Promise<LoadedLatest<State>> {
  const events = await store.readStream(streamId);
  return {
    base: decider.initialState,
    state: fold(decider, events.map(asEvent<Event>)),
    revision: revisionOf(events),
    events,
  };
}

/** When the command id already caused events among those read: those events, and the state right after them. */
function originalResult<Command, Event extends DomainEvent, State>(
  decider: Decider<Command, Event, State>,
  loaded: LoadedLatest<State>,
  commandId: string,
): CommandResult<Event, State> | undefined {
  const caused = loaded.events.filter((e) => e.metadata.causationId === commandId);
  const last = caused.at(-1);
  if (!last) return undefined;
  const upToLast = loaded.events.filter((e) => e.revision <= last.revision).map((e) => asEvent<Event>(e));
  return {
    events: caused.map((e) => asEvent<Event>(e)),
    nextExpectedRevision: last.revision,
    position: last.position,
    alreadyApplied: true,
    state: fold(decider, upToLast, loaded.base),
  };
}
