// A simulated payment gateway for development and tests.
//
//   - initiate: remembers the payment and returns `<publicBaseUrl>/simulated-gateway/payments/<paymentId>`,
//     a page where a person presses "pay" or "fail" (see simulated-gateway-routes.ts).
//   - complete(paymentId, "captured" | "failed"): sends the gateway's signed webhook
//     (payment.captured / payment.failed) to the configured webhook URL, like a real provider.
//   - void and refund answer directly: a refund returns `status: "processed"` at once (no
//     webhook follows), or `pending` when `refundsPending` is set (then a refund.processed /
//     refund.failed webhook must follow, e.g. built with `refundWebhookBody`). Set `failVoids` / `failRefunds` to make them throw GatewayError, as a
//     provider that is down would; clear them to "fix" the gateway.
//   - Every call is idempotent by its idempotency key: a repeated key returns the first answer and
//     is not counted again (`effects` counts real effects, `calls` every call).

import { randomUUID } from "node:crypto";
import { paymentDecider, streamId as paymentStream } from "../aggregates/payment.js";
import { loadAggregate } from "../commands/load.js";
import type { EventStore } from "../eventstore/port.js";
import { signWebhook } from "./webhook-signature.js";
import type { GatewayWebhookBody } from "./gateway-webhook.js";
import {
  GatewayError,
  type InitiateRequest,
  type InitiateResult,
  type PaymentGateway,
  type RefundRequest,
  type RefundResult,
  type VoidRequest,
} from "./payment-gateway.js";

export interface SimulatedPayment {
  paymentId: string;
  orderId?: string;
  gatewayPaymentId: string;
  amount: number;
  currency: string;
}

export interface SimulatedGatewayOptions {
  /** e.g. "http://127.0.0.1:3000": the payment page lives under it. */
  publicBaseUrl: string;
  /** Where webhooks go, e.g. "http://127.0.0.1:3000/api/payments/webhook". */
  webhookUrl?: string;
  webhookSecret?: string;
  /** Finds a payment the gateway does not remember (after a restart), e.g. from the event store. */
  findPayment?: (paymentId: string) => Promise<SimulatedPayment | undefined>;
  fetch?: typeof fetch;
  now?: () => Date;
}

export class SimulatedPaymentGateway implements PaymentGateway {
  readonly name = "simulated";
  failVoids = false;
  failRefunds = false;
  /** true: refunds answer `pending` and their outcome must come as a refund.processed / refund.failed webhook. */
  refundsPending = false;
  /** Every call received, repeats included. */
  readonly calls: { operation: "initiate" | "void" | "refund"; idempotencyKey: string }[] = [];
  /** Effects actually performed (one per idempotency key). */
  readonly effects = { initiate: 0, void: 0, refund: 0 };
  private readonly payments = new Map<string, SimulatedPayment>();
  private readonly answers = new Map<string, unknown>();

  constructor(private readonly options: SimulatedGatewayOptions) {}

  async initiate(request: InitiateRequest): Promise<InitiateResult> {
    return this.once("initiate", request.idempotencyKey, async () => {
      const gatewayPaymentId = `sim_pay_${request.paymentId}`;
      this.payments.set(request.paymentId, {
        paymentId: request.paymentId,
        orderId: request.orderId,
        gatewayPaymentId,
        amount: request.amount,
        currency: request.currency,
      });
      return {
        gatewayPaymentId,
        paymentUrl: `${this.options.publicBaseUrl.replace(/\/$/, "")}/simulated-gateway/payments/${encodeURIComponent(request.paymentId)}`,
      };
    });
  }

  async void(request: VoidRequest): Promise<void> {
    if (this.failVoids) throw new GatewayError("void", `simulated gateway: void of ${request.paymentId} failed`);
    await this.once("void", request.idempotencyKey, async () => undefined);
  }

