// Read-model rows in memory, for the batch paths of a projection (./fold.ts): read the rows a
// page of events touches in one query per table, fold the events into them in JavaScript, and
// write back only the rows that changed, in one set-based statement per table
// (INSERT … SELECT FROM jsonb_array_elements(…) ON CONFLICT DO UPDATE). A page of thousands of
// events then costs a handful of statements instead of a few per event.
//
// Values are kept in the form they are written in: numbers for bigint/int, ISO text for
// timestamptz, parsed JSON for jsonb, arrays for text[]. A row read back is normalised to it, so a
// folded row is written exactly as `apply`'s SQL would have left it.
//
// Rows are read without locks: each projection's tables have one writer at a time (its
// transactional processor, a rebuild into its own shadow tables, or a swap under an exclusive
// lock), and stream rows are still written only when their revision moves forward.

import { copyField } from "../infrastructure/sql/copy-text.js";
import type { SqlExecutor } from "../infrastructure/sql/sql-client.js";
import { ident, iso } from "./sql-text.js";

export type SqlType = "text" | "bigint" | "int" | "boolean" | "timestamptz" | "jsonb" | "text[]";
/** Column name -> SQL type, in the table's column order. */
export type Columns = Readonly<Record<string, SqlType>>;
export type Row = Record<string, unknown>;

function fromSql(value: unknown, type: SqlType): unknown {
  if (value === null || value === undefined) return null;
  switch (type) {
    case "bigint":
    case "int":
      return Number(value);
    case "timestamptz":
      return iso(value);
    case "jsonb":
      return typeof value === "string" ? JSON.parse(value) : value;
    case "boolean":
      return value === true || value === "t" || value === "true";
    default:
      return value;
  }
}

/** The rows of `table` whose `keyColumn` is one of `keys`. */
export async function loadRows(
  sql: SqlExecutor,
  table: string,
  columns: Columns,
  keyColumn: string,
  keys: readonly string[],
): Promise<Row[]> {
  if (keys.length === 0) return [];
  const names = Object.keys(columns);
  const { rows } = await sql.query<Row>(
    `SELECT ${names.map(ident).join(", ")} FROM ${ident(table)} WHERE ${ident(keyColumn)} = ANY($1::text[])`,
    [[...keys]],
  );
  return rows.map((row) => Object.fromEntries(names.map((name) => [name, fromSql(row[name], columns[name]!)])));
}

/** A text[] value as an array literal: every element quoted, so commas, braces and spaces stay in it. */
const arrayLiteral = (elements: readonly unknown[]): string =>
  `{${elements.map((e) => (e === null || e === undefined ? "NULL" : `"${String(e).replace(/["\\]/g, "\\$&")}"`)).join(",")}}`;

/** A value as PostgreSQL reads it for a column of `type` (null for SQL NULL), as upsertRows' JSON route would store it. */
function copyValue(value: unknown, type: SqlType): string | null {
  if (value === null || value === undefined) return null;
  switch (type) {
    case "jsonb": {
      const json = JSON.stringify(value);
      return json === undefined || json === "null" ? null : json;
    }
    case "text[]":
      return Array.isArray(value) ? arrayLiteral(value) : null;
    case "timestamptz":
      return value instanceof Date ? value.toISOString() : String(value);
    default:
      return typeof value === "number" && !Number.isFinite(value) ? null : String(value);
  }
}

/**
 * Inserts rows believed new with COPY (a stored row with the same key fails it as a whole, a
 * unique violation, as a plain INSERT would): about a third of the server's time for the same rows
 * (10,000-row chunks of a 6-column table, 200,000 rows: 3.5 s as INSERT … FROM
 * jsonb_array_elements, 1.3 s as COPY), for a little more JavaScript (building the text, 0.5 s
 * against JSON.stringify's 0.2 s).
 */
export async function copyRows(sql: SqlExecutor, table: string, columns: Columns, rows: readonly Row[]): Promise<void> {
  if (rows.length === 0) return;
  const names = Object.keys(columns);
  const types = names.map((name) => columns[name]!);
  let text = "";
  for (const row of rows) {
    for (let i = 0; i < names.length; i++) {
      if (i > 0) text += "\t";
      text += copyField(copyValue(row[names[i]!], types[i]!));
    }
    text += "\n";
  }
  await sql.copyIn(table, names, text); // (copyIn checks the names)
}

