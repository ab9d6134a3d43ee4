// `replay invariants`: the laws of the design checked over the whole log, read page by page:
// - stock, per SKU and warehouse (one inventory stream): available, reserved and committed never
//   below zero after any event; every commit, release, expiry and shipment moves a reservation
//   that is held in the state it names and for its quantity; the buckets equal the sum of the
//   reservations (and flash-sale stock) they hold; units in (received + restocked + adjustments)
//   equal units accounted for (available + reserved + committed + shipped);
// - money, per payment: at most one capture, and refunds requested (and not failed) never above
//   what was captured;
// - orders: every cancelled order's reservations released (or expired), and every terminal
//   order's (CANCELLED, RETURNED) saga finished in the same state.
//
// Memory. Events are not kept, and nothing is kept per order for the whole run. What is kept:
// per stock stream a few counters and its open reservations (reserved or committed, not yet
// shipped, released or expired); per payment three numbers and its refunds not yet processed;
// per cancelled order only while it still holds reservations, per terminal order only until its
// saga records the same status (the saga records it when it
// handles the order's terminal event, so in a sound log that is the orders in flight). So the
// bound is O(stock streams + payments + open reservations + terminal orders whose saga is
// behind + cancelled orders not yet released), never the number of events or of orders ever placed. The two order checks that need
// the end of the log are finished without per-order state: a cancelled order still holding
// reservations is kept only until they are released; a second pass over the OrderCancelled events
// only, against the reservations open at the end, finds an order that reserved again after its
// cancellation; and each terminal order still waiting for its saga gets one read of that saga's
// last step.
// test/cli/invariants-memory.test.ts counts the retained entries over generated logs.

import type { Checkpoint, RecordedEvent } from "../eventstore/port.js";
import { logPages } from "../eventstore/pages.js";
import { forEachPage, type CliContext } from "./context.js";
import { ExitCode, type ExitCodeValue } from "./usage.js";

export interface Violation {
  kind: string;
  streams: string[];
  positions: string[];
  detail: string;
}

interface Held {
  quantity: number;
  status: "RESERVED" | "COMMITTED";
  position: string;
}

interface StockLedger {
  available: number;
  reserved: number;
  committed: number;
  shipped: number;
  /** received + restocked + adjustments */
  unitsIn: number;
  saleLeft: Map<string, number>;
  held: Map<string, Held>;
}

const MAX_REPORTED = 1000;

export class InvariantChecker {
  readonly violations: Violation[] = [];
  dropped = 0;
  events = 0;
  private readonly stock = new Map<string, StockLedger>();
  private readonly payments = new Map<string, { captures: number; captured: number; promised: number; firstCapture: string }>();
  private readonly refundAmounts = new Map<string, number>();
  /** Terminal orders (status, position reached) whose saga has not recorded that status since. */
  private readonly awaitingSaga = new Map<string, { status: string; position: string; saga?: { status: string; position: string } }>();

  /** Open reservations per order (entries only while it holds some). */
  private readonly openCount = new Map<string, number>();
  /** Cancelled orders (position of the cancellation) still holding reservations. */
  private readonly unreleased = new Map<string, string>();

  private hold(s: StockLedger, orderId: string, held: Held): void {
    if (!s.held.has(orderId)) this.openCount.set(orderId, (this.openCount.get(orderId) ?? 0) + 1);
    s.held.set(orderId, held);
  }

  private release(s: StockLedger, orderId: string): void {
    if (!s.held.delete(orderId)) return;
    const left = (this.openCount.get(orderId) ?? 1) - 1;
    if (left > 0) this.openCount.set(orderId, left);
    else {
      this.openCount.delete(orderId);
      this.unreleased.delete(orderId); // everything it held is released: its check is done
    }
  }

  /** Entries held now, by kind (what the memory bound is stated in). */
  retained(): {
    stockStreams: number;
    openReservations: number;
    payments: number;
    pendingRefunds: number;
    awaitingSaga: number;
    unreleased: number;
  } {
    let openReservations = 0;
    for (const s of this.stock.values()) openReservations += s.held.size + s.saleLeft.size;
    return {
      stockStreams: this.stock.size,
      openReservations,
      payments: this.payments.size,
      pendingRefunds: this.refundAmounts.size,
      awaitingSaga: this.awaitingSaga.size,
      unreleased: this.unreleased.size,
    };
  }

  private report(v: Violation): void {
    if (this.violations.length < MAX_REPORTED) this.violations.push(v);
    else this.dropped++;
  }

