// The search port: what the API asks of a search engine, whichever serves it. Two engines
// implement it (src/search/postgres: PostgreSQL full-text over the search read model, the embedded
// default; src/search/elasticsearch: an Elasticsearch index fed from the same read model), and one
// contract suite (test/search/contract.ts) proves they give the same answers.

export const SORTS = ["relevance", "price_asc", "price_desc", "newest", "popularity"] as const;
export type SearchSort = (typeof SORTS)[number];

/** `category`, `brand`, `price`, or `attr.<name>`. */
export type FacetName = string;
export const DEFAULT_FACETS: readonly FacetName[] = ["category", "brand", "price"];

/** Deepest result a page may reach; past it, clients follow `nextCursor`. */
export const MAX_WINDOW = 10_000;
/** Buckets per terms facet. */
export const FACET_SIZE = 50;
export const MAX_SUGGESTIONS = 10;

/** Price facet buckets in minor units: `from` inclusive, `to` exclusive (null: no upper bound). */
export const PRICE_RANGES: readonly { from: number; to: number | null }[] = [
  { from: 0, to: 100_000 },
  { from: 100_000, to: 500_000 },
  { from: 500_000, to: 1_000_000 },
  { from: 1_000_000, to: 5_000_000 },
  { from: 5_000_000, to: null },
];

/** Where the previous page ended: the sort key of its last hit (opaque to clients). */
export interface CursorPosition {
  /** The sort value of the last hit (score, price, time or popularity), as the engine reported it. */
  value: number;
  sku: string;
  /** Page number this cursor leads to (reported back as `page`). */
  page: number;
}

export interface ProductSearchQuery {
  /** Raw text; the engine normalises it (src/search/normalise.ts). Empty: every product. */
  q: string;
  /** Any of these (a product matches a category if it appears anywhere in its path). */
  categories: readonly string[];
  brands: readonly string[];
  /** Inclusive bounds in minor units. */
  minPrice?: number;
  maxPrice?: number;
  /** true: only products some warehouse has available; false: only those none has. */
  inStock?: boolean;
  /** attribute name -> any of these values (compared as text). */
  attributes: Readonly<Record<string, readonly string[]>>;
  sort: SearchSort;
  page: number;
  size: number;
  /** Continue after this position instead of using `page`. */
  after?: CursorPosition;
  facets: readonly FacetName[];
}

export interface SearchHit {
  sku: string;
  name: string;
  brand: string | null;
  category: string[];
  price: number;
  currency: string;
  available: number;
  inStock: boolean;
  popularity: number;
  score: number;
}

export interface FacetBucket {
  value: string;
  count: number;
}

export interface PriceBucket {
  from: number;
  to: number | null;
  count: number;
}

export interface SearchFacets {
  category?: FacetBucket[];
  brand?: FacetBucket[];
  price?: PriceBucket[];
  /** attribute name -> its buckets, for each `attr.<name>` facet asked for. */
  attributes?: Record<string, FacetBucket[]>;
}

export interface ProductSearchResult {
  total: number;
  page: number;
  size: number;
  hits: SearchHit[];
  facets: SearchFacets;
  /** Where the following page starts; present when more hits follow. */
  next?: CursorPosition;
}

export interface Suggestion {
  text: string;
  sku: string;
  inStock: boolean;
}

export interface SearchEngine {
  readonly kind: "postgres" | "elasticsearch";
  search(query: ProductSearchQuery): Promise<ProductSearchResult>;
  /** Up to `limit` product names completing `prefix` (one typo allowed), in-stock products first. */
  suggest(prefix: string, limit?: number): Promise<Suggestion[]>;
}

/** The search document of one product, as the search projection keeps it and engines index it. */
export interface SearchDocument {
  sku: string;
  name: string;
  description: string | null;
  brand: string | null;
  category: string[];
  price: number;
  currency: string;
  attributes: Record<string, string | number | boolean>;
  active: boolean;
  available: number;
  inStock: boolean;
  /** Units sold in the 30 days before the document's last sale (orders placed minus cancelled). */
  popularity: number;
  createdAt: string;
  updatedAt: string;
  /**
   * How many events changed this document: grows by one with each applied event, in log order,
   * so a write carrying a lower or equal version is older than what is stored (external versioning).
   */
  version: number;
}

/** Suggestions sorted the same way by both engines: in stock first, exact prefix before typo, popular first, then by name. */
export function rankSuggestions(candidates: readonly (Suggestion & { exact: boolean; popularity: number })[], limit: number): Suggestion[] {
  return [...candidates]
    .sort(
      (a, b) =>
        Number(b.inStock) - Number(a.inStock) ||
        Number(b.exact) - Number(a.exact) ||
        b.popularity - a.popularity ||
        a.text.localeCompare(b.text) ||
        (a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : 0),
    )
    .slice(0, limit)
    .map(({ text, sku, inStock }) => ({ text, sku, inStock }));
}

/** Facet buckets in the one order both engines report: count descending, then value. */
export function orderBuckets(buckets: FacetBucket[]): FacetBucket[] {
  return buckets.sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0)).slice(0, FACET_SIZE);
}
