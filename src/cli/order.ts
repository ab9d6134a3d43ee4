// `replay order <orderId> [--as-of <time|position>]`: the order's history from its own streams
// (src/queries/order-history.ts) as a timeline, and its state folded from its own stream, as it
// stood at the end or at `--as-of`.

import { fold } from "../aggregates/decider.js";
import { orderDecider, type OrderEvent, type OrderState } from "../aggregates/order.js";
import type { RecordedEvent } from "../eventstore/port.js";
import { migrateProjections, orderHistoryProjection, projectionStatus } from "../projections/index.js";
import { orderEventsAsOf, orderHistory, type AsOf } from "../queries/order-history.js";
import type { CliContext } from "./context.js";
import { eventJson, type EventView } from "./events.js";
import { ExitCode, type ExitCodeValue } from "./usage.js";

export interface OrderOptions {
  asOf?: AsOf;
  view: EventView;
}

export async function orderCommand(ctx: CliContext, orderId: string, options: OrderOptions): Promise<ExitCodeValue> {
  const { out } = ctx;
  await migrateProjections(ctx.sql, [orderHistoryProjection]);
  const [index] = await projectionStatus(ctx, [orderHistoryProjection]);
  // Events of shared streams (payment, stock) are found through the index: say when it lags.
  if (index && index.lagEvents > 0)
    out.note(
      `the order-history index is ${index.lagCapped ? "over " : ""}${index.lagEvents} event(s) behind the log: payment and stock events may be missing (is the server running? replay rebuild order-history)`,
    );
  const stored = await orderHistory({ store: ctx.stored, sql: ctx.sql }, orderId);
  if (!stored.some((e) => e.streamId === `order-${orderId}`)) {
    out.note(`order ${orderId}: no such order in the log`);
    return ExitCode.finding;
  }
  const upcast = new Map<RecordedEvent, RecordedEvent>(stored.map((e) => [e, ctx.upcast(e)]));
  const within = (e: RecordedEvent) =>
    !options.asOf || ("time" in options.asOf ? e.recordedAt.getTime() <= options.asOf.time.getTime() : e.position <= options.asOf.position);
  const shown = stored.filter(within);
  const current = stored.map((e) => upcast.get(e)!);
  const own = options.asOf ? orderEventsAsOf(current, orderId, options.asOf) : current.filter((e) => e.streamId === `order-${orderId}`);
  const state: OrderState = fold(
    orderDecider,
    own.map((e) => ({ type: e.type, data: e.data }) as OrderEvent),
  );
  const asOfText = options.asOf ? ("time" in options.asOf ? options.asOf.time.toISOString() : options.asOf.position) : undefined;

  if (out.mode === "json") {
    out.json({
      orderId,
      ...(asOfText ? { asOf: asOfText } : {}),
      events: shown.map((e) => eventJson(e, upcast.get(e)!, options.view)),
      state: state.status === "NONE" ? null : state,
    });
    return ExitCode.ok;
  }
  const describe = (e: RecordedEvent) => `${e.type} v${e.schemaVersion}`;
  out.table(
    ["position", "stream@revision", "recorded", "actor", "event", "data"],
    shown.map((e) => {
      const u = upcast.get(e)!;
      const event =
        options.view === "stored" ? describe(e) : options.view === "both" && u !== e ? `${describe(e)} => ${describe(u)}` : describe(u);
      return [
        e.position,
        `${e.streamId}@${e.revision}`,
        e.recordedAt.toISOString(),
        e.metadata.actor,
        event,
        JSON.stringify((options.view === "stored" ? e : u).data),
      ];
    }),
  );
  const label = asOfText ? `as of ${asOfText}` : "now";
  if (state.status === "NONE") {
    out.line(`state ${label}: not placed yet`);
    return ExitCode.ok;
  }
  out.table(
    ["state", "status", "payment", "fulfillment", "total", "refunded", "currency", "updated"],
    [
      [
        label,
        state.status,
        state.paymentStatus,
        state.fulfillmentStatus,
        state.totalAmount,
        state.refundedAmount,
        state.currency,
        state.updatedAt,
      ],
    ],
  );
  return ExitCode.ok;
}
