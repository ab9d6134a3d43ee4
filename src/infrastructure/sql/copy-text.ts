// COPY's text format (https://www.postgresql.org/docs/15/sql-copy.html, "Text Format"): one line
// per row, columns separated by tabs, `\N` for null, and backslash, tab, newline and carriage
// return escaped with a backslash. Values arrive as the text PostgreSQL reads for the column's type.

const SPECIAL = /[\\\t\n\r]/;
const SPECIALS = /[\\\t\n\r]/g;
const ESCAPED: Record<string, string> = { "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" };

/** A value's text as one COPY field (null: `\N`). */
export const copyField = (text: string | null): string =>
  text === null ? "\\N" : SPECIAL.test(text) ? text.replace(SPECIALS, (c) => ESCAPED[c]!) : text;

/** Identifiers are spliced into the COPY statement: only plain lower-case names are accepted. */
export function copyStatementTarget(table: string, columns: readonly string[]): string {
  for (const name of [table, ...columns])
    if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain SQL identifier: ${JSON.stringify(name)}`);
  return `${table} (${columns.join(", ")})`;
}
