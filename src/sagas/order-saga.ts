// The order saga's pure part: a process manager from CREATED to DELIVERED (or CANCELLED /
// RETURNED), written as
//
//   react(state, input, context) -> { status, commands, deadlines to schedule / cancel }
//   evolveSaga(state, sagaEvent) -> state
//
// It does no I/O. The runner (saga-inputs.ts, saga-step.ts) turns each relevant event of the log into
// an input, records the reaction in the saga's own stream `orderSaga-<orderId>` (its inbox and
// outbox), then issues the commands (idempotent by their deterministic ids) and keeps the
// deadlines. Replaying the saga stream gives back the state; re-running a recorded step issues
// the very same commands.
//
//   NEW ──OrderPlaced──► RESERVING ──all StockReserved──► AWAITING_PAYMENT ──PaymentCaptured──► PROCESSING
//                          │  (COD: all reserved ─────────────────────────────────────────────►│
//                          │                                                                   ├─OrderShipped──► SHIPPED ──OrderDelivered──► DELIVERED
//                          ├─StockReservationRejected──► CANCELLING                             │                                             │
//                          │                              ▲   (CancelOrder OUT_OF_STOCK)       │                         OrderReturnRequested ▼
//   AWAITING_PAYMENT ──PaymentFailed──────────────────────┤   (CancelOrder PAYMENT_FAILED)     │                                        RETURNING
//   AWAITING_PAYMENT ──DeadlineReached(paymentTimeout)────┤   (CancelOrder PAYMENT_TIMEOUT)    │             OrderReturnReceived: restock + refund + MarkReturned
//   RESERVING|AWAITING ──DeadlineReached(reservationExpiry)┘  (ExpireReservation + CancelOrder)│                                 OrderReturned ▼
//                                                                                               │                              RETURNED (or DELIVERED if partial)
//   any ──OrderCancelled (saga's own or the customer's)──► CANCELLED: release/un-commit every live reservation,
//          void an open payment, refund whatever was captured and not yet refunded.
//   CANCELLED ──PaymentCaptured (late capture)──► refund it in full.
//
// Facts mirrored onto the order as they happen: PaymentInitiated -> MarkPaymentPending,
// PaymentVoided -> RecordPaymentVoided (+ void at the gateway), RefundRequested -> refund at the
// gateway, RefundProcessed/RefundFailed -> RecordRefundProcessed/RecordRefundFailed.
//
// Commands that may have become moot through a race (the customer cancelled meanwhile, the
// reservation already expired) are marked `mootOk`: a DomainError from them is expected and the
// saga carries on; the facts that follow put things right. Gateway calls that keep failing are
// retried with backoff (a `retry` deadline per attempt) and then park the saga as needing
// attention until an operator resumes it.

import type { InventoryCommand } from "../aggregates/inventory.js";
import type { CancellationReason, FlashSaleRef, OrderCommand, OrderLine } from "../aggregates/order.js";
import type { OnlinePaymentMethod, PaymentCommand } from "../aggregates/payment.js";
import type { Currency, PaymentMethod } from "../aggregates/rules.js";
import { drawFromSale, giveBackToSale, type FlashSaleStockCommand } from "./flash-sale-orders.js";

export const SAGA_CATEGORY = "orderSaga";
export const sagaStreamId = (orderId: string): string => `${SAGA_CATEGORY}-${orderId}`;
/** Inputs that come from outside the log's aggregates (fired deadlines, operator resumes). */
export const SAGA_INBOX_CATEGORY = "orderSagaInbox";
export const sagaInboxStreamId = (orderId: string): string => `${SAGA_INBOX_CATEGORY}-${orderId}`;
export const SAGA_ACTOR = "saga:order";

// ---------------------------------------------------------------- inputs

/**
 * What one warehouse had available of a SKU when an order arrived: what the saga plans the
 * order's reservations on (not the inventory read model's row, src/queries/inventory.ts).
 */
export interface WarehouseAvailability {
  warehouseId: string;
  available: number;
}

export type DeadlineKind = "paymentTimeout" | "reservationExpiry" | "retry";

type In<Type extends string, Data> = { type: Type; data: Data };

