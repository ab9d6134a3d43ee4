// Several processors seen as one (a processor run as partitions, for the readiness check and
// tests): caughtUpTo waits for every one; status() is the lowest checkpoint, the highest head,
// caught up when all are, parked summed; stop() stops them all.

import type { Checkpoint } from "../eventstore/port.js";
import type { ProcessorStatus, RunningProcessor } from "./processor.js";

export function processorGroup(name: string, parts: readonly RunningProcessor[]): RunningProcessor {
  return {
    name,
    async caughtUpTo(checkpoint, timeoutMs) {
      await Promise.all(parts.map((p) => p.caughtUpTo(checkpoint, timeoutMs)));
    },
    async status(): Promise<ProcessorStatus> {
      const all = await Promise.all(parts.map((p) => p.status()));
      const min = (a: Checkpoint, b: Checkpoint) => (b < a ? b : a);
      const max = (a: Checkpoint, b: Checkpoint) => (b > a ? b : a);
      const last = all.map((s) => s.lastProcessedAt).filter((t): t is string => t !== null);
      return {
        name,
        checkpoint: all.map((s) => s.checkpoint).reduce(min),
        head: all.map((s) => s.head).reduce(max),
        caughtUp: all.every((s) => s.caughtUp),
        parked: all.reduce((n, s) => n + s.parked, 0),
        lastProcessedAt: last.length === 0 ? null : last.reduce(max),
      };
    },
    async stop() {
      await Promise.all(parts.map((p) => p.stop()));
    },
  };
}
