// Verified payment-gateway webhooks -> Payment commands. The API's webhook route verifies the
// signature (webhook-signature.ts) and validates the body against GatewayWebhook, then calls
// applyGatewayEvent with it.
//
//   payment.authorized -> RecordPaymentAuthorized     payment.captured -> RecordPaymentCaptured
//   payment.failed     -> RecordPaymentFailed         refund.processed -> RecordRefundProcessed
//   refund.failed      -> RecordRefundFailed
//
// Every command carries gatewayEventId = body.id and the command id "gateway-event/<body.id>", so
// the same event delivered again has no second effect (the Payment aggregate remembers the ids it
// has seen, and handleCommand recognises the command id). Out-of-order events never move a
// payment backwards: the aggregate records them as GatewayEventIgnored and changes nothing else.

import { TypeCompiler } from "@sinclair/typebox/compiler";
import { DomainError } from "../aggregates/decider.js";
import { paymentDecider, streamId as paymentStream, type PaymentCommand, type PaymentEvent } from "../aggregates/payment.js";
import { envelope } from "../commands/envelope.js";
import { handleCommand } from "../commands/handle-command.js";
import type { EventStore } from "../eventstore/port.js";
import { continueTraceOf, inSpan, linksToActive, spansAreRecorded } from "../observability/tracing.js";
import { GatewayWebhook, type GatewayWebhookBody } from "./gateway-webhook.js";

export interface GatewayEventDeps {
  store: EventStore;
  /** Used when the body's `created` is not a valid time. */
  clock?: { now(): Date };
  /** Defaults to "gateway:webhook". */
  actor?: string;
}

export interface GatewayEventOutcome {
  /** applied: the payment changed; ignored: recorded as GatewayEventIgnored (stale/out of order); duplicate: seen before, nothing written. */
  outcome: "applied" | "ignored" | "duplicate";
  paymentId: string;
  events: PaymentEvent[];
}

const webhookCheck = TypeCompiler.Compile(GatewayWebhook);

/** Checks a webhook body against GatewayWebhook; throws DomainError("invalid_webhook_body") naming the field. */
export function parseGatewayEvent(body: unknown): GatewayWebhookBody {
  const bad = (field: string, why: string) => new DomainError("invalid_webhook_body", `${field} ${why}`);
  const first = webhookCheck.Errors(body).First();
  if (first) throw bad(first.path === "" ? "body" : first.path.slice(1).replace(/\//g, "."), first.message.toLowerCase());
  const valid = body as GatewayWebhookBody;
  if (valid.type.startsWith("refund.") && valid.data.refundId === undefined) throw bad("data.refundId", "is required for refund events");
  return valid;
}

/** The event's own time when it names a real instant, else now (a gateway's clock is not ours to trust blindly). */
function eventTime(created: string | number, clock?: { now(): Date }): string {
  const at = new Date(typeof created === "number" ? created * 1000 : Date.parse(created));
  return Number.isNaN(at.getTime()) ? (clock?.now() ?? new Date()).toISOString() : at.toISOString();
}

export function commandForGatewayEvent(body: GatewayWebhookBody, at: string): PaymentCommand {
  const base = { paymentId: body.data.paymentId, gatewayEventId: body.id, at };
  const gatewayPaymentId = body.data.gatewayPaymentId === undefined ? {} : { gatewayPaymentId: body.data.gatewayPaymentId };
  switch (body.type) {
    case "payment.authorized":
      return { ...base, type: "RecordPaymentAuthorized", ...gatewayPaymentId };
    case "payment.captured":
      return { ...base, type: "RecordPaymentCaptured", amount: body.data.amount, currency: body.data.currency, ...gatewayPaymentId };
    case "payment.failed":
      return { ...base, type: "RecordPaymentFailed", reason: body.data.reason ?? "payment failed at the gateway" };
    case "refund.processed":
      return { ...base, type: "RecordRefundProcessed", refundId: body.data.refundId ?? "" };
    case "refund.failed":
      return {
        ...base,
        type: "RecordRefundFailed",
        refundId: body.data.refundId ?? "",
        reason: body.data.reason ?? "refund failed at the gateway",
      };
  }
}

/**
 * Applies one verified webhook body. Malformed bodies throw DomainError("invalid_webhook_body");
 * an unknown payment or refund throws DomainError("payment_not_found" / "refund_not_found").
 */
export async function applyGatewayEvent(deps: GatewayEventDeps, rawBody: unknown): Promise<GatewayEventOutcome> {
  const body = parseGatewayEvent(rawBody);
  const command = commandForGatewayEvent(body, eventTime(body.created, deps.clock));
  const origin = {
    commandId: `gateway-event/${body.id}`,
    correlationId: `gateway-event/${body.id}`,
    actor: deps.actor ?? "gateway:webhook",
  };
  const stream = paymentStream(body.data.paymentId);
  const apply = () => handleCommand(deps.store, paymentDecider, envelope(origin, stream, command));
  // The webhook is a request of the gateway's, in a trace of its own. What it records belongs to
  // the order's flow: it is handled in the trace the payment was initiated in (stored with the
  // payment's first event), linked to the request's span, so one order's whole flow is one trace.
  // Without a recording tracer there is no trace to continue, and the read is skipped (one
  // statement of about 50 per order in bench:checkout).
  const [opened] = spansAreRecorded() ? await deps.store.readStream(stream, { maxCount: 1 }) : [];
  const result =
    opened?.metadata.traceId === undefined
      ? await apply()
      : await inSpan(
          `payment webhook ${body.type}`,
          { "payment.id": body.data.paymentId, "gateway.event.id": body.id },
          apply,
          continueTraceOf(opened),
          linksToActive(),
        );
  const outcome: GatewayEventOutcome["outcome"] =
    result.alreadyApplied || result.events.length === 0
      ? "duplicate"
      : result.events.every((e) => e.type === "GatewayEventIgnored")
        ? "ignored"
        : "applied";
  return { outcome, paymentId: body.data.paymentId, events: result.events };
}
