// An order's history by scanning the log (how the HTTP route answered before the order-history
// index): every event of the categories that may hold an order's events, kept when it is in the
// order's stream, names the order, or is in a stream whose id ends with "-<orderId>". Its cost
// grows with the whole shop's history. Kept as the reference the index-based query is checked
// against (test/queries/order-history.test.ts) and as the baseline of bench/rebuild.ts.

import type { EventStore, RecordedEvent } from "../eventstore/port.js";
import { logPages } from "../eventstore/pages.js";

const HISTORY_CATEGORIES = ["order", "payment", "inventory", "orderSaga", "orderSagaInbox", "cart", "coupon"];

export async function orderHistoryByScan(store: EventStore, orderId: string): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for await (const page of logPages(store, { pageSize: 2000, filter: { streamCategories: HISTORY_CATEGORIES } })) {
    for (const e of page.events) {
      const data = e.data as { orderId?: unknown } | null;
      if (
        e.streamId === `order-${orderId}` ||
        (data !== null && typeof data === "object" && data.orderId === orderId) ||
        e.streamId.endsWith(`-${orderId}`)
      )
        out.push(e);
    }
  }
  return out;
}
