// Sagas that need an operator: a gateway call (void, refund) that kept failing after its retries,
// or a refund the gateway refused. The saga stream is the truth (SagaCommandFailed {parked: true},
// SagaRecovered); the saga_attention table is the index operators list.
//
//   listSagasNeedingAttention(sql | {sql, store}) -> [{orderId, kind, stepId, error, attempts, since, ...}]
//        kind "gateway": a gateway step parked by the saga; kind "event" (needs the store): one of
//        the order's events the saga processor parked after its retries (any other fault).
//   resumeSaga({store}, orderId, by)  -> appends SagaResumeRequested to the saga's inbox; the saga
//        re-runs the failed step's commands (all idempotent) and, when they succeed, records
//        SagaRecovered and leaves the list.
//   running.resume(orderId, by)       -> (startOrderSaga's result) the above, plus retrying the
//        order's parked events through the saga's handler.

import { randomUUID } from "node:crypto";
import type { EventStore } from "../eventstore/port.js";
import { migrate, type Migration } from "../infrastructure/sql/migrations.js";
import { sqlErrorCode, type SqlClient, type SqlExecutor } from "../infrastructure/sql/sql-client.js";
import { listParked, type ParkedEvent } from "../processing/processor.js";
import { sagaInboxStreamId } from "./order-saga.js";

export const sagaMigrations: readonly Migration[] = [
  {
    id: "sagas/001-attention",
    sql: `
      CREATE TABLE IF NOT EXISTS saga_attention (
        order_id   text PRIMARY KEY,
        step_id    text NOT NULL,
        error      text NOT NULL,
        attempts   int NOT NULL,
        since      timestamptz NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
];

export const migrateSagas = (sql: SqlClient): Promise<string[]> => migrate(sql, sagaMigrations);

export interface SagaNeedingAttention {
  orderId: string;
  sagaId: string;
  /** gateway: a gateway call kept failing (or refused a refund); event: the saga processor parked one of the order's events. */
  kind: "gateway" | "event";
  /** The failed step (gateway) or the parked event's id (event). */
  stepId: string;
  /** For kind "event": the processor's parked-event id (retryParked). */
  parkedId?: number;
  /** For kind "event": the saga processor (partition) that parked it. */
  processor?: string;
  error: string;
  attempts: number;
  since: string;
  updatedAt: string;
}

export async function markNeedsAttention(
  sql: SqlExecutor,
  a: { orderId: string; stepId: string; error: string; attempts: number; since: string },
): Promise<void> {
  await sql.query(
    `INSERT INTO saga_attention (order_id, step_id, error, attempts, since, updated_at) VALUES ($1, $2, $3, $4, $5::timestamptz, now())
     ON CONFLICT (order_id) DO UPDATE SET step_id = excluded.step_id, error = excluded.error, attempts = excluded.attempts, updated_at = now()`,
    [a.orderId, a.stepId, a.error, a.attempts, a.since],
  );
}

export async function clearAttention(sql: SqlExecutor, orderId: string): Promise<void> {
  await sql.query(`DELETE FROM saga_attention WHERE order_id = $1`, [orderId]);
}

const iso = (v: unknown): string => new Date(v as string).toISOString();

/**
 * Every order whose saga needs an operator. Given the store too, it also lists the order events
 * the saga processor parked after its retries (a fault that is not the gateway's).
 */
export async function listSagasNeedingAttention(
  deps: SqlExecutor | { sql: SqlExecutor; store: EventStore },
): Promise<SagaNeedingAttention[]> {
  const sql = "store" in deps ? deps.sql : deps;
  const gateway = await gatewayFailures(sql);
  if (!("store" in deps)) return gateway;
  return [...gateway, ...(await parkedSagaEvents(sql, deps.store))].sort(
    (a, b) => a.since.localeCompare(b.since) || a.orderId.localeCompare(b.orderId),
  );
}

/** The saga processors' parked events (every partition, any partition count), each with the order it belongs to. */
export async function parkedSagaEvents(sql: SqlExecutor, store: EventStore): Promise<SagaNeedingAttention[]> {
  let parked: ParkedEvent[];
  try {
    parked = (await listParked(sql)).filter(
      (p) => p.processor === ORDER_SAGA_PROCESSOR || p.processor.startsWith(`${ORDER_SAGA_PROCESSOR}/`),
    );
  } catch (error) {
    if (sqlErrorCode(error) === "42P01") return []; // the processor never ran here
    throw error;
  }
  const result: SagaNeedingAttention[] = [];
  for (const p of parked) {
    const event = (await store.readStream(p.streamId)).find((e) => e.id === p.eventId);
    const orderId = (event?.data as { orderId?: unknown } | undefined)?.orderId;
    if (typeof orderId !== "string") continue;
    result.push({
      orderId,
      sagaId: `orderSaga-${orderId}`,
      kind: "event",
      stepId: p.eventId,
      parkedId: p.id,
      processor: p.processor,
      error: `${p.type}: ${p.error}`,
      attempts: p.attempts,
      since: p.parkedAt,
      updatedAt: p.parkedAt,
    });
  }
  return result;
}

async function gatewayFailures(sql: SqlExecutor): Promise<SagaNeedingAttention[]> {
  const { rows } = await sql.query<{
    order_id: string;
    step_id: string;
    error: string;
    attempts: number;
    since: unknown;
    updated_at: unknown;
  }>(`SELECT order_id, step_id, error, attempts, since, updated_at FROM saga_attention ORDER BY since, order_id`);
  return rows.map((r) => ({
    orderId: r.order_id,
    sagaId: `orderSaga-${r.order_id}`,
    kind: "gateway" as const,
    stepId: r.step_id,
    error: r.error,
    attempts: Number(r.attempts),
    since: iso(r.since),
    updatedAt: iso(r.updated_at),
  }));
}

export const ORDER_SAGA_PROCESSOR = "order-saga";

/**
 * Asks the saga of `orderId` to run its failed gateway step again (after the cause was fixed).
 * Parked events are retried by the running saga's `resume(orderId)`, which also calls this.
 */
export async function resumeSaga(deps: { store: EventStore; clock?: { now(): Date } }, orderId: string, by = "operator"): Promise<void> {
  await deps.store.appendToStream(
    sagaInboxStreamId(orderId),
    [
      {
        id: randomUUID(),
        type: "SagaResumeRequested",
        data: { orderId, by, at: (deps.clock?.now() ?? new Date()).toISOString() },
        metadata: { correlationId: `saga-resume/${orderId}`, causationId: `saga-resume/${orderId}`, actor: by },
      },
    ],
    { expectedRevision: "any" },
  );
}
