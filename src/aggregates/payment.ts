// Payment, with its refunds, as a decider. Stream: payment-<paymentId>.
//
// Money laws this aggregate keeps (tested by property):
//   - at most one capture per payment (capturedAmount is set once);
//   - refunds requested and not failed never exceed the capture;
//   - refundedAmount (processed refunds) <= capturedAmount; retained = captured - refunded.
//
// Gateway facts (authorized, captured, failed, refund processed/failed) arrive with the gateway's
// event id. A repeated id emits nothing. The payment only moves forward: a gateway fact that would
// move it backwards (a `failed` after `captured`, a second capture, a `processed` for a refund that
// already failed) is recorded as GatewayEventIgnored so the audit trail and reconciliation see it,
// and changes nothing else. A capture that arrives after the payment was voided is recorded
// (PaymentCaptured) and flagged for refund (CaptureAfterVoidFlagged).

import { DomainError, type Decider, type DomainEvent } from "./decider.js";
import {
  illegalTransition,
  requireCurrency,
  requireInstant,
  requirePaymentMethod,
  requirePositiveAmount,
  requireText,
  type Currency,
  type PaymentMethod,
} from "./rules.js";

export const PAYMENT_CATEGORY = "payment";

export const streamId = (paymentId: string): string => `${PAYMENT_CATEGORY}-${paymentId}`;

/** Online methods; cash on delivery has no payment to track here. */
export type OnlinePaymentMethod = Exclude<PaymentMethod, "COD">;

// ---------------------------------------------------------------- commands

interface PaymentCommandBase {
  paymentId: string;
  at: string;
}

/** A fact reported by the payment gateway (webhook), identified by the gateway's event id. */
interface GatewayFact extends PaymentCommandBase {
  gatewayEventId: string;
}

export type PaymentCommand =
  | (PaymentCommandBase & {
      type: "InitiatePayment";
      orderId: string;
      amount: number;
      currency?: Currency;
      method: OnlinePaymentMethod;
      gatewayReference?: string;
      paymentUrl?: string;
    })
  | (GatewayFact & { type: "RecordPaymentAuthorized"; gatewayPaymentId?: string })
  | (GatewayFact & { type: "RecordPaymentCaptured"; amount: number; currency?: Currency; gatewayPaymentId?: string })
  | (GatewayFact & { type: "RecordPaymentFailed"; reason: string })
  | (PaymentCommandBase & { type: "VoidPayment"; reason: string })
  | (PaymentCommandBase & { type: "RequestRefund"; refundId: string; amount: number; reason: string })
  | (GatewayFact & { type: "RecordRefundProcessed"; refundId: string })
  | (GatewayFact & { type: "RecordRefundFailed"; refundId: string; reason: string });

// ---------------------------------------------------------------- events

export type GatewayEventType = "payment.authorized" | "payment.captured" | "payment.failed" | "refund.processed" | "refund.failed";

export type PaymentInitiated = DomainEvent<
  "PaymentInitiated",
  {
    paymentId: string;
    orderId: string;
    amount: number;
    currency: Currency;
    method: OnlinePaymentMethod;
    gatewayReference?: string;
    paymentUrl?: string;
    at: string;
  }
>;
export type PaymentAuthorized = DomainEvent<
  "PaymentAuthorized",
  { paymentId: string; orderId: string; gatewayEventId: string; gatewayPaymentId?: string; at: string }
>;
export type PaymentCaptured = DomainEvent<
  "PaymentCaptured",
  {
    paymentId: string;
    orderId: string;
    gatewayEventId: string;
    gatewayPaymentId?: string;
    amount: number;
    currency: Currency;
    /** The status the capture found the payment in (FAILED or VOIDED means money arrived late). */
    previousStatus: PaymentStatus;
    at: string;
  }
>;
/** The customer was charged after we voided the payment: the money must go back. */
export type CaptureAfterVoidFlagged = DomainEvent<
  "CaptureAfterVoidFlagged",
  { paymentId: string; orderId: string; amount: number; currency: Currency; at: string }
>;
export type PaymentFailed = DomainEvent<
  "PaymentFailed",
  { paymentId: string; orderId: string; gatewayEventId: string; reason: string; at: string }
>;
export type PaymentVoided = DomainEvent<"PaymentVoided", { paymentId: string; orderId: string; reason: string; at: string }>;
export type RefundRequested = DomainEvent<
  "RefundRequested",
  { paymentId: string; orderId: string; refundId: string; amount: number; currency: Currency; reason: string; at: string }
