// The orders read model's batch rules: the same as `apply` in ./orders.ts (one SQL change per
// event), as a fold over rows in memory (./fold.ts: a page at a time, or across a rebuild).
// test/projections/batch.test.ts checks that every way builds identical tables from the same log.

import type { OrderEvent } from "../aggregates/order.js";
import type { RowFold } from "./fold.js";
import { isoText, recordedAs } from "./projection.js";
import { keyOf, type Columns } from "./rows.js";

const ORDER_COLUMNS: Columns = {
  order_id: "text",
  customer_id: "text",
  status: "text",
  payment_status: "text",
  fulfillment_status: "text",
  subtotal: "bigint",
  discount_amount: "bigint",
  total_amount: "bigint",
  captured_amount: "bigint",
  refunded_amount: "bigint",
  currency: "text",
  coupon_code: "text",
  payment_method: "text",
  payment_required: "boolean",
  shipping_address: "jsonb",
  payment_id: "text",
  payment_url: "text",
  shipment_id: "text",
  warehouse_id: "text",
  carrier: "text",
  tracking_number: "text",
  shipment_status: "text",
  cancellation_reason: "text",
  cancellation_note: "text",
  created_at: "timestamptz",
  updated_at: "timestamptz",
  delivered_at: "timestamptz",
  revision: "bigint",
};
const LINE_COLUMNS: Columns = { order_id: "text", line_no: "int", sku: "text", quantity: "int", unit_price: "bigint" };
const REFUND_COLUMNS: Columns = {
  order_id: "text",
  refund_id: "text",
  seq: "bigint",
  amount: "bigint",
  status: "text",
  reason: "text",
  return_id: "text",
  requested_at: "timestamptz",
  processed_at: "timestamptz",
};
const RETURN_COLUMNS: Columns = {
  order_id: "text",
  return_id: "text",
  seq: "bigint",
  status: "text",
  refund_amount: "bigint",
  reason: "text",
  lines: "jsonb",
  refund_id: "text",
  requested_at: "timestamptz",
};

const REFUND_EVENTS = new Set(["OrderRefundRequested", "OrderRefundProcessed", "OrderRefundFailed"]);
const RETURN_EVENTS = new Set(["OrderReturnRequested", "OrderReturnReceived", "OrderReturned"]);

type Table = "orders" | "lines" | "refunds" | "returns";

