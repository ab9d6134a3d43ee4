// The embedded search engine: PostgreSQL full-text search over the search read model
// (src/projections/search/documents.ts), on PGlite or a real server. Terms are our normaliser's
// tokens stored as a weighted tsvector; typos are corrected against the vocabulary table
// (src/search/fuzzy.ts), so it needs no extension and matches what Elasticsearch's fuzziness finds.

import type { SqlExecutor } from "../../infrastructure/sql/sql-client.js";
import { SEARCH_TABLES, type SearchTables } from "../../projections/search/documents.js";
import { deletionVariants, editDistanceAtMostOne, FUZZY_MIN_LENGTH, fuzzyPrefixMatch } from "../fuzzy.js";
import { normalisedName, queryTokens } from "../normalise.js";
import {
  FACET_SIZE,
  MAX_SUGGESTIONS,
  orderBuckets,
  PRICE_RANGES,
  rankSuggestions,
  type FacetBucket,
  type ProductSearchQuery,
  type ProductSearchResult,
  type SearchEngine,
  type SearchFacets,
  type SearchHit,
  type Suggestion,
} from "../port.js";

type Row = Record<string, unknown>;
const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

/** One filter of a search: the facet it belongs to (a facet's counts ignore its own filter) and its SQL, given where its parameters go. */
interface Filter {
  facet: string | null;
  condition(params: Params): string;
}

/** Builds positional parameters as conditions are added. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** A WHERE clause of the filters (but those of facet `except`) with its own parameters; the text query, when there is one, is always $1. */
function render(tsquery: string | null, filters: readonly Filter[], except: string | null = null): { where: string; params: Params } {
  const params = new Params();
  if (tsquery !== null) params.add(tsquery);
  const where = filters
    .filter((f) => except === null || f.facet !== except)
    .map((f) => f.condition(params))
    .join(" AND ");
  return { where, params };
}

const SUGGEST_CANDIDATES = 200;

export class PostgresSearchEngine implements SearchEngine {
  readonly kind = "postgres" as const;
  constructor(
    private readonly sql: SqlExecutor,
    private readonly tables: SearchTables = SEARCH_TABLES,
  ) {}

  /** Each query token with the vocabulary terms one edit away (tokens shorter than FUZZY_MIN_LENGTH must match exactly). */
  async expand(tokens: readonly string[]): Promise<string[][]> {
    const fuzzy = tokens.filter((t) => [...t].length >= FUZZY_MIN_LENGTH);
    const byToken = new Map<string, Set<string>>(tokens.map((t) => [t, new Set([t])]));
    if (fuzzy.length > 0) {
      const variants = [...new Set(fuzzy.flatMap(deletionVariants))];
      const { rows } = await this.sql.query<{ term: string }>(
        `SELECT DISTINCT term FROM ${this.tables.variants} WHERE variant = ANY ($1::text[])`,
        [variants],
      );
      for (const token of fuzzy) for (const { term } of rows) if (editDistanceAtMostOne(token, term)) byToken.get(token)!.add(term);
    }
    return tokens.map((t) => [...byToken.get(t)!]);
  }

  async search(query: ProductSearchQuery): Promise<ProductSearchResult> {
    const d = this.tables.documents;
    const filters: Filter[] = [{ facet: null, condition: () => "active" }];
    const groups = await this.expand(queryTokens(query.q));
    // Tokens hold only letters and digits (the normaliser splits on everything else), so quoting is safe.
    const tsquery = groups.length > 0 ? groups.map((g) => `(${g.map((t) => `'${t}'`).join(" | ")})`).join(" & ") : null;
    if (tsquery !== null) filters.push({ facet: null, condition: () => "terms @@ $1::tsquery" });
    if (query.categories.length > 0)
      filters.push({ facet: "category", condition: (p) => `category && ${p.add([...query.categories])}::text[]` });
    if (query.brands.length > 0) filters.push({ facet: "brand", condition: (p) => `brand = ANY (${p.add([...query.brands])}::text[])` });
    if (query.minPrice !== undefined) filters.push({ facet: "price", condition: (p) => `price >= ${p.add(query.minPrice)}::bigint` });
    if (query.maxPrice !== undefined) filters.push({ facet: "price", condition: (p) => `price <= ${p.add(query.maxPrice)}::bigint` });
    if (query.inStock !== undefined) filters.push({ facet: null, condition: (p) => `in_stock = ${p.add(query.inStock)}::boolean` });
    for (const [name, values] of Object.entries(query.attributes)) {
      filters.push({ facet: `attr.${name}`, condition: (p) => `attribute_pairs && ${p.add(values.map((v) => `${name}=${v}`))}::text[]` });
    }
    const all = render(tsquery, filters);
    const params = all.params;

    const score = tsquery ? "ts_rank(terms, $1::tsquery)" : "0::real";
    const sortKey: Record<ProductSearchQuery["sort"], { value: string; direction: "asc" | "desc" }> = {
      relevance: { value: score, direction: "desc" },
      price_asc: { value: "price", direction: "asc" },
      price_desc: { value: "price", direction: "desc" },
      newest: { value: "(extract(epoch FROM created_at) * 1000)::bigint", direction: "desc" },
      popularity: { value: "popularity", direction: "desc" },
    };
    const key = sortKey[query.sort];
    let keyset = "";
    let offset = (query.page - 1) * query.size;
    if (query.after) {
      const cast = query.sort === "relevance" ? "::real" : "::bigint";
      const value = params.add(query.after.value);
      const sku = params.add(query.after.sku);
      keyset = ` AND ((${key.value}) ${key.direction === "desc" ? "<" : ">"} ${value}${cast} OR ((${key.value}) = ${value}${cast} AND sku > ${sku}::text))`;
      offset = 0;
    }
    const hitsSql = `SELECT sku, name, brand, category, price, currency, available, in_stock, popularity, ${score} AS score, ${key.value} AS sort_value
        FROM ${d} WHERE ${all.where}${keyset}
       ORDER BY sort_value ${key.direction}, sku LIMIT ${query.size + 1} OFFSET ${offset}`;

    const [hitRows, total, facets] = await Promise.all([
      this.sql.query<Row>(hitsSql, params.values),
      this.sql.query<{ n: unknown }>(`SELECT count(*) AS n FROM ${d} WHERE ${all.where}`, render(tsquery, filters).params.values),
      this.facets(query, (except) => render(tsquery, filters, except)),
    ]);
    const rows = hitRows.rows.slice(0, query.size);
    const hits: SearchHit[] = rows.map((r) => ({
      sku: String(r.sku),
      name: String(r.name),
      brand: r.brand == null ? null : String(r.brand),
      category: (r.category as string[]) ?? [],
      price: num(r.price),
      currency: String(r.currency),
      available: num(r.available),
      inStock: r.in_stock === true,
      popularity: num(r.popularity),
      score: num(r.score),
    }));
    const last = rows.at(-1);
    const page = query.after ? query.after.page : query.page;
    return {
      total: num(total.rows[0]?.n),
      page,
      size: query.size,
      hits,
      facets,
      ...(hitRows.rows.length > query.size && last ? { next: { value: num(last.sort_value), sku: String(last.sku), page: page + 1 } } : {}),
    };
  }