/** What the saga reacts to: events of the log, narrowed to what it reads. */
export type SagaInput =
  | In<
      "OrderPlaced",
      {
        orderId: string;
        lines: OrderLine[];
        totalAmount: number;
        currency: Currency;
        paymentMethod: PaymentMethod;
        paymentRequired: boolean;
        at: string;
        /** Added by the runner: each SKU's warehouses and their available stock when the order arrived. */
        stock: Record<string, WarehouseAvailability[]>;
        /** Placed with a flash-sale claim: its units are held by the claim (see flash-sale-orders.ts). */
        flashSale?: FlashSaleRef;
      }
    >
  | In<"OrderCancelled", { orderId: string; reason: CancellationReason; at: string }>
  | In<"OrderShipped", { orderId: string; at: string }>
  | In<"OrderDelivered", { orderId: string; at: string }>
  | In<"OrderReturnRequested", { orderId: string; returnId: string; lines: OrderLine[]; refundAmount: number; at: string }>
  | In<"OrderReturnReceived", { orderId: string; returnId: string; at: string }>
  | In<"OrderReturned", { orderId: string; returnId: string; fullyReturned: boolean; at: string }>
  | In<"StockReserved", { orderId: string; sku: string; warehouseId: string; quantity: number; expiresAt: string; at: string }>
  | In<"StockReservationRejected", { orderId: string; sku: string; warehouseId: string; quantity: number; available: number; at: string }>
  | In<
      "StockCommitted" | "StockReleased" | "StockReservationExpired" | "StockShipped",
      { orderId: string; sku: string; warehouseId: string; quantity: number; at: string }
    >
  | In<"PaymentInitiated", { orderId: string; paymentId: string; paymentUrl?: string; at: string }>
  | In<"PaymentCaptured", { orderId: string; paymentId: string; amount: number; gatewayPaymentId?: string; at: string }>
  | In<"PaymentFailed", { orderId: string; paymentId: string; reason: string; at: string }>
  | In<"PaymentVoided", { orderId: string; paymentId: string; reason: string; at: string }>
  | In<
      "RefundRequested",
      { orderId: string; paymentId: string; refundId: string; amount: number; currency: Currency; reason: string; at: string }
    >
  | In<"RefundProcessed", { orderId: string; paymentId: string; refundId: string; amount: number; at: string }>
  | In<"RefundFailed", { orderId: string; paymentId: string; refundId: string; amount: number; reason: string; at: string }>
  | In<
      "DeadlineReached",
      { orderId: string; kind: DeadlineKind; deadlineId: string; dueAt: string; firedAt: string; stepId?: string; attempt?: number }
    >
  | In<"SagaResumeRequested", { orderId: string; by: string; at: string }>;

export type SagaInputType = SagaInput["type"];
export const SAGA_INPUT_TYPES: readonly SagaInputType[] = [
  "OrderPlaced",
  "OrderCancelled",
  "OrderShipped",
  "OrderDelivered",
  "OrderReturnRequested",
  "OrderReturnReceived",
  "OrderReturned",
  "StockReserved",
  "StockReservationRejected",
  "StockCommitted",
  "StockReleased",
  "StockReservationExpired",
  "StockShipped",
  "PaymentInitiated",
  "PaymentCaptured",
  "PaymentFailed",
  "PaymentVoided",
  "RefundRequested",
  "RefundProcessed",
  "RefundFailed",
  "DeadlineReached",
  "SagaResumeRequested",
];

// ---------------------------------------------------------------- commands (the outbox)

interface Issued {
  /** Deterministic: `<sagaId>/<step>/<target>`; the idempotency key of the command (and of a gateway call). */
  commandId: string;
  /** A DomainError from this command means a race made it moot; the saga carries on. */
  mootOk?: boolean;
}

export type SagaCommand =
  | (Issued & { target: "order"; command: OrderCommand })
  | (Issued & { target: "inventory"; command: InventoryCommand })
  | (Issued & { target: "payment"; command: PaymentCommand })
  /** gateway.initiate, then Payment InitiatePayment with the gateway's paymentUrl. */
  | (Issued & {
      target: "gateway";
      op: "startPayment";
      paymentId: string;
      orderId: string;
      amount: number;
      currency: Currency;
      method: OnlinePaymentMethod;
      at: string;
    })
  /** gateway.void (the Payment is already VOIDED). */
  | (Issued & { target: "gateway"; op: "void"; paymentId: string; reason: string; at: string })
  /** gateway.refund; a direct "processed" answer is recorded as Payment RecordRefundProcessed. */
  | (Issued & {
      target: "gateway";
      op: "refund";
      paymentId: string;
      refundId: string;
      amount: number;
      currency: Currency;
      reason: string;
      at: string;
    })
  /** A flash-sale order's units drawn from, or given back to, the sale's reservation. */
  | (Issued & FlashSaleStockCommand);

export interface DeadlineToSchedule {
  kind: DeadlineKind;
  /** Unique per order: `<orderId>/<kind>` (retry deadlines add the step and attempt). */
  deadlineId: string;
  dueAt: string;
  stepId?: string;
  attempt?: number;
}

export interface Reaction {
  /** The step the saga is at after this input. */
  status: SagaStatus;
  commands: SagaCommand[];
  schedule: DeadlineToSchedule[];
  /** Deadline ids to cancel. */
  cancel: string[];
  /** Set when the commands re-run a failed step (retry deadline or operator resume). */
  retryOf?: string;
  /** Park the saga as needing attention (the error an operator sees); resume runs `commands` of the failure. */
  park?: { error: string; commands: SagaCommand[] };
  /** A short human note of why (recorded in the saga stream). */
  note?: string;
}

export interface SagaConfig {
  paymentTimeoutMs: number;
  reservationTtlMs: number;
}

export interface ReactContext {
  /** ISO time the saga decides at (the runner's clock). */
  now: string;
  config: SagaConfig;
}

// ---------------------------------------------------------------- state

export type SagaStatus =
  | "NEW"
  | "RESERVING"
  | "AWAITING_PAYMENT"
  | "PROCESSING"
  | "SHIPPED"
  | "DELIVERED"
  | "RETURNING"
  | "RETURNED"
  | "CANCELLING"
  | "CANCELLED";

