// Durable deadlines (payment timeout, reservation expiry, retry backoff), kept in the event
// store's database so they survive a restart.
//
//   schedule  INSERT ... ON CONFLICT DO NOTHING: scheduling the same deadline id again (a
//             re-delivered saga step) changes nothing, not even a cancelled one.
//   cancel    marks it CANCELLED when the step it guards has completed.
//   fire      the scheduler polls deadlines due at the injected clock's now, appends the
//             deadline's event (DeadlineReached) to its target stream with an event id derived
//             from the deadline id, then marks it FIRED. A crash in between fires it again with
//             the same event id, which the store treats as an idempotent retry: delivered once.
//
// No row lock is held while appending (PGlite has one connection, and an open transaction would
// hold back every xmin-based subscriber); two schedulers racing append the same event id, so the
// second append is a no-op.

import { uuidV5, EVENT_ID_NAMESPACE } from "../commands/event-id.js";
import type { EventStore, JsonObject } from "../eventstore/port.js";
import { migrate, type Migration } from "../infrastructure/sql/migrations.js";
import type { SqlClient, SqlExecutor } from "../infrastructure/sql/sql-client.js";

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export const schedulingMigrations: readonly Migration[] = [
  {
    id: "scheduling/001-deadlines",
    sql: `
      CREATE TABLE IF NOT EXISTS scheduled_deadlines (
        deadline_id  text PRIMARY KEY,
        stream_id    text NOT NULL,
        event_type   text NOT NULL,
        payload      jsonb NOT NULL,
        due_at       timestamptz NOT NULL,
        status       text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'FIRED', 'CANCELLED')),
        created_at   timestamptz NOT NULL DEFAULT now(),
        fired_at     timestamptz,
        cancelled_at timestamptz
      );
      CREATE INDEX IF NOT EXISTS scheduled_deadlines_due ON scheduled_deadlines (due_at) WHERE status = 'PENDING';
    `,
  },
];

export const migrateScheduling = (sql: SqlClient): Promise<string[]> => migrate(sql, schedulingMigrations);

export interface DeadlineRequest {
  /** Unique forever, e.g. "order-1/paymentTimeout". */
  deadlineId: string;
  /** Where the deadline's event is appended when it fires. */
  streamId: string;
  /** Defaults to "DeadlineReached". */
  eventType?: string;
  /** Copied into the event's data, beside deadlineId, dueAt and firedAt. */
  payload: JsonObject;
  dueAt: Date | string;
}

export type DeadlineStatus = "PENDING" | "FIRED" | "CANCELLED";

export interface DeadlineRow {
  deadlineId: string;
  streamId: string;
  eventType: string;
  payload: JsonObject;
  dueAt: string;
  status: DeadlineStatus;
  firedAt?: string;
}

const iso = (value: Date | string): string => (value instanceof Date ? value : new Date(value)).toISOString();

export const scheduleDeadline = (sql: SqlExecutor, d: DeadlineRequest): Promise<void> => scheduleDeadlines(sql, [d]);

/** Schedules several deadlines in one statement (a saga step's deadlines: one round trip, not one each). */
export async function scheduleDeadlines(sql: SqlExecutor, ds: readonly DeadlineRequest[]): Promise<void> {
  if (ds.length === 0) return;
  await sql.query(
    `INSERT INTO scheduled_deadlines (deadline_id, stream_id, event_type, payload, due_at)
     SELECT d.id, d.stream, d.type, d.payload::jsonb, d.due::timestamptz
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS d(id, stream, type, payload, due)
     ON CONFLICT (deadline_id) DO NOTHING`,
    [
      ds.map((d) => d.deadlineId),
      ds.map((d) => d.streamId),
      ds.map((d) => d.eventType ?? "DeadlineReached"),
      ds.map((d) => JSON.stringify(d.payload)),
      ds.map((d) => iso(d.dueAt)),
    ],
  );
}

export const cancelDeadline = (sql: SqlExecutor, deadlineId: string, at: Date): Promise<void> => cancelDeadlines(sql, [deadlineId], at);

/** Cancels several pending deadlines in one statement; a fired or unknown one is left as it is. */
export async function cancelDeadlines(sql: SqlExecutor, deadlineIds: readonly string[], at: Date): Promise<void> {
  if (deadlineIds.length === 0) return;
  await sql.query(
    `UPDATE scheduled_deadlines SET status = 'CANCELLED', cancelled_at = $2::timestamptz WHERE deadline_id = ANY ($1::text[]) AND status = 'PENDING'`,
    [deadlineIds, iso(at)],
  );
}

interface RawRow {
  deadline_id: string;
  stream_id: string;
  event_type: string;
  payload: JsonObject | string;
  due_at: Date | string;
  status: DeadlineStatus;
  fired_at: Date | string | null;
}

