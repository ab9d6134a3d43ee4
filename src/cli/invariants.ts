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
// Events are not kept: per stock stream a few counters and its live reservations, per payment
// three numbers, per order its terminal state and its saga's status. Memory grows with those
// entities, never with the number of events.

import type { RecordedEvent } from "../eventstore/port.js";
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
  /** Orders in a terminal state: status and the position it was reached at. */
  private readonly terminal = new Map<string, { status: string; position: string }>();
  private readonly sagaStatus = new Map<string, { status: string; position: string }>();

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
      if (typeof status === "string") this.sagaStatus.set(e.streamId.slice(dash + 1), { status, position: e.position });
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
        s.held.set(d.orderId!, { quantity: q, status: "RESERVED", position: e.position });
        break;
      case "StockCommitted": {
        const h = take(d.orderId!, "RESERVED");
        s.reserved -= q;
        s.committed += q;
        if (h) s.held.set(d.orderId!, { ...h, status: "COMMITTED" });
        break;
      }
      case "StockReleased":
        take(d.orderId!, d.from === "COMMITTED" ? "COMMITTED" : "RESERVED");
        if (d.from === "COMMITTED") s.committed -= q;
        else s.reserved -= q;
        s.available += q;
        s.held.delete(d.orderId!);
        break;
      case "StockReservationExpired":
        take(d.orderId!, "RESERVED");
        s.reserved -= q;
        s.available += q;
        s.held.delete(d.orderId!);
        break;
      case "StockShipped":
        take(d.orderId!, "COMMITTED");
        s.committed -= q;
        s.shipped += q;
        s.held.delete(d.orderId!);
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
          s.held.set(a.orderId, { quantity: a.quantity, status: "COMMITTED", position: e.position });
        }
        break;
      case "StockReturnedToSale":
        take(d.orderId!, "COMMITTED");
        s.committed -= q;
        s.reserved += q;
        s.saleLeft.set(d.saleId!, (s.saleLeft.get(d.saleId!) ?? 0) + q);
        s.held.delete(d.orderId!);
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
        break;
      case "RefundProcessed":
        this.refundAmounts.delete(`${e.streamId}/${d.refundId}`);
        break;
    }
  }

  private orderEvent(e: RecordedEvent, orderId: string): void {
    if (e.type === "OrderCancelled") this.terminal.set(orderId, { status: "CANCELLED", position: e.position });
    else if (e.type === "OrderReturned" && (e.data as { fullyReturned?: boolean }).fullyReturned)
      this.terminal.set(orderId, { status: "RETURNED", position: e.position });
  }

  /** The checks that need the whole log: what terminal orders left behind. */
  finish(): Violation[] {
    for (const [streamId, s] of this.stock) {
      for (const [orderId, h] of s.held) {
        const t = this.terminal.get(orderId);
        if (t?.status !== "CANCELLED") continue;
        this.report({
          kind: "cancelled_order_stock_held",
          streams: [`order-${orderId}`, streamId],
          positions: [t.position, h.position],
          detail: `order ${orderId} was cancelled at ${t.position} but still holds ${h.quantity} ${h.status} in ${streamId} (since ${h.position})`,
        });
      }
    }
    for (const [orderId, t] of this.terminal) {
      const saga = this.sagaStatus.get(orderId);
      if (saga?.status === t.status) continue;
      this.report({
        kind: "terminal_order_saga_unfinished",
        streams: [`order-${orderId}`, `orderSaga-${orderId}`],
        positions: [t.position, ...(saga ? [saga.position] : [])],
        detail: `order ${orderId} is ${t.status} but its saga is ${saga ? saga.status : "absent"}`,
      });
    }
    return this.violations;
  }
}

export async function invariantsCommand(ctx: CliContext): Promise<ExitCodeValue> {
  const checker = new InvariantChecker();
  const started = performance.now();
  await forEachPage(ctx, "invariants", { filter: { streamCategories: ["inventory", "payment", "order", "orderSaga"] } }, (events) => {
    for (const e of events) checker.observe(e);
  });
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
