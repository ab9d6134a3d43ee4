// The search contract: every engine runs this same suite (embedded PostgreSQL on PGlite, real
// PostgreSQL, Elasticsearch). 1,000 generated products go through the real deciders into the log;
// the search projector (and for Elasticsearch its shipper) builds the index; every count and order
// asserted here is computed independently from the generated data.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EventStore } from "../../src/eventstore/port.js";
import type { RunningSearch } from "../../src/projections/search/index.js";
import { PRICE_RANGES, type SearchHit } from "../../src/search/port.js";
import { World } from "../projections/world.js";
import { BRANDS, COLORS, countBy, generateCatalog, type GeneratedProduct } from "./catalog.js";
import { searchQuery } from "./query.js";

export interface SearchSetup {
  store: EventStore;
  search: RunningSearch;
  close(): Promise<void>;
}

const query = searchQuery;
const asMap = (buckets: { value: string; count: number }[] | undefined) =>
  Object.fromEntries((buckets ?? []).map((b) => [b.value, b.count]));
const priceCounts = (products: readonly GeneratedProduct[]) =>
  PRICE_RANGES.map((r) => ({ ...r, count: products.filter((p) => p.price >= r.from && (r.to === null || p.price < r.to)).length }));
const byPriceThenSku = (a: GeneratedProduct, b: GeneratedProduct) => a.price - b.price || (a.sku < b.sku ? -1 : 1);