  observe(e: RecordedEvent): void {
    this.events++;
    const dash = e.streamId.indexOf("-");
    const category = e.streamId.slice(0, dash);
    if (category === "inventory") this.stockEvent(e);
    else if (category === "payment") this.paymentEvent(e);
    else if (category === "order") this.orderEvent(e, e.streamId.slice(dash + 1));
    else if (category === "orderSaga" && e.type === "SagaStepRecorded") {
      const status = (e.data as { status?: unknown }).status;
      const orderId = e.streamId.slice(dash + 1);
      const waiting = this.awaitingSaga.get(orderId);
      if (typeof status !== "string" || !waiting) return;
      // The saga has finished in the order's terminal state: this order's checks are done.
      if (status === waiting.status) this.awaitingSaga.delete(orderId);
      else waiting.saga = { status, position: e.position };
    }
  }

  private stockEvent(e: RecordedEvent): void {
    const d = e.data as {
      orderId?: string;
      quantity?: number;
      from?: string;
      saleId?: string;
      countedAvailable?: number;
      previousAvailable?: number;
      delta?: number;
      allocations?: { orderId: string; quantity: number }[];
    };
    let s = this.stock.get(e.streamId);
    if (!s)
      this.stock.set(
        e.streamId,
        (s = { available: 0, reserved: 0, committed: 0, shipped: 0, unitsIn: 0, saleLeft: new Map(), held: new Map() }),
      );
    const q = d.quantity ?? 0;
    const where = (detail: string, kind = "stock_reservation_mismatch", extra: string[] = []) =>
      this.report({
        kind,
        streams: [e.streamId],
        positions: [...extra, e.position],
        detail: `${e.type} at ${e.streamId}@${e.revision}: ${detail}`,
      });
    const take = (orderId: string, expected: Held["status"]) => {
      const h = s.held.get(orderId);
      if (!h) where(`order ${orderId} holds no reservation here`);
      else if (h.status !== expected) where(`order ${orderId}'s reservation is ${h.status}, not ${expected}`, undefined, [h.position]);
      else if (h.quantity !== q) where(`order ${orderId} holds ${h.quantity}, the event moves ${q}`, undefined, [h.position]);
      return h;
    };
    switch (e.type) {
      case "StockReceived":
        s.available += q;
        s.unitsIn += q;
        break;
      case "StockReserved":
        s.available -= q;
        s.reserved += q;
        this.hold(s, d.orderId!, { quantity: q, status: "RESERVED", position: e.position });
        break;
      case "StockCommitted": {
        const h = take(d.orderId!, "RESERVED");
        s.reserved -= q;
        s.committed += q;
        if (h) this.hold(s, d.orderId!, { ...h, status: "COMMITTED" });
        break;
      }
      case "StockReleased":
        take(d.orderId!, d.from === "COMMITTED" ? "COMMITTED" : "RESERVED");
        if (d.from === "COMMITTED") s.committed -= q;
        else s.reserved -= q;
        s.available += q;
        this.release(s, d.orderId!);
        break;
      case "StockReservationExpired":
        take(d.orderId!, "RESERVED");
        s.reserved -= q;
        s.available += q;
        this.release(s, d.orderId!);
        break;
      case "StockShipped":
        take(d.orderId!, "COMMITTED");
        s.committed -= q;
        s.shipped += q;
        this.release(s, d.orderId!);
        break;
      case "StockRestocked":
        s.available += q;
        s.unitsIn += q;
        break;
      case "StockAdjusted":
        if (d.previousAvailable !== s.available)
          where(`counted from ${d.previousAvailable} available, the log leaves ${s.available}`, "stock_not_conserved");
        if (d.delta !== (d.countedAvailable ?? 0) - (d.previousAvailable ?? 0))
          where(`delta ${d.delta} is not ${d.countedAvailable} - ${d.previousAvailable}`, "stock_not_conserved");
        s.unitsIn += (d.countedAvailable ?? 0) - s.available;
        s.available = d.countedAvailable ?? 0;
        break;
      case "StockSetAsideForSale":
        s.available -= q;
        s.reserved += q;
        s.saleLeft.set(d.saleId!, (s.saleLeft.get(d.saleId!) ?? 0) + q);
        break;
      case "StockDrawnFromSale":
        for (const a of d.allocations ?? []) {
          s.reserved -= a.quantity;
          s.committed += a.quantity;
          s.saleLeft.set(d.saleId!, (s.saleLeft.get(d.saleId!) ?? 0) - a.quantity);
          this.hold(s, a.orderId, { quantity: a.quantity, status: "COMMITTED", position: e.position });
        }
        break;
      case "StockReturnedToSale":
        take(d.orderId!, "COMMITTED");
        s.committed -= q;
        s.reserved += q;
        s.saleLeft.set(d.saleId!, (s.saleLeft.get(d.saleId!) ?? 0) + q);
        this.release(s, d.orderId!);
        break;
      case "SaleStockReleased":
        s.reserved -= q;
        s.available += q;
        s.saleLeft.set(d.saleId!, (s.saleLeft.get(d.saleId!) ?? 0) - q);
        break;
      default:
        return;
    }
    for (const bucket of ["available", "reserved", "committed"] as const) {
      if (s[bucket] < 0) where(`${bucket} went to ${s[bucket]}`, bucket === "available" ? "stock_oversold" : "stock_negative");
    }
    let heldReserved = [...s.saleLeft.values()].reduce((n, v) => n + v, 0);
    let heldCommitted = 0;
    for (const h of s.held.values()) {
      if (h.status === "RESERVED") heldReserved += h.quantity;
      else heldCommitted += h.quantity;
    }
    if (heldReserved !== s.reserved || heldCommitted !== s.committed) {
      where(
        `buckets reserved ${s.reserved} / committed ${s.committed}, reservations held ${heldReserved} / ${heldCommitted}`,
        "stock_not_conserved",
      );
    }
    if (s.unitsIn !== s.available + s.reserved + s.committed + s.shipped) {
      where(
        `units in ${s.unitsIn} != available ${s.available} + reserved ${s.reserved} + committed ${s.committed} + shipped ${s.shipped}`,
        "stock_not_conserved",
      );
    }
    // After a violation, carry on from what the reservations say, so one bad event is reported once.
    s.reserved = heldReserved;
    s.committed = heldCommitted;
    s.unitsIn = s.available + s.reserved + s.committed + s.shipped;
  }