export const ordersFold: RowFold<Table> = {
  tables: {
    orders: { columns: ORDER_COLUMNS, key: ["order_id"], lookup: "order_id", write: "revision" },
    lines: { columns: LINE_COLUMNS, key: ["order_id", "line_no"], write: "insert" },
    refunds: { columns: REFUND_COLUMNS, key: ["order_id", "refund_id"], lookup: "order_id", write: "update" },
    returns: { columns: RETURN_COLUMNS, key: ["order_id", "return_id"], lookup: "order_id", write: "update" },
  },
  needs(events) {
    const ids = new Set<string>();
    const withRefunds = new Set<string>();
    const withReturns = new Set<string>();
    for (const e of events) {
      const orderId = (e.data as { orderId: string }).orderId;
      ids.add(orderId);
      if (REFUND_EVENTS.has(e.type)) withRefunds.add(orderId);
      if (RETURN_EVENTS.has(e.type)) withReturns.add(orderId);
    }
    return { orders: ids, refunds: withRefunds, returns: withReturns };
  },
  fold(events, { orders, lines, refunds, returns }) {
    for (const recorded of events) {
      const event = recordedAs<OrderEvent>(recorded);
      const d = event.data;
      const id = d.orderId;
      const row = orders.get(id);

      if (event.type === "OrderPlaced") {
        if (row) continue; // INSERT … ON CONFLICT DO NOTHING, and no lines
        const p = event.data;
        orders.set(id, {
          order_id: id,
          customer_id: p.customerId,
          status: "CREATED",
          payment_status: p.paymentRequired ? "PENDING" : "NOT_REQUIRED",
          fulfillment_status: "UNFULFILLED",
          subtotal: p.subtotal,
          discount_amount: p.discountAmount,
          total_amount: p.totalAmount,
          captured_amount: 0,
          refunded_amount: 0,
          currency: p.currency,
          coupon_code: p.couponCode ?? null,
          payment_method: p.paymentMethod,
          payment_required: p.paymentRequired,
          shipping_address: p.shippingAddress,
          payment_id: null,
          payment_url: null,
          shipment_id: null,
          warehouse_id: null,
          carrier: null,
          tracking_number: null,
          shipment_status: null,
          cancellation_reason: null,
          cancellation_note: null,
          created_at: isoText(p.at),
          updated_at: isoText(p.at),
          delivered_at: null,
          revision: event.revision,
        });
        for (const [index, line] of p.lines.entries())
          lines.set(keyOf(id, index), { order_id: id, line_no: index, sku: line.sku, quantity: line.quantity, unit_price: line.unitPrice });
        continue;
      }

      // `advance`: only a row behind this event moves, and nothing else changes otherwise.
      if (!row || (row.revision as number) >= event.revision) continue;
      const before = { ...row };
      row.revision = event.revision;
      row.updated_at = isoText(d.at);
      orders.touch(id);

      switch (event.type) {
        case "OrderPaymentPending":
          Object.assign(row, {
            status: "PAYMENT_PENDING",
            fulfillment_status: "RESERVED",
            payment_status: "PENDING",
            payment_id: event.data.paymentId,
            payment_url: event.data.paymentUrl ?? null,
          });
          break;
        case "OrderConfirmed":
          Object.assign(row, { status: "CONFIRMED", fulfillment_status: "RESERVED" });
          if (event.data.paymentId !== undefined)
            Object.assign(row, { payment_status: "CAPTURED", captured_amount: event.data.capturedAmount });
          break;
        case "OrderProcessingStarted":
          Object.assign(row, {
            status: "PROCESSING",
            fulfillment_status: "ALLOCATED",
            shipment_id: event.data.shipmentId ?? null,
            warehouse_id: event.data.warehouseId ?? null,
            shipment_status: "ALLOCATED",
          });
          break;
        case "OrderShipped":
          Object.assign(row, {
            status: "SHIPPED",
            fulfillment_status: "SHIPPED",
            carrier: event.data.carrier,
            tracking_number: event.data.trackingNumber,
            shipment_status: "SHIPPED",
          });
          break;
        case "OrderDelivered":
          Object.assign(row, {
            status: "DELIVERED",
            fulfillment_status: "DELIVERED",
            shipment_status: "DELIVERED",
            delivered_at: isoText(d.at),
          });
          break;
        case "OrderCancelled":
          Object.assign(row, {
            status: "CANCELLED",
            fulfillment_status: "CANCELLED",
            cancellation_reason: event.data.reason,
            cancellation_note: event.data.note ?? null,
            payment_status: before.payment_status === "PENDING" && before.payment_id === null ? "NOT_REQUIRED" : before.payment_status,
          });
          break;
        case "OrderReturnRequested": {
          Object.assign(row, { status: "RETURN_REQUESTED", fulfillment_status: "RETURN_REQUESTED" });
          const key = keyOf(id, event.data.returnId);
          if (!returns.get(key))
            returns.set(key, {
              order_id: id,
              return_id: event.data.returnId,
              seq: event.revision,
              status: "REQUESTED",
              refund_amount: event.data.refundAmount,
              reason: event.data.reason,
              lines: event.data.lines.map((l) => ({ sku: l.sku, quantity: l.quantity })),
              refund_id: null,
              requested_at: isoText(d.at),
            });
          break;
        }
        case "OrderReturnReceived": {
          row.fulfillment_status = "RETURN_RECEIVED";
          const key = keyOf(id, event.data.returnId);
          const ret = returns.get(key);
          if (ret) returns.set(key, { ...ret, status: "RECEIVED" });
          break;
        }
        case "OrderReturned": {
          Object.assign(
            row,
            event.data.fullyReturned
              ? { status: "RETURNED", fulfillment_status: "RETURNED" }
              : { status: "DELIVERED", fulfillment_status: "PARTIALLY_RETURNED" },
          );
          const key = keyOf(id, event.data.returnId);
          const ret = returns.get(key);
          if (ret) returns.set(key, { ...ret, status: "COMPLETED", refund_id: event.data.refundId ?? null });
          break;
        }
        case "OrderPaymentFailed":
          row.payment_status = "FAILED";
          break;
        case "OrderPaymentVoided":
          row.payment_status = "VOIDED";
          break;
        case "OrderPaymentCaptured":
          Object.assign(row, { payment_status: "CAPTURED", captured_amount: event.data.amount });
          break;
        case "OrderRefundRequested": {
          const key = keyOf(id, event.data.refundId);
          if (!refunds.get(key))
            refunds.set(key, {
              order_id: id,
              refund_id: event.data.refundId,
              seq: event.revision,
              amount: event.data.amount,
              status: "PENDING",
              reason: event.data.reason,
              return_id: event.data.returnId ?? null,
              requested_at: isoText(d.at),
              processed_at: null,
            });
          break;
        }
        case "OrderRefundProcessed": {
          const refunded = (before.refunded_amount as number) + event.data.amount;
          Object.assign(row, {
            refunded_amount: refunded,
            payment_status: refunded >= (before.captured_amount as number) ? "REFUNDED" : "PARTIALLY_REFUNDED",
          });
          const key = keyOf(id, event.data.refundId);
          const refund = refunds.get(key);
          if (refund) refunds.set(key, { ...refund, status: "PROCESSED", processed_at: isoText(d.at) });
          break;
        }
        case "OrderRefundFailed": {
          const key = keyOf(id, event.data.refundId);
          const refund = refunds.get(key);
          if (refund) refunds.set(key, { ...refund, status: "FAILED" });
          break;
        }
        default:
          // An event type this model does not know: only the revision and updated_at move.
          break;
      }
    }
  },
};
