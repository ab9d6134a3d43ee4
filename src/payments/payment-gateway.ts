// The payment gateway port: what the order saga asks of a payment provider. Every call carries an
// idempotency key derived from the saga's command id, so a retried call (after a crash or a
// timeout) is recognised by the provider and has no second effect.
//
// Outcomes of a payment (authorized, captured, failed) always arrive later as signed webhooks
// (see webhook-signature.ts, gateway-webhook.ts and gateway-events.ts). A refund's outcome may come back at
// once (`status: "processed"`) or later as a `refund.processed` / `refund.failed` webhook
// (`status: "pending"`). A call that could not be made or was refused is a GatewayError: the saga
// retries it with backoff, then parks the order as needing attention.

import type { Currency } from "../aggregates/rules.js";
import type { OnlinePaymentMethod } from "../aggregates/payment.js";

export interface InitiateRequest {
  paymentId: string;
  orderId: string;
  amount: number;
  currency: Currency;
  method: OnlinePaymentMethod;
  idempotencyKey: string;
}

export interface InitiateResult {
  gatewayPaymentId: string;
  /** Where the customer completes the payment. */
  paymentUrl: string;
}

export interface VoidRequest {
  paymentId: string;
  gatewayPaymentId?: string;
  reason: string;
  idempotencyKey: string;
}

export interface RefundRequest {
  paymentId: string;
  gatewayPaymentId?: string;
  refundId: string;
  amount: number;
  currency: Currency;
  reason: string;
  idempotencyKey: string;
}

export interface RefundResult {
  gatewayRefundId: string;
  /** processed: done now; pending: the outcome arrives as a refund.processed / refund.failed webhook. */
  status: "processed" | "pending";
}

export interface PaymentGateway {
  readonly name: string;
  initiate(request: InitiateRequest): Promise<InitiateResult>;
  void(request: VoidRequest): Promise<void>;
  refund(request: RefundRequest): Promise<RefundResult>;
}

/** The gateway could not do it now (down, timed out, refused). Retried with backoff by the saga. */
export class GatewayError extends Error {
  override readonly name = "GatewayError";
  constructor(
    readonly operation: "initiate" | "void" | "refund",
    message: string,
    readonly code = "gateway_unavailable",
  ) {
    super(message);
  }
}
