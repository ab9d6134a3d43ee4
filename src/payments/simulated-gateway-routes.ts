// Fastify plugin serving the simulated gateway's payment page, so a person can complete a
// payment by hand in development:
//
//   GET  /simulated-gateway/payments/:paymentId   a tiny HTML page with "Pay" and "Fail" buttons
//   POST /simulated-gateway/payments/:paymentId   {outcome: "captured" | "failed"} -> sends the
//        gateway's signed webhook to the configured webhook URL; answers {sent: body, webhookStatus}
//
// Register with: app.register(simulatedGatewayRoutes, { gateway })

import type {} from "@fastify/helmet";
import { Type, type Static } from "@sinclair/typebox";
import { createHash } from "node:crypto";
import type { FastifyInstance, FastifyPluginAsync } from "fastify";
import { GatewayWebhook } from "./gateway-webhook.js";
import type { SimulatedPaymentGateway } from "./simulated-gateway.js";

export interface SimulatedGatewayRoutesOptions {
  gateway: SimulatedPaymentGateway;
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const problem = (status: number, title: string, detail: string) => ({ type: "about:blank", title, status, detail });

const Params = Type.Object({ paymentId: Type.String({ minLength: 1, maxLength: 128 }) });
const Outcome = Type.Object({ outcome: Type.Union([Type.Literal("captured"), Type.Literal("failed")]) }, { additionalProperties: false });
const Problem = Type.Object(
  { type: Type.String(), title: Type.String(), status: Type.Integer(), detail: Type.String() },
  { additionalProperties: true },
);
const notFound = { description: "No such payment", content: { "application/problem+json": { schema: Problem } } };
const tags = ["simulated gateway"];

const PAGE_SCRIPT = `
async function send(outcome) {
  const r = await fetch(location.pathname, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ outcome }) });
  document.getElementById("out").textContent = r.status + " " + await r.text();
}
document.getElementById("pay").onclick = () => send("captured");
document.getElementById("fail").onclick = () => send("failed");
`;
// The page's one inline script, allowed by its hash: the server's Content-Security-Policy lets no
// other inline script run (src/api/server.ts).
const PAGE_CSP = {
  contentSecurityPolicy: {
    directives: {
      "script-src": ["'self'", `'sha256-${createHash("sha256").update(PAGE_SCRIPT).digest("base64")}'`],
      "upgrade-insecure-requests": null,
    },
  },
};

export const simulatedGatewayRoutes: FastifyPluginAsync<SimulatedGatewayRoutesOptions> = async (app: FastifyInstance, options) => {
  const { gateway } = options;

  app.get<{ Params: Static<typeof Params> }>(
    "/simulated-gateway/payments/:paymentId",
    {
      helmet: PAGE_CSP,
      schema: {
        tags,
        summary: "The simulated gateway's payment page (development): Pay and Fail buttons",
        security: [],
        params: Params,
        response: { 200: { description: "An HTML page", content: { "text/html": { schema: Type.String() } } }, 404: notFound },
      },
    },
    async (request, reply) => {
      const payment = await gateway.payment(request.params.paymentId);
      if (!payment)
        return reply
          .code(404)
          .type("application/problem+json")
          .send(problem(404, "Not Found", `no payment ${request.params.paymentId}`));
      const id = escapeHtml(payment.paymentId);
      const amount = `${(payment.amount / 100).toFixed(2)} ${escapeHtml(payment.currency)}`;
      const html = `<!doctype html>
<html><head><meta charset="utf-8"><title>Simulated gateway: ${id}</title></head>
<body style="font-family: sans-serif; max-width: 30em; margin: 3em auto">
<h1>Simulated payment</h1>
<p>Payment <code>${id}</code>${payment.orderId ? ` for order <code>${escapeHtml(payment.orderId)}</code>` : ""}: <strong>${amount}</strong></p>
<button id="pay">Pay</button> <button id="fail">Fail</button>
<pre id="out"></pre>
<script>${PAGE_SCRIPT}</script>
</body></html>`;
      return reply.type("text/html; charset=utf-8").send(html);
    },
  );

  app.post<{ Params: Static<typeof Params>; Body: Static<typeof Outcome> }>(
    "/simulated-gateway/payments/:paymentId",
    {
      schema: {
        tags,
        summary: "Complete a simulated payment: sends the gateway's signed webhook to this server and answers what was sent",
        security: [],
        params: Params,
        body: Outcome,
        response: {
          200: Type.Object(
            { sent: GatewayWebhook, webhookStatus: Type.Integer({ description: "the status the webhook got" }) },
            { additionalProperties: false },
          ),
          404: notFound,
        },
      },
    },
    async (request, reply) => {
      const payment = await gateway.payment(request.params.paymentId);
      if (!payment)
        return reply
          .code(404)
          .type("application/problem+json")
          .send(problem(404, "Not Found", `no payment ${request.params.paymentId}`));
      const { body, status } = await gateway.complete(payment.paymentId, request.body.outcome);
      return reply.code(200).send({ sent: body, webhookStatus: status });
    },
  );
};
