// Idempotency-Key for POSTs, kept in the database (table api_idempotency_keys).
//
//   first request with a key   -> row inserted "in flight"; the response is stored when sent
//   same key, same body, done  -> the stored status, headers and body; nothing runs again
//   same key, different body   -> 422
//   same key while in flight   -> 409 (an in-flight row older than STALE_MS is taken over: its process died)
//   a 5xx answer is not kept: the client may retry with the same key.
//
// The key also seeds the command ids and new resource ids (`request.idempotency.seed`), so the
// event store's own idempotency catches a retry even if the row were lost.

import { createHash, randomUUID } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from "fastify";
import type { Migration } from "../infrastructure/sql/migrations.js";
import type { SqlClient } from "../infrastructure/sql/sql-client.js";
import { uuidV5 } from "../commands/event-id.js";
import { ProblemError } from "./problem.js";

export const idempotencyMigrations: Migration[] = [
  {
    id: "api/001-idempotency-keys",
    sql: `CREATE TABLE IF NOT EXISTS api_idempotency_keys (
            scope text NOT NULL,
            key text NOT NULL,
            request_hash text NOT NULL,
            status integer,
            headers jsonb,
            body text,
            created_at timestamptz NOT NULL DEFAULT now(),
            completed_at timestamptz,
            PRIMARY KEY (scope, key)
          )`,
  },
];

const STALE_MS = 60_000;
const KEPT_HEADERS = ["content-type", "etag", "location", "x-commit-position"];
const ID_NAMESPACE = "6f0c4a0e-7d8e-4f4b-9a51-3f2f0c6c1e77";

export interface IdempotencyContext {
  scope: string;
  key: string;
  /** Stable per (scope, key) when a key was given; random otherwise. */
  seed: string;
  stored: boolean;
}

declare module "fastify" {
  interface FastifyRequest {
    idempotency?: IdempotencyContext;
  }
  interface FastifyContextConfig {
    /** false: this POST takes no Idempotency-Key (e.g. the webhook, deduplicated by event id). */
    idempotent?: boolean;
  }
}

/** A deterministic id for `purpose` within the request: the same on a retry with the same key. */
export const requestId = (request: FastifyRequest, purpose: string): string =>
  request.idempotency ? uuidV5(`${request.idempotency.seed}|${purpose}`, ID_NAMESPACE) : randomUUID();

const hashOf = (request: FastifyRequest): string =>
  createHash("sha256")
    .update(`${request.method} ${request.url.split("?")[0]}\n`)
    .update(JSON.stringify(request.body ?? null))
    .digest("hex");

export function registerIdempotency(app: FastifyInstance, sql: SqlClient): void {
  const check = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const raw = request.headers["idempotency-key"];
    if (raw === undefined) return;
    const key = Array.isArray(raw) ? raw[0] : raw;
    if (typeof key !== "string" || key.length < 1 || key.length > 255 || Array.isArray(raw)) {
      throw new ProblemError(400, "Bad Request", "Idempotency-Key must be 1 to 255 characters", {
        field: "Idempotency-Key",
        in: "headers",
      });
    }
    const scope = request.principal?.sub ?? "anonymous";
    const hash = hashOf(request);
    const seed = `${scope}|${key}`;
    const inserted = await sql.query(
      `INSERT INTO api_idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3) ON CONFLICT (scope, key) DO NOTHING RETURNING key`,
      [scope, key, hash],
    );
    if (inserted.rows.length === 1) {
      request.idempotency = { scope, key, seed, stored: true };
      return;
    }
    const { rows } = await sql.query<{
      request_hash: string;
      status: number | null;
      headers: Record<string, string> | string | null;
      body: string | null;
      age_ms: string | number;
    }>(
      `SELECT request_hash, status, headers, body, (extract(epoch from (now() - created_at)) * 1000)::bigint AS age_ms FROM api_idempotency_keys WHERE scope = $1 AND key = $2`,
      [scope, key],
    );
    const row = rows[0];
    if (!row) throw new ProblemError(409, "Conflict", "the request with this Idempotency-Key changed state meanwhile; retry");
    if (row.request_hash !== hash) {
      throw new ProblemError(422, "Unprocessable Content", "this Idempotency-Key was used with a different request", {
        field: "Idempotency-Key",
        in: "headers",
      });
    }
    if (row.status === null) {
      if (Number(row.age_ms) > STALE_MS) {
        const taken = await sql.query(
          `UPDATE api_idempotency_keys SET created_at = now() WHERE scope = $1 AND key = $2 AND status IS NULL AND created_at < now() - interval '60 seconds' RETURNING key`,
          [scope, key],
        );
        if (taken.rows.length === 1) {
          request.idempotency = { scope, key, seed, stored: true };
          return;
        }
      }
      throw new ProblemError(
        409,
        "Conflict",
        "a request with this Idempotency-Key is still in progress",
        { field: "Idempotency-Key", in: "headers" },
        { "Retry-After": "1" },
      );
    }
    const headers = typeof row.headers === "string" ? (JSON.parse(row.headers) as Record<string, string>) : (row.headers ?? {});
    for (const [name, value] of Object.entries(headers)) reply.header(name, value);
    reply.header("Idempotent-Replayed", "true");
    await reply.code(row.status).send(row.body ?? "");
  };

  app.addHook("onRoute", (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (!methods.includes("POST") || route.config?.idempotent === false) return;
    const existing = route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler];
    route.preHandler = [...existing, check] as RouteOptions["preHandler"];
  });

  app.addHook("onSend", async (request, reply, payload) => {
    const ctx = request.idempotency;
    if (!ctx?.stored) return payload;
    ctx.stored = false;
    if (reply.statusCode >= 500) {
      await sql.query(`DELETE FROM api_idempotency_keys WHERE scope = $1 AND key = $2 AND status IS NULL`, [ctx.scope, ctx.key]);
      return payload;
    }
    const headers: Record<string, string> = {};
    for (const name of KEPT_HEADERS) {
      const v = reply.getHeader(name);
      if (v !== undefined) headers[name] = String(v);
    }
    const body =
      typeof payload === "string"
        ? payload
        : Buffer.isBuffer(payload)
          ? payload.toString("utf8")
          : payload === null || payload === undefined
            ? ""
            : String(payload);
    await sql.query(
      `UPDATE api_idempotency_keys SET status = $3, headers = $4, body = $5, completed_at = now() WHERE scope = $1 AND key = $2`,
      [ctx.scope, ctx.key, reply.statusCode, JSON.stringify(headers), body],
    );
    return payload;
  });

  // A request that failed before sending anything (connection dropped) leaves no in-flight row behind.
  app.addHook("onResponse", async (request) => {
    const ctx = request.idempotency;
    if (ctx?.stored)
      await sql.query(`DELETE FROM api_idempotency_keys WHERE scope = $1 AND key = $2 AND status IS NULL`, [ctx.scope, ctx.key]);
  });
}
