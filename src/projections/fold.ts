// A projection's batch rules as one fold over rows in memory (./rows.ts), and the two ways it runs:
//   - applyFold, a page at a time over tables that may hold anything (a projection's applyBatch):
//     read the rows the page touches, fold the page into them, write what changed;
//   - BulkFold, across a whole rebuild into fresh tables: the rows stay in memory from page to
//     page and are written when no event has touched them for a while, so a row is written about
//     once instead of once per page it appears in, and nothing is read back (a fresh table holds
//     only what was written, and a row written is read back only if an event comes for it later).
// The rules (which rows an event changes, and how) live in one place, the projection's RowFold.

import type { RecordedEvent } from "../eventstore/port.js";
import { sqlErrorCode, SqlState, type SqlClient, type SqlExecutor } from "../infrastructure/sql/sql-client.js";
import { keyOf, loadRows, RowSet, upsertRows, type Columns, type Row } from "./rows.js";

/**
 * How a folded row is written: "revision" replaces the stored row only when it is behind (a stream's
 * row), "update" replaces it, "insert" keeps a stored row as it is.
 */
export type WriteMode = "revision" | "update" | "insert";

export interface FoldTable {
  readonly columns: Columns;
  /** The primary key's columns, in order: a row's key in memory is keyOf(these values). */
  readonly key: readonly string[];
  /** The column a page's rows are read by; absent when the fold only writes the table. */
  readonly lookup?: string;
  readonly write: WriteMode;
  /** The row as the fold keeps it, from the row as read (e.g. a JSON state back into the aggregate's state). */
  readonly decode?: (row: Row) => Row;
  /** The row as written, from the row as the fold keeps it. */
  readonly encode?: (row: Row) => Row;
}

/** A projection's rules over rows in memory, per logical table. */
export interface RowFold<Table extends string = string> {
  readonly tables: { readonly [T in Table]: FoldTable };
  /** The lookup values (of each table's `lookup` column) whose rows a page of events reads. */
  needs(events: readonly RecordedEvent[]): { readonly [T in Table]?: Iterable<string> };
  /** Folds the events, in log order, into the rows; every row changed goes through RowSet.set or touch. */
  fold(events: readonly RecordedEvent[], rows: { readonly [T in Table]: RowSet }): void;
}

type Physical<Table extends string> = { readonly [T in Table]: string };

const rowKey = (spec: FoldTable, row: Row): string => keyOf(...spec.key.map((column) => row[column]));

const tablesOf = <Table extends string>(fold: RowFold<Table>): [Table, FoldTable][] => Object.entries(fold.tables) as [Table, FoldTable][];

/** Writes folded rows by the table's write mode; `fresh`: as plain inserts (rows believed new: a stored one makes it fail). */
function writeRows(sql: SqlExecutor, table: string, spec: FoldTable, rows: readonly Row[], fresh = false): Promise<void> {
  const { encode } = spec;
  return upsertRows(sql, table, spec.columns, spec.key, encode ? rows.map(encode) : rows, {
    ...(spec.write === "revision" ? { guard: "revision" as const } : {}),
    onConflict: fresh ? "fail" : spec.write === "insert" ? "nothing" : "update",
  });
}

async function readRows(sql: SqlExecutor, table: string, spec: FoldTable, values: Iterable<string>): Promise<Row[]> {
  if (spec.lookup === undefined) return [];
  const rows = await loadRows(sql, table, spec.columns, spec.lookup, [...new Set(values)]);
  return spec.decode ? rows.map(spec.decode) : rows;
}

/** Applies a page of events: the rows it touches read in one query per table, folded, the changed ones written (one statement per table). */
export async function applyFold<Table extends string>(
  fold: RowFold<Table>,
  events: readonly RecordedEvent[],
  sql: SqlExecutor,
  tables: Physical<Table>,
): Promise<void> {
  if (events.length === 0) return;
  const needs = fold.needs(events);
  const sets = {} as Record<Table, RowSet>;
  // One after another: `sql` is a transaction's one connection.
  for (const [table, spec] of tablesOf(fold))
    sets[table] = new RowSet(await readRows(sql, tables[table], spec, needs[table] ?? []), (row) => rowKey(spec, row));
  fold.fold(events, sets);
  for (const [table, spec] of tablesOf(fold)) await writeRows(sql, tables[table], spec, sets[table].changed());
}

export interface BulkOptions {
  /** Every this many pages, the rows no event touched since the last time are written and dropped from memory. */
  idlePages?: number;
  /** Writes under way (each a statement of its own) before the next page waits for the oldest; by default two per table (at least 4). */
  inFlight?: number;
  /** Rows per statement at most. */
  chunk?: number;
}

/** Lookup values of dropped rows remembered per table (beyond it every value not in memory is looked up). */
const REMEMBERED = 2_000_000;

interface TableState {
  readonly spec: FoldTable;
  readonly physical: string;
  /** Its `recent` keys: the rows changed (or read back) in the current window. */
  readonly rows: RowSet;
  /** Lookup values of rows written and dropped from memory: the table holds them now. */
  readonly evicted: Set<string>;
  /** Too many to remember: any value not in memory may be in the table. */
  spilled: boolean;
  /** Keys of the rows in memory that were read back: the table holds them (written as updates, not inserts). */
  readonly stored: Set<string>;
  /** The table's writes, one after another (a row written twice lands in order). */
  tail: Promise<void>;
}

