// Who owns which unit of work, kept in the database every instance shares: an instance registry
// (each process heartbeats its row) and one lease row per unit of work (a projector, a saga
// partition, the deadline scheduler...).
//
// Why a lease table rather than advisory locks: a lease row is visible (GET /api/ops/instances
// reads it), carries a fencing token that a unit's own transactions can check, expires on the
// database's clock whatever happened to the owner's connection (an advisory lock of a process that
// is partitioned from the network stays held until TCP keepalive notices), survives a connection
// pooler in transaction mode, and is the same SQL on embedded PGlite. The price is a bounded
// takeover time (the TTL) instead of an immediate one after a crash; a graceful stop releases at once.
//
// Every time a unit changes hands its token grows by one. An owner renews with its token; a unit's
// transactional work checks, in its own transaction, that the lease is still its own (fence()):
// `FOR KEY SHARE` makes a takeover (which locks the row FOR UPDATE first) wait for that
// transaction, so a stale owner can never commit work after somebody else took the unit over,
// while the owner's own renewals (a plain UPDATE of non-key columns) never wait for it.
//
// All times are the database's `now()`: instances on several machines never compare their clocks.

import type { Migration } from "../../infrastructure/sql/migrations.js";
import { migrate } from "../../infrastructure/sql/migrations.js";
import type { SqlClient, SqlExecutor } from "../../infrastructure/sql/sql-client.js";

