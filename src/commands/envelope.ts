// Command envelopes, built one way. Whoever issues a command (an HTTP request's command context,
// a saga step, the payment webhook, a flash sale) is its origin: the command id (idempotency),
// the actor, the correlation id and the trace. An envelope is an origin plus the stream and the
// command; the metadata of the events a command appends is derived from its origin, here, for
// handleCommand and for a batch of commands written together (command-batch.ts).

import type { ExpectedRevision } from "../eventstore/port.js";
import { activeTraceId } from "../observability/tracing.js";

/** Who issues a command. A CommandContext is one. */
export interface CommandOrigin {
  /** Unique per intent; the idempotency key of the whole write. */
  commandId: string;
  /** Who or what issued the command, e.g. "customer:c-1", "saga:order". */
  actor: string;
  /** Defaults to the command id (a command that starts a conversation). */
  correlationId?: string | undefined;
  /** Defaults to the trace of the span active when the command runs. */
  traceId?: string | undefined;
}

export interface CommandEnvelope<Command> {
  streamId: string;
  command: Command;
  commandId: string;
  correlationId?: string;
  actor: string;
  traceId?: string;
  /** Apply only if the stream is at this revision (HTTP If-Match). A conflict is not retried. */
  expectedRevision?: ExpectedRevision;
}

/** The envelope of `command` for `streamId`, issued by `origin`. */
export function envelope<Command>(
  origin: CommandOrigin,
  streamId: string,
  command: Command,
  expectedRevision?: ExpectedRevision,
): CommandEnvelope<Command> {
  return {
    streamId,
    command,
    commandId: origin.commandId,
    actor: origin.actor,
    ...(origin.correlationId === undefined ? {} : { correlationId: origin.correlationId }),
    ...(origin.traceId === undefined ? {} : { traceId: origin.traceId }),
    ...(expectedRevision === undefined ? {} : { expectedRevision }),
  };
}

/** EventMetadata without the causation (a type, not an interface: it must fit EventMetadata's index signature). */
type SharedMetadata = { correlationId: string; actor: string; traceId?: string };

/**
 * The metadata of the events written for `origin`, but for their causation (each command's own
 * id). The trace is the origin's, else the active span's (the HTTP request's, or the one a saga
 * step continues), so whoever handles these events later can continue it.
 */
export function metadataOf(origin: CommandOrigin): SharedMetadata {
  const traceId = origin.traceId ?? activeTraceId();
  return {
    correlationId: origin.correlationId ?? origin.commandId,
    actor: origin.actor,
    ...(traceId === undefined ? {} : { traceId }),
  };
}
