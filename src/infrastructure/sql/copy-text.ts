// COPY's text format (https://www.postgresql.org/docs/15/sql-copy.html, "Text Format"): one line
// per row, columns separated by tabs, `\N` for null, and backslash, tab, newline and carriage
// return escaped with a backslash. Values arrive as the text PostgreSQL reads for the column's type.

import { ident } from "./identifier.js";

const SPECIAL = /[\\\t\n\r]/;
const SPECIALS = /[\\\t\n\r]/g;
const ESCAPED: Record<string, string> = { "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" };

/** A value's text as one COPY field (null: `\N`). */
export const copyField = (text: string | null): string =>
  text === null ? "\\N" : SPECIAL.test(text) ? text.replace(SPECIALS, (c) => ESCAPED[c]!) : text;

/** The COPY statement's target: identifiers are spliced into it, so only plain ones are accepted. */
export const copyStatementTarget = (table: string, columns: readonly string[]): string =>
  `${ident(table)} (${columns.map(ident).join(", ")})`;
