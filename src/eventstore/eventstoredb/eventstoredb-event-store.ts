// The event store on EventStoreDB / KurrentDB through @eventstore/db-client.
// Mapping of the port:
// - expected revisions map one to one (ANY, NO_STREAM, STREAM_EXISTS, bigint);
// - the schema version travels in the event metadata as "schemaVersion";
// - checkpoints are $all commit:prepare positions, zero-padded so string order is log order;
// - readAll filters on the client (the v6 client's readAll has no server-side filter);
//   subscriptions filter on the server;
// - idempotency: EventStoreDB itself ignores a re-sent batch at the same expected revision;
//   the adapter additionally looks for the batch's ids among the stream's last
//   IDEMPOTENCY_WINDOW events so a retry with any expected revision is a no-op, as on PostgreSQL.
//   Reuse of an id in another stream is not detected here.

import {
  ANY,
  BACKWARDS,
  END,
  EventStoreDBClient,
  FORWARDS,
  NO_STREAM,
  START as ESDB_START,
  STREAM_EXISTS,
  WrongExpectedVersionError as EsdbWrongExpectedVersion,
  eventTypeFilter,
  jsonEvent,
  streamNameFilter,
  type AppendExpectedRevision,
  type Filter,
  type Position,
  type ResolvedEvent,
} from "@eventstore/db-client";
import { EventIdConflictError, InvalidAppendError, WrongExpectedVersionError } from "../errors.js";
import type {
  AllFilter,
  AppendResult,
  BatchHandler,
  Checkpoint,
  EventMetadata,
  EventStore,
  ExpectedRevision,
  JsonValue,
  NewEvent,
  ReadAllOptions,
  ReadAllResult,
  ReadStreamOptions,
  RecordedEvent,
  StreamAppend,
  SubscribeOptions,
  Subscription,
} from "../port.js";
import { START, streamCategory } from "../port.js";
import { UpcasterRegistry } from "../upcasters.js";
import { validateEvents, validateExpectedRevision, validateStreamId } from "../validation.js";

const IDEMPOTENCY_WINDOW = 1000;
const WIDTH = 20;

const encode = (position: Position): Checkpoint =>
  `${position.commit.toString().padStart(WIDTH, "0")}:${position.prepare.toString().padStart(WIDTH, "0")}`;
const decode = (checkpoint: Checkpoint): Position => {
  const match = /^(\d+):(\d+)$/.exec(checkpoint);
  if (!match) throw new TypeError(`not an EventStoreDB checkpoint: ${JSON.stringify(checkpoint)}`);
  return { commit: BigInt(match[1]!), prepare: BigInt(match[2]!) };
};

const toEsdbExpected = (expected: ExpectedRevision): AppendExpectedRevision =>
  expected === "any" ? ANY : expected === "no_stream" ? NO_STREAM : expected === "stream_exists" ? STREAM_EXISTS : BigInt(expected);

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

const isSystem = (event: { type: string; streamId: string }) => event.type.startsWith("$") || event.streamId.startsWith("$");

export class EventStoreDbEventStore implements EventStore {
  readonly kind = "eventstoredb" as const;
  /** The v6 client has no multi-stream append: streams are appended one after another. */
  readonly atomicMultiStreamAppend = false;
  private readonly client: EventStoreDBClient;
  private readonly upcasters: UpcasterRegistry;

  constructor(connectionString: string, options: { upcasters?: UpcasterRegistry } = {}) {
    this.client = EventStoreDBClient.connectionString(connectionString);
    this.upcasters = options.upcasters ?? new UpcasterRegistry();
  }

  async appendToStream(
    streamId: string,
    events: readonly NewEvent[],
    options: { expectedRevision?: ExpectedRevision } = {},
  ): Promise<AppendResult> {
    validateStreamId(streamId);
    const expected = validateExpectedRevision(options.expectedRevision);
    const batch = validateEvents(events);

    const earlier = await this.findInTail(
      streamId,
      batch.map((e) => e.id),
    );
    if (earlier.length === batch.length) {
      const last = earlier.reduce((a, b) => (a.revision > b.revision ? a : b));
      return { nextExpectedRevision: last.revision, position: last.position, appended: false };
    }
    if (earlier.length > 0)
      throw new EventIdConflictError(
        streamId,
        earlier.map((e) => e.id),
      );

    try {
      const result = await this.client.appendToStream(
        streamId,
        batch.map((e) =>
          jsonEvent({
            id: e.id,
            type: e.type,
            data: e.data as never,
            metadata: { ...e.metadata, schemaVersion: e.schemaVersion } as never,
          }),
        ),
        { expectedRevision: toEsdbExpected(expected) },
      );
      if (!result.position) throw new Error("EventStoreDB returned no commit position");
      return { nextExpectedRevision: Number(result.nextExpectedRevision), position: encode(result.position), appended: true };
    } catch (error) {
      if (error instanceof EsdbWrongExpectedVersion) {
        const actual = error.actualVersion === NO_STREAM ? -1 : Number(error.actualVersion);
        throw new WrongExpectedVersionError(streamId, expected, actual);
      }
      throw error;
    }
  }

  async appendToStreams(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    if (!Array.isArray(appends) || appends.length === 0) throw new InvalidAppendError("appends must be a non-empty array", "appends");
    const streams = appends.map((a) => validateStreamId(a?.streamId));
    if (new Set(streams).size !== streams.length) throw new InvalidAppendError("appends repeat a stream", "appends");
    for (const a of appends) {
      validateEvents(a.events);
      validateExpectedRevision(a.expectedRevision);
    }
    const results: AppendResult[] = [];
    for (const a of appends)
      results.push(await this.appendToStream(a.streamId, a.events, { expectedRevision: a.expectedRevision ?? "any" }));
    return results;
  }