  async refund(request: RefundRequest): Promise<RefundResult> {
    if (this.failRefunds) throw new GatewayError("refund", `simulated gateway: refund ${request.refundId} of ${request.amount} failed`);
    const status = this.refundsPending ? ("pending" as const) : ("processed" as const);
    return this.once("refund", request.idempotencyKey, async () => ({ gatewayRefundId: `sim_ref_${request.refundId}`, status }));
  }

  async payment(paymentId: string): Promise<SimulatedPayment | undefined> {
    const known = this.payments.get(paymentId);
    if (known) return known;
    const found = await this.options.findPayment?.(paymentId);
    if (found) this.payments.set(paymentId, found);
    return found;
  }

  /** The webhook body the gateway sends when the customer finishes (or abandons) the payment. */
  async webhookBody(paymentId: string, outcome: "captured" | "failed", eventId = `evt_${randomUUID()}`): Promise<GatewayWebhookBody> {
    const p = await this.payment(paymentId);
    if (!p) throw new GatewayError("initiate", `simulated gateway: unknown payment ${paymentId}`, "unknown_payment");
    return {
      id: eventId,
      type: outcome === "captured" ? "payment.captured" : "payment.failed",
      created: this.now().toISOString(),
      data: {
        paymentId,
        gatewayPaymentId: p.gatewayPaymentId,
        amount: p.amount,
        currency: p.currency,
        ...(outcome === "failed" ? { reason: "declined by the customer's bank (simulated)" } : {}),
      },
    };
  }

  /** The webhook body announcing a refund's outcome (for refunds answered `pending`). */
  async refundWebhookBody(
    paymentId: string,
    refundId: string,
    amount: number,
    outcome: "processed" | "failed",
    eventId = `evt_${randomUUID()}`,
  ): Promise<GatewayWebhookBody> {
    const p = await this.payment(paymentId);
    return {
      id: eventId,
      type: outcome === "processed" ? "refund.processed" : "refund.failed",
      created: this.now().toISOString(),
      data: {
        paymentId,
        ...(p ? { gatewayPaymentId: p.gatewayPaymentId } : {}),
        amount,
        currency: p?.currency ?? "INR",
        refundId,
        ...(outcome === "failed" ? { reason: "the customer's account is closed (simulated)" } : {}),
      },
    };
  }

  /** Sends the signed webhook for `outcome` to the configured URL; returns what was sent and the answer's status. */
  async complete(paymentId: string, outcome: "captured" | "failed"): Promise<{ body: GatewayWebhookBody; status: number }> {
    const { webhookUrl, webhookSecret } = this.options;
    if (!webhookUrl || !webhookSecret) throw new Error("simulated gateway: webhookUrl and webhookSecret are required to send webhooks");
    const body = await this.webhookBody(paymentId, outcome);
    const raw = JSON.stringify(body);
    const signature = signWebhook(webhookSecret, raw, Math.floor(this.now().getTime() / 1000));
    const response = await (this.options.fetch ?? fetch)(webhookUrl, {
      method: "POST",
      headers: { "content-type": "application/json", "x-webhook-signature": signature },
      body: raw,
    });
    return { body, status: response.status };
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  private async once<T>(operation: "initiate" | "void" | "refund", key: string, effect: () => Promise<T>): Promise<T> {
    this.calls.push({ operation, idempotencyKey: key });
    const scoped = `${operation}:${key}`;
    if (this.answers.has(scoped)) return this.answers.get(scoped) as T;
    const answer = await effect();
    this.answers.set(scoped, answer);
    this.effects[operation]++;
    return answer;
  }
}

/** `findPayment` for the simulated gateway: the payment as the event store knows it (after a restart). */
export const paymentFinder =
  (store: EventStore) =>
  async (paymentId: string): Promise<SimulatedPayment | undefined> => {
    const { state } = await loadAggregate(store, paymentDecider, paymentStream(paymentId));
    if (state.status === "NONE") return undefined;
    return {
      paymentId,
      orderId: state.orderId,
      gatewayPaymentId: state.gatewayPaymentId ?? state.gatewayReference ?? `sim_pay_${paymentId}`,
      amount: state.amount,
      currency: state.currency,
    };
  };