  private async facets(query: ProductSearchQuery, clause: (except: string) => { where: string; params: Params }): Promise<SearchFacets> {
    const d = this.tables.documents;
    const out: SearchFacets = {};
    const buckets = (rows: Row[]): FacetBucket[] => orderBuckets(rows.map((r) => ({ value: String(r.value), count: num(r.count) })));
    const work: Promise<void>[] = [];
    for (const facet of query.facets) {
      const { where, params } = clause(facet);
      if (facet === "category") {
        work.push(
          this.sql
            .query<Row>(
              `SELECT c AS value, count(*) AS count FROM ${d}, LATERAL (SELECT DISTINCT unnest(category) AS c) cs WHERE ${where} GROUP BY c ORDER BY count(*) DESC, c LIMIT ${FACET_SIZE}`,
              params.values,
            )
            .then(({ rows }) => void (out.category = buckets(rows))),
        );
      } else if (facet === "brand") {
        work.push(
          this.sql
            .query<Row>(
              `SELECT brand AS value, count(*) AS count FROM ${d} WHERE ${where} AND brand IS NOT NULL GROUP BY brand ORDER BY count(*) DESC, brand LIMIT ${FACET_SIZE}`,
              params.values,
            )
            .then(({ rows }) => void (out.brand = buckets(rows))),
        );
      } else if (facet === "price") {
        const columns = PRICE_RANGES.map(
          (r, i) => `count(*) FILTER (WHERE price >= ${r.from}${r.to === null ? "" : ` AND price < ${r.to}`}) AS r${i}`,
        ).join(", ");
        work.push(
          this.sql.query<Row>(`SELECT ${columns} FROM ${d} WHERE ${where}`, params.values).then(({ rows }) => {
            out.price = PRICE_RANGES.map((r, i) => ({ from: r.from, to: r.to, count: num(rows[0]?.[`r${i}`]) }));
          }),
        );
      } else if (facet.startsWith("attr.")) {
        const name = facet.slice(5);
        const p = params.values.length + 1;
        work.push(
          this.sql
            .query<Row>(
              `SELECT attributes ->> $${p}::text AS value, count(*) AS count FROM ${d} WHERE ${where} AND attributes ? $${p}::text GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT ${FACET_SIZE}`,
              [...params.values, name],
            )
            .then(({ rows }) => void ((out.attributes ??= {})[name] = buckets(rows))),
        );
      }
    }
    await Promise.all(work);
    if (out.attributes)
      out.attributes = Object.fromEntries(
        query.facets.filter((f) => f.startsWith("attr.")).map((f) => [f.slice(5), out.attributes![f.slice(5)] ?? []]),
      );
    return out;
  }

  async suggest(prefix: string, limit = MAX_SUGGESTIONS): Promise<Suggestion[]> {
    const q = normalisedName(prefix);
    if (q === "") return [];
    const d = this.tables.documents;
    const patterns = [`${q}%`];
    if ([...q].length >= 3) {
      // Fuzzy prefixes: the distinct name beginnings sharing the first letter, checked in code.
      const length = [...q].length + 1;
      const { rows } = await this.sql.query<{ p: string }>(
        `SELECT DISTINCT left(name_normalised, $2) AS p FROM ${d} WHERE active AND name_normalised LIKE $1`,
        [`${[...q][0]}%`, length],
      );
      for (const { p } of rows) if (p !== null && fuzzyPrefixMatch(p, q)) patterns.push(`${p}%`);
    }
    const { rows } = await this.sql.query<Row>(
      `SELECT sku, name, name_normalised, in_stock, popularity FROM ${d} WHERE active AND name_normalised LIKE ANY ($1::text[])
        ORDER BY in_stock DESC, popularity DESC, name LIMIT ${SUGGEST_CANDIDATES}`,
      [patterns],
    );
    const candidates = rows
      .filter((r) => fuzzyPrefixMatch(String(r.name_normalised), q))
      .map((r) => ({
        text: String(r.name),
        sku: String(r.sku),
        inStock: r.in_stock === true,
        exact: String(r.name_normalised).startsWith(q),
        popularity: num(r.popularity),
      }));
    return rankSuggestions(candidates, limit);
  }
}