>;
export type RefundProcessed = DomainEvent<
  "RefundProcessed",
  { paymentId: string; orderId: string; refundId: string; amount: number; gatewayEventId: string; at: string }
>;
export type RefundFailed = DomainEvent<
  "RefundFailed",
  { paymentId: string; orderId: string; refundId: string; amount: number; gatewayEventId: string; reason: string; at: string }
>;
/** A gateway fact that would move the payment backwards or capture twice: kept for audit, changes nothing else. */
export type GatewayEventIgnored = DomainEvent<
  "GatewayEventIgnored",
  {
    paymentId: string;
    orderId: string;
    gatewayEventId: string;
    gatewayEventType: GatewayEventType;
    reason: "STALE" | "ALREADY_CAPTURED";
    statusAtArrival: PaymentStatus;
    refundId?: string;
    amount?: number;
    at: string;
  }
>;

export type PaymentEvent =
  | PaymentInitiated
  | PaymentAuthorized
  | PaymentCaptured
  | CaptureAfterVoidFlagged
  | PaymentFailed
  | PaymentVoided
  | RefundRequested
  | RefundProcessed
  | RefundFailed
  | GatewayEventIgnored;

export const paymentSchemaVersions: Readonly<Record<PaymentEvent["type"], number>> = {
  PaymentInitiated: 1,
  PaymentAuthorized: 1,
  PaymentCaptured: 1,
  CaptureAfterVoidFlagged: 1,
  PaymentFailed: 1,
  PaymentVoided: 1,
  RefundRequested: 1,
  RefundProcessed: 1,
  RefundFailed: 1,
  GatewayEventIgnored: 1,
};

// ---------------------------------------------------------------- state

export type PaymentStatus = "INITIATED" | "AUTHORIZED" | "CAPTURED" | "PARTIALLY_REFUNDED" | "REFUNDED" | "FAILED" | "VOIDED";
export type RefundStatus = "PENDING" | "PROCESSED" | "FAILED";

export interface Refund {
  refundId: string;
  amount: number;
  status: RefundStatus;
  reason: string;
  requestedAt: string;
  processedAt?: string;
  failureReason?: string;
}

export interface Payment {
  status: PaymentStatus;
  paymentId: string;
  orderId: string;
  amount: number;
  currency: Currency;
  method: OnlinePaymentMethod;
  gatewayReference?: string;
  paymentUrl?: string;
  gatewayPaymentId?: string;
  capturedAmount: number;
  /** Sum of processed refunds. */
  refundedAmount: number;
  refunds: readonly Refund[];
  /** A capture arrived after the payment was voided: it must be refunded in full. */
  captureAfterVoid: boolean;
  failureReason?: string;
  initiatedAt: string;
  updatedAt: string;
  /** Gateway event ids already applied or ignored: a repeat emits nothing. */
  seenGatewayEvents: ReadonlySet<string>;
}

export type PaymentState = { status: "NONE" } | Payment;

export const initialPaymentState: PaymentState = { status: "NONE" };

/** Refunds requested and not failed: what is promised back to the customer. */
export const committedRefunds = (p: Payment): number =>
  p.refunds.filter((r) => r.status !== "FAILED").reduce((sum, r) => sum + r.amount, 0);

const CAPTURED_STATUSES: readonly PaymentStatus[] = ["CAPTURED", "PARTIALLY_REFUNDED", "REFUNDED"];
const OPEN_STATUSES: readonly PaymentStatus[] = ["INITIATED", "AUTHORIZED"];

// ---------------------------------------------------------------- decide

