// Refund reconciliation for finance, computed from the event log (payment and order streams):
// what was captured and refunded in a window, every refund requested in it, and where the
// payments and the orders disagree.

import { fold } from "../aggregates/decider.js";
import { orderDecider, type OrderEvent, type OrderState } from "../aggregates/order.js";
import { paymentDecider, type PaymentEvent, type PaymentState } from "../aggregates/payment.js";
import type { EventStore, RecordedEvent } from "../eventstore/port.js";

export interface Reconciliation {
  from: string;
  to: string;
  totals: { captured: number; refunded: number; pendingRefunds: number; failedRefunds: number };
  refunds: { refundId: string; orderId: string; paymentId: string; amount: number; status: string; requestedAt: string; processedAt?: string }[];
  mismatches: { kind: string; orderId: string; detail: string }[];
}

const timeOf = (e: RecordedEvent): number => {
  const at = (e.data as { at?: unknown } | null)?.at;
  const ms = typeof at === "string" ? Date.parse(at) : Number.NaN;
  return Number.isNaN(ms) ? e.recordedAt.getTime() : ms;
};

export async function reconcileRefunds(store: EventStore, range: { from: string; to: string }): Promise<Reconciliation> {
  const fromMs = Date.parse(range.from);
  const toMs = Date.parse(range.to);
  const streams = new Map<string, RecordedEvent[]>();
  let checkpoint = "";
  for (;;) {
    const page = await store.readAll({ from: checkpoint, maxCount: 5000, filter: { streamCategories: ["payment", "order"] } });
    for (const e of page.events) {
      const list = streams.get(e.streamId) ?? [];
      list.push(e);
      streams.set(e.streamId, list);
    }
    if (page.events.length === 0 || page.checkpoint === checkpoint) break;
    checkpoint = page.checkpoint;
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
    for (const e of events) if (e.type === "PaymentCaptured" && inWindow(timeOf(e))) totals.captured += (e.data as { amount: number }).amount;
    for (const r of payment.refunds) {
      const requested = Date.parse(r.requestedAt);
      if (r.status === "PROCESSED" && r.processedAt && inWindow(Date.parse(r.processedAt))) totals.refunded += r.amount;
      if (!inWindow(requested)) continue;
      if (r.status === "PENDING") totals.pendingRefunds += r.amount;
      if (r.status === "FAILED") totals.failedRefunds += r.amount;
      refunds.push({ refundId: r.refundId, orderId: payment.orderId, paymentId: payment.paymentId, amount: r.amount, status: r.status, requestedAt: r.requestedAt, ...(r.processedAt ? { processedAt: r.processedAt } : {}) });
    }
    if (!events.some((e) => inWindow(timeOf(e)))) continue;

    const promised = payment.refunds.filter((r) => r.status !== "FAILED").reduce((n, r) => n + r.amount, 0);
    if (promised > payment.capturedAmount) mismatches.push({ kind: "refund_exceeds_capture", orderId: payment.orderId, detail: `payment ${payment.paymentId}: refunds ${promised} > captured ${payment.capturedAmount}` });
    for (const r of payment.refunds.filter((x) => x.status === "FAILED")) {
      mismatches.push({ kind: "refund_failed", orderId: payment.orderId, detail: `refund ${r.refundId} of ${r.amount} failed${r.failureReason ? `: ${r.failureReason}` : ""}` });
    }
    const orderEvents = streams.get(`order-${payment.orderId}`) ?? [];
    const order = fold(
      orderDecider,
      orderEvents.map((e) => ({ type: e.type, data: e.data }) as OrderEvent),
    ) as OrderState;
    if (order.status === "NONE") {
      mismatches.push({ kind: "order_missing", orderId: payment.orderId, detail: `payment ${payment.paymentId} belongs to no order` });
      continue;
    }
    if ((order.status === "CANCELLED" || payment.captureAfterVoid) && payment.capturedAmount > promised) {
      mismatches.push({ kind: "captured_not_refunded", orderId: order.orderId, detail: `order ${order.status}: captured ${payment.capturedAmount}, refunds requested ${promised}` });
    }
    if (order.refundedAmount !== payment.refundedAmount) {
      mismatches.push({ kind: "order_payment_refund_mismatch", orderId: order.orderId, detail: `order says refunded ${order.refundedAmount}, payment says ${payment.refundedAmount}` });
    }
  }
  refunds.sort((a, b) => a.requestedAt.localeCompare(b.requestedAt));
  return { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), totals, refunds, mismatches };
}
