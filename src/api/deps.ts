// What the HTTP layer needs from the rest of the system. app.ts fills it in; tests may too.

import type { FastifyReply, FastifyRequest } from "fastify";
import type {} from "@fastify/swagger";
import type { Registry } from "prom-client";
import type { EventStore } from "../eventstore/port.js";
import type { SqlClient } from "../infrastructure/sql/sql-client.js";
import type { GatewayWebhookBody } from "../payments/gateway-webhook.js";
import { actorOf, principalOf, type TokenPolicy } from "./auth.js";
import { ProblemError } from "./problem.js";
import type { ClaimDesk } from "../flash-sales/claim-desk.js";
import type { FlashSaleDeps } from "../flash-sales/deps.js";
import { requestId } from "./idempotency.js";
import type { CommandContext } from "../commands/context.js";
import type { AdmissionGate } from "./admission.js";
import type { Redis } from "ioredis";
import type { OperationsConsole } from "../operations/console.js";
import type { CartView, InventoryView, OrderView, PaymentView, ProductView } from "../queries/index.js";

/**
 * The read side (src/queries): every GET of a resource reads its read model through these (docs/adr/0005-read-path.md);
 * the optional ones answer 501 while absent. Results are docs/CONTRACT.md shapes, null when not found.
 */
export interface ReadSide {
  getOrder(orderId: string): Promise<OrderView | null>;
  getPayment(paymentId: string): Promise<PaymentView | null>;
  getProduct(sku: string): Promise<ProductView | null>;
  getCart(customerId: string): Promise<CartView>;
  getInventory(sku: string): Promise<InventoryView | null>;
  listOrders?(filter: {
    status?: string;
    customerId?: string;
    from?: string;
    to?: string;
    page: number;
    size: number;
  }): Promise<{ total: number; items: unknown[] }>;
  searchProducts?(query: Record<string, unknown>): Promise<unknown>;
  reconciliation?(range: { from: string; to: string }): Promise<unknown>;
}

export interface ReadinessCheck {
  name: string;
  check(): Promise<Record<string, unknown> | undefined>;
}

/** The flash sales behind their routes (src/api/flash-sales.ts). */
export interface FlashSalesApi {
  deps: FlashSaleDeps;
  desk: ClaimDesk;
}

/** The instance registry and leases behind GET /api/ops/instances (src/api/instances.ts). */
export interface InstancesSource {
  instanceId: string;
  ttlMs: number;
  heartbeatMs: number;
  snapshot(): Promise<{
    instances: {
      instanceId: string;
      roles: string[];
      host: string;
      pid: number;
      startedAt: string;
      lastSeenAt: string;
      live: boolean;
      stopping: boolean;
      owns: string[];
    }[];
    leases: {
      unit: string;
      owner: string | null;
      token: number;
      held: boolean;
      acquiredAt: string | null;
      renewedAt: string | null;
      expiresAt: string;
    }[];
  }>;
}

export interface ApiDeps {
  store: EventStore;
  sql: SqlClient;
  jwtSecret: string;
  webhookSecret: string;
  returnWindowMs: number;
  registry: Registry;
  read: ReadSide;
  /** Waits until the read models have processed `position` (read-your-writes); absent: resolves at once. */
  waitFor?(position: string, timeoutMs: number): Promise<void>;
  /** Applies a verified gateway webhook (src/payments/gateway-events.ts). */
  applyGatewayEvent?(body: GatewayWebhookBody): Promise<unknown>;
  readiness: ReadinessCheck[];
  /** Flash sales: the gate behind claims and orders from claims (src/flash-sales); absent: those routes are not registered. */
  flashSales?: FlashSalesApi;
  /** Operator views and actions behind /api/ops (src/operations/console.ts); absent: those routes answer 501. */
  ops?: OperationsConsole;
  /** The instance registry and leases (GET /api/ops/instances); absent: 501. */
  instances?: InstancesSource;
  /** Admission control of new orders (src/api/admission.ts): 503 while the order pipeline is over its lag bound; absent: always admitted. */
  admission?: AdmissionGate;
  /** Requests per minute per caller; 0 or absent: no limit. */
  rateLimitPerMinute?: number;
  /** Where the rate limit counts (shared by every instance); absent: in this process. */
  rateLimitRedis?: Redis;
  /** The clock for commands and webhook timestamps (tests pin it); absent: the system clock. */
  now?: () => Date;
  /** Bearer-token rules beyond AUTH_JWT_SECRET (src/api/auth.ts); absent: HS256 only, `exp` at most a day ahead. */
  tokenPolicy?: Omit<TokenPolicy, "secret" | "now">;
  /** CORS_ORIGINS: browser origins allowed to call the API; absent or empty: none (same origin only). */
  corsOrigins?: string[];
}

export function commandContext(deps: ApiDeps, request: FastifyRequest, purpose = "command"): CommandContext {
  const p = principalOf(request);
  return {
    store: deps.store,
    actor: actorOf(p),
    commandId: requestId(request, purpose),
    correlationId: request.id,
    ...(deps.now ? { now: deps.now } : {}),
  };
}

/** `W/"<revision>"`. */
export const etag = (revision: number): string => `W/"${revision}"`;

/** The revision an If-Match header asks for; undefined when absent or "*". Anything unparseable can never match: 412. */
export function ifMatch(request: FastifyRequest, currentRevision?: number): number | undefined {
  const header = request.headers["if-match"];
  if (header === undefined || header.trim() === "*") return undefined;
  const m = /^\s*(?:W\/)?"(-?\d+)"\s*$/.exec(header);
  if (!m)
    throw new ProblemError(
      412,
      "Precondition Failed",
      `If-Match must be an ETag such as W/"3"${currentRevision === undefined ? "" : `; the resource is at W/"${currentRevision}"`}`,
    );
  return Number(m[1]);
}

/** Sets X-Commit-Position and returns the 202 body extras. */
export function committed(reply: FastifyReply, position: string | null | undefined): { position: string | null } {
  if (position) reply.header("X-Commit-Position", position);
  return { position: position ?? null };
}

/** A write's reply: ETag of the stream version the command reached, X-Commit-Position, and the body's `position`. */
export function written(
  reply: FastifyReply,
  result: { nextExpectedRevision: number; position: string | null | undefined },
): { position: string | null } {
  reply.header("ETag", etag(result.nextExpectedRevision));
  return committed(reply, result.position);
}

/** ?waitFor=<position> or X-Wait-For: waits (at most 5 s) for the read models to reach it. */
export async function readYourWrites(deps: ApiDeps, request: FastifyRequest): Promise<void> {
  const q = (request.query as Record<string, unknown> | undefined)?.waitFor;
  const h = request.headers["x-wait-for"];
  await readModelsAt(deps, request, typeof q === "string" && q !== "" ? q : typeof h === "string" && h !== "" ? h : undefined);
}

/** Waits (at most 5 s) for the read models to reach `position`: a write route that answers with the resource reads it after its own write. */
export async function readModelsAt(deps: ApiDeps, request: FastifyRequest, position: string | null | undefined): Promise<void> {
  if (!position || !deps.waitFor) return;
  try {
    await deps.waitFor(position, 5000);
  } catch {
    // Answer with what there is; the client sees the position it asked for is not reached yet.
    request.log.warn({ position }, "read models did not reach the requested position in time");
  }
}
