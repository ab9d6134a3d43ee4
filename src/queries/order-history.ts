// An order's history from its own streams: the order stream and its saga's streams read whole,
// and the events of shared streams that name it (its payment, its stock reservations, the cart
// and coupon it came from) read by revision through the order-history index
// (src/projections/order-history.ts). Merged in commit order. The cost grows with the order's
// own events, not with the shop's history.

import type { Checkpoint, EventStore, RecordedEvent } from "../eventstore/port.js";
import type { SqlExecutor } from "../infrastructure/sql/sql-client.js";
import { ORDER_HISTORY_TABLES, ORDER_OWN_CATEGORIES } from "../projections/order-history.js";

/** A point in an order's life: an instant, or a position in the log (inclusive). */
export type AsOf = { time: Date } | { position: Checkpoint };

/** Contiguous revisions of one stream, so several events of a stream are one read. */
function runsOf(revisions: number[]): { from: number; to: number }[] {
  const sorted = [...new Set(revisions)].sort((a, b) => a - b);
  const runs: { from: number; to: number }[] = [];
  for (const r of sorted) {
    const last = runs.at(-1);
    if (last && r === last.to + 1) last.to = r;
    else runs.push({ from: r, to: r });
  }
  return runs;
}

/** Every event of the order, its payment, its reservations and its saga, in commit order. */
export async function orderHistory(deps: { store: EventStore; sql: SqlExecutor }, orderId: string): Promise<RecordedEvent[]> {
  const own = ORDER_OWN_CATEGORIES.map((category) => deps.store.readStream(`${category}-${orderId}`));
  const { rows } = await deps.sql.query<{ stream_id: string; revision: string | number }>(
    `SELECT stream_id, revision FROM ${ORDER_HISTORY_TABLES.index} WHERE order_id = $1`,
    [orderId],
  );
  const byStream = new Map<string, number[]>();
  for (const row of rows) byStream.set(row.stream_id, [...(byStream.get(row.stream_id) ?? []), Number(row.revision)]);
  const indexed = [...byStream].flatMap(([streamId, revisions]) => {
    const wanted = new Set(revisions);
    return runsOf(revisions).map(async (run) =>
      (await deps.store.readStream(streamId, { fromRevision: run.from, toRevision: run.to, maxCount: run.to - run.from + 1 })).filter((e) =>
        wanted.has(e.revision),
      ),
    );
  });
  const seen = new Set<string>();
  const events: RecordedEvent[] = [];
  for (const event of (await Promise.all([...own, ...indexed])).flat()) {
    if (seen.has(event.id)) continue;
    seen.add(event.id);
    events.push(event);
  }
  return events.sort((a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : 0));
}

/** The events of the order's own stream up to `asOf` (by the time the store recorded them, or by position). */
export function orderEventsAsOf(events: readonly RecordedEvent[], orderId: string, asOf: AsOf): RecordedEvent[] {
  return events.filter(
    (e) =>
      e.streamId === `order-${orderId}` && ("time" in asOf ? e.recordedAt.getTime() <= asOf.time.getTime() : e.position <= asOf.position),
  );
}
