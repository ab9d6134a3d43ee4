// Several real server processes (src/main.ts) on one PostgreSQL database, for the multi-instance
// tests: spawn, wait until ready, talk HTTP, kill, and read the whole log to check the laws.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signToken, type Role } from "../../src/api/auth.js";
import { inventoryDecider, stockLawHolds, type InventoryEvent } from "../../src/aggregates/inventory.js";
import { fold } from "../../src/aggregates/decider.js";
import { openEventStore } from "../../src/eventstore/index.js";
import { START, type RecordedEvent } from "../../src/eventstore/port.js";
import { createPgClient } from "../../src/infrastructure/sql/pg-client.js";
import { signWebhook } from "../../src/payments/webhook-signature.js";

export const JWT_SECRET = "instances-test-jwt-secret-0123456789";
export const WEBHOOK_SECRET = "whsec_instances_test_0123456789abcdef";
export const address = { name: "Asha", line1: "12 MG Road", city: "Bengaluru", state: "KA", pincode: "560001", phone: "+919800000001" };
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface ServerProcess {
  id: string;
  url: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  alive(): boolean;
  output(): string;
}

export interface Response {
  status: number;
  headers: Headers;
  body: any;
}

export async function call(
  base: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const body = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
    signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

export const token = (roles: Role | Role[], sub = "t-admin") =>
  signToken(JWT_SECRET, { sub, roles: Array.isArray(roles) ? roles : [roles] });

/** Starts `src/main.ts` with the cluster's shared settings and waits until it answers /health/ready. */
export async function startServer(id: string, databaseUrl: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), `instance-${id}-`));
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      DATA_DIR: dataDir,
      DATABASE_URL: databaseUrl,
      AUTH_JWT_SECRET: JWT_SECRET,
      PAYMENT_WEBHOOK_SECRET: WEBHOOK_SECRET,
      INSTANCE_ID: id,
      RATE_LIMIT_PER_MINUTE: "0",
      PG_POOL_MAX: "10",
      LOG_LEVEL: "warn",
      // These servers test ownership on PostgreSQL: no Kafka, Debezium or Elasticsearch (a Debezium
      // connector would hold a replication slot on the test's database and keep it from being dropped).
      KAFKA_BROKERS: "",
      KAFKA_CONNECT_URL: "",
      ELASTICSEARCH_URL: "",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  void exited.then(() => rmSync(dataDir, { recursive: true, force: true }));
  const url = `http://127.0.0.1:${port}`;
  const server: ServerProcess = {
    id,
    url,
    child,
    exited,
    alive: () => child.exitCode === null && child.signalCode === null,
    output: () => out,
  };
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (!server.alive()) throw new Error(`instance ${id} exited during start-up:\n${out}`);
    const ready = await call(url, "GET", "/health/ready", { timeoutMs: 3_000 }).catch(() => undefined);
    if (ready?.status === 200) return server;
    if (Date.now() > deadline) throw new Error(`instance ${id} not ready in 90 s:\n${out}`);
    await sleep(200);
  }
}

export async function stopServer(server: ServerProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
  if (server.alive()) server.child.kill(signal);
  return server.exited;
}

export function signedWebhook(body: unknown): { raw: string; headers: Record<string, string> } {
  const raw = JSON.stringify(body);
  return { raw, headers: { "x-webhook-signature": signWebhook(WEBHOOK_SECRET, raw, Math.floor(Date.now() / 1000)) } };
}

/** Every event of the database's log, in commit order. */
export async function readWholeLog(databaseUrl: string): Promise<RecordedEvent[]> {
  const sql = createPgClient({ connectionString: databaseUrl, max: 2 });
  const store = await openEventStore({ sql });
  try {
    const events: RecordedEvent[] = [];
    let from = START;
    for (;;) {
      const page = await store.readAll({ from, maxCount: 2000 });
      events.push(...page.events);
      if (page.events.length === 0 || page.checkpoint === from) return events;
      from = page.checkpoint;
    }
  } finally {
    await store.close();
    await sql.close();
  }
}

const groupBy = <T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> => {
  const map = new Map<string, T[]>();
  for (const item of items) map.set(key(item), [...(map.get(key(item)) ?? []), item]);
  return map;
};

/**
 * The laws over the whole log; returns the violations (empty when all hold):
 * - stock: every inventory stream keeps received + adjusted = available + reserved + committed + shipped - restocked, nothing negative;
 * - money: at most one capture per payment, refunds processed never above the capture, one refund request per refund id;
 * - gateway: at most one payment initiated per order (the gateway is asked to charge once);
 * - saga: one recorded step per input event of each order (no step ran twice with another decision).
 */
export function lawViolations(events: readonly RecordedEvent[]): string[] {
  const violations: string[] = [];
  const byStream = groupBy(events, (e) => e.streamId);
  for (const [streamId, stream] of byStream) {
    if (streamId.startsWith("inventory-")) {
      const state = fold(
        inventoryDecider,
        stream.map((e) => ({ type: e.type, data: e.data }) as unknown as InventoryEvent),
      );
      if (!stockLawHolds(state))
        violations.push(
          `stock law broken on ${streamId}: ${JSON.stringify({ ...state, reservations: undefined, restockedReturns: undefined })}`,
        );
    }
    if (streamId.startsWith("payment-")) {
      const captures = stream.filter((e) => e.type === "PaymentCaptured");
      if (captures.length > 1) violations.push(`${streamId}: ${captures.length} captures`);
      const captured = captures.reduce((n, e) => n + Number((e.data as { amount?: number }).amount ?? 0), 0);
      const refunded = stream
        .filter((e) => e.type === "RefundProcessed")
        .reduce((n, e) => n + Number((e.data as { amount?: number }).amount ?? 0), 0);
      if (refunded > captured) violations.push(`${streamId}: refunded ${refunded} > captured ${captured}`);
      for (const [refundId, requests] of groupBy(
        stream.filter((e) => e.type === "RefundRequested"),
        (e) => String((e.data as { refundId?: string }).refundId),
      )) {
        if (requests.length > 1) violations.push(`${streamId}: refund ${refundId} requested ${requests.length} times`);
      }
    }
    if (streamId.startsWith("orderSaga-")) {
      for (const [input, steps] of groupBy(
        stream.filter((e) => e.type === "SagaStepRecorded"),
        (e) => String((e.data as { inputEventId?: string }).inputEventId),
      )) {
        if (steps.length > 1) violations.push(`${streamId}: ${steps.length} steps recorded for input event ${input}`);
      }
    }
  }
  for (const [orderId, initiated] of groupBy(
    events.filter((e) => e.type === "PaymentInitiated"),
    (e) => String((e.data as { orderId?: string }).orderId),
  )) {
    if (initiated.length > 1) violations.push(`order ${orderId}: ${initiated.length} payments initiated`);
  }
  return violations;
}
