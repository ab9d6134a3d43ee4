// The Elasticsearch index of products: settings, mappings and the document as indexed. Only what
// the core server build has: whitespace-analysed text (our normaliser has already folded, split
// and expanded synonyms), keywords, numbers, booleans and a completion field.

import { indexTokens, normalisedName } from "../normalise.js";
import type { SearchDocument } from "../port.js";

/**
 * No explicit refresh_interval: then a shard nobody has searched for `search.idle.after` skips its
 * background refreshes (each one writes a segment and builds its completion FST), and the next
 * search refreshes it first and waits, so it still sees every write; while searches come, it
 * refreshes every second as before. An index being filled (a catch-up, a rebuild's new index) is
 * then not refreshed every second for nothing: periodic refreshes were more than half of
 * Elasticsearch's CPU in bench:search's indexing from the log (3.1 s of CPU for 20,000 documents
 * with them, 1.4 s without). Reads that wait for a position (`waitFor`) refresh explicitly anyway.
 */
export const INDEX_SETTINGS = { number_of_shards: 1, number_of_replicas: 0, "search.idle.after": "1s" } as const;

const text = { type: "text", analyzer: "whitespace" } as const;

export const INDEX_MAPPINGS = {
  dynamic: "strict",
  properties: {
    sku: { type: "keyword" },
    name: { type: "keyword", index: false },
    name_normalised: { type: "keyword" },
    name_terms: text,
    brand_terms: text,
    category_terms: text,
    description_terms: text,
    brand: { type: "keyword" },
    category: { type: "keyword" },
    price: { type: "long" },
    currency: { type: "keyword" },
    available: { type: "long" },
    in_stock: { type: "boolean" },
    active: { type: "boolean" },
    popularity: { type: "long" },
    created_ms: { type: "long" },
    attribute_pairs: { type: "keyword" },
    // The stock context lets the suggester rank in-stock names first before it cuts its list.
    suggest: {
      type: "completion",
      analyzer: "whitespace",
      preserve_separators: true,
      max_input_length: 100,
      contexts: [{ name: "stock", type: "category" }],
    },
  },
} as const;

export interface IndexedProduct {
  sku: string;
  name: string;
  name_normalised: string;
  name_terms: string;
  brand_terms: string;
  category_terms: string;
  description_terms: string;
  brand: string | null;
  category: string[];
  price: number;
  currency: string;
  available: number;
  in_stock: boolean;
  active: boolean;
  popularity: number;
  created_ms: number;
  attribute_pairs: string[];
  /** Absent for inactive products, so the suggester never offers them. */
  suggest?: { input: string[]; contexts: { stock: string[] } };
}

export function indexedProduct(d: SearchDocument): IndexedProduct {
  const name = normalisedName(d.name);
  return {
    sku: d.sku,
    name: d.name,
    name_normalised: name,
    name_terms: indexTokens(d.name).join(" "),
    brand_terms: indexTokens(d.brand ?? "").join(" "),
    category_terms: indexTokens(d.category.join(" ")).join(" "),
    description_terms: indexTokens(d.description ?? "").join(" "),
    brand: d.brand,
    category: d.category,
    price: d.price,
    currency: d.currency,
    available: d.available,
    in_stock: d.inStock,
    active: d.active,
    popularity: d.popularity,
    created_ms: Date.parse(d.createdAt),
    attribute_pairs: Object.entries(d.attributes).map(([k, v]) => `${k}=${String(v)}`),
    ...(d.active && name !== "" ? { suggest: { input: [name], contexts: { stock: [d.inStock ? "in" : "out"] } } } : {}),
  };
}