export type AllocationStatus = "REQUESTED" | "RESERVED" | "REJECTED" | "COMMITTED" | "RELEASED" | "EXPIRED" | "SHIPPED";

/** Part (or all) of a line reserved at one warehouse. */
export interface Allocation {
  sku: string;
  warehouseId: string;
  quantity: number;
  status: AllocationStatus;
  /** Units of this allocation restocked by returns (decided by the saga). */
  restocked: number;
}

export interface SagaRefund {
  refundId: string;
  amount: number;
  status: "REQUESTED" | "PROCESSED" | "FAILED";
}

export interface SagaReturn {
  returnId: string;
  lines: OrderLine[];
  refundAmount: number;
  status: "REQUESTED" | "RECEIVED" | "COMPLETED";
}

export interface SagaFailure {
  /** The step whose commands failed. */
  stepId: string;
  commands: SagaCommand[];
  attempts: number;
  error: string;
  parked: boolean;
  since: string;
}

export interface SagaState {
  status: SagaStatus;
  orderId: string;
  lines: OrderLine[];
  totalAmount: number;
  currency: Currency;
  paymentMethod: PaymentMethod;
  paymentRequired: boolean;
  allocations: Allocation[];
  /** The flash-sale claim the order was placed with. */
  flashSale?: FlashSaleRef;
  reservationExpiresAt?: string;
  paymentId?: string;
  payment: "NONE" | "INITIATED" | "CAPTURED" | "FAILED" | "VOIDED";
  capturedAmount: number;
  refunds: SagaRefund[];
  returns: SagaReturn[];
  cancellationReason?: CancellationReason;
  failure?: SagaFailure;
  /** Steps recorded so far. */
  steps: number;
}

export const initialSagaState: SagaState = {
  status: "NEW",
  orderId: "",
  lines: [],
  totalAmount: 0,
  currency: "INR",
  paymentMethod: "COD",
  paymentRequired: false,
  allocations: [],
  payment: "NONE",
  capturedAmount: 0,
  refunds: [],
  returns: [],
  steps: 0,
};

// ---------------------------------------------------------------- saga stream events

export interface SagaStepRecorded {
  type: "SagaStepRecorded";
  data: { stepId: string; input: SagaInput; inputEventId: string; decidedAt: string } & Reaction;
}
/** A step's commands failed at the gateway (attempt n); `parked` when the retries ran out. */
export interface SagaCommandFailed {
  type: "SagaCommandFailed";
  data: { stepId: string; attempt: number; error: string; commands: SagaCommand[]; parked: boolean; at: string; nextAttemptAt?: string };
}
/** A failed step ran to completion on a retry or after a resume. */
export interface SagaRecovered {
  type: "SagaRecovered";
  data: { stepId: string; at: string };
}
export type SagaEvent = SagaStepRecorded | SagaCommandFailed | SagaRecovered;

// ---------------------------------------------------------------- helpers

const LIVE: readonly AllocationStatus[] = ["REQUESTED", "RESERVED", "COMMITTED"];
const UNPAID: readonly SagaStatus[] = ["RESERVING", "AWAITING_PAYMENT"];

const allocKey = (a: { sku: string; warehouseId: string }): string => `${a.sku}@${a.warehouseId}`;
const deadlineId = (orderId: string, kind: Exclude<DeadlineKind, "retry">): string => `${orderId}/${kind}`;
export const paymentIdFor = (orderId: string): string => `pay-${orderId}`;
export const shipmentIdFor = (orderId: string): string => `shp-${orderId}`;
const addMs = (iso: string, ms: number): string => new Date(Date.parse(iso) + ms).toISOString();
const laterOf = (a: string, b: string): string => (Date.parse(a) >= Date.parse(b) ? a : b);

/** Money captured and not yet promised back (refunds requested and not failed). */
export const refundable = (s: SagaState): number =>
  s.capturedAmount - s.refunds.filter((r) => r.status !== "FAILED").reduce((sum, r) => sum + r.amount, 0);

/**
 * Where to reserve each line: the warehouse with the most available stock when one can serve the
 * whole line, otherwise split over the warehouses (most stock first). When even all of them
 * together cannot, the whole line goes to the fullest one, whose Inventory will reject it
 * (OUT_OF_STOCK is the aggregate's call, not the saga's). null: a SKU no warehouse stocks.
 */
export function planAllocations(
  lines: readonly OrderLine[],
  stock: Readonly<Record<string, WarehouseAvailability[]>>,
): { sku: string; warehouseId: string; quantity: number }[] | null {
  const plan: { sku: string; warehouseId: string; quantity: number }[] = [];
  for (const line of lines) {
    const warehouses = [...(stock[line.sku] ?? [])].sort((a, b) => b.available - a.available || a.warehouseId.localeCompare(b.warehouseId));
    const fullest = warehouses[0];
    if (!fullest) return null;
    const total = warehouses.reduce((sum, w) => sum + Math.max(0, w.available), 0);
    if (fullest.available >= line.quantity || total < line.quantity) {
      plan.push({ sku: line.sku, warehouseId: fullest.warehouseId, quantity: line.quantity });
      continue;
    }
    let left = line.quantity;
    for (const w of warehouses) {
      if (left === 0) break;
      const take = Math.min(left, w.available);
      if (take <= 0) continue;
      plan.push({ sku: line.sku, warehouseId: w.warehouseId, quantity: take });
      left -= take;
    }
  }
  return plan;
}

