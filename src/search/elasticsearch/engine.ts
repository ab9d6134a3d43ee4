// The Elasticsearch engine: searches a versioned index behind a read alias, and writes documents
// with external versioning (a document's version grows with each event applied to it), so a
// redelivered or out-of-order write is refused with 409 and never moves a document backwards.
// Deactivated products stay in the index with `active: false`: a versioned delete would be
// forgotten after `index.gc_deletes` and a late older write could bring the product back.

import type { Client } from "@elastic/elasticsearch";
import { ES_FUZZINESS, fuzzyPrefixMatch } from "../fuzzy.js";
import { normalisedName, queryTokens } from "../normalise.js";
import {
  FACET_SIZE,
  MAX_SUGGESTIONS,
  orderBuckets,
  PRICE_RANGES,
  rankSuggestions,
  type ProductSearchQuery,
  type ProductSearchResult,
  type SearchDocument,
  type SearchEngine,
  type SearchFacets,
  type Suggestion,
} from "../port.js";
import { INDEX_MAPPINGS, INDEX_SETTINGS, indexedProduct, type IndexedProduct } from "./mapping.js";

type Json = Record<string, unknown>;

export interface WriteOutcome {
  /** Documents stored by this call. */
  written: number;
  /** Documents refused because the index already holds that version or a newer one. */
  alreadyApplied: number;
}

const SUGGEST_CANDIDATES = 200;
const SEARCH_FIELDS = ["name_terms^3", "brand_terms^2", "category_terms^2", "description_terms"];

/** Sort clauses per sort; the SKU breaks ties, as in the embedded engine. */
const SORT: Record<ProductSearchQuery["sort"], Json[]> = {
  relevance: [{ _score: "desc" }, { sku: "asc" }],
  price_asc: [{ price: "asc" }, { sku: "asc" }],
  price_desc: [{ price: "desc" }, { sku: "asc" }],
  newest: [{ created_ms: "desc" }, { sku: "asc" }],
  popularity: [{ popularity: "desc" }, { sku: "asc" }],
};