  async readStreams(streamIds: readonly string[]): Promise<Map<string, RecordedEvent[]>> {
    const ids = [...new Set(streamIds)];
    const read = await Promise.all(ids.map((id) => this.readStream(id)));
    return new Map(ids.map((id, i) => [id, read[i]!]));
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    validateStreamId(streamId);
    const backwards = options.direction === "backwards";
    const events: RecordedEvent[] = [];
    try {
      const read = this.client.readStream(streamId, {
        direction: backwards ? BACKWARDS : FORWARDS,
        fromRevision: options.fromRevision !== undefined ? BigInt(options.fromRevision) : backwards ? END : ESDB_START,
        ...(options.maxCount !== undefined && options.toRevision === undefined ? { maxCount: options.maxCount } : {}),
      });
      for await (const resolved of read) {
        const event = this.toRecorded(resolved);
        if (!event) continue;
        if (options.toRevision !== undefined && (backwards ? event.revision < options.toRevision : event.revision > options.toRevision))
          break;
        events.push(event);
        if (options.maxCount !== undefined && events.length >= options.maxCount) break;
      }
    } catch (error) {
      if ((error as { type?: string }).type === "stream-not-found") return [];
      throw error;
    }
    return events;
  }

  async readAll(options: ReadAllOptions = {}): Promise<ReadAllResult> {
    const from = options.from ?? START;
    const maxCount = options.maxCount ?? 1000;
    const events: RecordedEvent[] = [];
    let checkpoint = from;
    const read = this.client.readAll({
      direction: FORWARDS,
      fromPosition: from === START ? ESDB_START : decode(from),
      maxCount: maxCount * 4,
    });
    for await (const resolved of read) {
      const event = this.toRecorded(resolved);
      if (!event || event.position <= from) continue;
      checkpoint = event.position;
      if (!matches(event, options.filter)) continue;
      events.push(event);
      if (events.length >= maxCount) break;
    }
    return { events, checkpoint };
  }

  async headCheckpoint(): Promise<Checkpoint> {
    for await (const resolved of this.client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 100 })) {
      const event = this.toRecorded(resolved);
      if (event) return event.position;
    }
    return START;
  }

  subscribeToAll(options: SubscribeOptions, handler: BatchHandler): Subscription {
    const from = options.from ?? START;
    const subscription = this.client.subscribeToAll({
      fromPosition: from === START ? ESDB_START : decode(from),
      filter: serverFilter(options.filter),
    });
    let checkpoint = from;
    const waiters: { target: Checkpoint; resolve: () => void }[] = [];
    const done = (async () => {
      for await (const resolved of subscription) {
        const event = this.toRecorded(resolved);
        if (!event || event.position <= checkpoint || !matches(event, options.filter)) continue;
        await handler([event], event.position);
        checkpoint = event.position;
        for (let i = waiters.length - 1; i >= 0; i--) {
          if (waiters[i]!.target <= checkpoint) waiters.splice(i, 1)[0]!.resolve();
        }
      }
    })();
    done.catch(() => {});
    return {
      done,
      async stop() {
        await subscription.unsubscribe();
        await done.catch(() => {});
      },
      caughtUpTo: (target) =>
        target <= checkpoint ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ target, resolve })),
    };
  }

  async close(): Promise<void> {
    await this.client.dispose();
  }

  private async findInTail(streamId: string, ids: string[]): Promise<RecordedEvent[]> {
    const wanted = new Set(ids);
    const tail = await this.readStream(streamId, { direction: "backwards", maxCount: IDEMPOTENCY_WINDOW });
    return tail.filter((e) => wanted.has(e.id));
  }

  private toRecorded(resolved: ResolvedEvent): RecordedEvent | undefined {
    const event = resolved.event;
    if (!event?.isJson || isSystem(event)) return undefined;
    const { schemaVersion, ...metadata } = (event.metadata ?? {}) as EventMetadata & { schemaVersion?: number };
    const position =
      event.position ??
      (resolved.commitPosition !== undefined ? { commit: resolved.commitPosition, prepare: resolved.commitPosition } : undefined);
    return this.upcasters.apply({
      id: event.id,
      streamId: event.streamId,
      revision: Number(event.revision),
      position: position ? encode(position) : START,
      type: event.type,
      schemaVersion: typeof schemaVersion === "number" ? schemaVersion : 1,
      data: event.data as JsonValue,
      metadata: metadata as EventMetadata,
      recordedAt: event.created,
    });
  }
}

function matches(event: RecordedEvent, filter: AllFilter | undefined): boolean {
  if (filter?.eventTypes && !filter.eventTypes.includes(event.type)) return false;
  if (filter?.streamCategories && !filter.streamCategories.includes(streamCategory(event.streamId))) return false;
  return true;
}

// EventStoreDB takes one server-side filter; with both, the category filter runs on the server
// and the type filter on the client (`matches`).
function serverFilter(filter: AllFilter | undefined): Filter | undefined {
  if (filter?.streamCategories) return streamNameFilter({ regex: `^(${filter.streamCategories.map(escapeRegex).join("|")})(-|$)` });
  if (filter?.eventTypes) return eventTypeFilter({ regex: `^(${filter.eventTypes.map(escapeRegex).join("|")})$` });
  return eventTypeFilter({ regex: "^[^$]" });
}