// ---------------------------------------------------------------- react

const nothing = (status: SagaStatus): Reaction => ({ status, commands: [], schedule: [], cancel: [] });

/**
 * The saga's decision for one input, given the state before it. Returns null when the input is
 * not this saga's business (an order event before OrderPlaced, a stray duplicate placement).
 */
export function react(before: SagaState, input: SagaInput, ctx: ReactContext): Reaction | null {
  if (before.status === "NEW" && input.type !== "OrderPlaced") return null;
  const s = applyInput(before, input);
  const id = (step: string, target: string) => `${sagaStreamId(s.orderId)}/${step}/${target}`;
  const order = (step: string, command: OrderCommand, mootOk = true): SagaCommand => ({
    target: "order",
    commandId: id(step, `order-${s.orderId}`),
    command,
    mootOk,
  });
  const inventory = (step: string, a: { sku: string; warehouseId: string }, command: InventoryCommand, mootOk = true): SagaCommand => ({
    target: "inventory",
    commandId: id(step, `inventory-${allocKey(a)}`),
    command,
    mootOk,
  });
  const at = ctx.now;
  const orderId = s.orderId;
  const allDeadlines = [deadlineId(orderId, "paymentTimeout"), deadlineId(orderId, "reservationExpiry")];

  /** Refund whatever was captured and not yet promised back. */
  const refundRemaining = (step: string, reason: string, recordCaptureOnOrder: boolean): SagaCommand[] => {
    const amount = refundable(s);
    if (amount <= 0 || !s.paymentId) return [];
    const refundId = `${orderId}-${step}`;
    return [
      ...(recordCaptureOnOrder
        ? [
            order(`${step}-record-capture`, {
              type: "RecordPaymentCaptured",
              orderId,
              paymentId: s.paymentId,
              amount: s.capturedAmount,
              at,
            }),
          ]
        : []),
      {
        target: "payment",
        commandId: id(step, `payment-${s.paymentId}`),
        command: { type: "RequestRefund", paymentId: s.paymentId, refundId, amount, reason, at },
        mootOk: false,
      },
      order(`${step}-record`, { type: "RecordRefundRequested", orderId, refundId, amount, reason, at }),
    ];
  };

  /** The stock is held (reserved, or a flash-sale claim's): start the payment and its timeout. */
  const awaitPayment = (): Reaction => {
    const paymentId = paymentIdFor(orderId);
    return {
      status: "AWAITING_PAYMENT",
      commands: [
        {
          target: "gateway",
          op: "startPayment",
          commandId: id("start-payment", `payment-${paymentId}`),
          paymentId,
          orderId,
          amount: s.totalAmount,
          currency: s.currency,
          method: s.paymentMethod as OnlinePaymentMethod,
          at,
        },
      ],
      schedule: [
        { kind: "paymentTimeout", deadlineId: deadlineId(orderId, "paymentTimeout"), dueAt: addMs(at, ctx.config.paymentTimeoutMs) },
      ],
      cancel: [],
    };
  };

  switch (input.type) {
    // ---------------------------------------------------------- the way forward
    case "OrderPlaced": {
      if (before.status !== "NEW") return null;
      if (s.flashSale) {
        // The claim holds the units already: straight to payment (or, COD, to confirmation and the draw).
        if (!s.paymentRequired)
          return {
            status: "PROCESSING",
            commands: confirmAndAllocate(s, "confirm", undefined, at, order, inventory, id),
            schedule: [],
            cancel: [],
          };
        return awaitPayment();
      }
      const plan = planAllocations(input.data.lines, input.data.stock);
      if (!plan)
        return {
          ...nothing("CANCELLING"),
          commands: [
            order("cancel", { type: "CancelOrder", orderId, reason: "OUT_OF_STOCK", note: "no warehouse stocks an ordered SKU", at }),
          ],
          note: "no warehouse for a SKU",
        };
      const expiresAt = addMs(at, ctx.config.reservationTtlMs);
      return {
        status: "RESERVING",
        commands: plan.map((a) =>
          inventory(
            "reserve",
            a,
            { type: "ReserveStock", sku: a.sku, warehouseId: a.warehouseId, orderId, quantity: a.quantity, expiresAt, at },
            false,
          ),
        ),
        schedule: [{ kind: "reservationExpiry", deadlineId: deadlineId(orderId, "reservationExpiry"), dueAt: expiresAt }],
        cancel: [],
      };
    }

    case "StockReserved": {
      if (s.status === "CANCELLING" || s.status === "CANCELLED") {
        // A reservation that landed after the order was given up: give it back.
        return {
          ...nothing(s.status),
          commands: [
            inventory("release", input.data, {
              type: "ReleaseReservation",
              sku: input.data.sku,
              warehouseId: input.data.warehouseId,
              orderId,
              reason: "order cancelled",
              at,
            }),
          ],
        };
      }
      if (s.status !== "RESERVING" || !s.allocations.every((a) => a.status === "RESERVED")) return nothing(s.status);
      if (s.paymentRequired) {
        return awaitPayment();
      }
      // Cash on delivery (or nothing to pay): straight to CONFIRMED, then PROCESSING.
      return {
        status: "PROCESSING",
        commands: confirmAndAllocate(s, "confirm", undefined, at, order, inventory, id),
        schedule: [],
        cancel: allDeadlines,
      };
    }

    case "StockReservationRejected":
      if (s.status !== "RESERVING") return nothing(s.status);
      return {
        ...nothing("CANCELLING"),
        commands: [
          order("cancel", {
            type: "CancelOrder",
            orderId,
            reason: "OUT_OF_STOCK",
            note: `${input.data.sku}@${input.data.warehouseId}: ${input.data.available} available, ${input.data.quantity} asked`,
            at,
          }),
        ],
      };

    case "PaymentInitiated":
      if (s.status === "CANCELLING" || s.status === "CANCELLED")
        return { ...nothing(s.status), commands: voidOpenPayment(s, "order cancelled", at, id) };
      return {
        ...nothing(s.status),
        commands: [
          order("payment-pending", {
            type: "MarkPaymentPending",
            orderId,
            paymentId: input.data.paymentId,
            ...(input.data.paymentUrl === undefined ? {} : { paymentUrl: input.data.paymentUrl }),
            at,
          }),
        ],
      };

    case "PaymentCaptured": {
      if (before.payment === "CAPTURED") return nothing(s.status);
      if (s.status === "AWAITING_PAYMENT" && input.data.amount !== s.totalAmount) {
        // A capture that is not the order's total cannot confirm it: give the order up; the
        // cancellation refunds what was captured and releases the stock.
        return {
          ...nothing("CANCELLING"),
          commands: [
            order("cancel", {
              type: "CancelOrder",
              orderId,
              reason: "PAYMENT_FAILED",
              note: `captured ${input.data.amount}, the order total is ${s.totalAmount}`,
              at,
            }),
          ],
          note: "capture amount mismatch",
        };
      }
      if (s.status === "AWAITING_PAYMENT") {
        return {
          status: "PROCESSING",
          commands: confirmAndAllocate(
            s,
            "confirm",
            { paymentId: input.data.paymentId, amount: input.data.amount },
            at,
            order,
            inventory,
            id,
          ),
          schedule: [],
          cancel: allDeadlines,
        };
      }
      if (s.status === "CANCELLING" || s.status === "CANCELLED") {
        // Money arrived for an order we gave up: it goes back, all of it.
        return {
          ...nothing(s.status),
          commands: refundRemaining("refund-late-capture", "captured after the order was cancelled", true),
          note: "late capture refunded",
        };
      }
      return nothing(s.status);
    }

    case "OrderShipped":
      return {
        ...nothing("SHIPPED"),
        commands: s.allocations
          .filter((a) => a.status === "COMMITTED" || a.status === "RESERVED")
          .map((a) => inventory("ship", a, { type: "ShipStock", sku: a.sku, warehouseId: a.warehouseId, orderId, at }, false)),
      };

    case "OrderDelivered":
      return nothing("DELIVERED");

    case "OrderReturnRequested":
      return nothing("RETURNING");

    case "OrderReturnReceived": {
      const r = s.returns.find((x) => x.returnId === input.data.returnId);
      if (!r) return nothing(s.status);
      const step = `return-${r.returnId}`;
      const restocks: SagaCommand[] = [];
      for (const line of r.lines) {
        let left = line.quantity;
        for (const a of s.allocations.filter((x) => x.sku === line.sku && x.status === "SHIPPED")) {
          const take = Math.min(left, a.quantity - a.restocked);
          if (take <= 0) continue;
          restocks.push(
            inventory(
              step,
              a,
              { type: "RestockReturn", sku: a.sku, warehouseId: a.warehouseId, orderId, returnId: r.returnId, quantity: take, at },
              false,
            ),
          );
          left -= take;
          if (left === 0) break;
        }
      }
      const refundId = `${orderId}-${step}`;
      const refund: SagaCommand[] =
        s.paymentId && r.refundAmount > 0 && s.capturedAmount > 0
          ? [
              {
                target: "payment",
                commandId: id(step, `payment-${s.paymentId}`),
                command: {
                  type: "RequestRefund",
                  paymentId: s.paymentId,
                  refundId,
                  amount: r.refundAmount,
                  reason: `return ${r.returnId}`,
                  at,
                },
                mootOk: false,
              },
              order(
                `${step}-refund`,
                {
                  type: "RecordRefundRequested",
                  orderId,
                  refundId,
                  amount: r.refundAmount,
                  reason: `return ${r.returnId}`,
                  returnId: r.returnId,
                  at,
                },
                false,
              ),
            ]
          : [];
      const marked = order(`${step}-returned`, {
        type: "MarkReturned",
        orderId,
        returnId: r.returnId,
        ...(refund.length > 0 ? { refundId } : {}),
        at,
      });
      return { ...nothing("RETURNING"), commands: [...restocks, ...refund, marked] };
    }

    case "OrderReturned":
      return nothing(input.data.fullyReturned ? "RETURNED" : "DELIVERED");

    // ---------------------------------------------------------- failures and compensations
    case "PaymentFailed": {
      const record = order("payment-failed", {
        type: "RecordPaymentFailed",
        orderId,
        paymentId: input.data.paymentId,
        reason: input.data.reason,
        at,
      });
      if (s.status !== "AWAITING_PAYMENT") return { ...nothing(s.status), commands: [record] };
      return {
        ...nothing("CANCELLING"),
        commands: [record, order("cancel", { type: "CancelOrder", orderId, reason: "PAYMENT_FAILED", note: input.data.reason, at })],
      };
    }

    case "DeadlineReached": {
      const { kind } = input.data;
      if (kind === "retry") {
        if (!s.failure || s.failure.parked || s.failure.stepId !== input.data.stepId) return nothing(s.status);
        return {
          ...nothing(s.status),
          commands: s.failure.commands,
          retryOf: s.failure.stepId,
          note: `retry ${input.data.attempt ?? "?"}`,
        };
      }
      if (kind === "paymentTimeout") {
        if (s.status !== "AWAITING_PAYMENT") return nothing(s.status);
        return {
          ...nothing("CANCELLING"),
          commands: [
            order("cancel", {
              type: "CancelOrder",
              orderId,
              reason: "PAYMENT_TIMEOUT",
              note: "no capture before the payment deadline",
              at,
            }),
          ],
        };
      }
      // Reservation expiry while still unpaid: the stock goes back and the order is given up.
      if (!UNPAID.includes(s.status)) return nothing(s.status);
      const expireAt = laterOf(at, s.reservationExpiresAt ?? at);
      return {
        ...nothing("CANCELLING"),
        commands: [
          ...s.allocations
            .filter((a) => a.status === "RESERVED" || a.status === "REQUESTED")
            .map((a) =>
              inventory("expire", a, { type: "ExpireReservation", sku: a.sku, warehouseId: a.warehouseId, orderId, at: expireAt }),
            ),
          order("cancel", {
            type: "CancelOrder",
            orderId,
            reason: "PAYMENT_TIMEOUT",
            note: "the stock reservation expired before payment",
            at,
          }),
        ],
      };
    }

    case "OrderCancelled": {
      // Whoever cancelled (the saga itself or the customer): compensate in reverse order.
      if (before.status === "CANCELLED") return nothing("CANCELLED");
      const releases = s.flashSale
        ? giveBackToSale(s, input.data.reason, at, id)
        : s.allocations
            .filter((a) => LIVE.includes(a.status))
            .map((a) =>
              inventory("release", a, {
                type: "ReleaseReservation",
                sku: a.sku,
                warehouseId: a.warehouseId,
                orderId,
                reason: `order cancelled: ${input.data.reason}`,
                at,
              }),
            );
      const refund = refundRemaining("refund-cancel", `order cancelled: ${input.data.reason}`, true);
      return {
        status: "CANCELLED",
        commands: [...voidOpenPayment(s, `order cancelled: ${input.data.reason}`, at, id), ...releases, ...refund],
        schedule: [],
        cancel: allDeadlines,
      };
    }

    // ---------------------------------------------------------- payment facts mirrored
    case "PaymentVoided": {
      const commands: SagaCommand[] = [
        order("payment-voided", { type: "RecordPaymentVoided", orderId, paymentId: input.data.paymentId, at }),
        {
          target: "gateway",
          op: "void",
          commandId: id("gateway-void", `payment-${input.data.paymentId}`),
          paymentId: input.data.paymentId,
          reason: input.data.reason,
          at,
        },
      ];
      return { ...nothing(s.status), commands };
    }

    case "RefundRequested":
      return {
        ...nothing(s.status),
        commands: [
          {
            target: "gateway",
            op: "refund",
            commandId: id(`gateway-refund-${input.data.refundId}`, `payment-${input.data.paymentId}`),
            paymentId: input.data.paymentId,
            refundId: input.data.refundId,
            amount: input.data.amount,
            currency: input.data.currency,
            reason: input.data.reason,
            at,
          },
        ],
      };

    case "RefundProcessed":
      return {
        ...nothing(s.status),
        commands: [
          order(`refund-processed-${input.data.refundId}`, { type: "RecordRefundProcessed", orderId, refundId: input.data.refundId, at }),
        ],
      };

    case "RefundFailed": {
      // The gateway refused the refund: record it, and park until an operator resumes, which
      // requests the same amount again under a new refund id.
      const retryId = `${input.data.refundId}-r${s.refunds.filter((r) => r.refundId.startsWith(input.data.refundId)).length}`;
      return {
        ...nothing(s.status),
        commands: [
          order(`refund-failed-${input.data.refundId}`, {
            type: "RecordRefundFailed",
            orderId,
            refundId: input.data.refundId,
            reason: input.data.reason,
            at,
          }),
        ],
        park: {
          error: `refund ${input.data.refundId} of ${input.data.amount} failed at the gateway: ${input.data.reason}`,
          commands: [
            {
              target: "payment",
              commandId: id(`refund-${retryId}`, `payment-${input.data.paymentId}`),
              command: {
                type: "RequestRefund",
                paymentId: input.data.paymentId,
                refundId: retryId,
                amount: input.data.amount,
                reason: `retry of ${input.data.refundId}`,
                at,
              },
              mootOk: false,
            },
            order(`refund-${retryId}-record`, {
              type: "RecordRefundRequested",
              orderId,
              refundId: retryId,
              amount: input.data.amount,
              reason: `retry of ${input.data.refundId}`,
              at,
            }),
          ],
        },
      };
    }

    case "SagaResumeRequested":
      if (!s.failure) return nothing(s.status);
      return { ...nothing(s.status), commands: s.failure.commands, retryOf: s.failure.stepId, note: `resumed by ${input.data.by}` };

    // ---------------------------------------------------------- stock facts: state only
    case "StockCommitted":
    case "StockReleased":
    case "StockReservationExpired":
    case "StockShipped":
      return nothing(s.status);
  }
}

