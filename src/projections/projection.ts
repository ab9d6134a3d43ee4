// What every SQL read model is made of: a processor name (its checkpoint key), the stream
// categories it reads, its tables (logical name -> physical name, so a rebuild can build the
// same model into shadow tables), the DDL for a given set of table names, and an `apply` that
// changes rows for one event inside the caller's transaction.
//
// Idempotency per stream revision: every read-model row that belongs to one stream stores
// `revision`, the stream revision of the last event applied to it. An event at or below that
// revision changes nothing, so redelivery (a checkpoint reset, a retried batch, a replay over a
// live table) can never move a row backwards or count a delta twice.

import type { DomainEvent } from "../aggregates/decider.js";
import type { AllFilter, RecordedEvent, StoredLogQuery } from "../eventstore/port.js";
import type { Migration } from "../infrastructure/sql/migrations.js";
import type { SqlExecutor } from "../infrastructure/sql/sql-client.js";
import type { RowFold } from "./fold.js";
import { ident } from "./sql-text.js";

export { ident, int, iso, isoText } from "./sql-text.js";

/** Logical table name -> physical table name. */
export type TableNames = Readonly<Record<string, string>>;

export interface Projection<Tables extends TableNames = TableNames> {
  /** The processor's name and checkpoint key, e.g. "projections/orders". */
  readonly name: string;
  readonly filter: AllFilter;
  /** The live tables. */
  readonly tables: Tables;
  /** DDL creating the tables (and their indexes) under the given names. */
  schema(tables: Tables): string;
  /** Versioned migrations creating the live tables. */
  readonly migrations: readonly Migration[];
  /** Applies one event to the tables named by `tables` (the live ones by default). */
  apply(event: RecordedEvent, sql: SqlExecutor, tables?: Tables): Promise<void>;
  /**
   * Optional: applies a page of events (in log order) with the same effect as `apply` on each,
   * in a few set-based statements instead of a few per event. Rebuilds and replays use it.
   */
  applyBatch?(events: readonly RecordedEvent[], sql: SqlExecutor, tables?: Tables): Promise<void>;
  /**
   * Optional: the rules of `applyBatch` as a fold over rows in memory (./fold.ts). A rebuild into
   * fresh tables then keeps rows in memory across pages and writes each about once (BulkFold).
   */
  readonly fold?: RowFold<Extract<keyof Tables, string>>;
  /**
   * Optional: one INSERT … SELECT (without RETURNING: the rebuild adds one to count its rows) that
   * fills the empty tables from the stored log (the store's `storedLog`), run by the database itself
   * in a shadow rebuild where the log lies in the same database. It must build exactly what `fold`
   * and `apply` build; a test per model compares them on both backends.
   */
  backfill?(log: StoredLogQuery, tables: Tables): StoredLogQuery;
}

/** A recorded event with its aggregate's event type and data (the one type assertion of the projections; see asEvent in src/aggregates/decider.ts). */
export const recordedAs = <Event extends DomainEvent>(recorded: RecordedEvent): RecordedEvent & Event => recorded as RecordedEvent & Event;

/** The same logical tables under "<name>_shadow". */
export const shadowTables = <Tables extends TableNames>(tables: Tables): Tables =>
  Object.fromEntries(Object.entries(tables).map(([logical, physical]) => [logical, `${physical}_shadow`])) as Tables;

/**
 * Advances a stream's row to `event.revision` when it is behind, touching `updated_at`, and
 * applies `sets` (SQL assignments that may use $4, $5... for `params`). $1 is the key, $2 the
 * revision, $3 the event's time. Returns false when the row is missing or already at or past
 * this revision: the caller must then change nothing else.
 */
export async function advance(
  sql: SqlExecutor,
  table: string,
  keyColumn: string,
  key: string,
  event: RecordedEvent,
  at: string,
  sets = "",
  params: readonly unknown[] = [],
): Promise<boolean> {
  const assignments = ["revision = $2::bigint", "updated_at = $3::timestamptz", ...(sets ? [sets] : [])].join(", ");
  const { rows } = await sql.query(
    `UPDATE ${ident(table)} SET ${assignments} WHERE ${ident(keyColumn)} = $1::text AND revision < $2::bigint RETURNING 1 AS ok`,
    [key, event.revision, at, ...params],
  );
  return rows.length > 0;
}

/** Every row of every table of a projection, as canonical JSON text, in a stable order (rebuild checks, `verify`). */
export async function dumpTables(
  sql: SqlExecutor,
  projection: Projection,
  tables: TableNames = projection.tables,
): Promise<Record<string, string[]>> {
  const dump: Record<string, string[]> = {};
  for (const [logical, physical] of Object.entries(tables)) {
    const { rows } = await sql.query<{ r: string }>(`SELECT (to_jsonb(t))::text AS r FROM ${ident(physical)} t ORDER BY 1`);
    dump[logical] = rows.map((row) => row.r);
  }
  return dump;
}
