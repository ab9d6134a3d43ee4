// Which events of the log the order saga reads, and what each becomes as a saga input: an event
// counts only from the stream category it belongs to (a `PaymentCaptured` appended to an order
// stream is not a payment's), and an OrderPlaced is narrowed to what the saga decides on.

import { streamCategory, type RecordedEvent } from "../eventstore/port.js";
import { SAGA_INBOX_CATEGORY, SAGA_INPUT_TYPES, type SagaInput } from "./order-saga.js";

/** Which categories (and types) the saga listens to. */
export const ORDER_SAGA_FILTER = {
  streamCategories: ["order", "payment", "inventory", SAGA_INBOX_CATEGORY],
  eventTypes: SAGA_INPUT_TYPES,
} as const;

const EXPECTED_CATEGORY: Record<SagaInput["type"], string> = {
  OrderPlaced: "order",
  OrderCancelled: "order",
  OrderShipped: "order",
  OrderDelivered: "order",
  OrderReturnRequested: "order",
  OrderReturnReceived: "order",
  OrderReturned: "order",
  StockReserved: "inventory",
  StockReservationRejected: "inventory",
  StockCommitted: "inventory",
  StockReleased: "inventory",
  StockReservationExpired: "inventory",
  StockShipped: "inventory",
  PaymentInitiated: "payment",
  PaymentCaptured: "payment",
  PaymentFailed: "payment",
  PaymentVoided: "payment",
  RefundRequested: "payment",
  RefundProcessed: "payment",
  RefundFailed: "payment",
  DeadlineReached: SAGA_INBOX_CATEGORY,
  SagaResumeRequested: SAGA_INBOX_CATEGORY,
};

/** The saga input an event of the log is, or undefined when the saga does not read it. */
export function toSagaInput(event: RecordedEvent): SagaInput | undefined {
  const type = event.type as SagaInput["type"];
  if (EXPECTED_CATEGORY[type] === undefined || EXPECTED_CATEGORY[type] !== streamCategory(event.streamId)) return undefined;
  const data = event.data as { orderId?: unknown };
  if (typeof data?.orderId !== "string" || data.orderId === "") return undefined;
  if (type === "OrderPlaced") {
    // Only what the saga decides on: no customer or address copied into the saga stream.
    const d = event.data as unknown as Extract<SagaInput, { type: "OrderPlaced" }>["data"];
    return {
      type,
      data: {
        orderId: d.orderId,
        lines: d.lines,
        totalAmount: d.totalAmount,
        currency: d.currency,
        paymentMethod: d.paymentMethod,
        paymentRequired: d.paymentRequired,
        at: d.at,
        stock: {},
        ...(d.flashSale ? { flashSale: d.flashSale } : {}),
      },
    };
  }
  return { type, data } as SagaInput;
}