const toRow = (r: RawRow): DeadlineRow => ({
  deadlineId: r.deadline_id,
  streamId: r.stream_id,
  eventType: r.event_type,
  payload: typeof r.payload === "string" ? (JSON.parse(r.payload) as JsonObject) : r.payload,
  dueAt: iso(r.due_at),
  status: r.status,
  ...(r.fired_at === null ? {} : { firedAt: iso(r.fired_at) }),
});

export async function getDeadline(sql: SqlExecutor, deadlineId: string): Promise<DeadlineRow | undefined> {
  const { rows } = await sql.query<RawRow>(`SELECT * FROM scheduled_deadlines WHERE deadline_id = $1`, [deadlineId]);
  return rows[0] ? toRow(rows[0]) : undefined;
}

export async function listDeadlines(sql: SqlExecutor, filter: { prefix?: string; status?: DeadlineStatus } = {}): Promise<DeadlineRow[]> {
  const { rows } = await sql.query<RawRow>(
    `SELECT * FROM scheduled_deadlines WHERE ($1::text IS NULL OR deadline_id LIKE $1 || '%') AND ($2::text IS NULL OR status = $2) ORDER BY due_at, deadline_id`,
    [filter.prefix ?? null, filter.status ?? null],
  );
  return rows.map(toRow);
}

export async function dueDeadlines(sql: SqlExecutor, now: Date, limit = 100): Promise<DeadlineRow[]> {
  const { rows } = await sql.query<RawRow>(
    `SELECT * FROM scheduled_deadlines WHERE status = 'PENDING' AND due_at <= $1::timestamptz ORDER BY due_at, deadline_id LIMIT $2`,
    [iso(now), limit],
  );
  return rows.map(toRow);
}

/** The id of the event a deadline appends when it fires: the same on every attempt. */
export const deadlineEventId = (deadlineId: string): string => uuidV5(JSON.stringify(["deadline", deadlineId]), EVENT_ID_NAMESPACE);

/** Appends the deadline's event (idempotent by event id), then marks it fired. */
export async function fireDeadline(deps: { store: EventStore; sql: SqlExecutor }, d: DeadlineRow, now: Date): Promise<void> {
  const correlationId = typeof d.payload.correlationId === "string" ? d.payload.correlationId : d.deadlineId;
  await deps.store.appendToStream(
    d.streamId,
    [
      {
        id: deadlineEventId(d.deadlineId),
        type: d.eventType,
        data: { ...d.payload, deadlineId: d.deadlineId, dueAt: d.dueAt, firedAt: iso(now) },
        metadata: { correlationId, causationId: `deadline/${d.deadlineId}`, actor: "scheduler" },
      },
    ],
    { expectedRevision: "any" },
  );
  await deps.sql.query(
    `UPDATE scheduled_deadlines SET status = 'FIRED', fired_at = $2::timestamptz WHERE deadline_id = $1 AND status = 'PENDING'`,
    [d.deadlineId, iso(now)],
  );
}

export interface SchedulerLogger {
  warn(obj: object, msg?: string): void;
}

export interface Scheduler {
  /** Fires every deadline due now; returns how many fired. */
  tick(): Promise<number>;
  stop(): Promise<void>;
}

export interface SchedulerOptions {
  store: EventStore;
  sql: SqlClient;
  clock?: Clock;
  /** Default 250 ms. */
  pollIntervalMs?: number;
  logger?: SchedulerLogger;
  /** false: no polling loop, only explicit tick() (tests). Default true. */
  autoStart?: boolean;
}

/** Runs the polling loop (after applying the migration). */
export async function startScheduler(options: SchedulerOptions): Promise<Scheduler> {
  await migrateScheduling(options.sql);
  const clock = options.clock ?? systemClock;
  const pollIntervalMs = options.pollIntervalMs ?? 250;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> = Promise.resolve(0);

  const tickOnce = async (): Promise<number> => {
    const now = clock.now();
    const due = await dueDeadlines(options.sql, now);
    for (const d of due) {
      if (stopped) break;
      await fireDeadline({ store: options.store, sql: options.sql }, d, now);
    }
    return due.length;
  };
  // Ticks never overlap: a tick waits for the one in progress.
  const tick = (): Promise<number> => (running = running.catch(() => 0).then(tickOnce));

  const loop = () => {
    if (stopped) return;
    tick()
      .catch((error: unknown) => options.logger?.warn({ err: error }, "scheduler tick failed; retrying"))
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, pollIntervalMs);
      });
  };
  if (options.autoStart !== false) loop();

  return {
    tick,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running.catch(() => 0);
    },
  };
}
