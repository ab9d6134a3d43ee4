// What every application command carries from its caller: the store, the command's origin (who
// acts, the command id for idempotency, the correlation id; see envelope.ts) and, for tests, a clock.

import type { EventStore } from "../eventstore/port.js";
import type { CommandOrigin } from "./envelope.js";

export interface CommandContext extends CommandOrigin {
  store: EventStore;
  now?: () => Date;
}

export const nowIso = (ctx: { now?: () => Date }): string => (ctx.now ? ctx.now() : new Date()).toISOString();