function confirmAndAllocate(
  s: SagaState,
  step: string,
  payment: { paymentId: string; amount: number } | undefined,
  at: string,
  order: (step: string, command: OrderCommand, mootOk?: boolean) => SagaCommand,
  inventory: (step: string, a: { sku: string; warehouseId: string }, command: InventoryCommand, mootOk?: boolean) => SagaCommand,
  id: (step: string, target: string) => string,
): SagaCommand[] {
  const orderId = s.orderId;
  return [
    order(step, { type: "ConfirmOrder", orderId, ...(payment ? { payment } : {}), at }),
    // A flash-sale order's units come from the sale's reservation, drawn in batches with other orders'.
    ...(s.flashSale
      ? drawFromSale(s, at, id)
      : s.allocations.map((a) =>
          inventory("commit", a, { type: "CommitReservation", sku: a.sku, warehouseId: a.warehouseId, orderId, at }),
        )),
    order("start-processing", {
      type: "StartProcessing",
      orderId,
      shipmentId: shipmentIdFor(orderId),
      ...(s.allocations[0] ? { warehouseId: s.allocations[0].warehouseId } : {}),
      at,
    }),
  ];
}

function voidOpenPayment(s: SagaState, reason: string, at: string, id: (step: string, target: string) => string): SagaCommand[] {
  if (!s.paymentId || (s.payment !== "NONE" && s.payment !== "INITIATED")) return [];
  return [
    {
      target: "payment",
      commandId: id("void", `payment-${s.paymentId}`),
      command: { type: "VoidPayment", paymentId: s.paymentId, reason, at },
      mootOk: true,
    },
  ];
}

