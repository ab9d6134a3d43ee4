// How values meet SQL text in the read models: table names spliced into statements, and column
// values as the two drivers return them.

/** Table names are spliced into SQL text: only plain lower-case identifiers are accepted. */
export { ident } from "../infrastructure/sql/identifier.js";

/** ISO-8601 UTC text of a timestamp column (pg and PGlite both return Date; text is tolerated). */
export const iso = (value: unknown): string => (value instanceof Date ? value : new Date(String(value))).toISOString();

/** bigint columns come back as strings from pg and as numbers or bigints from PGlite. */
export const int = (value: unknown): number => (value === null || value === undefined ? 0 : Number(value));
