// The payments read model's batch rules: those of `apply` in ./payments.ts, as a fold over rows in
// memory (./fold.ts: a page at a time, or across a rebuild).

import type { PaymentEvent } from "../aggregates/payment.js";
import type { RowFold } from "./fold.js";
import { isoText, recordedAs } from "./projection.js";
import { keyOf, type Columns } from "./rows.js";

const PAYMENT_COLUMNS: Columns = {
  payment_id: "text",
  order_id: "text",
  amount: "bigint",
  currency: "text",
  method: "text",
  status: "text",
  captured_amount: "bigint",
  refunded_amount: "bigint",
  payment_url: "text",
  gateway_reference: "text",
  gateway_payment_id: "text",
  capture_after_void: "boolean",
  failure_reason: "text",
  created_at: "timestamptz",
  updated_at: "timestamptz",
  revision: "bigint",
};
const REFUND_COLUMNS: Columns = {
  payment_id: "text",
  refund_id: "text",
  seq: "bigint",
  amount: "bigint",
  status: "text",
  reason: "text",
  failure_reason: "text",
  requested_at: "timestamptz",
  processed_at: "timestamptz",
};

const REFUND_EVENTS = new Set(["RefundRequested", "RefundProcessed", "RefundFailed"]);

export const paymentsFold: RowFold<"payments" | "refunds"> = {
  tables: {
    payments: { columns: PAYMENT_COLUMNS, key: ["payment_id"], lookup: "payment_id", write: "revision" },
    refunds: { columns: REFUND_COLUMNS, key: ["payment_id", "refund_id"], lookup: "payment_id", write: "update" },
  },
  needs(events) {
    const ids = new Set<string>();
    const withRefunds = new Set<string>();
    for (const e of events) {
      const paymentId = (e.data as { paymentId: string }).paymentId;
      ids.add(paymentId);
      if (REFUND_EVENTS.has(e.type)) withRefunds.add(paymentId);
    }
    return { payments: ids, refunds: withRefunds };
  },
  fold(events, { payments, refunds }) {
    for (const recorded of events) {
      const event = recordedAs<PaymentEvent>(recorded);
      const d = event.data;
      const id = d.paymentId;
      const row = payments.get(id);

      if (event.type === "PaymentInitiated") {
        if (row) continue;
        const p = event.data;
        payments.set(id, {
          payment_id: id,
          order_id: p.orderId,
          amount: p.amount,
          currency: p.currency,
          method: p.method,
          status: "INITIATED",
          captured_amount: 0,
          refunded_amount: 0,
          payment_url: p.paymentUrl ?? null,
          gateway_reference: p.gatewayReference ?? null,
          gateway_payment_id: null,
          capture_after_void: false,
          failure_reason: null,
          created_at: isoText(p.at),
          updated_at: isoText(p.at),
          revision: event.revision,
        });
        continue;
      }

      if (!row || (row.revision as number) >= event.revision) continue;
      const before = { ...row };
      row.revision = event.revision;
      row.updated_at = isoText(d.at);
      payments.touch(id);

      switch (event.type) {
        case "PaymentAuthorized":
          Object.assign(row, { status: "AUTHORIZED", gateway_payment_id: event.data.gatewayPaymentId ?? before.gateway_payment_id });
          break;
        case "PaymentCaptured":
          Object.assign(row, {
            status: "CAPTURED",
            captured_amount: event.data.amount,
            gateway_payment_id: event.data.gatewayPaymentId ?? before.gateway_payment_id,
          });
          break;
        case "CaptureAfterVoidFlagged":
          row.capture_after_void = true;
          break;
        case "PaymentFailed":
          Object.assign(row, { status: "FAILED", failure_reason: event.data.reason });
          break;
        case "PaymentVoided":
          row.status = "VOIDED";
          break;
        case "RefundRequested": {
          const key = keyOf(id, event.data.refundId);
          if (!refunds.get(key))
            refunds.set(key, {
              payment_id: id,
              refund_id: event.data.refundId,
              seq: event.revision,
              amount: event.data.amount,
              status: "PENDING",
              reason: event.data.reason,
              failure_reason: null,
              requested_at: isoText(d.at),
              processed_at: null,
            });
          break;
        }
        case "RefundProcessed": {
          const refunded = (before.refunded_amount as number) + event.data.amount;
          Object.assign(row, {
            refunded_amount: refunded,
            status: refunded >= (before.captured_amount as number) ? "REFUNDED" : "PARTIALLY_REFUNDED",
          });
          const key = keyOf(id, event.data.refundId);
          const refund = refunds.get(key);
          if (refund) refunds.set(key, { ...refund, status: "PROCESSED", processed_at: isoText(d.at) });
          break;
        }
        case "RefundFailed": {
          const key = keyOf(id, event.data.refundId);
          const refund = refunds.get(key);
          if (refund) refunds.set(key, { ...refund, status: "FAILED", failure_reason: event.data.reason });
          break;
        }
        default:
          // GatewayEventIgnored and types unknown here: only the revision and updated_at move.
          break;
      }
    }
  },
};
