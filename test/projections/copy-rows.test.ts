// New read-model rows go in with COPY (copyRows in src/projections/rows.ts) where other rows go in
// as INSERT … FROM jsonb_array_elements (upsertRows): both routes must store the same values,
// whatever the text holds (COPY's own separators and escapes, array syntax, JSON with escapes,
// null in every form), and a COPY meeting a stored key must fail as a whole, writing nothing.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlErrorCode, SqlState } from "../../src/infrastructure/sql/sql-client.js";
import { copyRows, upsertRows, type Columns, type Row } from "../../src/projections/rows.js";
import { missing, server } from "../support/env.js";
import { openPgliteWorld, openPostgresWorld, type StoreWorld } from "../support/stores.js";

const COLUMNS: Columns = {
  id: "text",
  label: "text",
  n: "bigint",
  small: "int",
  flag: "boolean",
  at: "timestamptz",
  doc: "jsonb",
  tags: "text[]",
};

const AWKWARD = [
  "tab\there",
  "line\nbreak",
  "carriage\rreturn",
  "back\\slash",
  "\\N",
  "\\.",
  'quote "q"',
  "{brace,comma}",
  "NULL",
  "",
  "ünïcødé ✓ 𝄞",
];

/** One row per awkward text, each in every column that holds text, and nulls in every form. */
const rows: Row[] = AWKWARD.map((text, i) => ({
  id: `r${i}`,
  label: text,
  n: 9_007_199_254_740_000 + i,
  small: -i,
  flag: i % 2 === 0,
  at: new Date(Date.UTC(2026, 2, 1, 0, 0, i, 123)).toISOString(),
  doc: { text, nested: [text, null, { deeper: text }], number: i / 3 },
  tags: [text, null, `${text}-2`],
}));
rows.push(
  { id: "nulls", label: null, n: null, small: null, flag: null, at: null, doc: null, tags: null },
  { id: "absent" },
  { id: "json-scalars", doc: "just a string", tags: [] },
  { id: "json-array", doc: [1, "two", { three: 3 }], tags: ["only"] },
);

const table = (name: string) =>
  `CREATE TABLE ${name} (id text PRIMARY KEY, label text, n bigint, small int, flag boolean, at timestamptz, doc jsonb, tags text[])`;

function copySuite(label: string, open: () => Promise<StoreWorld>) {
  describe(`copyRows (${label})`, () => {
    let world: StoreWorld;
    beforeAll(async () => {
      world = await open();
      await world.sql.exec(`${table("copy_via_copy")}; ${table("copy_via_json")}`);
    }, 60_000);
    afterAll(async () => {
      await world?.close();
    });

    const read = async (name: string) =>
      (await world.sql.query(`SELECT id, label, n::text, small, flag, at, doc, tags FROM ${name} ORDER BY id`)).rows;

    it("stores every value exactly as the JSON route does", async () => {
      await copyRows(world.sql, "copy_via_copy", COLUMNS, rows);
      await upsertRows(world.sql, "copy_via_json", COLUMNS, ["id"], rows);
      const copied = await read("copy_via_copy");
      expect(copied).toHaveLength(rows.length);
      expect(copied).toEqual(await read("copy_via_json"));
      // And as written, not merely alike: the awkward text and JSON survive both ways.
      const tab = copied.find((r) => r.id === "r0")!;
      expect(tab.label).toBe("tab\there");
      expect(tab.doc).toEqual(rows[0]!.doc);
      expect(tab.tags).toEqual(["tab\there", null, "tab\there-2"]);
      expect(copied.find((r) => r.id === "r4")!.label).toBe("\\N");
      expect(copied.find((r) => r.id === "nulls")).toMatchObject({ label: null, n: null, flag: null, at: null, doc: null, tags: null });
    });

    it("fails as a whole on a key already stored (a unique violation), writing none of its rows", async () => {
      const before = (await read("copy_via_copy")).length;
      const error = await copyRows(world.sql, "copy_via_copy", COLUMNS, [{ id: "new-1" }, { id: "r3" }, { id: "new-2" }]).catch(
        (e: unknown) => e,
      );
      expect(sqlErrorCode(error)).toBe(SqlState.uniqueViolation);
      expect(await read("copy_via_copy")).toHaveLength(before);
    });

    it("inside a transaction, rolls back with it", async () => {
      await world.sql
        .transaction(async (tx) => {
          await copyRows(tx, "copy_via_copy", COLUMNS, [{ id: "in-tx" }]);
          expect((await tx.query("SELECT 1 FROM copy_via_copy WHERE id = 'in-tx'")).rows).toHaveLength(1);
          throw new Error("roll back");
        })
        .catch(() => undefined);
      expect((await world.sql.query("SELECT 1 FROM copy_via_copy WHERE id = 'in-tx'")).rows).toHaveLength(0);
    });
  });
}

copySuite("embedded PGlite", openPgliteWorld);
describe.skipIf(missing(server("DATABASE_URL")))("PostgreSQL", () => {
  copySuite("PostgreSQL", openPostgresWorld);
});