export function searchContract(name: string, open: () => Promise<SearchSetup>): void {
  describe(`search contract: ${name}`, () => {
    let setup: SearchSetup;
    let world: World;
    const catalog = generateCatalog(1_000, `S${Date.now().toString(36)}`);
    const special = (i: number) => catalog[i]!;
    /** Products with one reservation of all their stock later (the inStock test); never deactivated. */
    const lastUnit = catalog.find((p, i) => i > 500 && p.stock > 0)!;
    const deactivated = catalog[999]!;

    const sync = async () => expect(await setup.search.waitFor(world.last, 60_000)).toBe(true);

    beforeAll(async () => {
      setup = await open();
      world = new World(setup.store);
      for (const p of catalog) {
        await world.product(0, {
          type: "CreateProduct",
          sku: p.sku,
          name: p.name,
          description: p.description,
          category: p.category,
          brand: p.brand,
          price: p.price,
          attributes: { color: p.color },
        });
        if (p.stock > 0)
          await world.stock(1, { type: "ReceiveStock", sku: p.sku, warehouseId: p.stock % 2 === 0 ? "BLR" : "DEL", quantity: p.stock });
      }
      await sync();
    }, 600_000);
    afterAll(async () => setup?.close());

    it("counts every active product and reports exact facets for the whole catalog", async () => {
      const result = await setup.search.engine.search(query({ facets: ["category", "brand", "price", "attr.color"] }));
      expect(result.total).toBe(catalog.length);
      expect(asMap(result.facets.category)).toEqual(countBy(catalog, (p) => p.category));
      expect(asMap(result.facets.brand)).toEqual(countBy(catalog, (p) => p.brand));
      expect(result.facets.price).toEqual(priceCounts(catalog));
      expect(asMap(result.facets.attributes?.color)).toEqual(countBy(catalog, (p) => p.color));
    });

    it("multi-select: a facet's counts ignore its own selected values but follow every other filter", async () => {
      const brands = [BRANDS[0]!, BRANDS[2]!];
      const result = await setup.search.engine.search(
        query({ brands, categories: ["Electronics"], facets: ["category", "brand", "price", "attr.color"], size: 100 }),
      );
      const hits = catalog.filter((p) => brands.includes(p.brand) && p.category.includes("Electronics"));
      expect(result.total).toBe(hits.length);
      expect(result.hits.map((h) => h.sku).sort()).toEqual(
        hits
          .map((p) => p.sku)
          .sort()
          .slice(0, 100),
      );
      // brand facet: every brand, within Electronics (the brand selection itself ignored)
      expect(asMap(result.facets.brand)).toEqual(
        countBy(
          catalog.filter((p) => p.category.includes("Electronics")),
          (p) => p.brand,
        ),
      );
      // category facet: every category, within the selected brands
      expect(asMap(result.facets.category)).toEqual(
        countBy(
          catalog.filter((p) => brands.includes(p.brand)),
          (p) => p.category,
        ),
      );
      expect(result.facets.price).toEqual(priceCounts(hits));
      expect(asMap(result.facets.attributes?.color)).toEqual(countBy(hits, (p) => p.color));
    });

    it("filters by attribute, price range (inclusive) and stock, and counts facets under them", async () => {
      const [low, high] = [500_000, 1_000_000];
      const within = catalog.filter((p) => p.price >= low && p.price <= high);
      const result = await setup.search.engine.search(
        query({
          attributes: { color: ["black", "red"] },
          minPrice: low,
          maxPrice: high,
          inStock: true,
          facets: ["brand", "price", "attr.color"],
        }),
      );
      const hits = within.filter((p) => ["black", "red"].includes(p.color) && p.stock > 0);
      expect(result.total).toBe(hits.length);
      expect(result.hits.every((h) => h.inStock && h.price >= low && h.price <= high)).toBe(true);
      expect(asMap(result.facets.attributes?.color)).toEqual(
        countBy(
          within.filter((p) => p.stock > 0),
          (p) => p.color,
        ),
      );
      expect(asMap(result.facets.brand)).toEqual(countBy(hits, (p) => p.brand));
      expect(result.facets.price).toEqual(priceCounts(catalog.filter((p) => ["black", "red"].includes(p.color) && p.stock > 0)));
      const outOfStock = await setup.search.engine.search(query({ inStock: false, size: 1 }));
      expect(outOfStock.total).toBe(catalog.filter((p) => p.stock === 0).length);
      expect(COLORS.length).toBeGreaterThan(2);
    });

    it("finds a product despite a one-letter typo, accents and synonyms, and not two letters off", async () => {
      const first = async (q: string) => (await setup.search.engine.search(query({ q, size: 5 }))).hits.map((h) => h.sku);
      expect((await first("zephyrime"))[0]).toBe(special(100).sku);
      expect((await first("zephyirne soundbar"))[0]).toBe(special(100).sku);
      expect(await first("zefyrime")).not.toContain(special(100).sku);
      expect((await first("iphnoe"))[0]).toBe(special(200).sku);
      expect((await first("apple iphone 15"))[0]).toBe(special(200).sku);
      expect((await first("cafe creme"))[0]).toBe(special(300).sku);
      expect((await first("CAFÉ"))[0]).toBe(special(300).sku);
      // "mobile" and "phone" are synonyms: the charger is found as a phone, the iPhone as a mobile
      expect(await first("quixotic phone")).toEqual([special(400).sku]);
      expect(await first("mobile apple")).toEqual([special(200).sku]);
    });

    it("sorts by price both ways, ties by SKU, and pages through the same order", async () => {
      const ascending = [...catalog].sort(byPriceThenSku);
      const asc = await setup.search.engine.search(query({ sort: "price_asc", size: 50 }));
      expect(asc.hits.map((h) => h.sku)).toEqual(ascending.slice(0, 50).map((p) => p.sku));
      const page3 = await setup.search.engine.search(query({ sort: "price_asc", size: 50, page: 3 }));
      expect(page3.hits.map((h) => h.sku)).toEqual(ascending.slice(100, 150).map((p) => p.sku));
      const descending = [...catalog].sort((a, b) => b.price - a.price || (a.sku < b.sku ? -1 : 1));
      const desc = await setup.search.engine.search(query({ sort: "price_desc", size: 30 }));
      expect(desc.hits.map((h: SearchHit) => h.price)).toEqual(descending.slice(0, 30).map((p) => p.price));
      expect(desc.hits.map((h) => h.sku)).toEqual(descending.slice(0, 30).map((p) => p.sku));
    });

    it("walks every result with cursors, each product exactly once, for price and relevance order", async () => {
      for (const sort of ["price_desc", "relevance"] as const) {
        const seen: string[] = [];
        let page = await setup.search.engine.search(query({ sort, size: 100, q: sort === "relevance" ? "item" : "" }));
        const total = page.total;
        seen.push(...page.hits.map((h) => h.sku));
        while (page.next) {
          page = await setup.search.engine.search(query({ sort, size: 100, q: sort === "relevance" ? "item" : "", after: page.next }));
          seen.push(...page.hits.map((h) => h.sku));
        }
        expect(seen.length).toBe(total);
        expect(new Set(seen).size).toBe(total);
      }
    });

    it("suggests name completions, typo tolerant, in-stock first, at most 10", async () => {
      expect((await setup.search.engine.suggest("zeph")).map((s) => s.sku)).toEqual([special(100).sku]);
      expect((await setup.search.engine.suggest("zepj")).map((s) => s.sku)).toEqual([special(100).sku]);
      expect((await setup.search.engine.suggest("iph")).map((s) => s.text)).toContain("iPhone 15");
      const swift = await setup.search.engine.suggest("swift");
      expect(swift).toHaveLength(10);
      expect(swift.every((s) => s.text.startsWith("Swift"))).toBe(true);
      const inStock = swift.map((s) => s.inStock);
      expect(inStock).toEqual([...inStock].sort((a, b) => Number(b) - Number(a)));
      expect(inStock[0]).toBe(true);
    });

    it("inStock follows a reservation that takes the last unit and the release that brings it back", async () => {
      const warehouseId = lastUnit.stock % 2 === 0 ? "BLR" : "DEL";
      const inStockHits = async () =>
        (await setup.search.engine.search(query({ q: lastUnit.name, inStock: true, size: 100 }))).hits.map((h) => h.sku);
      expect(await inStockHits()).toContain(lastUnit.sku);
      await world.stock(2, {
        type: "ReserveStock",
        sku: lastUnit.sku,
        warehouseId,
        orderId: "o-last",
        quantity: lastUnit.stock,
        expiresAt: "2026-03-02T10:00:00.000Z",
      });
      await sync();
      expect(await inStockHits()).not.toContain(lastUnit.sku);
      const hit = (await setup.search.engine.search(query({ q: lastUnit.name, size: 100 }))).hits.find((h) => h.sku === lastUnit.sku);
      expect(hit).toMatchObject({ available: 0, inStock: false });
      await world.stock(3, { type: "ReleaseReservation", sku: lastUnit.sku, warehouseId, orderId: "o-last" });
      await sync();
      expect(await inStockHits()).toContain(lastUnit.sku);
    });

    it("shows a price change once waitFor returns, and a deactivated product disappears from search and suggestions", async () => {
      const target = special(100);
      await world.product(5, { type: "ChangeProductPrice", sku: target.sku, price: 123_456 });
      await sync();
      const [hit] = (await setup.search.engine.search(query({ q: "zephyrine" }))).hits;
      expect(hit).toMatchObject({ sku: target.sku, price: 123_456 });
      const exact = await setup.search.engine.search(query({ minPrice: 123_456, maxPrice: 123_456, size: 100 }));
      expect(exact.hits.map((h) => h.sku)).toContain(target.sku);

      await world.product(6, { type: "DeactivateProduct", sku: deactivated.sku });
      await sync();
      expect((await setup.search.engine.search(query({ q: deactivated.name, size: 100 }))).hits.map((h) => h.sku)).not.toContain(
        deactivated.sku,
      );
      expect((await setup.search.engine.search(query())).total).toBe(catalog.length - 1);
      expect((await setup.search.engine.suggest(deactivated.name)).map((s) => s.sku)).not.toContain(deactivated.sku);
      await world.product(7, { type: "ReactivateProduct", sku: deactivated.sku });
      await sync();
      expect((await setup.search.engine.search(query())).total).toBe(catalog.length);
    });
  });
}