// ---------------------------------------------------------------- evolve

/** Folds the facts an input carries into the state (what happened, not what the saga decided). */
export function applyInput(state: SagaState, input: SagaInput): SagaState {
  const alloc = (d: { sku: string; warehouseId: string }, status: AllocationStatus): SagaState => {
    const key = allocKey(d);
    return { ...state, allocations: state.allocations.map((a) => (allocKey(a) === key ? { ...a, status } : a)) };
  };
  switch (input.type) {
    case "OrderPlaced": {
      if (state.status !== "NEW") return state;
      const d = input.data;
      const placed = {
        ...state,
        orderId: d.orderId,
        lines: d.lines,
        totalAmount: d.totalAmount,
        currency: d.currency,
        paymentMethod: d.paymentMethod,
        paymentRequired: d.paymentRequired,
      };
      if (!d.flashSale) return placed;
      // The claim holds the units in the sale's reservation: as good as reserved.
      const warehouseId = d.flashSale.warehouseId;
      return {
        ...placed,
        flashSale: d.flashSale,
        allocations: d.lines.map((l) => ({ sku: l.sku, warehouseId, quantity: l.quantity, status: "RESERVED" as const, restocked: 0 })),
      };
    }
    case "StockReserved": {
      const known = state.allocations.some((a) => allocKey(a) === allocKey(input.data));
      const s = known
        ? alloc(input.data, "RESERVED")
        : {
            ...state,
            allocations: [
              ...state.allocations,
              {
                sku: input.data.sku,
                warehouseId: input.data.warehouseId,
                quantity: input.data.quantity,
                status: "RESERVED" as const,
                restocked: 0,
              },
            ],
          };
      return { ...s, reservationExpiresAt: s.reservationExpiresAt ?? input.data.expiresAt };
    }
    case "StockReservationRejected":
      return alloc(input.data, "REJECTED");
    case "StockCommitted":
      return alloc(input.data, "COMMITTED");
    case "StockReleased":
      return alloc(input.data, "RELEASED");
    case "StockReservationExpired":
      return alloc(input.data, "EXPIRED");
    case "StockShipped":
      return alloc(input.data, "SHIPPED");
    case "PaymentInitiated":
      return { ...state, paymentId: input.data.paymentId, payment: state.payment === "NONE" ? "INITIATED" : state.payment };
    case "PaymentCaptured":
      return state.payment === "CAPTURED"
        ? state
        : { ...state, paymentId: input.data.paymentId, payment: "CAPTURED", capturedAmount: input.data.amount };
    case "PaymentFailed":
      return state.payment === "NONE" || state.payment === "INITIATED" ? { ...state, payment: "FAILED" } : state;
    case "PaymentVoided":
      return state.payment === "NONE" || state.payment === "INITIATED" ? { ...state, payment: "VOIDED" } : state;
    case "RefundRequested":
      return state.refunds.some((r) => r.refundId === input.data.refundId)
        ? state
        : { ...state, refunds: [...state.refunds, { refundId: input.data.refundId, amount: input.data.amount, status: "REQUESTED" }] };
    case "RefundProcessed":
      return { ...state, refunds: state.refunds.map((r) => (r.refundId === input.data.refundId ? { ...r, status: "PROCESSED" } : r)) };
    case "RefundFailed":
      return { ...state, refunds: state.refunds.map((r) => (r.refundId === input.data.refundId ? { ...r, status: "FAILED" } : r)) };
    case "OrderCancelled":
      return { ...state, cancellationReason: input.data.reason };
    case "OrderReturnRequested":
      return state.returns.some((r) => r.returnId === input.data.returnId)
        ? state
        : {
            ...state,
            returns: [
              ...state.returns,
              { returnId: input.data.returnId, lines: input.data.lines, refundAmount: input.data.refundAmount, status: "REQUESTED" },
            ],
          };
    case "OrderReturnReceived":
      return { ...state, returns: state.returns.map((r) => (r.returnId === input.data.returnId ? { ...r, status: "RECEIVED" } : r)) };
    case "OrderReturned":
      return { ...state, returns: state.returns.map((r) => (r.returnId === input.data.returnId ? { ...r, status: "COMPLETED" } : r)) };
    case "SagaResumeRequested":
      return state.failure ? { ...state, failure: { ...state.failure, attempts: 0, parked: false } } : state;
    case "OrderShipped":
    case "OrderDelivered":
    case "DeadlineReached":
      return state;
  }
}

