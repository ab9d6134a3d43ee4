// The shared log reader's linger: processors asleep at the head are woken once the linger has
// passed, so events appended one after another within it reach them as one page (one batch, one
// transaction); without a linger the first append wakes them at once. Embedded PGlite.

import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { openEventStore, type EventStore } from "../../src/eventstore/index.js";
import { LogReader } from "../../src/processing/log-reader.js";

let store: EventStore | undefined;
let reader: LogReader | undefined;
afterEach(async () => {
  await reader?.detach();
  await store?.close();
  reader = store = undefined;
});

const append = (s: EventStore, streamId: string, n: number) =>
  s.appendToStream(
    streamId,
    [{ id: randomUUID(), type: "Ticked", data: { n }, metadata: { correlationId: "c", causationId: "c", actor: "test" } }],
    { expectedRevision: "any" },
  );

/** Waits at the head, appends three events one by one, and returns the first page the wake-up finds. */
async function firstPageAfterWake(lingerMs: number): Promise<number[]> {
  store = await openEventStore({ pollIntervalMs: 10 });
  reader = new LogReader(store, { lingerMs });
  await reader.attach();
  const head = await store.headCheckpoint();
  const streamId = `ticks-${randomUUID().slice(0, 8)}`;
  let woken = false;
  const wake = reader.waitBeyond(head, 60_000).then(() => {
    woken = true;
  });
  for (let n = 1; n <= 3; n++) {
    if (woken) break; // no linger: the first append's wake-up came before the next append
    await append(store, streamId, n);
    if (lingerMs === 0) await wake;
  }
  await wake;
  return reader.take(head, undefined, 100)!.events.map((e) => (e.data as { n: number }).n);
}

describe("shared log reader", () => {
  it("with a linger, events appended one by one within it reach a waiting processor as one page", async () => {
    // 2 s: far more than three appends take on PGlite, so the page cannot be cut short.
    expect(await firstPageAfterWake(2_000)).toEqual([1, 2, 3]);
  });

  it("without a linger, the first append wakes a waiting processor at once", async () => {
    expect(await firstPageAfterWake(0)).toEqual([1]);
  });
});
