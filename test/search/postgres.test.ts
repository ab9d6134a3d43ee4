// The search contract on the embedded engine's SQL against a real PostgreSQL server (a throwaway
// database), and the shipper's idle probe reading the partial index of marks, not the table.

import { describe, expect, it } from "vitest";
import { migrateProjections } from "../../src/projections/index.js";
import { searchProjection } from "../../src/projections/search/documents.js";
import { startSearch } from "../../src/projections/search/index.js";
import { markedProbe } from "../../src/projections/search/shipper.js";
import { missing, server } from "../support/env.js";
import { openPostgresWorld } from "../support/stores.js";
import { searchContract } from "./contract.js";

describe.skipIf(missing(server("DATABASE_URL")))("search on PostgreSQL", () => {
  searchContract("PostgreSQL full-text engine on a real server", async () => {
    const world = await openPostgresWorld();
    const search = await startSearch({ store: world.store, sql: world.sql });
    return {
      store: world.store,
      search,
      async close() {
        await search.stop();
        await world.close();
      },
    };
  });

  it("probes for marked documents through the partial index, even before the table has statistics (a catch-up into new tables)", async () => {
    const world = await openPostgresWorld();
    try {
      await migrateProjections(world.sql, [searchProjection]);
      // As a catch-up leaves it: many rows, none marked, never analysed.
      await world.sql.query("ALTER TABLE search_documents SET (autovacuum_enabled = false)");
      await world.sql.query(
        `INSERT INTO search_documents (sku, name, category, price, currency, attributes, attribute_pairs, active, available, in_stock,
                                       popularity, created_at, updated_at, name_normalised, terms, product_revision, version, ship_pending)
         SELECT 'P-' || i, 'Lamp ' || i, '{Home}', 100, 'INR', '{}', '{}', true, 1, true, 0, now(), now(), '', '', 1, 1, false
           FROM generate_series(1, 20000) AS i`,
      );
      const plan = async (probe: string) =>
        JSON.stringify((await world.sql.query(`EXPLAIN (FORMAT JSON) SELECT ${probe} AS marked`)).rows[0]);
      // What the plain EXISTS got here: a scan of every row, every pass of the shipper.
      expect(await plan("EXISTS (SELECT 1 FROM search_documents WHERE ship_pending)")).toContain('"Seq Scan"');
      const probe = await plan(markedProbe("search_documents"));
      expect(probe).toContain("search_documents_pending_idx");
      expect(probe).not.toContain('"Seq Scan"');
      expect((await world.sql.query<{ marked: boolean }>(`SELECT ${markedProbe("search_documents")} AS marked`)).rows[0]!.marked).toBe(
        false,
      );
      await world.sql.query("UPDATE search_documents SET ship_pending = true WHERE sku = 'P-7'");
      expect((await world.sql.query<{ marked: boolean }>(`SELECT ${markedProbe("search_documents")} AS marked`)).rows[0]!.marked).toBe(
        true,
      );
    } finally {
      await world.close();
    }
  });
});
