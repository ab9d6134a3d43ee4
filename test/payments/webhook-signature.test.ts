import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { signWebhook, verifyWebhookSignature } from "../../src/payments/webhook-signature.js";

const secret = "whsec_test";
const body = JSON.stringify({
  id: "evt_1",
  type: "payment.captured",
  created: "2026-01-01T00:00:00.000Z",
  data: { paymentId: "p1", amount: 100, currency: "INR" },
});
const t = 1_767_225_600;

describe("webhook signature", () => {
  it("is t=<seconds>,v1=<hex HMAC-SHA256 of '<t>.<body>'>", () => {
    const expected = createHmac("sha256", secret).update(`${t}.${body}`).digest("hex");
    expect(signWebhook(secret, body, t)).toBe(`t=${t},v1=${expected}`);
  });

  it("accepts a valid signature, also from a Buffer body and within 300 s either way", () => {
    const header = signWebhook(secret, body, t);
    expect(verifyWebhookSignature(secret, header, body, t)).toEqual({ ok: true, t });
    expect(verifyWebhookSignature(secret, header, Buffer.from(body), t + 300).ok).toBe(true);
    expect(verifyWebhookSignature(secret, header, body, t - 300).ok).toBe(true);
  });

  it("rejects a tampered body", () => {
    const header = signWebhook(secret, body, t);
    expect(verifyWebhookSignature(secret, header, body.replace("100", "1000"), t)).toEqual({ ok: false, reason: "mismatch" });
    expect(verifyWebhookSignature(secret, header, `${body} `, t)).toEqual({ ok: false, reason: "mismatch" });
  });

  it("rejects the wrong secret", () => {
    expect(verifyWebhookSignature("other", signWebhook(secret, body, t), body, t)).toEqual({ ok: false, reason: "mismatch" });
  });

  it("rejects a stale (or future) timestamp, even when correctly signed", () => {
    expect(verifyWebhookSignature(secret, signWebhook(secret, body, t), body, t + 301)).toEqual({ ok: false, reason: "stale" });
    expect(verifyWebhookSignature(secret, signWebhook(secret, body, t), body, t - 301)).toEqual({ ok: false, reason: "stale" });
  });

  it("rejects a signature made for another timestamp (t swapped in the header)", () => {
    const v1 = signWebhook(secret, body, t).split("v1=")[1];
    expect(verifyWebhookSignature(secret, `t=${t + 10},v1=${v1}`, body, t)).toEqual({ ok: false, reason: "mismatch" });
  });

  it.each([
    ["missing", undefined, "missing"],
    ["empty", "", "missing"],
    ["garbage", "nonsense", "malformed"],
    ["no v1", `t=${t}`, "malformed"],
    ["no t", `v1=${"a".repeat(64)}`, "malformed"],
    ["short v1", `t=${t},v1=abcd`, "malformed"],
    ["non-hex v1", `t=${t},v1=${"z".repeat(64)}`, "malformed"],
    ["non-numeric t", `t=soon,v1=${"a".repeat(64)}`, "malformed"],
    ["two t", `t=${t},t=${t},v1=${"a".repeat(64)}`, "malformed"],
  ])("rejects a malformed header (%s)", (_name, header, reason) => {
    expect(verifyWebhookSignature(secret, header, body, t)).toEqual({ ok: false, reason });
  });

  it("accepts when any of several v1 values matches (secret rotation)", () => {
    const good = signWebhook(secret, body, t).split(",")[1];
    expect(verifyWebhookSignature(secret, `t=${t},v1=${"0".repeat(64)},${good}`, body, t).ok).toBe(true);
  });
});
