// Waits until every read model has applied everything in the log, as the database records it
// (each projector's stored checkpoint against the head), whichever instance or lease runs them.

import { eventually, type TestApp } from "../api/harness.js";

export async function caughtUp(app: TestApp): Promise<void> {
  const settled = async () => {
    const status = await app.built.projections.projectionStatus();
    return status.length > 0 && status.every((s) => s.lagEvents === 0) ? status[0]!.head : undefined;
  };
  // Caught up, and still caught up at the same head a moment later (the saga has nothing left to append).
  await eventually(
    async () => {
      const head = await settled();
      if (head === undefined) return false;
      await new Promise((resolve) => setTimeout(resolve, 500));
      return (await settled()) === head;
    },
    60_000,
    "every read model to catch up with a quiet log",
  );
}
