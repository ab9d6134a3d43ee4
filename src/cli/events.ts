// `replay events`: print events from the log, as the application reads them (upcast), as stored,
// or both side by side, filtered by stream, type and position.

import type { Checkpoint, RecordedEvent } from "../eventstore/port.js";
import { logPages } from "../eventstore/pages.js";
import type { CliContext } from "./context.js";
import { ExitCode, type ExitCodeValue } from "./usage.js";

export type EventView = "upcast" | "stored" | "both";

export interface EventsOptions {
  stream?: string;
  types?: string[];
  fromPosition?: Checkpoint;
  limit?: number;
  view: EventView;
}

/** One event for machines: the upcast shape, and with `both` the stored one beside it. */
export function eventJson(event: RecordedEvent, upcast: RecordedEvent, view: EventView): Record<string, unknown> {
  const shape = (e: RecordedEvent) => ({ type: e.type, schemaVersion: e.schemaVersion, data: e.data });
  const base = {
    position: event.position,
    streamId: event.streamId,
    revision: event.revision,
    id: event.id,
    recordedAt: event.recordedAt.toISOString(),
    metadata: { correlationId: event.metadata.correlationId, causationId: event.metadata.causationId, actor: event.metadata.actor },
  };
  if (view === "both") return { ...base, stored: shape(event), upcast: shape(upcast) };
  return { ...base, ...shape(view === "stored" ? event : upcast) };
}

export async function eventsCommand(ctx: CliContext, options: EventsOptions): Promise<ExitCodeValue> {
  const { out } = ctx;
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const rows: unknown[][] = [];
  let printed = 0;
  const emit = (stored: RecordedEvent) => {
    const upcast = ctx.upcast(stored);
    if (options.types && !options.types.includes(upcast.type) && !options.types.includes(stored.type)) return;
    if (options.fromPosition !== undefined && stored.position <= options.fromPosition) return;
    printed++;
    if (out.mode === "json") return out.json(eventJson(stored, upcast, options.view));
    const describe = (e: RecordedEvent) => `${e.type} v${e.schemaVersion} ${JSON.stringify(e.data)}`;
    const shown =
      options.view === "stored"
        ? describe(stored)
        : options.view === "upcast"
          ? describe(upcast)
          : `${describe(stored)} => ${describe(upcast)}`;
    const row = [stored.position, `${stored.streamId}@${stored.revision}`, stored.recordedAt.toISOString(), stored.metadata.actor, shown];
    // In a pipe each event is printed as it is read; a table needs them all first.
    if (out.mode === "plain") out.table([], [row]);
    else rows.push(row);
  };

  if (options.stream !== undefined) {
    for (const event of await ctx.stored.readStream(options.stream)) {
      if (printed >= limit) break;
      emit(event);
    }
  } else {
    // The type filter goes to the store, which matches stored type names.
    const filter = options.types ? { eventTypes: options.types } : undefined;
    for await (const page of logPages(ctx.stored, {
      ...(options.fromPosition ? { from: options.fromPosition } : {}),
      ...(filter ? { filter } : {}),
    })) {
      for (const event of page.events) {
        if (printed >= limit) break;
        emit(event);
      }
      if (printed >= limit) break;
    }
  }
  if (out.mode === "table") {
    out.table(["position", "stream@revision", "recorded", "actor", options.view === "both" ? "stored => upcast" : options.view], rows);
    out.note(`${printed} event(s)`);
  }
  return ExitCode.ok;
}
