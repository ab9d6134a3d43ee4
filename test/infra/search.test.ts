// Smoke test of the search server through @elastic/elasticsearch: explicit mappings, bulk
// indexing, fuzzy full-text matching and the two facet kinds the catalog needs (terms, range),
// with counts checked against the generated data.

import { randomBytes } from "node:crypto";
import { Client } from "@elastic/elasticsearch";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missing, server } from "../support/env.js";

const search = server("ELASTICSEARCH_URL");

interface Product {
  sku: string;
  name: string;
  brand: string;
  category: string;
  price: number;
}

const BRANDS = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark"];
const CATEGORIES = ["phones", "laptops", "tablets", "audio", "cameras", "wearables", "gaming"];
const ADJECTIVES = ["Swift", "Silent", "Bright", "Compact", "Rugged", "Classic", "Ultra", "Smart"];
const NOUNS: Record<string, string[]> = {
  phones: ["Phone", "Handset"],
  laptops: ["Notebook", "Laptop"],
  tablets: ["Tablet", "Slate"],
  audio: ["Headphones", "Speaker", "Earbuds"],
  cameras: ["Camera", "Lens"],
  wearables: ["Watch", "Band"],
  gaming: ["Console", "Controller"],
};
// Price bands of the range facet: [from, to) in rupees.
const PRICE_RANGES = [
  { key: "budget", to: 1_000 },
  { key: "mid", from: 1_000, to: 10_000 },
  { key: "premium", from: 10_000 },
];

/** 1,000 products from a fixed-seed generator, so counts are reproducible; one has a unique name. */
function generateProducts(count: number): Product[] {
  let seed = 42;
  const next = (n: number) => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed % n;
  };
  const pick = <T>(xs: T[]): T => xs[next(xs.length)] as T;
  return Array.from({ length: count }, (_, i) => {
    const category = pick(CATEGORIES);
    const name = i === 500 ? "Zephyrine Soundbar" : `${pick(ADJECTIVES)} ${pick(NOUNS[category] ?? ["Gadget"])} ${100 + i}`;
    return { sku: `SKU-${i}`, name, brand: pick(BRANDS), category, price: 99 + next(49_901) };
  });
}

const countBy = <T>(xs: T[], key: (x: T) => string) =>
  xs.reduce<Record<string, number>>((acc, x) => {
    acc[key(x)] = (acc[key(x)] ?? 0) + 1;
    return acc;
  }, {});

describe.skipIf(missing(search))("Elasticsearch smoke", () => {
  const index = `smoke-products-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
  const client = new Client({ node: search.value ?? "http://127.0.0.1:9200" });
  const products = generateProducts(1_000);

  beforeAll(async () => {
    await client.indices.create({
      index,
      settings: { number_of_shards: 1, number_of_replicas: 0 },
      mappings: {
        dynamic: "strict",
        properties: {
          sku: { type: "keyword" },
          name: { type: "text" },
          brand: { type: "keyword" },
          category: { type: "keyword" },
          price: { type: "integer" },
        },
      },
    });
    const result = await client.bulk({
      refresh: "wait_for",
      operations: products.flatMap((p) => [{ index: { _index: index, _id: p.sku } }, p]),
    });
    const firstError = result.items.find((item) => item.index?.error)?.index?.error;
    expect(result.errors, JSON.stringify(firstError)).toBe(false);
  });

  afterAll(async () => {
    await client.indices.delete({ index, ignore_unavailable: true }).catch(() => {});
    await client.close();
  });

  it("keeps the explicit mappings and all 1,000 documents", async () => {
    const mapping = await client.indices.getMapping({ index });
    expect(mapping[index]?.mappings.properties?.price).toEqual({ type: "integer" });
    expect(mapping[index]?.mappings.properties?.category).toEqual({ type: "keyword" });
    expect((await client.count({ index })).count).toBe(1_000);
  });

  it("finds a product despite a one-letter typo (fuzziness 1)", async () => {
    const typo = await client.search<Product>({
      index,
      query: { match: { name: { query: "zephyrime", fuzziness: 1 } } },
    });
    expect(typo.hits.hits.map((h) => h._source?.name)).toEqual(["Zephyrine Soundbar"]);

    // Two edits are beyond fuzziness 1.
    const tooFar = await client.search<Product>({
      index,
      query: { match: { name: { query: "zefyrime", fuzziness: 1 } } },
    });
    expect(tooFar.hits.hits).toHaveLength(0);
  });

  it("computes terms and range facets that match the data", async () => {
    const result = await client.search<Product>({
      index,
      size: 0,
      track_total_hits: true,
      aggs: {
        categories: { terms: { field: "category", size: CATEGORIES.length } },
        prices: { range: { field: "price", ranges: PRICE_RANGES } },
      },
    });

    const aggs = result.aggregations as {
      categories: { buckets: { key: string; doc_count: number }[] };
      prices: { buckets: { key: string; doc_count: number }[] };
    };
    const byCategory = Object.fromEntries(aggs.categories.buckets.map((b) => [b.key, b.doc_count]));
    expect(byCategory).toEqual(countBy(products, (p) => p.category));

    const expectedPrices = Object.fromEntries(
      PRICE_RANGES.map((r) => [r.key, products.filter((p) => p.price >= (r.from ?? -Infinity) && p.price < (r.to ?? Infinity)).length]),
    );
    expect(Object.fromEntries(aggs.prices.buckets.map((b) => [b.key, b.doc_count]))).toEqual(expectedPrices);
    expect(Object.values(expectedPrices).every((n) => n > 0)).toBe(true);
  });

  it("narrows facets by a filter, as a catalog page does", async () => {
    const brand = "Acme";
    const result = await client.search<Product>({
      index,
      size: 0,
      track_total_hits: true,
      query: { bool: { filter: [{ term: { brand } }, { range: { price: { gte: 1_000, lt: 10_000 } } }] } },
      aggs: { categories: { terms: { field: "category", size: CATEGORIES.length } } },
    });
    const expected = products.filter((p) => p.brand === brand && p.price >= 1_000 && p.price < 10_000);
    const total = result.hits.total;
    expect(typeof total === "number" ? total : total?.value).toBe(expected.length);
    const aggs = result.aggregations as { categories: { buckets: { key: string; doc_count: number }[] } };
    expect(Object.fromEntries(aggs.categories.buckets.map((b) => [b.key, b.doc_count]))).toEqual(countBy(expected, (p) => p.category));
  });
});
