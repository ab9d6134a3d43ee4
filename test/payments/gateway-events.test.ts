// Verified webhook bodies -> Payment commands (applyGatewayEvent), and the simulated gateway with
// its Fastify page, on PGlite.

import Fastify from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DomainError } from "../../src/aggregates/decider.js";
import { paymentDecider, streamId as paymentStream, type Payment } from "../../src/aggregates/payment.js";
import { applyGatewayEvent, parseGatewayEvent } from "../../src/payments/gateway-events.js";
import { handleCommand } from "../../src/commands/handle-command.js";
import { loadAggregate } from "../../src/commands/load.js";
import { openEventStore, openSqlClient, type EventStore } from "../../src/eventstore/index.js";
import type { SqlClient } from "../../src/infrastructure/sql/sql-client.js";
import type { GatewayWebhookBody } from "../../src/payments/gateway-webhook.js";
import { paymentFinder, SimulatedPaymentGateway } from "../../src/payments/simulated-gateway.js";
import { simulatedGatewayRoutes } from "../../src/payments/simulated-gateway-routes.js";
import { verifyWebhookSignature } from "../../src/payments/webhook-signature.js";

let sql: SqlClient;
let store: EventStore;
beforeAll(async () => {
  sql = await openSqlClient({});
  store = await openEventStore({ sql, pollIntervalMs: 20 });
});
afterAll(async () => {
  await store.close();
  await sql.close();
});

let n = 0;
async function initiated(amount = 1000): Promise<string> {
  const paymentId = `p-${++n}-${Date.now()}`;
  await handleCommand(store, paymentDecider, {
    streamId: paymentStream(paymentId),
    command: { type: "InitiatePayment", paymentId, orderId: `o-${n}`, amount, method: "UPI", at: "2026-03-01T10:00:00.000Z" },
    commandId: `init-${paymentId}`,
    actor: "saga:order",
  });
  return paymentId;
}
const body = (
  id: string,
  type: GatewayWebhookBody["type"],
  paymentId: string,
  extra: Partial<GatewayWebhookBody["data"]> = {},
): GatewayWebhookBody => ({
  id,
  type,
  created: "2026-03-01T10:01:00.000Z",
  data: { paymentId, amount: 1000, currency: "INR", ...extra },
});
const payment = async (paymentId: string) => (await loadAggregate(store, paymentDecider, paymentStream(paymentId))).state as Payment;

