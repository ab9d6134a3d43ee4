// Typed failures of the event store port. Business rules never throw these: they are faults
// or concurrency outcomes the caller handles (retry, 409/412, 400).

import type { ExpectedRevision } from "./port.js";

/** The stream was not at the expected revision. `actual` is -1 for a stream with no events. */
export class WrongExpectedVersionError extends Error {
  override readonly name = "WrongExpectedVersionError";
  constructor(
    readonly streamId: string,
    readonly expected: ExpectedRevision,
    readonly actual: number,
  ) {
    super(`stream "${streamId}" expected revision ${String(expected)} but is at ${actual === -1 ? "no_stream" : actual}`);
  }
}

/** Bad input to the port (empty stream id, non-JSON data, unknown expected revision...). Nothing was written. */
export class InvalidAppendError extends Error {
  override readonly name = "InvalidAppendError";
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/**
 * Some of the batch's event ids are already stored (in this or another stream) but not all of them
 * in this stream: the ids were reused for different events. Nothing was written.
 */
export class EventIdConflictError extends Error {
  override readonly name = "EventIdConflictError";
  constructor(
    readonly streamId: string,
    readonly eventIds: readonly string[],
  ) {
    super(`stream "${streamId}": event ids already used by other events: ${eventIds.join(", ")}`);
  }
}
