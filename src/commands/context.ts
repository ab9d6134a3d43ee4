// What every application command carries from its caller: the store, who acts, the command id
// (idempotency), the correlation id and, for tests, a clock.

import type { EventStore } from "../eventstore/port.js";

export interface CommandContext {
  store: EventStore;
  actor: string;
  commandId: string;
  correlationId?: string;
  now?: () => Date;
}

export const nowIso = (ctx: { now?: () => Date }): string => (ctx.now ? ctx.now() : new Date()).toISOString();

/** The command-handling envelope of a context: its command id, actor and correlation id. */
export const envelopeOf = (ctx: CommandContext) => ({
  commandId: ctx.commandId,
  actor: ctx.actor,
  ...(ctx.correlationId === undefined ? {} : { correlationId: ctx.correlationId }),
});
