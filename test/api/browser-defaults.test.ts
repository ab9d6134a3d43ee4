// Browser-facing defaults: security headers (helmet) with a Content-Security-Policy under which
// the HTML pages the server serves still run, and CORS for the configured origins only.

import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { awaitStatus, placeOrder } from "./flow.js";
import { createStorage, seedProduct, startApp, type Storage, type TestApp } from "./harness.js";

const SHOP = "https://shop.example";

/** script-src of a Content-Security-Policy header. */
const scriptSrc = (csp: string | null) =>
  (csp ?? "")
    .split(";")
    .map((d) => d.trim().split(/\s+/))
    .find(([name]) => name === "script-src")
    ?.slice(1) ?? [];

/** Every script of an HTML page runs under its CSP: inline ones by hash (or nonce), external ones from this origin. */
function scriptsAllowed(html: string, csp: string | null): string[] {
  const allowed = scriptSrc(csp);
  const refused: string[] = [];
  for (const [, attrs, body] of html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)) {
    const src = /src="([^"]+)"/.exec(attrs ?? "")?.[1];
    if (src) {
      if (/^[a-z]+:\/\//i.test(src) || src.startsWith("//") || !allowed.includes("'self'")) refused.push(`external script ${src}`);
    } else if ((body ?? "").trim() !== "") {
      const hash = `'sha256-${createHash("sha256")
        .update(body ?? "")
        .digest("base64")}'`;
      if (!allowed.includes(hash) && !allowed.includes("'unsafe-inline'"))
        refused.push(`inline script ${(body ?? "").trim().slice(0, 40)}`);
    }
  }
  return refused;
}

describe("browser defaults", () => {
  let storage: Storage;
  let app: TestApp;
  beforeAll(async () => {
    storage = await createStorage("pglite");
    app = await startApp(storage, { CORS_ORIGINS: `${SHOP},http://localhost:5173` });
  });
  afterAll(async () => {
    await app?.close();
    await storage?.dispose();
  });

  it("sends security headers and a same-origin Content-Security-Policy on API answers", async () => {
    const res = await app.request("GET", "/health/live");
    const csp = res.headers.get("content-security-policy");
    expect(csp).toContain("default-src 'self'");
    expect(scriptSrc(csp)).toEqual(["'self'"]);
    expect(csp).not.toContain("upgrade-insecure-requests");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("x-frame-options")).toBe("SAMEORIGIN");
    expect(res.headers.get("strict-transport-security")).toContain("max-age=");
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    expect(res.headers.get("x-powered-by")).toBeNull();
    // Errors carry them too.
    const problem = await app.request("GET", "/api/no-such-route");
    expect(problem.headers.get("content-type")).toContain("application/problem+json");
    expect(problem.headers.get("x-content-type-options")).toBe("nosniff");
  });

  it("lets a configured origin call the API from a browser, with its preflight, and no other origin", async () => {
    const customer = await app.token("customer", "c-cors");
    const allowed = await app.request("GET", "/api/cart", { token: customer, headers: { origin: SHOP } });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get("access-control-allow-origin")).toBe(SHOP);
    expect(allowed.headers.get("access-control-expose-headers")).toContain("etag");
    expect(allowed.headers.get("access-control-allow-credentials")).toBeNull();

    const preflight = await app.request("OPTIONS", "/api/orders", {
      headers: {
        origin: SHOP,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type,idempotency-key",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe(SHOP);
    expect(preflight.headers.get("access-control-allow-methods")).toContain("POST");
    expect(preflight.headers.get("access-control-allow-headers")).toContain("idempotency-key");

    const other = await app.request("GET", "/api/cart", { token: customer, headers: { origin: "https://evil.example" } });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
    const otherPreflight = await app.request("OPTIONS", "/api/orders", {
      headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
    });
    expect(otherPreflight.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("keeps /docs (swagger-ui), the simulated gateway's page and /admin working under the policy", async () => {
    const docs = await app.request("GET", "/docs/");
    expect(docs.status).toBe(200);
    expect(docs.text).toContain("swagger");
    expect(scriptsAllowed(docs.text, docs.headers.get("content-security-policy"))).toEqual([]);
    expect(docs.headers.get("content-security-policy")).not.toContain("upgrade-insecure-requests");
    for (const [, src] of docs.text.matchAll(/<script[^>]*src="([^"]+)"/g))
      expect((await app.request("GET", new URL(src!, `${app.url}/docs/`).pathname)).status, src).toBe(200);

    await seedProduct(app, "CSP-1", 1_000, 5);
    const customer = await app.token("customer", "c-csp");
    const placed = await placeOrder(app, customer, [{ sku: "CSP-1", quantity: 1 }]);
    const pending = await awaitStatus(app, customer, placed.orderId, "PAYMENT_PENDING");
    const page = await app.request("GET", `/simulated-gateway/payments/${pending.payment.paymentId}`);
    expect(page.status).toBe(200);
    expect(page.text).toContain("<script>");
    expect(scriptsAllowed(page.text, page.headers.get("content-security-policy"))).toEqual([]);
    // An inline script the server did not write (an injection) would not run.
    expect(
      scriptsAllowed(page.text.replace("</body>", "<script>alert(1)</script></body>"), page.headers.get("content-security-policy")),
    ).toEqual(["inline script alert(1)"]);

    // The back-office page: one HTML file with its own script and stylesheet, same origin.
    const admin = await app.request("GET", "/admin");
    if (admin.status !== 404) {
      expect(admin.status).toBe(200);
      expect(scriptsAllowed(admin.text, admin.headers.get("content-security-policy"))).toEqual([]);
      for (const [, src] of admin.text.matchAll(/<script[^>]*src="([^"]+)"/g))
        expect((await app.request("GET", src!)).status, src).toBe(200);
    }
  });

  it("reads CORS_ORIGINS as exact origins and refuses anything else", () => {
    expect(loadConfig({}).corsOrigins).toEqual([]);
    expect(loadConfig({ CORS_ORIGINS: "https://a.example, http://localhost:3001" }).corsOrigins).toEqual([
      "https://a.example",
      "http://localhost:3001",
    ]);
    expect(() => loadConfig({ CORS_ORIGINS: "https://a.example/" })).toThrow(/CORS_ORIGINS/);
    expect(() => loadConfig({ CORS_ORIGINS: "*" })).toThrow(/CORS_ORIGINS/);
    expect(() => loadConfig({ CORS_ORIGINS: "ftp://a.example" })).toThrow(/CORS_ORIGINS/);
  });
});