describe("applyGatewayEvent", () => {
  it("payment.captured captures; the same id again has no second effect", async () => {
    const p = await initiated();
    expect(await applyGatewayEvent({ store }, body("evt-c1", "payment.captured", p, { gatewayPaymentId: "gw-1" }))).toMatchObject({
      outcome: "applied",
      paymentId: p,
    });
    expect(await applyGatewayEvent({ store }, body("evt-c1", "payment.captured", p))).toMatchObject({ outcome: "duplicate" });
    expect(await payment(p)).toMatchObject({ status: "CAPTURED", capturedAmount: 1000, gatewayPaymentId: "gw-1" });
    expect((await store.readStream(paymentStream(p))).map((e) => e.type)).toEqual(["PaymentInitiated", "PaymentCaptured"]);
  });

  it("payment.authorized then payment.failed: FAILED; a later payment.authorized is ignored (never backwards)", async () => {
    const p = await initiated();
    expect((await applyGatewayEvent({ store }, body("evt-a", "payment.authorized", p))).outcome).toBe("applied");
    expect((await applyGatewayEvent({ store }, body("evt-f", "payment.failed", p, { reason: "declined" }))).outcome).toBe("applied");
    expect((await applyGatewayEvent({ store }, body("evt-a2", "payment.authorized", p))).outcome).toBe("ignored");
    expect(await payment(p)).toMatchObject({ status: "FAILED", failureReason: "declined" });
  });

  it("payment.failed after payment.captured changes nothing (recorded as ignored)", async () => {
    const p = await initiated();
    await applyGatewayEvent({ store }, body("evt-c", "payment.captured", p));
    expect((await applyGatewayEvent({ store }, body("evt-f", "payment.failed", p))).outcome).toBe("ignored");
    expect((await payment(p)).status).toBe("CAPTURED");
  });

  it("refund.processed and refund.failed settle a requested refund once", async () => {
    const p = await initiated();
    await applyGatewayEvent({ store }, body("evt-c", "payment.captured", p));
    for (const refundId of ["r1", "r2"]) {
      await handleCommand(store, paymentDecider, {
        streamId: paymentStream(p),
        command: { type: "RequestRefund", paymentId: p, refundId, amount: 400, reason: "test", at: "2026-03-01T10:02:00.000Z" },
        commandId: `refund-${p}-${refundId}`,
        actor: "saga:order",
      });
    }
    expect((await applyGatewayEvent({ store }, body("evt-r1", "refund.processed", p, { refundId: "r1", amount: 400 }))).outcome).toBe(
      "applied",
    );
    expect(
      (await applyGatewayEvent({ store }, body("evt-r2", "refund.failed", p, { refundId: "r2", amount: 400, reason: "closed account" })))
        .outcome,
    ).toBe("applied");
    expect((await applyGatewayEvent({ store }, body("evt-r2b", "refund.processed", p, { refundId: "r2", amount: 400 }))).outcome).toBe(
      "ignored",
    );
    expect(await payment(p)).toMatchObject({ status: "PARTIALLY_REFUNDED", refundedAmount: 400 });
    expect((await payment(p)).refunds.map((r) => r.status)).toEqual(["PROCESSED", "FAILED"]);
  });

  it("takes the time of the event from `created` only when it names a real instant", async () => {
    const p = await initiated();
    const before = Date.now();
    await expect(applyGatewayEvent({ store }, { ...body("evt-far", "payment.authorized", p), created: 1e21 })).rejects.toMatchObject({
      rule: "invalid_webhook_body",
    });
    await applyGatewayEvent({ store }, { ...body("evt-bad", "payment.captured", p), created: "+999999-01-01T00:00:00Z" });
    const last = (await store.readStream(paymentStream(p))).at(-1)!;
    expect(last.type).toBe("PaymentCaptured");
    expect(Date.parse((last.data as { at: string }).at)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse((last.data as { at: string }).at)).toBeLessThanOrEqual(Date.now());
  });

  it("accepts `created` as unix seconds", async () => {
    const p = await initiated();
    await applyGatewayEvent({ store }, { ...body("evt-s", "payment.captured", p), created: 1_772_359_260 });
    expect((await store.readStream(paymentStream(p))).at(-1)?.data).toMatchObject({ at: "2026-03-01T10:01:00.000Z" });
  });

  it("rejects malformed bodies and unknown payments with a DomainError, writing nothing", async () => {
    const bad = (b: unknown) => {
      try {
        parseGatewayEvent(b);
      } catch (error) {
        return error instanceof DomainError ? error.rule : "other";
      }
      return "accepted";
    };
    expect(bad(null)).toBe("invalid_webhook_body");
    expect(bad({ id: "x", type: "payment.exploded", created: "t", data: { paymentId: "p", amount: 1, currency: "INR" } })).toBe(
      "invalid_webhook_body",
    );
    expect(bad({ id: "x", type: "payment.captured", created: "t", data: { paymentId: "p", amount: 1.5, currency: "INR" } })).toBe(
      "invalid_webhook_body",
    );
    expect(bad({ id: "x", type: "refund.processed", created: "t", data: { paymentId: "p", amount: 1, currency: "INR" } })).toBe(
      "invalid_webhook_body",
    );
    await expect(applyGatewayEvent({ store }, body("evt-x", "payment.captured", "no-such-payment"))).rejects.toMatchObject({
      rule: "payment_not_found",
    });
    expect(await store.readStream(paymentStream("no-such-payment"))).toEqual([]);
  });
});