const escapeRegex = (s: string) => s.replace(/[.?+*|{}[\]()"\\#@&<>~]/g, "\\$&");

export class ElasticsearchSearchEngine implements SearchEngine {
  readonly kind = "elasticsearch" as const;

  /** `index` is the read alias (or an index name, for a rebuild filling a new index). */
  constructor(
    readonly client: Client,
    readonly index: string,
  ) {}

  async search(query: ProductSearchQuery): Promise<ProductSearchResult> {
    const groups = queryTokens(query.q);
    const must: Json[] = groups.map((token) => ({
      multi_match: { query: token, fields: SEARCH_FIELDS, fuzziness: ES_FUZZINESS, prefix_length: 0, max_expansions: 50 },
    }));
    const filter: Json[] = [{ term: { active: true } }];
    if (query.inStock !== undefined) filter.push({ term: { in_stock: query.inStock } });

    // Facet filters go to post_filter (hits) and to every facet but their own (multi-select).
    const facetFilters: { facet: string; clause: Json }[] = [];
    if (query.categories.length > 0) facetFilters.push({ facet: "category", clause: { terms: { category: query.categories } } });
    if (query.brands.length > 0) facetFilters.push({ facet: "brand", clause: { terms: { brand: query.brands } } });
    if (query.minPrice !== undefined || query.maxPrice !== undefined) {
      facetFilters.push({
        facet: "price",
        clause: {
          range: {
            price: {
              ...(query.minPrice === undefined ? {} : { gte: query.minPrice }),
              ...(query.maxPrice === undefined ? {} : { lte: query.maxPrice }),
            },
          },
        },
      });
    }
    for (const [name, values] of Object.entries(query.attributes))
      facetFilters.push({ facet: `attr.${name}`, clause: { terms: { attribute_pairs: values.map((v) => `${name}=${v}`) } } });
    const others = (facet: string) => ({ bool: { filter: facetFilters.filter((f) => f.facet !== facet).map((f) => f.clause) } });

    const aggs: Record<string, Json> = {};
    for (const facet of query.facets) {
      let inner: Json;
      if (facet === "category" || facet === "brand")
        inner = { terms: { field: facet, size: FACET_SIZE, order: [{ _count: "desc" }, { _key: "asc" }] } };
      else if (facet === "price")
        inner = { range: { field: "price", ranges: PRICE_RANGES.map((r) => ({ from: r.from, ...(r.to === null ? {} : { to: r.to }) })) } };
      else
        inner = {
          terms: {
            field: "attribute_pairs",
            include: `${escapeRegex(facet.slice(5))}=.*`,
            size: FACET_SIZE,
            order: [{ _count: "desc" }, { _key: "asc" }],
          },
        };
      aggs[facet] = { filter: others(facet), aggs: { values: inner } };
    }

    const bool = { bool: { must: must.length > 0 ? must : [{ match_all: {} }], filter } };
    const scored =
      query.sort === "relevance" && must.length > 0
        ? {
            function_score: {
              query: bool,
              field_value_factor: { field: "popularity", modifier: "log2p", missing: 0 },
              boost_mode: "multiply",
            },
          }
        : bool;
    const page = query.after ? query.after.page : query.page;
    const response = await this.client.search<IndexedProduct>({
      index: this.index,
      query: scored as never,
      post_filter: { bool: { filter: facetFilters.map((f) => f.clause) } } as never,
      aggs: aggs as never,
      sort: SORT[query.sort] as never,
      track_scores: true,
      track_total_hits: true,
      size: query.size + 1,
      ...(query.after ? { search_after: [query.after.value, query.after.sku] } : { from: (query.page - 1) * query.size }),
    });
    const all = response.hits.hits;
    const hits = all.slice(0, query.size);
    const total = response.hits.total;
    const facets: SearchFacets = {};
    const agg = (response.aggregations ?? {}) as Record<
      string,
      { values: { buckets: { key: string | number; doc_count: number; from?: number; to?: number }[] } }
    >;
    for (const facet of query.facets) {
      const buckets = agg[facet]?.values.buckets ?? [];
      if (facet === "price") facets.price = PRICE_RANGES.map((r, i) => ({ from: r.from, to: r.to, count: buckets[i]?.doc_count ?? 0 }));
      else if (facet === "category" || facet === "brand")
        facets[facet] = orderBuckets(buckets.map((b) => ({ value: String(b.key), count: b.doc_count })));
      else {
        const name = facet.slice(5);
        (facets.attributes ??= {})[name] = orderBuckets(
          buckets.map((b) => ({ value: String(b.key).slice(name.length + 1), count: b.doc_count })),
        );
      }
    }
    const last = hits.at(-1);
    return {
      total: typeof total === "number" ? total : (total?.value ?? 0),
      page,
      size: query.size,
      hits: hits.map((h) => {
        const s = h._source!;
        return {
          sku: s.sku,
          name: s.name,
          brand: s.brand,
          category: s.category,
          price: s.price,
          currency: s.currency,
          available: s.available,
          inStock: s.in_stock,
          popularity: s.popularity,
          score: h._score ?? 0,
        };
      }),
      facets,
      ...(all.length > query.size && last?.sort
        ? { next: { value: Number(last.sort[0]), sku: String(last.sort[1]), page: page + 1 } }
        : {}),
    };
  }

  async suggest(prefix: string, limit = MAX_SUGGESTIONS): Promise<Suggestion[]> {
    const q = normalisedName(prefix);
    if (q === "") return [];
    const response = await this.client.search<IndexedProduct>({
      index: this.index,
      _source: ["sku", "name", "name_normalised", "in_stock", "popularity", "active"],
      suggest: {
        names: {
          prefix: q,
          completion: {
            field: "suggest",
            size: SUGGEST_CANDIDATES,
            skip_duplicates: false,
            contexts: {
              stock: [
                { context: "in", boost: 4 },
                { context: "out", boost: 1 },
              ],
            },
            ...([...q].length >= 3 ? { fuzzy: { fuzziness: 1, transpositions: true, min_length: 3, prefix_length: 1 } } : {}),
          },
        },
      },
    });
    const options = (response.suggest?.names?.[0]?.options ?? []) as { _source?: IndexedProduct }[];
    const candidates = options
      .map((o) => o._source)
      .filter((s): s is IndexedProduct => s !== undefined && s.active === true && fuzzyPrefixMatch(s.name_normalised, q))
      .map((s) => ({ text: s.name, sku: s.sku, inStock: s.in_stock, exact: s.name_normalised.startsWith(q), popularity: s.popularity }));
    return rankSuggestions(candidates, limit);
  }

  /** Indexes documents at their versions in one `_bulk`; a 409 on an item means that version (or a newer one) is already there. */
  async write(documents: readonly SearchDocument[], index = this.index): Promise<WriteOutcome> {
    if (documents.length === 0) return { written: 0, alreadyApplied: 0 };
    const response = await this.client.bulk({
      // Only what is read below: a full answer repeats index, id, version, shards and seq_no per
      // document, which Elasticsearch builds and this process parses for nothing.
      filter_path: ["items.*._id", "items.*.status", "items.*.error"],
      operations: documents.flatMap((d) => [
        { index: { _index: index, _id: d.sku, version: d.version, version_type: "external" as const } },
        indexedProduct(d),
      ]),
    });
    let written = 0;
    let alreadyApplied = 0;
    const failures: string[] = [];
    for (const item of response.items ?? []) {
      const result = item.index;
      if (!result) continue;
      if (result.status === 409) alreadyApplied++;
      else if (result.error) failures.push(`${result._id}: ${result.error.type} ${result.error.reason ?? ""}`);
      else written++;
    }
    if (failures.length > 0) throw new Error(`Elasticsearch refused ${failures.length} document(s): ${failures.slice(0, 3).join("; ")}`);
    return { written, alreadyApplied };
  }

  /** Makes everything written so far searchable now (read-your-writes). */
  async refresh(index = this.index): Promise<void> {
    await this.client.indices.refresh({ index });
  }
}

/** Creates an empty product index under `name` with our settings and mappings. */
export async function createProductIndex(client: Client, name: string): Promise<void> {
  await client.indices.create({ index: name, settings: INDEX_SETTINGS, mappings: INDEX_MAPPINGS as never });
}

/** The indices the alias points at now (empty when the alias does not exist). */
export async function aliasTargets(client: Client, alias: string): Promise<string[]> {
  try {
    return Object.keys(await client.indices.getAlias({ name: alias }));
  } catch (error) {
    if ((error as { meta?: { statusCode?: number } }).meta?.statusCode === 404) return [];
    throw error;
  }
}

/** Points the alias at `index` only, in one `_aliases` call (atomic: readers see the old index or the new one, never none). */
export async function pointAlias(client: Client, alias: string, index: string): Promise<void> {
  const current = await aliasTargets(client, alias);
  await client.indices.updateAliases({
    actions: [
      ...current.filter((i) => i !== index).map((i) => ({ remove: { index: i, alias } })),
      { add: { index, alias, is_write_index: true } },
    ],
  });
}

export async function indexExists(client: Client, index: string): Promise<boolean> {
  return client.indices.exists({ index });
}