/**
 * Inserts `rows`, or updates the row with the same `key`. With `guard: "revision"` an existing row
 * is updated only when the new one's revision is higher (a stream row never moves backwards);
 * with `onConflict: "nothing"` an existing row is kept as it is; with `onConflict: "fail"` the
 * statement fails (unique violation) if one is there: COPY (copyRows), for rows known to be new
 * (no conflict check per row: side by side, 10,000 narrow rows went in about twice as fast as an
 * upsert, even before COPY).
 *
 * The rows travel as one JSON text: JSON.stringify is native, where binding one array per column
 * escaped every element in JavaScript (the 1M-event rebuild profile had it at 8% of its samples).
 */
export async function upsertRows(
  sql: SqlExecutor,
  table: string,
  columns: Columns,
  key: readonly string[],
  rows: readonly Row[],
  options: { guard?: "revision"; onConflict?: "update" | "nothing" | "fail" } = {},
): Promise<void> {
  if (rows.length === 0) return;
  if (options.onConflict === "fail") return copyRows(sql, table, columns, rows);
  const names = Object.keys(columns);
  const list = names.map(ident).join(", ");
  const updates = names.filter((name) => !key.includes(name)).map((name) => `${ident(name)} = excluded.${ident(name)}`);
  const conflict = `ON CONFLICT (${key.map(ident).join(", ")}) ${
    options.onConflict === "nothing" || updates.length === 0
      ? "DO NOTHING"
      : `DO UPDATE SET ${updates.join(", ")}${options.guard === "revision" ? " WHERE cur.revision < excluded.revision" : ""}`
  }`;
  // Each row travels as a JSON array of its values in column order (no key repeated per row),
  // read as jsonb: the text is parsed once, a row's values are taken by index, and documents as
  // they are. (One object per row, read by jsonb_populate_recordset, repeated every column name in
  // every row: side by side, twice, the 1M-event rebuild used about 0.7 s more server CPU and
  // 0.5 s more Node CPU that way.)
  const values = names.map((name, i) => {
    const type = columns[name]!;
    if (type === "jsonb") return `nullif(x.r->${i}, 'null'::jsonb)`;
    if (type === "text[]") return `CASE jsonb_typeof(x.r->${i}) WHEN 'array' THEN ARRAY(SELECT jsonb_array_elements_text(x.r->${i})) END`;
    return `(x.r->>${i})::${type}`;
  });
  await sql.query(
    `INSERT INTO ${ident(table)} AS cur (${list})
     SELECT ${values.join(", ")} FROM jsonb_array_elements($1::jsonb) AS x(r)
     ${conflict}`,
    [JSON.stringify(rows.map((row) => names.map((name) => row[name])))],
  );
}

/** Deletes the rows whose (key columns) equal one of `keys` (each a tuple of text values). */
export async function deleteRows(
  sql: SqlExecutor,
  table: string,
  key: readonly string[],
  keys: readonly (readonly string[])[],
): Promise<void> {
  if (keys.length === 0) return;
  const params = key.map((_, i) => keys.map((k) => k[i]!));
  await sql.query(
    `DELETE FROM ${ident(table)} t USING unnest(${key.map((_, i) => `$${i + 1}::text[]`).join(", ")}) AS x(${key.map(ident).join(", ")})
     WHERE ${key.map((k) => `t.${ident(k)} = x.${ident(k)}`).join(" AND ")}`,
    params,
  );
}

/** A map of rows by a key made of one or more columns. */
export const keyOf = (...parts: readonly unknown[]): string => {
  // (Called for every row an event touches: no intermediate array.)
  let key = String(parts[0]);
  for (let i = 1; i < parts.length; i++) key += `\u0000${String(parts[i])}`;
  return key;
};

/** Rows by key, remembering which were changed. */
export class RowSet {
  readonly rows = new Map<string, Row>();
  /** Keys of the rows changed since they were last written. */
  readonly dirty = new Set<string>();
  /** Keys of the rows changed since `recent` was last cleared (a bulk fold's current window). */
  readonly recent = new Set<string>();

  constructor(rows: readonly Row[] = [], key: (row: Row) => string = () => "") {
    for (const row of rows) this.rows.set(key(row), row);
  }

  get(key: string): Row | undefined {
    return this.rows.get(key);
  }

  set(key: string, row: Row): void {
    this.rows.set(key, row);
    this.touch(key);
  }

  /** Marks a row (changed in place) to be written. */
  touch(key: string): void {
    this.dirty.add(key);
    this.recent.add(key);
  }

  changed(): Row[] {
    return [...this.dirty].flatMap((key) => {
      const row = this.rows.get(key);
      return row ? [row] : [];
    });
  }
}