describe("simulated gateway", () => {
  it("initiate, void and refund are idempotent by key; failures are switchable", async () => {
    const gw = new SimulatedPaymentGateway({ publicBaseUrl: "http://shop.test/" });
    const first = await gw.initiate({ paymentId: "p1", orderId: "o1", amount: 100, currency: "INR", method: "UPI", idempotencyKey: "k1" });
    expect(first.paymentUrl).toBe("http://shop.test/simulated-gateway/payments/p1");
    expect(
      await gw.initiate({ paymentId: "p1", orderId: "o1", amount: 100, currency: "INR", method: "UPI", idempotencyKey: "k1" }),
    ).toEqual(first);
    expect(
      (await gw.refund({ paymentId: "p1", refundId: "r1", amount: 50, currency: "INR", reason: "x", idempotencyKey: "k2" })).status,
    ).toBe("processed");
    await gw.refund({ paymentId: "p1", refundId: "r1", amount: 50, currency: "INR", reason: "x", idempotencyKey: "k2" });
    expect(gw.effects).toEqual({ initiate: 1, void: 0, refund: 1 });
    gw.failRefunds = true;
    gw.failVoids = true;
    await expect(
      gw.refund({ paymentId: "p1", refundId: "r2", amount: 50, currency: "INR", reason: "x", idempotencyKey: "k3" }),
    ).rejects.toMatchObject({ name: "GatewayError", operation: "refund" });
    await expect(gw.void({ paymentId: "p1", reason: "x", idempotencyKey: "k4" })).rejects.toMatchObject({
      name: "GatewayError",
      operation: "void",
    });
  });

  it("serves a payment page, and a POST sends the signed webhook to the configured URL", async () => {
    const sent: { url: string; headers: Record<string, string>; body: string }[] = [];
    const fakeFetch = (async (url: string, init: { headers: Record<string, string>; body: string }) => {
      sent.push({ url, headers: init.headers, body: init.body });
      return new Response("{}", { status: 200 });
    }) as unknown as typeof fetch;
    const now = new Date("2026-03-01T10:00:00.000Z");
    const gw = new SimulatedPaymentGateway({
      publicBaseUrl: "http://shop.test",
      webhookUrl: "http://shop.test/api/payments/webhook",
      webhookSecret: "s3cret",
      fetch: fakeFetch,
      now: () => now,
    });
    await gw.initiate({ paymentId: "p9", orderId: "o9", amount: 12345, currency: "INR", method: "CARD", idempotencyKey: "k" });
    const app = Fastify();
    await app.register(simulatedGatewayRoutes, { gateway: gw });
    const page = await app.inject({ method: "GET", url: "/simulated-gateway/payments/p9" });
    expect(page.statusCode).toBe(200);
    expect(page.headers["content-type"]).toContain("text/html");
    expect(page.body).toContain("123.45 INR");
    expect((await app.inject({ method: "GET", url: "/simulated-gateway/payments/nope" })).statusCode).toBe(404);
    expect((await app.inject({ method: "POST", url: "/simulated-gateway/payments/p9", payload: { outcome: "maybe" } })).statusCode).toBe(
      400,
    );

    const posted = await app.inject({ method: "POST", url: "/simulated-gateway/payments/p9", payload: { outcome: "captured" } });
    expect(posted.statusCode).toBe(200);
    expect(posted.json()).toMatchObject({
      webhookStatus: 200,
      sent: { type: "payment.captured", data: { paymentId: "p9", amount: 12345, currency: "INR", gatewayPaymentId: "sim_pay_p9" } },
    });
    expect(sent).toHaveLength(1);
    expect(sent[0]!.url).toBe("http://shop.test/api/payments/webhook");
    expect(verifyWebhookSignature("s3cret", sent[0]!.headers["x-webhook-signature"], sent[0]!.body, now.getTime() / 1000)).toMatchObject({
      ok: true,
    });
    await app.close();
  });

  it("after a restart it finds payments in the event store", async () => {
    const p = await initiated(4321);
    const gw = new SimulatedPaymentGateway({ publicBaseUrl: "http://shop.test", findPayment: paymentFinder(store) });
    expect(await gw.payment(p)).toMatchObject({ paymentId: p, amount: 4321, currency: "INR" });
    expect(await gw.payment("nope")).toBeUndefined();
    expect((await gw.webhookBody(p, "failed")).data).toMatchObject({ paymentId: p, amount: 4321 });
  });
});
