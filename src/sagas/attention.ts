// Sagas that need an operator: a gateway call (void, refund) that kept failing after its retries,
// or a refund the gateway refused. The saga stream is the truth (SagaCommandFailed {parked: true},
// SagaRecovered); the saga_attention table is the index operators list.
//
//   listSagasNeedingAttention(sql)            -> [{orderId, stepId, error, attempts, since, updatedAt}]
//   resumeSaga({store}, orderId, by)          -> appends SagaResumeRequested to the saga's inbox; the
//                                                saga re-runs the failed step's commands (all
//                                                idempotent) and, when they succeed, records
//                                                SagaRecovered and leaves the list.

import { randomUUID } from "node:crypto";
import type { EventStore } from "../eventstore/port.js";
import { migrate, type Migration } from "../infrastructure/sql/migrations.js";
import type { SqlClient, SqlExecutor } from "../infrastructure/sql/sql-client.js";
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
  stepId: string;
  error: string;
  attempts: number;
  since: string;
  updatedAt: string;
}

export async function markNeedsAttention(sql: SqlExecutor, a: { orderId: string; stepId: string; error: string; attempts: number; since: string }): Promise<void> {
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

export async function listSagasNeedingAttention(sql: SqlExecutor): Promise<SagaNeedingAttention[]> {
  const { rows } = await sql.query<{ order_id: string; step_id: string; error: string; attempts: number; since: unknown; updated_at: unknown }>(
    `SELECT order_id, step_id, error, attempts, since, updated_at FROM saga_attention ORDER BY since, order_id`,
  );
  return rows.map((r) => ({
    orderId: r.order_id,
    sagaId: `orderSaga-${r.order_id}`,
    stepId: r.step_id,
    error: r.error,
    attempts: Number(r.attempts),
    since: iso(r.since),
    updatedAt: iso(r.updated_at),
  }));
}

/** Asks the saga of `orderId` to run its failed step again (after the cause was fixed). */
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
