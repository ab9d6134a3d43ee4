// Input checks every adapter runs before touching its store, so bad input is rejected the same
// way everywhere and nothing is written.

import { InvalidAppendError } from "./errors.js";
import type { ExpectedRevision, JsonValue, NewEvent } from "./port.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_STREAM_ID = 255;

export interface NormalizedEvent {
  id: string;
  type: string;
  schemaVersion: number;
  data: JsonValue;
  metadata: NewEvent["metadata"];
}

export function validateStreamId(streamId: unknown): string {
  if (typeof streamId !== "string" || streamId.trim() === "")
    throw new InvalidAppendError("streamId must be a non-empty string", "streamId");
  if (streamId.length > MAX_STREAM_ID) throw new InvalidAppendError(`streamId is longer than ${MAX_STREAM_ID} characters`, "streamId");
  if (streamId.startsWith("$")) throw new InvalidAppendError("streamId must not start with '$' (reserved for system streams)", "streamId");
  return streamId;
}

export function validateExpectedRevision(expected: unknown): ExpectedRevision {
  if (expected === undefined) return "any";
  if (expected === "any" || expected === "no_stream" || expected === "stream_exists") return expected;
  if (typeof expected === "number" && Number.isSafeInteger(expected) && expected >= 0) return expected;
  throw new InvalidAppendError(
    `expectedRevision must be "any", "no_stream", "stream_exists" or a revision >= 0, got ${JSON.stringify(expected) ?? String(expected)}`,
    "expectedRevision",
  );
}

export function validateEvents(events: unknown): NormalizedEvent[] {
  if (!Array.isArray(events) || events.length === 0) throw new InvalidAppendError("events must be a non-empty array", "events");
  const seen = new Set<string>();
  return events.map((event: Partial<NewEvent>, index) => {
    const at = `events[${index}]`;
    if (typeof event !== "object" || event === null) throw new InvalidAppendError(`${at} must be an object`, at);
    if (typeof event.id !== "string" || !UUID.test(event.id)) throw new InvalidAppendError(`${at}.id must be a UUID`, `${at}.id`);
    const id = event.id.toLowerCase();
    if (seen.has(id)) throw new InvalidAppendError(`${at}.id repeats an id of the same batch`, `${at}.id`);
    seen.add(id);
    if (typeof event.type !== "string" || event.type.trim() === "" || event.type.startsWith("$")) {
      throw new InvalidAppendError(`${at}.type must be a non-empty string not starting with '$'`, `${at}.type`);
    }
    const schemaVersion = event.schemaVersion ?? 1;
    if (!Number.isSafeInteger(schemaVersion) || schemaVersion < 1)
      throw new InvalidAppendError(`${at}.schemaVersion must be an integer >= 1`, `${at}.schemaVersion`);
    assertJson(event.data, `${at}.data`);
    const metadata = event.metadata;
    if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata))
      throw new InvalidAppendError(`${at}.metadata must be an object`, `${at}.metadata`);
    for (const field of ["correlationId", "causationId", "actor"] as const) {
      if (typeof metadata[field] !== "string" || metadata[field] === "")
        throw new InvalidAppendError(`${at}.metadata.${field} must be a non-empty string`, `${at}.metadata.${field}`);
    }
    assertJson(metadata, `${at}.metadata`);
    return { id, type: event.type, schemaVersion, data: event.data as JsonValue, metadata };
  });
}

/** Only what survives a JSON round trip unchanged: no undefined, functions, NaN, Dates, class instances or cycles. */
export function assertJson(value: unknown, path: string, ancestors: object[] = []): void {
  switch (typeof value) {
    case "string":
    case "boolean":
      return;
    case "number":
      if (!Number.isFinite(value)) throw new InvalidAppendError(`${path} is not JSON: ${value}`, path);
      return;
    case "object": {
      if (value === null) return;
      if (ancestors.includes(value)) throw new InvalidAppendError(`${path} is not JSON: it contains a cycle`, path);
      const proto = Object.getPrototypeOf(value);
      if (Array.isArray(value)) {
        value.forEach((item, i) => {
          assertJson(item, `${path}[${i}]`, [...ancestors, value]);
        });
        return;
      }
      if (proto !== Object.prototype && proto !== null)
        throw new InvalidAppendError(`${path} is not JSON: a ${proto?.constructor?.name ?? "class"} instance`, path);
      for (const [key, item] of Object.entries(value)) {
        if (item === undefined) continue; // dropped by JSON.stringify, like an absent key
        assertJson(item, `${path}.${key}`, [...ancestors, value]);
      }
      return;
    }
    default:
      throw new InvalidAppendError(`${path} is not JSON: ${typeof value}`, path);
  }
}
