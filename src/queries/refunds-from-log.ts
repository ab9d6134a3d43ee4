// Refund reconciliation by scanning the log (payment and order streams), as the HTTP route
// computed it before the refunds read model. Its cost grows with the whole log. `replay
// reconcile` runs it beside the read model's answer and reports any difference; tests use it as
// the reference.

import { fold } from "../aggregates/decider.js";
import { orderDecider, type OrderEvent, type OrderState } from "../aggregates/order.js";
import { paymentDecider, type PaymentEvent, type PaymentState } from "../aggregates/payment.js";
import type { Checkpoint, EventStore, RecordedEvent } from "../eventstore/port.js";
import { logPages } from "../eventstore/pages.js";
import { eventTime } from "../projections/refunds.js";
import { byRequestTime, paymentMismatches, type DateRange, type Reconciliation } from "./refunds.js";

export async function reconcileRefundsFromLog(
  store: EventStore,
  range: DateRange,
  onPage?: (events: number, checkpoint: Checkpoint) => void,
): Promise<Reconciliation> {
  const fromMs = Date.parse(range.from);
  const toMs = Date.parse(range.to);
  const streams = new Map<string, RecordedEvent[]>();
  for await (const page of logPages(store, { pageSize: 5000, filter: { streamCategories: ["payment", "order"] } })) {
    for (const e of page.events) {
      const list = streams.get(e.streamId) ?? [];
      list.push(e);
      streams.set(e.streamId, list);
    }
    onPage?.(page.events.length, page.checkpoint);
  }
  const inWindow = (ms: number) => ms >= fromMs && ms < toMs;
  const totals = { captured: 0, refunded: 0, pendingRefunds: 0, failedRefunds: 0 };
  const refunds: Reconciliation["refunds"] = [];
  const mismatches: Reconciliation["mismatches"] = [];

  for (const [streamId, events] of streams) {
    if (!streamId.startsWith("payment-")) continue;
    const payment = fold(
      paymentDecider,
      events.map((e) => ({ type: e.type, data: e.data }) as PaymentEvent),
    ) as PaymentState;
    if (payment.status === "NONE") continue;
    for (const e of events)
      if (e.type === "PaymentCaptured" && inWindow(eventTime(e).getTime())) totals.captured += (e.data as { amount: number }).amount;
    for (const r of payment.refunds) {
      const requested = Date.parse(r.requestedAt);
      if (r.status === "PROCESSED" && r.processedAt && inWindow(Date.parse(r.processedAt))) totals.refunded += r.amount;
      if (!inWindow(requested)) continue;
      if (r.status === "PENDING") totals.pendingRefunds += r.amount;
      if (r.status === "FAILED") totals.failedRefunds += r.amount;
      refunds.push({
        refundId: r.refundId,
        orderId: payment.orderId,
        paymentId: payment.paymentId,
        amount: r.amount,
        status: r.status,
        requestedAt: r.requestedAt,
        ...(r.processedAt ? { processedAt: r.processedAt } : {}),
      });
    }
    if (!events.some((e) => inWindow(eventTime(e).getTime()))) continue;
    const order = fold(
      orderDecider,
      (streams.get(`order-${payment.orderId}`) ?? []).map((e) => ({ type: e.type, data: e.data }) as OrderEvent),
    ) as OrderState;
    mismatches.push(...paymentMismatches(payment, order));
  }
  refunds.sort(byRequestTime);
  return { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), totals, refunds, mismatches };
}
