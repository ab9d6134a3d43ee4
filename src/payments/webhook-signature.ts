// Payment gateway webhook signatures, exactly as docs/CONTRACT.md says:
//
//   X-Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed by the secret>
//
// Verification recomputes the HMAC over the raw bytes received (never a re-serialised body),
// compares in constant time, and rejects a timestamp more than 300 s away from now (replays).

import { createHmac, timingSafeEqual } from "node:crypto";

export const SIGNATURE_HEADER = "x-webhook-signature";
export const SIGNATURE_TOLERANCE_SECONDS = 300;

const hmacHex = (secret: string, t: number, rawBody: string | Buffer): string =>
  createHmac("sha256", secret).update(`${t}.`).update(rawBody).digest("hex");

/** The header value for `rawBody` sent at unix time `t` (seconds). */
export function signWebhook(secret: string, rawBody: string | Buffer, t: number): string {
  if (!Number.isSafeInteger(t)) throw new Error("t must be whole unix seconds");
  return `t=${t},v1=${hmacHex(secret, t, rawBody)}`;
}

export type SignatureCheck = { ok: true; t: number } | { ok: false; reason: "missing" | "malformed" | "stale" | "mismatch" };

/** Checks `header` against `rawBody`; `nowSeconds` is the receiver's unix time. Never throws. */
export function verifyWebhookSignature(
  secret: string,
  header: string | undefined | null,
  rawBody: string | Buffer,
  nowSeconds: number,
): SignatureCheck {
  if (header === undefined || header === null || header === "") return { ok: false, reason: "missing" };
  let t: number | undefined;
  const candidates: string[] = [];
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) return { ok: false, reason: "malformed" };
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === "t") {
      if (!/^\d{1,15}$/.test(value) || t !== undefined) return { ok: false, reason: "malformed" };
      t = Number(value);
    } else if (key === "v1") {
      if (!/^[0-9a-f]{64}$/i.test(value)) return { ok: false, reason: "malformed" };
      candidates.push(value.toLowerCase());
    }
  }
  if (t === undefined || candidates.length === 0) return { ok: false, reason: "malformed" };
  if (Math.abs(nowSeconds - t) > SIGNATURE_TOLERANCE_SECONDS) return { ok: false, reason: "stale" };
  const expected = Buffer.from(hmacHex(secret, t, rawBody), "hex");
  // Every candidate is compared (several v1 values are allowed during a secret rotation).
  let matched = false;
  for (const candidate of candidates) {
    const given = Buffer.from(candidate, "hex");
    if (given.length === expected.length && timingSafeEqual(given, expected)) matched = true;
  }
  return matched ? { ok: true, t } : { ok: false, reason: "mismatch" };
}