export const ownershipMigrations: readonly Migration[] = [
  {
    id: "processing/ownership-001-instances-and-leases",
    sql: `
      CREATE TABLE IF NOT EXISTS processing_instances (
        instance_id  text PRIMARY KEY,
        incarnation  text NOT NULL,
        roles        text[] NOT NULL,
        host         text NOT NULL,
        pid          integer NOT NULL,
        started_at   timestamptz NOT NULL DEFAULT now(),
        last_seen_at timestamptz NOT NULL DEFAULT now(),
        expires_at   timestamptz NOT NULL,
        stopping     boolean NOT NULL DEFAULT false
      );
      CREATE TABLE IF NOT EXISTS processing_leases (
        unit         text PRIMARY KEY,
        owner        text,
        incarnation  text,
        token        bigint NOT NULL DEFAULT 0,
        acquired_at  timestamptz,
        renewed_at   timestamptz,
        expires_at   timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
];

export const migrateOwnership = (sql: SqlClient): Promise<string[]> => migrate(sql, ownershipMigrations);

/** One process: its INSTANCE_ID and a random id per start (a restarted process is a new incarnation). */
export interface InstanceIdentity {
  instanceId: string;
  incarnation: string;
}

export interface InstanceRecord {
  instanceId: string;
  incarnation: string;
  roles: string[];
  host: string;
  pid: number;
  startedAt: string;
  lastSeenAt: string;
  expiresAt: string;
  /** Heartbeat within its TTL. */
  live: boolean;
  /** Shutting down: it hands its units over and takes no new ones. */
  stopping: boolean;
}

export interface LeaseRecord {
  unit: string;
  owner: string | null;
  incarnation: string | null;
  token: number;
  acquiredAt: string | null;
  renewedAt: string | null;
  expiresAt: string;
  /** Held by somebody right now (not released, not expired). */
  held: boolean;
}

export interface HeldLease {
  unit: string;
  token: number;
}

const iso = (v: unknown): string => new Date(v as string).toISOString();

/** Registers the instance, or takes over a row of the same INSTANCE_ID left by a dead incarnation. false: a live process already uses this INSTANCE_ID. */
export async function registerInstance(
  sql: SqlExecutor,
  me: InstanceIdentity,
  info: { roles: readonly string[]; host: string; pid: number },
  ttlMs: number,
): Promise<boolean> {
  const { rows } = await sql.query(
    `INSERT INTO processing_instances (instance_id, incarnation, roles, host, pid, started_at, last_seen_at, expires_at)
     VALUES ($1, $2, $3::text[], $4, $5, now(), now(), now() + $6::int * interval '1 millisecond')
     ON CONFLICT (instance_id) DO UPDATE SET incarnation = excluded.incarnation, roles = excluded.roles, host = excluded.host, pid = excluded.pid,
       started_at = excluded.started_at, last_seen_at = excluded.last_seen_at, expires_at = excluded.expires_at, stopping = false
     WHERE processing_instances.expires_at <= now() OR processing_instances.incarnation = excluded.incarnation
     RETURNING instance_id`,
    [me.instanceId, me.incarnation, [...info.roles], info.host, info.pid, ttlMs],
  );
  return rows.length === 1;
}

/** Extends the instance's registration; false when its row was taken by another incarnation (it was considered dead). */
export async function heartbeatInstance(sql: SqlExecutor, me: InstanceIdentity, ttlMs: number, stopping = false): Promise<boolean> {
  const { rows } = await sql.query(
    `UPDATE processing_instances SET last_seen_at = now(), expires_at = now() + $3::int * interval '1 millisecond', stopping = $4
      WHERE instance_id = $1 AND incarnation = $2 RETURNING instance_id`,
    [me.instanceId, me.incarnation, ttlMs, stopping],
  );
  return rows.length === 1;
}

export async function deregisterInstance(sql: SqlExecutor, me: InstanceIdentity): Promise<void> {
  await sql.query(`DELETE FROM processing_instances WHERE instance_id = $1 AND incarnation = $2`, [me.instanceId, me.incarnation]);
}

/** Voids every lease and registration: only for a database no other process can reach (embedded), whose leases were all left by dead processes. */
export async function voidAllLeases(sql: SqlExecutor): Promise<void> {
  await sql.query(`UPDATE processing_leases SET owner = NULL, incarnation = NULL, expires_at = now() WHERE owner IS NOT NULL`);
  await sql.query(`DELETE FROM processing_instances`);
}

/** Forgets instances dead for longer than `olderThanMs` (they stay listed, as not live, until then). */
export async function forgetDeadInstances(sql: SqlExecutor, olderThanMs: number): Promise<void> {
  await sql.query(`DELETE FROM processing_instances WHERE expires_at < now() - $1::int * interval '1 millisecond'`, [olderThanMs]);
}

export async function listInstances(sql: SqlExecutor): Promise<InstanceRecord[]> {
  const { rows } = await sql.query<Record<string, unknown>>(
    `SELECT instance_id, incarnation, roles, host, pid, started_at, last_seen_at, expires_at, stopping, expires_at > now() AS live
       FROM processing_instances ORDER BY instance_id`,
  );
  return rows.map((r) => ({
    instanceId: String(r.instance_id),
    incarnation: String(r.incarnation),
    roles: r.roles as string[],
    host: String(r.host),
    pid: Number(r.pid),
    startedAt: iso(r.started_at),
    lastSeenAt: iso(r.last_seen_at),
    expiresAt: iso(r.expires_at),
    live: r.live === true,
    stopping: r.stopping === true,
  }));
}

/**
 * Takes the unit's lease when nobody holds it: never held, released, or expired (for at least
 * `freeForMs`, so the instance it is assigned to gets the first go). Returns the new token, or
 * undefined when somebody else holds it.
 */
export async function acquireLease(
  sql: SqlExecutor,
  me: InstanceIdentity,
  unit: string,
  ttlMs: number,
  freeForMs = 0,
): Promise<number | undefined> {
  const created = await sql.query<{ token: string | number }>(
    `INSERT INTO processing_leases (unit, owner, incarnation, token, acquired_at, renewed_at, expires_at)
     VALUES ($1, $2, $3, 1, now(), now(), now() + $4::int * interval '1 millisecond')
     ON CONFLICT (unit) DO NOTHING RETURNING token`,
    [unit, me.instanceId, me.incarnation, ttlMs],
  );
  if (created.rows[0] !== undefined) return Number(created.rows[0].token);
  // FOR UPDATE: waits for any fenced transaction of the previous owner (FOR KEY SHARE) to end.
  const { rows } = await sql.query<{ token: string | number }>(
    `UPDATE processing_leases AS l SET owner = $2, incarnation = $3, token = l.token + 1, acquired_at = now(), renewed_at = now(),
            expires_at = now() + $4::int * interval '1 millisecond'
       FROM (SELECT unit FROM processing_leases WHERE unit = $1 AND expires_at <= now() - $5::int * interval '1 millisecond' FOR UPDATE) AS free
      WHERE l.unit = free.unit AND l.expires_at <= now() - $5::int * interval '1 millisecond'
      RETURNING l.token`,
    [unit, me.instanceId, me.incarnation, ttlMs, freeForMs],
  );
  return rows[0] === undefined ? undefined : Number(rows[0].token);
}

/** Extends the given leases; returns the ones still held (a lease that expired or changed hands is not renewed, not even if nobody took it). */
export async function renewLeases(
  sql: SqlExecutor,
  me: InstanceIdentity,
  leases: readonly HeldLease[],
  ttlMs: number,
): Promise<HeldLease[]> {
  if (leases.length === 0) return [];
  const { rows } = await sql.query<{ unit: string; token: string | number }>(
    `UPDATE processing_leases AS l SET renewed_at = now(), expires_at = now() + $3::int * interval '1 millisecond'
       FROM (SELECT unnest($4::text[]) AS unit, unnest($5::bigint[]) AS token) AS mine
      WHERE l.unit = mine.unit AND l.token = mine.token AND l.owner = $1 AND l.incarnation = $2 AND l.expires_at > now()
      RETURNING l.unit, l.token`,
    [me.instanceId, me.incarnation, ttlMs, leases.map((l) => l.unit), leases.map((l) => String(l.token))],
  );
  return rows.map((r) => ({ unit: r.unit, token: Number(r.token) }));
}

/** Gives the lease up at once (a graceful handover): the next owner need not wait for it to expire. */
export async function releaseLease(sql: SqlExecutor, me: InstanceIdentity, lease: HeldLease): Promise<void> {
  await sql.query(
    `UPDATE processing_leases SET owner = NULL, incarnation = NULL, expires_at = now()
      WHERE unit = $1 AND token = $2 AND owner = $3 AND incarnation = $4`,
    [lease.unit, lease.token, me.instanceId, me.incarnation],
  );
}

export class LeaseLostError extends Error {
  override readonly name = "LeaseLostError";
  constructor(readonly unit: string) {
    super(`the lease of ${unit} is no longer held by this instance`);
  }
}

/**
 * Inside a transaction of the unit's work: throws LeaseLostError unless this instance still holds
 * the lease with this token. The row stays share-locked until the transaction ends, so a takeover
 * (which updates the row) waits for this transaction: its writes are never those of a stale owner.
 */
export async function fenceLease(tx: SqlExecutor, me: InstanceIdentity, lease: HeldLease): Promise<void> {
  const { rows } = await tx.query(
    `SELECT 1 FROM processing_leases WHERE unit = $1 AND token = $2 AND owner = $3 AND incarnation = $4 AND expires_at > now() FOR KEY SHARE`,
    [lease.unit, lease.token, me.instanceId, me.incarnation],
  );
  if (rows.length === 0) throw new LeaseLostError(lease.unit);
}

export async function listLeases(sql: SqlExecutor): Promise<LeaseRecord[]> {
  const { rows } = await sql.query<Record<string, unknown>>(
    `SELECT unit, owner, incarnation, token, acquired_at, renewed_at, expires_at, (owner IS NOT NULL AND expires_at > now()) AS held
       FROM processing_leases ORDER BY unit`,
  );
  return rows.map((r) => ({
    unit: String(r.unit),
    owner: r.owner === null ? null : String(r.owner),
    incarnation: r.incarnation === null ? null : String(r.incarnation),
    token: Number(r.token),
    acquiredAt: r.acquired_at === null ? null : iso(r.acquired_at),
    renewedAt: r.renewed_at === null ? null : iso(r.renewed_at),
    expiresAt: iso(r.expires_at),
    held: r.held === true,
  }));
}
