// How values meet SQL text in the read models: table names spliced into statements, and column
// values as the two drivers return them.

/** Table names are spliced into SQL text: only plain lower-case identifiers are accepted. */
export { ident } from "../infrastructure/sql/identifier.js";

/** ISO-8601 UTC text of a timestamp column (pg and PGlite both return Date; text is tolerated). */
export const iso = (value: unknown): string => (value instanceof Date ? value : new Date(String(value))).toISOString();

/** bigint columns come back as strings from pg and as numbers or bigints from PGlite. */
export const int = (value: unknown): number => (value === null || value === undefined ? 0 : Number(value));

/**
 * An event's `at` as Date#toISOString prints it, which is how the read models store their times.
 * Events carry their times in that form already (the aggregates write them with toISOString), so
 * such a string is kept as it is: parsing it into a Date and printing it again was about 7% of the
 * Node thread of a 1M-event rebuild (1.75 s of 24.6 s by --cpu-prof; ADR 0009). Any other form
 * (an offset, fewer digits, a 31 April or 24:00 that Date rolls over) still goes through Date.
 */
export const isoText = (at: string): string => (isCanonicalIso(at) ? at : new Date(at).toISOString());

const digit = (s: string, i: number): number => {
  const d = s.charCodeAt(i) - 48;
  return d >= 0 && d <= 9 ? d : Number.NaN;
};
const number = (s: string, from: number, length: number): number => {
  let n = 0;
  for (let i = from; i < from + length; i++) n = n * 10 + digit(s, i);
  return n;
};
const daysIn = (year: number, month: number): number =>
  month === 2 ? (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;

/** "YYYY-MM-DDTHH:mm:ss.sssZ" naming a real instant: what toISOString prints for years 0 to 9999. */
export function isCanonicalIso(s: string): boolean {
  if (s.length !== 24 || s[4] !== "-" || s[7] !== "-" || s[10] !== "T" || s[13] !== ":" || s[16] !== ":" || s[19] !== "." || s[23] !== "Z")
    return false;
  const year = number(s, 0, 4);
  const month = number(s, 5, 2);
  const day = number(s, 8, 2);
  // NaN (a character that is not a digit) fails every comparison.
  return (
    year >= 0 &&
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysIn(year, month) &&
    number(s, 11, 2) <= 23 &&
    number(s, 14, 2) <= 59 &&
    number(s, 17, 2) <= 59 &&
    number(s, 20, 3) >= 0
  );
}