function decide(command: PaymentCommand, state: PaymentState): PaymentEvent[] {
  requireInstant(command.at, "at", state.status);
  const { at } = command;

  if (command.type === "InitiatePayment") {
    if (state.status !== "NONE")
      throw new DomainError("payment_already_initiated", `payment ${command.paymentId} already exists`, state.status);
    const method = requirePaymentMethod(command.method);
    if (method === "COD") throw new DomainError("invalid_payment_method", "cash on delivery has no online payment");
    return [
      {
        type: "PaymentInitiated",
        data: {
          paymentId: requireText(command.paymentId, "paymentId"),
          orderId: requireText(command.orderId, "orderId"),
          amount: requirePositiveAmount(command.amount, "amount"),
          currency: requireCurrency(command.currency),
          method,
          ...(command.gatewayReference === undefined ? {} : { gatewayReference: command.gatewayReference }),
          ...(command.paymentUrl === undefined ? {} : { paymentUrl: command.paymentUrl }),
          at,
        },
      },
    ];
  }

  if (state.status === "NONE") throw new DomainError("payment_not_found", `payment ${command.paymentId} was never initiated`, "NONE");
  if (command.paymentId !== state.paymentId)
    throw new DomainError("wrong_stream", `command for payment ${command.paymentId} sent to payment ${state.paymentId}`, state.status);
  const p = state;
  const ids = { paymentId: p.paymentId, orderId: p.orderId };

  if ("gatewayEventId" in command) {
    requireText(command.gatewayEventId, "gatewayEventId", p.status);
    if (p.seenGatewayEvents.has(command.gatewayEventId)) return [];
  }
  const ignored = (
    gatewayEventType: GatewayEventType,
    gatewayEventId: string,
    reason: "STALE" | "ALREADY_CAPTURED",
    extra: { refundId?: string; amount?: number } = {},
  ): GatewayEventIgnored => ({
    type: "GatewayEventIgnored",
    data: { ...ids, gatewayEventId, gatewayEventType, reason, statusAtArrival: p.status, ...extra, at },
  });

  switch (command.type) {
    case "RecordPaymentAuthorized": {
      if (p.status !== "INITIATED") return [ignored("payment.authorized", command.gatewayEventId, "STALE")];
      return [
        {
          type: "PaymentAuthorized",
          data: {
            ...ids,
            gatewayEventId: command.gatewayEventId,
            ...(command.gatewayPaymentId === undefined ? {} : { gatewayPaymentId: command.gatewayPaymentId }),
            at,
          },
        },
      ];
    }

    case "RecordPaymentCaptured": {
      const amount = requirePositiveAmount(command.amount, "amount", p.status);
      const currency = requireCurrency(command.currency ?? p.currency, p.status);
      if (currency !== p.currency)
        throw new DomainError("currency_mismatch", `capture in ${currency} for a payment in ${p.currency}`, p.status);
      if (amount > p.amount)
        throw new DomainError("capture_exceeds_amount", `capture of ${amount} exceeds the payment amount ${p.amount}`, p.status);
      if (CAPTURED_STATUSES.includes(p.status))
        return [ignored("payment.captured", command.gatewayEventId, "ALREADY_CAPTURED", { amount })];
      const captured: PaymentCaptured = {
        type: "PaymentCaptured",
        data: {
          ...ids,
          gatewayEventId: command.gatewayEventId,
          ...(command.gatewayPaymentId === undefined ? {} : { gatewayPaymentId: command.gatewayPaymentId }),
          amount,
          currency,
          previousStatus: p.status,
          at,
        },
      };
      if (p.status === "VOIDED") return [captured, { type: "CaptureAfterVoidFlagged", data: { ...ids, amount, currency, at } }];
      return [captured];
    }

    case "RecordPaymentFailed": {
      if (!OPEN_STATUSES.includes(p.status)) return [ignored("payment.failed", command.gatewayEventId, "STALE")];
      return [
        {
          type: "PaymentFailed",
          data: { ...ids, gatewayEventId: command.gatewayEventId, reason: requireText(command.reason, "reason", p.status), at },
        },
      ];
    }

    case "VoidPayment": {
      if (!OPEN_STATUSES.includes(p.status)) throw illegalTransition("VoidPayment", p.status);
      return [{ type: "PaymentVoided", data: { ...ids, reason: requireText(command.reason, "reason", p.status), at } }];
    }

    case "RequestRefund": {
      const refundId = requireText(command.refundId, "refundId", p.status);
      const amount = requirePositiveAmount(command.amount, "amount", p.status);
      const reason = requireText(command.reason, "reason", p.status);
      const existing = p.refunds.find((r) => r.refundId === refundId);
      if (existing) {
        if (existing.amount !== amount)
          throw new DomainError("refund_id_conflict", `refund ${refundId} was requested for ${existing.amount}, not ${amount}`, p.status);
        return [];
      }
      if (!CAPTURED_STATUSES.includes(p.status)) throw illegalTransition("RequestRefund", p.status);
      const promised = committedRefunds(p);
      if (promised + amount > p.capturedAmount) {
        throw new DomainError(
          "refund_exceeds_capture",
          `refunds of ${promised} plus ${amount} would exceed the capture of ${p.capturedAmount}`,
          p.status,
        );
      }
      return [{ type: "RefundRequested", data: { ...ids, refundId, amount, currency: p.currency, reason, at } }];
    }

    case "RecordRefundProcessed": {
      const refund = refundOf(p, command.refundId);
      if (refund.status !== "PENDING")
        return [ignored("refund.processed", command.gatewayEventId, "STALE", { refundId: refund.refundId, amount: refund.amount })];
      return [
        {
          type: "RefundProcessed",
          data: { ...ids, refundId: refund.refundId, amount: refund.amount, gatewayEventId: command.gatewayEventId, at },
        },
      ];
    }

    case "RecordRefundFailed": {
      const refund = refundOf(p, command.refundId);
      if (refund.status !== "PENDING")
        return [ignored("refund.failed", command.gatewayEventId, "STALE", { refundId: refund.refundId, amount: refund.amount })];
      return [
        {
          type: "RefundFailed",
          data: {
            ...ids,
            refundId: refund.refundId,
            amount: refund.amount,
            gatewayEventId: command.gatewayEventId,
            reason: requireText(command.reason, "reason", p.status),
            at,
          },
        },
      ];
    }
  }
}

