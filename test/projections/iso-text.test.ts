// isoText keeps a canonical timestamp as it is instead of parsing and printing it: it must answer
// exactly what `new Date(at).toISOString()` answers (or throw as it throws) for every input.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isoText } from "../../src/projections/sql-text.js";

/** What the read models did before: parse and print. */
const throughDate = (at: string): string => new Date(at).toISOString();
const same = (at: string) => {
  let expected: string | Error;
  try {
    expected = throughDate(at);
  } catch (error) {
    expected = error as Error;
  }
  if (expected instanceof Error) expect(() => isoText(at)).toThrow(RangeError);
  else expect(isoText(at)).toBe(expected);
};

const digits = (n: number) => fc.array(fc.constantFrom(..."0123456789"), { minLength: n, maxLength: n }).map((d) => d.join(""));

describe("isoText", () => {
  it("prints every instant of years 0 to 9999 as toISOString does", () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date("0000-01-01T00:00:00.000Z"), max: new Date("9999-12-31T23:59:59.999Z"), noInvalidDate: true }),
        (d) => same(d.toISOString()),
      ),
      { numRuns: 5_000 },
    );
  });

  it("agrees with Date on strings of the canonical shape with any digits (31 April, 29 February, 24:00, month 13)", () => {
    const shaped = fc
      .tuple(
        digits(4),
        fc.integer({ min: 0, max: 19 }),
        fc.integer({ min: 0, max: 39 }),
        fc.integer({ min: 0, max: 29 }),
        digits(2),
        digits(2),
        digits(3),
      )
      .map(
        ([y, mo, d, h, mi, s, ms]) =>
          `${y}-${String(mo).padStart(2, "0")}-${String(d).padStart(2, "0")}T${String(h).padStart(2, "0")}:${mi}:${s}.${ms}Z`,
      );
    fc.assert(fc.property(shaped, same), { numRuns: 20_000 });
    for (const at of [
      "2026-04-31T10:00:00.000Z",
      "2025-02-29T00:00:00.000Z",
      "2024-02-29T00:00:00.000Z",
      "1900-02-29T00:00:00.000Z",
      "2000-02-29T00:00:00.000Z",
      "2026-01-01T24:00:00.000Z",
      "2026-13-01T00:00:00.000Z",
      "2026-00-10T00:00:00.000Z",
      "2026-01-00T00:00:00.000Z",
      "2026-01-01T00:60:00.000Z",
    ])
      same(at);
  });

  it("agrees with Date on other forms: offsets, no milliseconds, dates alone, lower case, junk", () => {
    for (const at of [
      "2026-03-01T05:30:00+05:30",
      "2026-03-01T00:00:00Z",
      "2026-03-01",
      "2026-03-01t00:00:00.000z",
      "2026-03-01T00:00:00.000+00:00",
      "2026-03-01 00:00:00.000Z",
      "+012026-03-01T00:00:00.000Z",
      "２026-03-01T00:00:00.000Z",
      "not a time",
    ])
      same(at);
    fc.assert(fc.property(fc.string({ minLength: 24, maxLength: 24 }), same), { numRuns: 2_000 });
  });
});