  private paymentEvent(e: RecordedEvent): void {
    const d = e.data as { paymentId?: string; amount?: number; refundId?: string };
    let p = this.payments.get(e.streamId);
    if (!p) this.payments.set(e.streamId, (p = { captures: 0, captured: 0, promised: 0, firstCapture: "" }));
    switch (e.type) {
      case "PaymentCaptured":
        p.captures++;
        p.captured += d.amount ?? 0;
        if (p.captures === 1) p.firstCapture = e.position;
        else
          this.report({
            kind: "payment_captured_twice",
            streams: [e.streamId],
            positions: [p.firstCapture, e.position],
            detail: `capture number ${p.captures} of ${e.streamId} (${d.amount}) at revision ${e.revision}`,
          });
        break;
      case "RefundRequested":
        p.promised += d.amount ?? 0;
        this.refundAmounts.set(`${e.streamId}/${d.refundId}`, d.amount ?? 0);
        if (p.promised > p.captured) {
          this.report({
            kind: "refunds_exceed_capture",
            streams: [e.streamId],
            positions: [e.position],
            detail: `refund ${d.refundId} at ${e.streamId}@${e.revision} brings refunds to ${p.promised}, captured ${p.captured}`,
          });
        }
        break;
      case "RefundFailed":
        p.promised -= this.refundAmounts.get(`${e.streamId}/${d.refundId}`) ?? d.amount ?? 0;
        this.refundAmounts.delete(`${e.streamId}/${d.refundId}`);
        break;
      case "RefundProcessed":
        this.refundAmounts.delete(`${e.streamId}/${d.refundId}`);
        break;
    }
  }

  private orderEvent(e: RecordedEvent, orderId: string): void {
    if (e.type === "OrderCancelled") {
      this.awaitingSaga.set(orderId, { status: "CANCELLED", position: e.position });
      if ((this.openCount.get(orderId) ?? 0) > 0) this.unreleased.set(orderId, e.position);
    } else if (e.type === "OrderReturned" && (e.data as { fullyReturned?: boolean }).fullyReturned)
      this.awaitingSaga.set(orderId, { status: "RETURNED", position: e.position });
  }