function refundOf(p: Payment, refundId: string): Refund {
  const refund = p.refunds.find((r) => r.refundId === refundId);
  if (!refund) throw new DomainError("refund_not_found", `payment ${p.paymentId} has no refund ${refundId}`, p.status);
  return refund;
}

// ---------------------------------------------------------------- evolve

function evolve(state: PaymentState, event: PaymentEvent): PaymentState {
  if (event.type === "PaymentInitiated") {
    const d = event.data;
    return {
      status: "INITIATED",
      paymentId: d.paymentId,
      orderId: d.orderId,
      amount: d.amount,
      currency: d.currency,
      method: d.method,
      ...(d.gatewayReference === undefined ? {} : { gatewayReference: d.gatewayReference }),
      ...(d.paymentUrl === undefined ? {} : { paymentUrl: d.paymentUrl }),
      capturedAmount: 0,
      refundedAmount: 0,
      refunds: [],
      captureAfterVoid: false,
      initiatedAt: d.at,
      updatedAt: d.at,
      seenGatewayEvents: new Set(),
    };
  }
  if (state.status === "NONE") return state;
  const p: Payment = { ...state, updatedAt: event.data.at };
  const seen = (id: string): ReadonlySet<string> => new Set([...p.seenGatewayEvents, id]);

  switch (event.type) {
    case "PaymentAuthorized":
      return {
        ...p,
        status: "AUTHORIZED",
        ...(event.data.gatewayPaymentId === undefined ? {} : { gatewayPaymentId: event.data.gatewayPaymentId }),
        seenGatewayEvents: seen(event.data.gatewayEventId),
      };
    case "PaymentCaptured":
      return {
        ...p,
        status: "CAPTURED",
        capturedAmount: event.data.amount,
        ...(event.data.gatewayPaymentId === undefined ? {} : { gatewayPaymentId: event.data.gatewayPaymentId }),
        seenGatewayEvents: seen(event.data.gatewayEventId),
      };
    case "CaptureAfterVoidFlagged":
      return { ...p, captureAfterVoid: true };
    case "PaymentFailed":
      return { ...p, status: "FAILED", failureReason: event.data.reason, seenGatewayEvents: seen(event.data.gatewayEventId) };
    case "PaymentVoided":
      return { ...p, status: "VOIDED" };
    case "RefundRequested":
      return {
        ...p,
        refunds: [
          ...p.refunds,
          {
            refundId: event.data.refundId,
            amount: event.data.amount,
            status: "PENDING",
            reason: event.data.reason,
            requestedAt: event.data.at,
          },
        ],
      };
    case "RefundProcessed": {
      const refundedAmount = p.refundedAmount + event.data.amount;
      return {
        ...p,
        refundedAmount,
        status: refundedAmount >= p.capturedAmount ? "REFUNDED" : "PARTIALLY_REFUNDED",
        refunds: p.refunds.map((r) => (r.refundId === event.data.refundId ? { ...r, status: "PROCESSED", processedAt: event.data.at } : r)),
        seenGatewayEvents: seen(event.data.gatewayEventId),
      };
    }
    case "RefundFailed":
      return {
        ...p,
        refunds: p.refunds.map((r) =>
          r.refundId === event.data.refundId ? { ...r, status: "FAILED", failureReason: event.data.reason } : r,
        ),
        seenGatewayEvents: seen(event.data.gatewayEventId),
      };
    case "GatewayEventIgnored":
      return { ...p, seenGatewayEvents: seen(event.data.gatewayEventId) };
  }
}

export const paymentDecider: Decider<PaymentCommand, PaymentEvent, PaymentState> = {
  category: PAYMENT_CATEGORY,
  schemaVersions: paymentSchemaVersions,
  initialState: initialPaymentState,
  decide,
  evolve,
};
