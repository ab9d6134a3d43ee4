// Over the rate limit: 429 problem+json with Retry-After, counted per caller; probes and the
// gateway's webhooks are never limited.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { createStorage, startApp, type Storage, type TestApp } from "./harness.js";

describe("rate limit", () => {
  let storage: Storage;
  let app: TestApp;
  beforeAll(async () => {
    storage = await createStorage("pglite");
    app = await startApp(storage, { RATE_LIMIT_PER_MINUTE: "5" });
  });
  afterAll(async () => {
    await app?.close();
    await storage?.dispose();
  });

  it("answers 429 with Retry-After once a caller passes its limit, and only that caller", async () => {
    const busy = await app.token("customer", "c-busy");
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await app.request("GET", "/api/cart", { token: busy })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    const over = await app.request("GET", "/api/cart", { token: busy });
    expect(over.status).toBe(429);
    expect(over.headers.get("content-type")).toContain("application/problem+json");
    expect(Number(over.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(over.body).toMatchObject({ status: 429, title: "Too Many Requests", limit: 5 });

    const other = await app.token("customer", "c-calm");
    expect((await app.request("GET", "/api/cart", { token: other })).status).toBe(200);
    for (let i = 0; i < 10; i++) expect((await app.request("GET", "/health/live")).status).toBe(200);
  });

  it("can be turned off with 0, and refuses a value that is not a whole number", () => {
    expect(loadConfig({ RATE_LIMIT_PER_MINUTE: "0" }).rateLimitPerMinute).toBe(0);
    expect(() => loadConfig({ RATE_LIMIT_PER_MINUTE: "-1" })).toThrow(/RATE_LIMIT_PER_MINUTE/);
    expect(() => loadConfig({ RATE_LIMIT_PER_MINUTE: "lots" })).toThrow(/RATE_LIMIT_PER_MINUTE/);
  });
});
