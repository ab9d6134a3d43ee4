// Starts the whole app (buildApp) on a throwaway store and talks to it over real HTTP.
// PGlite under a temp dir always; real PostgreSQL (a fresh database) when DATABASE_URL is set.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildApp, type BuildAppOptions, type BuiltApp } from "../../src/app.js";
import { signToken, type Role } from "../../src/api/auth.js";
import { loadConfig, type Config } from "../../src/config.js";
import { signWebhook } from "../../src/payments/webhook-signature.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";

export const JWT_SECRET = "test-jwt-secret-0123456789abcdef";
export const WEBHOOK_SECRET = "test-webhook-secret-0123456789";

export type Backend = "pglite" | "postgres";
export const backends = (): Backend[] => (process.env.DATABASE_URL ? ["pglite", "postgres"] : ["pglite"]);

export interface Storage {
  dataDir: string;
  database?: TestDatabase;
  dispose(): Promise<void>;
}

export async function createStorage(backend: Backend): Promise<Storage> {
  const dataDir = mkdtempSync(join(tmpdir(), "api-test-"));
  const database = backend === "postgres" ? await createTestDatabase() : undefined;
  return {
    dataDir,
    ...(database ? { database } : {}),
    async dispose() {
      await database?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface Response {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

export interface TestApp {
  built: BuiltApp;
  url: string;
  config: Config;
  token(roles: Role | Role[], sub?: string): Promise<string>;
  request(
    method: string,
    path: string,
    options?: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> },
  ): Promise<Response>;
  webhook(body: unknown, options?: { t?: number; secret?: string; signature?: string }): Promise<Response>;
  eventCount(): Promise<number>;
  close(): Promise<void>;
}

export async function startApp(storage: Storage, env: Record<string, string> = {}, options: BuildAppOptions = {}): Promise<TestApp> {
  const config = loadConfig({
    PORT: "0",
    DATA_DIR: storage.dataDir,
    AUTH_JWT_SECRET: JWT_SECRET,
    PAYMENT_WEBHOOK_SECRET: WEBHOOK_SECRET,
    ...(storage.database ? { DATABASE_URL: storage.database.url } : {}),
    ...env,
  });
  const built = await buildApp(config, { publicBaseUrl: "http://127.0.0.1:0", pollIntervalMs: 20, ...options });
  const url = await built.app.listen({ port: 0, host: "127.0.0.1" });
  built.setPublicBaseUrl(url);
  const request: TestApp["request"] = async (method, path, options = {}) => {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body: string | undefined;
    if (options.raw !== undefined) body = options.raw;
    else if (options.body !== undefined) body = JSON.stringify(options.body);
    if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === "content-type"))
      headers["content-type"] = "application/json";
    const res = await fetch(`${url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, headers: res.headers, body: parsed, text };
  };
  return {
    built,
    url,
    config,
    token: (roles, sub = "c-1") => signToken(JWT_SECRET, { sub, roles: Array.isArray(roles) ? roles : [roles] }),
    request,
    webhook: (body, options = {}) => {
      const raw = JSON.stringify(body);
      const signature = options.signature ?? signWebhook(options.secret ?? WEBHOOK_SECRET, raw, options.t ?? Math.floor(Date.now() / 1000));
      return request("POST", "/api/payments/webhook", { raw, headers: { "x-webhook-signature": signature } });
    },
    eventCount: async () => {
      const { rows } = await built.sql.query<{ n: number }>("SELECT count(*)::int AS n FROM es_events");
      return rows[0]!.n;
    },
    close: () => built.close(),
  };
}

export const address = { name: "Asha Rao", line1: "12 MG Road", city: "Bengaluru", state: "KA", pincode: "560001", phone: "+919800000001" };

/** Polls `probe` until it returns a truthy value (or throws after `timeoutMs`). */
export async function eventually<T>(
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs = 15_000,
  what = "condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Admin seeds a product with stock; returns the commit position of the last write (for ?waitFor=). */
export async function seedProduct(app: TestApp, sku: string, price = 49_900, stock = 100, warehouseId = "w-blr"): Promise<string> {
  const admin = await app.token("admin", "admin-1");
  const created = await app.request("POST", "/api/products", {
    token: admin,
    body: { sku, name: `Product ${sku}`, category: ["Electronics"], brand: "Acme", price },
  });
  if (created.status !== 201) throw new Error(`seed product ${sku}: ${created.status} ${created.text}`);
  if (stock > 0) {
    const received = await app.request("POST", `/api/inventory/${sku}/receipts`, { token: admin, body: { warehouseId, quantity: stock } });
    if (received.status !== 201) throw new Error(`seed stock ${sku}: ${received.status} ${received.text}`);
    return received.headers.get("x-commit-position")!;
  }
  return created.headers.get("x-commit-position")!;
}
