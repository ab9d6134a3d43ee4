// The payment gateway's webhook (signature over the raw body; dedup by event id) and payment reads.

import { Type, type Static } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { GatewayWebhook, type GatewayWebhookBody } from "../payments/gateway-webhook.js";
import { SIGNATURE_HEADER, verifyWebhookSignature } from "../payments/webhook-signature.js";
import { hasRole, principalOf, requireRoles, secretKey } from "./auth.js";
import { etag, readYourWrites, type ApiDeps } from "./deps.js";
import { paymentResource } from "../queries/payments.js";
import { notFound, notImplemented, ProblemError } from "./problem.js";
import { PaymentResource, problems, RefundReconciliation, WebhookReceived } from "./responses.js";
import { Id, IsoTime, WaitForQuery } from "./schemas.js";

declare module "fastify" {
  interface FastifyRequest {
    rawBody?: Buffer;
    rawBodyError?: Error;
  }
}

const PaymentParams = Type.Object({ paymentId: Id });

export async function paymentRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const key = secretKey(deps.jwtSecret);

  // The webhook: an encapsulated scope whose JSON parser keeps the raw bytes the signature covers.
  await app.register(async (scope) => {
    scope.removeContentTypeParser("application/json");
    scope.addContentTypeParser("application/json", { parseAs: "buffer", bodyLimit: 64 * 1024 }, (request, body, done) => {
      const raw = body as Buffer;
      request.rawBody = raw;
      try {
        done(null, raw.length === 0 ? undefined : JSON.parse(raw.toString("utf8")));
      } catch (error) {
        // Decided after the signature check: an unsigned garbage body is 401, a signed one 400.
        request.rawBodyError = error as Error;
        done(null, undefined);
      }
    });

    scope.post<{ Body: GatewayWebhookBody }>(
      "/api/payments/webhook",
      {
        config: { idempotent: false },
        schema: {
          tags: ["payments"],
          summary:
            "Payment gateway webhook: X-Webhook-Signature t=<unix s>,v1=<HMAC-SHA256 of '<t>.<raw body>'>; the same event id again is 200 with no effect",
          body: GatewayWebhook,
          security: [],
          response: { 200: WebhookReceived, ...problems(401, 404, 409, 413, 415, 422) },
        },
        preValidation: async (request) => {
          const header = request.headers[SIGNATURE_HEADER];
          const check = verifyWebhookSignature(
            deps.webhookSecret,
            typeof header === "string" ? header : undefined,
            request.rawBody ?? Buffer.alloc(0),
            Math.floor((deps.now?.() ?? new Date()).getTime() / 1000),
          );
          if (!check.ok)
            throw new ProblemError(
              401,
              "Unauthorized",
              `webhook signature ${check.reason === "stale" ? "timestamp is more than 300 s away from now" : check.reason}`,
              { reason: check.reason },
            );
          if (request.rawBodyError)
            throw new ProblemError(400, "Bad Request", `body is not valid JSON: ${request.rawBodyError.message}`, { field: "body" });
        },
      },
      async (request) => {
        if (!deps.applyGatewayEvent) throw notImplemented("applying gateway events");
        const result = (await deps.applyGatewayEvent(request.body)) as { outcome?: string; paymentId?: string };
        return { received: true, id: request.body.id, outcome: result?.outcome ?? "applied" };
      },
    );
  });

  app.get<{ Params: Static<typeof PaymentParams>; Querystring: Static<typeof WaitForQuery> }>(
    "/api/payments/:paymentId",
    {
      schema: {
        tags: ["payments"],
        summary:
          "A payment with its refunds (finance, or the order's owner) from the payments read model; ?waitFor=<a write's position> (or X-Wait-For) waits for it first",
        params: PaymentParams,
        querystring: WaitForQuery,
        response: { 200: PaymentResource, ...problems(404) },
      },
      onRequest: requireRoles(key, "customer", "finance"),
    },
    async (request, reply) => {
      await readYourWrites(deps, request);
      const p = principalOf(request);
      const found = await deps.read.getPayment(request.params.paymentId);
      // Another customer's payment (or one whose order is not in its read model yet) is "not found".
      if (!found || (!hasRole(p, "finance") && found.customerId !== p.sub)) throw notFound(`payment ${request.params.paymentId}`);
      reply.header("ETag", etag(found.version));
      return paymentResource(found);
    },
  );

  const Range = Type.Object({ from: IsoTime, to: IsoTime }, { additionalProperties: false });
  app.get<{ Querystring: Static<typeof Range> }>(
    "/api/finance/refunds/reconciliation",
    {
      schema: {
        tags: ["finance"],
        summary: "Refund reconciliation from the refunds read model, kept from the event log (finance)",
        querystring: Range,
        response: { 200: RefundReconciliation, ...problems(422, 501) },
      },
      onRequest: requireRoles(key, "finance"),
    },
    async (request) => {
      if (!deps.read.reconciliation) throw notImplemented("refund reconciliation");
      if (Date.parse(request.query.from) >= Date.parse(request.query.to))
        throw new ProblemError(422, "Unprocessable Content", "from must be before to", { field: "from" });
      return deps.read.reconciliation(request.query);
    },
  );
}