/** Folds what the saga decided: the step reached, the stock it asked for, the refunds it promised. */
function applyReaction(state: SagaState, reaction: Reaction, decidedAt: string): SagaState {
  let s: SagaState = { ...state, status: reaction.status, steps: state.steps + 1 };
  for (const c of reaction.commands) {
    if (c.target === "inventory" && c.command.type === "ReserveStock") {
      const d = c.command;
      if (!s.allocations.some((a) => allocKey(a) === allocKey(d))) {
        s = {
          ...s,
          allocations: [
            ...s.allocations,
            { sku: d.sku, warehouseId: d.warehouseId, quantity: d.quantity, status: "REQUESTED", restocked: 0 },
          ],
          reservationExpiresAt: s.reservationExpiresAt ?? d.expiresAt,
        };
      }
    }
    if (c.target === "inventory" && c.command.type === "ShipStock") {
      // Shipped as soon as the saga decides it: the API may append the delivery, the return and its
      // receipt before the saga reads the StockShipped its own command produced, and a return
      // received then must still restock these units.
      const d = c.command;
      s = {
        ...s,
        allocations: s.allocations.map((a) =>
          allocKey(a) === allocKey(d) && (a.status === "COMMITTED" || a.status === "RESERVED") ? { ...a, status: "SHIPPED" } : a,
        ),
      };
    }
    if (c.target === "inventory" && c.command.type === "RestockReturn") {
      const d = c.command;
      s = {
        ...s,
        allocations: s.allocations.map((a) => (allocKey(a) === allocKey(d) ? { ...a, restocked: a.restocked + d.quantity } : a)),
      };
    }
    if (c.target === "gateway" && c.op === "startPayment") s = { ...s, paymentId: c.paymentId };
    if (c.target === "flashSale") {
      // Drawn (committed) or given back as soon as the saga decides it: no per-order stock event follows a batched draw.
      const status: AllocationStatus = c.op === "draw" ? "COMMITTED" : "RELEASED";
      s = { ...s, allocations: s.allocations.map((a) => (allocKey(a) === allocKey(c) ? { ...a, status } : a)) };
    }
    if (c.target === "payment" && c.command.type === "RequestRefund") {
      const d = c.command;
      if (!s.refunds.some((r) => r.refundId === d.refundId))
        s = { ...s, refunds: [...s.refunds, { refundId: d.refundId, amount: d.amount, status: "REQUESTED" }] };
    }
  }
  if (reaction.park) {
    s = {
      ...s,
      failure: { stepId: "", commands: reaction.park.commands, attempts: 0, error: reaction.park.error, parked: true, since: decidedAt },
    };
  }
  return s;
}

export function evolveSaga(state: SagaState, event: SagaEvent): SagaState {
  switch (event.type) {
    case "SagaStepRecorded": {
      const { input, decidedAt, stepId } = event.data;
      const s = applyReaction(applyInput(state, input), event.data, decidedAt);
      return event.data.park && s.failure ? { ...s, failure: { ...s.failure, stepId } } : s;
    }
    case "SagaCommandFailed":
      return {
        ...state,
        failure: {
          stepId: event.data.stepId,
          commands: event.data.commands,
          attempts: event.data.attempt,
          error: event.data.error,
          parked: event.data.parked,
          since: state.failure?.stepId === event.data.stepId ? state.failure.since : event.data.at,
        },
      };
    case "SagaRecovered":
      return state.failure?.stepId === event.data.stepId ? withoutFailure(state) : state;
  }
}

const withoutFailure = (s: SagaState): SagaState => {
  const { failure: _failure, ...rest } = s;
  return rest;
};

export const foldSaga = (events: readonly SagaEvent[], from: SagaState = initialSagaState): SagaState => events.reduce(evolveSaga, from);
