// The body of a payment gateway's webhook (docs/CONTRACT.md "Payment gateway webhook"), defined
// once: the API validates requests with this schema, /docs/json documents it, the simulated
// gateway builds bodies of this type, and gateway-events.ts checks it again before applying one
// (it is also called by code that is not the HTTP route).

import { Type, type Static } from "@sinclair/typebox";

export const GATEWAY_EVENT_TYPES = [
  "payment.authorized",
  "payment.captured",
  "payment.failed",
  "refund.processed",
  "refund.failed",
] as const;

export const GatewayWebhook = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 255, description: "the gateway's event id: the same id again has no second effect" }),
    type: Type.Union(GATEWAY_EVENT_TYPES.map((t) => Type.Literal(t))),
    created: Type.Union([
      Type.String({ minLength: 1, maxLength: 64, description: "ISO-8601 time" }),
      Type.Integer({ minimum: 0, maximum: 8_640_000_000_000, description: "unix seconds" }),
    ]),
    data: Type.Object(
      {
        paymentId: Type.String({ minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9][A-Za-z0-9._:-]*$" }),
        gatewayPaymentId: Type.Optional(Type.String({ maxLength: 255 })),
        amount: Type.Integer({ minimum: 0, description: "minor units" }),
        currency: Type.String({ pattern: "^[A-Z]{3}$" }),
        refundId: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: "required for refund.* events" })),
        reason: Type.Optional(Type.String({ maxLength: 1000 })),
      },
      // A gateway adds fields of its own over time; they are carried, never a reason to refuse.
      { additionalProperties: true },
    ),
  },
  { additionalProperties: true },
);

export type GatewayWebhookBody = Static<typeof GatewayWebhook>;