/**
 * A fold across a rebuild into tables that were empty when it started and that nothing else
 * writes. Rows live in memory while events keep touching them; those left alone for `idlePages`
 * pages are written (autocommit statements on the pool, side by side with the folding of the next
 * pages) and dropped, and read back only if a later event needs them. Memory holds the rows
 * touched in the last few pages, whatever the log's length. Nothing here is transactional: it is
 * for tables swapped in only once complete (shadow and scratch tables).
 */
export class BulkFold<Table extends string> {
  private readonly state: Record<Table, TableState>;
  private readonly sets: Record<Table, RowSet>;
  private readonly pending: Promise<void>[] = [];
  private page = 0;
  private readonly idlePages: number;
  private readonly inFlight: number;
  private readonly chunk: number;

  constructor(
    private readonly fold: RowFold<Table>,
    private readonly sql: SqlClient,
    tables: Physical<Table>,
    options: BulkOptions = {},
  ) {
    this.idlePages = options.idlePages ?? 1;
    // Per table: a model with five tables writes five statements a page, and with a flat 4 it waited
    // on its last page's writes after every page (the refunds model, the rebuild's long pole).
    this.inFlight = options.inFlight ?? Math.max(4, 2 * Object.keys(fold.tables).length);
    this.chunk = options.chunk ?? 10_000;
    this.state = {} as Record<Table, TableState>;
    this.sets = {} as Record<Table, RowSet>;
    for (const [table, spec] of tablesOf(fold)) {
      const rows = new RowSet();
      this.state[table] = {
        spec,
        physical: tables[table],
        rows,
        evicted: new Set(),
        spilled: false,
        stored: new Set(),
        tail: Promise.resolve(),
      };
      this.sets[table] = rows;
    }
  }

  /** Folds the next page of events (in log order). */
  async add(events: readonly RecordedEvent[]): Promise<void> {
    if (events.length === 0) return;
    this.page += 1;
    await this.readBack(events);
    this.fold.fold(events, this.sets);
    if (this.page % this.idlePages === 0) this.evict(false);
    while (this.pending.length > this.inFlight) await this.pending.shift();
  }

  /** Writes every row still in memory and waits for every write. */
  async finish(): Promise<void> {
    this.evict(true);
    while (this.pending.length > 0) await this.pending.shift();
  }

  /** Rows of the page's lookup values that were written and dropped earlier come back from the table. */
  private async readBack(events: readonly RecordedEvent[]): Promise<void> {
    let needs: ReturnType<RowFold<Table>["needs"]> | undefined;
    for (const [table, state] of Object.entries<TableState>(this.state) as [Table, TableState][]) {
      if ((state.evicted.size === 0 && !state.spilled) || state.spec.lookup === undefined) continue;
      needs ??= this.fold.needs(events);
      // (Spilled: every value, as a row of it may have been dropped while another stayed.)
      const wanted = [...new Set(needs[table] ?? [])].filter((value) => state.spilled || state.evicted.has(value));
      if (wanted.length === 0) continue;
      await state.tail; // what was written is read back
      for (const row of await readRows(this.sql, state.physical, state.spec, wanted)) {
        const key = rowKey(state.spec, row);
        // A row still in memory is newer than the table's.
        if (!state.rows.rows.has(key)) {
          state.rows.rows.set(key, row);
          state.rows.recent.add(key);
        }
        state.stored.add(key);
      }
      for (const value of wanted) state.evicted.delete(value);
    }
  }

  /** Writes the changed rows not touched in the current window (all of them: `everything`), drops them from memory, and starts a new window. */
  private evict(everything: boolean): void {
    for (const state of Object.values<TableState>(this.state)) {
      const { rows, dirty, recent } = state.rows;
      const fresh: Row[] = [];
      const stored: Row[] = [];
      for (const [key, row] of rows) {
        if (!everything && recent.has(key)) continue;
        if (dirty.has(key)) (state.stored.has(key) ? stored : fresh).push(row);
        if (state.spec.lookup !== undefined && !state.spilled) state.evicted.add(String(row[state.spec.lookup]));
        rows.delete(key);
        dirty.delete(key);
        state.stored.delete(key);
      }
      recent.clear();
      for (let i = 0; i < fresh.length; i += this.chunk) this.write(state, fresh.slice(i, i + this.chunk), true);
      for (let i = 0; i < stored.length; i += this.chunk) this.write(state, stored.slice(i, i + this.chunk), false);
      if (state.evicted.size > REMEMBERED) {
        state.evicted.clear();
        state.spilled = true;
      }
    }
  }

  /**
   * Queues a chunk's write after the table's earlier ones. Rows not read back (`fresh`) are
   * inserted plainly, without a conflict check per row: in a fresh table a row is new unless it was
   * written before and an event set it again without reading it back (a table with no lookup, or a
   * fold setting a row its `needs` did not name). Then the insert fails as a whole, and the chunk is
   * written again by the table's write mode, as every chunk used to be.
   */
  private write(state: TableState, rows: readonly Row[], fresh: boolean): void {
    const { physical, spec } = state;
    const written = state.tail.then(() =>
      fresh
        ? writeRows(this.sql, physical, spec, rows, true).catch((error: unknown) => {
            if (sqlErrorCode(error) !== SqlState.uniqueViolation) throw error;
            return writeRows(this.sql, physical, spec, rows);
          })
        : writeRows(this.sql, physical, spec, rows),
    );
    written.catch(() => undefined); // rethrown where it is awaited (add or finish)
    state.tail = written;
    this.pending.push(written);
  }
}