  /**
   * What can only be told against the whole log, without per-order state, before `finish`:
   * `cancellations` is a second pass over the log's OrderCancelled events, each checked against
   * the reservations still open (an order reserving again after it was cancelled is found here);
   * `lastSagaStep` reads one saga's last step, asked only for terminal orders whose saga recorded
   * nothing matching after their terminal event (it may have recorded it before).
   */
  async confirm(lookups: {
    cancellations: AsyncIterable<{ orderId: string; position: Checkpoint }>;
    lastSagaStep: (orderId: string) => Promise<{ status: string; position: Checkpoint } | null>;
  }): Promise<void> {
    const open = this.openByOrder();
    for await (const { orderId, position } of lookups.cancellations) {
      if (this.unreleased.has(orderId)) continue; // finish reports it
      for (const { streamId, held } of open.get(orderId) ?? []) this.reportHeld(orderId, position, streamId, held);
      open.delete(orderId); // an order cancelled twice is reported once
    }
    for (const [orderId, t] of this.awaitingSaga) {
      const saga = await lookups.lastSagaStep(orderId);
      if (saga?.status === t.status) this.awaitingSaga.delete(orderId);
      else if (saga) t.saga = saga;
    }
  }

  /** The checks that need the end of the log: what terminal orders left behind. */
  finish(): Violation[] {
    const open = this.openByOrder();
    for (const [orderId, position] of this.unreleased)
      for (const { streamId, held } of open.get(orderId) ?? []) this.reportHeld(orderId, position, streamId, held);
    this.unreleased.clear();
    for (const [orderId, t] of this.awaitingSaga) {
      this.report({
        kind: "terminal_order_saga_unfinished",
        streams: [`order-${orderId}`, `orderSaga-${orderId}`],
        positions: [t.position, ...(t.saga ? [t.saga.position] : [])],
        detail: `order ${orderId} is ${t.status} but its saga is ${t.saga ? t.saga.status : "absent"}`,
      });
    }
    this.awaitingSaga.clear();
    return this.violations;
  }

  private reportHeld(orderId: string, cancelledAt: string, streamId: string, h: Held): void {
    this.report({
      kind: "cancelled_order_stock_held",
      streams: [`order-${orderId}`, streamId],
      positions: [cancelledAt, h.position],
      detail: `order ${orderId} was cancelled at ${cancelledAt} but still holds ${h.quantity} ${h.status} in ${streamId} (since ${h.position})`,
    });
  }

  /** The open reservations by order (built when needed; as large as the open reservations). */
  private openByOrder(): Map<string, { streamId: string; held: Held }[]> {
    const open = new Map<string, { streamId: string; held: Held }[]>();
    for (const [streamId, s] of this.stock)
      for (const [orderId, held] of s.held) open.set(orderId, [...(open.get(orderId) ?? []), { streamId, held }]);
    return open;
  }
}

/** The OrderCancelled events of the log, read page by page (the second pass). */
async function* cancellations(ctx: CliContext): AsyncIterable<{ orderId: string; position: Checkpoint }> {
  for await (const page of logPages(ctx.store, { filter: { streamCategories: ["order"], eventTypes: ["OrderCancelled"] } }))
    for (const e of page.events) yield { orderId: e.streamId.slice("order-".length), position: e.position };
}

async function lastSagaStep(ctx: CliContext, orderId: string): Promise<{ status: string; position: Checkpoint } | null> {
  const events = await ctx.store.readStream(`orderSaga-${orderId}`, { direction: "backwards", maxCount: 50 }).catch(() => []);
  const step = events.find((e) => e.type === "SagaStepRecorded" && typeof (e.data as { status?: unknown }).status === "string");
  return step ? { status: (step.data as { status: string }).status, position: step.position } : null;
}

export async function invariantsCommand(ctx: CliContext): Promise<ExitCodeValue> {
  const checker = new InvariantChecker();
  const started = performance.now();
  await forEachPage(ctx, "invariants", { filter: { streamCategories: ["inventory", "payment", "order", "orderSaga"] } }, (events) => {
    for (const e of events) checker.observe(e);
  });
  await checker.confirm({ cancellations: cancellations(ctx), lastSagaStep: (orderId) => lastSagaStep(ctx, orderId) });
  const violations = checker.finish();
  const seconds = Number(((performance.now() - started) / 1000).toFixed(3));
  if (ctx.out.mode === "json") {
    ctx.out.json({
      events: checker.events,
      seconds,
      ok: violations.length === 0,
      violations,
      ...(checker.dropped ? { notShown: checker.dropped } : {}),
    });
  } else if (violations.length === 0) {
    ctx.out.table(["invariants", "events", "seconds"], [["all hold", checker.events, seconds]]);
  } else {
    ctx.out.table(
      ["kind", "streams", "positions", "detail"],
      violations.map((v) => [v.kind, v.streams.join(" "), v.positions.join(" "), v.detail]),
    );
    if (checker.dropped) ctx.out.note(`${checker.dropped} more violation(s) not shown`);
  }
  return violations.length === 0 ? ExitCode.ok : ExitCode.finding;
}
