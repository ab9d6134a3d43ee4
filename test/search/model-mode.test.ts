// The SQL read model's mode: with Elasticsearch it keeps only documents and versions (no terms,
// vocabulary or query indexes); switching back to the embedded engine is reported in readiness
// until `rebuild search --shadow` rebuilds the full model, after which text search works again.

import { randomBytes } from "node:crypto";
import { Client } from "@elastic/elasticsearch";
import { afterAll, describe, expect, it } from "vitest";
import { startSearch } from "../../src/projections/search/index.js";
import { aliasTargets } from "../../src/search/elasticsearch/engine.js";
import { searchQuery } from "./query.js";
import { World } from "../projections/world.js";
import { missing, server } from "../support/env.js";
import { openPgliteWorld } from "../support/stores.js";

const url = server("ELASTICSEARCH_URL");
const query = (q: string) => searchQuery({ q });

describe.skipIf(missing(url))("search read model mode", () => {
  const client = new Client({ node: url.value ?? "http://127.0.0.1:9200" });
  const alias = `test-mode-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
  afterAll(async () => {
    for (const index of await aliasTargets(client, alias).catch(() => []))
      await client.indices.delete({ index, ignore_unavailable: true }).catch(() => undefined);
    await client.close();
  });

  it("keeps a lean model for Elasticsearch, and the embedded engine says it needs a rebuild until it has one", async () => {
    const world = await openPgliteWorld();
    try {
      const log = new World(world.store);
      for (const [i, name] of ["Zephyrine Soundbar", "Quixotic Charger"].entries())
        await log.product(0, { type: "CreateProduct", sku: `M-${i}`, name, category: ["Home", "Audio"], brand: "Acme", price: 5_000 });

      const es = await startSearch({ store: world.store, sql: world.sql, elasticsearch: { client, alias } });
      expect(await es.waitFor(log.last, 30_000)).toBe(true);
      expect((await es.engine.search(query("zephyrine"))).hits.map((h) => h.sku)).toEqual(["M-0"]);
      expect(await es.readiness()).toMatchObject({ engine: "elasticsearch", model: "elasticsearch" });
      await es.stop();
      const indexes = (
        await world.sql.query<{ indexdef: string }>("SELECT indexdef FROM pg_indexes WHERE tablename = 'search_documents'")
      ).rows.map((r) => r.indexdef);
      expect(indexes.some((d) => /gin/i.test(d))).toBe(false);
      expect(indexes.some((d) => /ship_pending/.test(d))).toBe(true);
      expect((await world.sql.query("SELECT * FROM search_terms")).rows).toEqual([]);
      const { rows } = await world.sql.query<{ version: unknown }>("SELECT version FROM search_documents WHERE sku = 'M-0'");
      expect(Number(rows[0]?.version)).toBe(1);

      const embedded = await startSearch({ store: world.store, sql: world.sql });
      try {
        expect(await embedded.readiness()).toMatchObject({
          engine: "postgres",
          warning: expect.stringContaining("rebuild search --shadow"),
        });
        expect((await embedded.engine.search(query("zephyrine"))).total).toBe(0);
        await embedded.rebuild();
        const ready = await embedded.readiness();
        expect(ready).toMatchObject({ engine: "postgres", model: "embedded" });
        expect(ready).not.toHaveProperty("warning");
        expect((await embedded.engine.search(query("zephyrine"))).hits.map((h) => h.sku)).toEqual(["M-0"]);
        expect((await embedded.engine.search(query("zephyrime"))).hits.map((h) => h.sku)).toEqual(["M-0"]);
      } finally {
        await embedded.stop();
      }
      // A restart after the rebuild has nothing to report.
      const again = await startSearch({ store: world.store, sql: world.sql });
      expect(await again.readiness()).not.toHaveProperty("warning");
      await again.stop();
    } finally {
      await world.close();
    }
  }, 120_000);
});
