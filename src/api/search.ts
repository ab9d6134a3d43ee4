// Product search and suggestions (CONTRACT.md "Search"): the query string is checked here (400
// problem+json naming the parameter), turned into the search port's query, and answered by
// whichever engine app.ts wired in (Elasticsearch or the embedded PostgreSQL engine).

import { createHash } from "node:crypto";
import { Type, type Static } from "@sinclair/typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Checkpoint } from "../eventstore/port.js";
import {
  DEFAULT_FACETS,
  MAX_SUGGESTIONS,
  MAX_WINDOW,
  SORTS,
  type CursorPosition,
  type ProductSearchQuery,
  type SearchEngine,
  type SearchSort,
} from "../search/port.js";
import { requireRoles, secretKey } from "./auth.js";
import type { ApiDeps } from "./deps.js";
import { notImplemented, ProblemError } from "./problem.js";
import { Problem } from "./schemas.js";

export interface SearchReads {
  engine: SearchEngine;
  /** true once search reflects `position` (read-your-writes), false when `timeoutMs` passed first. */
  waitFor(position: Checkpoint, timeoutMs: number): Promise<boolean>;
}

declare module "./deps.js" {
  interface ApiDeps {
    /** Product search; absent: the search routes answer 501. */
    search?: SearchReads;
  }
}

const OneOrMany = (max: number) =>
  Type.Union([Type.String({ minLength: 1, maxLength: max }), Type.Array(Type.String({ minLength: 1, maxLength: max }), { maxItems: 20 })]);
const FACET = "(category|brand|price|attr\\.[A-Za-z0-9_-]{1,64})";

const SearchQuery = Type.Object(
  {
    q: Type.Optional(
      Type.String({
        maxLength: 200,
        description: "free text over name, brand, description and category; one typo per word of 4+ letters is forgiven",
      }),
    ),
    category: Type.Optional(OneOrMany(100)),
    brand: Type.Optional(OneOrMany(100)),
    minPrice: Type.Optional(Type.String({ pattern: "^[0-9]{1,12}$", description: "inclusive, minor units" })),
    maxPrice: Type.Optional(Type.String({ pattern: "^[0-9]{1,12}$", description: "inclusive, minor units" })),
    inStock: Type.Optional(Type.Union([Type.Literal("true"), Type.Literal("false")])),
    sort: Type.Optional(Type.Union(SORTS.map((s) => Type.Literal(s)))),
    page: Type.Optional(
      Type.String({ pattern: "^[1-9][0-9]{0,4}$", description: `1-based; page x size may not pass ${MAX_WINDOW} (use cursor)` }),
    ),
    size: Type.Optional(Type.String({ pattern: "^([1-9]|[1-9][0-9]|100)$", description: "1-100, default 20" })),
    facets: Type.Optional(
      Type.String({
        pattern: `^${FACET}(,${FACET}){0,19}$`,
        description: "comma-separated: category, brand, price, attr.<name>; default category,brand,price",
      }),
    ),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 1000, description: "nextCursor of the previous page" })),
    waitFor: Type.Optional(Type.String({ maxLength: 100 })),
  },
  { additionalProperties: false, patternProperties: { "^attr\\.[A-Za-z0-9_-]{1,64}$": OneOrMany(200) } },
);
type SearchQueryString = Static<typeof SearchQuery> & Record<string, string | string[] | undefined>;

const Bucket = Type.Object({ value: Type.String(), count: Type.Integer({ minimum: 0 }) }, { additionalProperties: false });
const SearchResponse = Type.Object(
  {
    total: Type.Integer({ minimum: 0 }),
    page: Type.Integer({ minimum: 1 }),
    size: Type.Integer({ minimum: 1 }),
    hits: Type.Array(
      Type.Object(
        {
          sku: Type.String(),
          name: Type.String(),
          brand: Type.Union([Type.String(), Type.Null()]),
          category: Type.Array(Type.String()),
          price: Type.Integer(),
          currency: Type.String(),
          available: Type.Integer(),
          inStock: Type.Boolean(),
          popularity: Type.Integer({ description: "units sold in the 30 days before the product's latest sale" }),
          score: Type.Number(),
        },
        { additionalProperties: false },
      ),
    ),
    facets: Type.Object(
      {
        category: Type.Optional(Type.Array(Bucket)),
        brand: Type.Optional(Type.Array(Bucket)),
        price: Type.Optional(
          Type.Array(
            Type.Object(
              { from: Type.Integer(), to: Type.Union([Type.Integer(), Type.Null()]), count: Type.Integer({ minimum: 0 }) },
              { additionalProperties: false },
            ),
          ),
        ),
        attributes: Type.Optional(Type.Record(Type.String(), Type.Array(Bucket))),
      },
      { additionalProperties: false, description: "each facet's counts ignore that facet's own selected values" },
    ),
    nextCursor: Type.Optional(Type.String({ description: "pass as cursor for the following page (works past 10,000 results)" })),
  },
  { additionalProperties: false },
);

const SuggestQuery = Type.Object(
  { q: Type.String({ minLength: 1, maxLength: 100 }), waitFor: Type.Optional(Type.String({ maxLength: 100 })) },
  { additionalProperties: false },
);
const SuggestResponse = Type.Object(
  {
    suggestions: Type.Array(
      Type.Object({ text: Type.String(), sku: Type.String(), inStock: Type.Boolean() }, { additionalProperties: false }),
      { maxItems: MAX_SUGGESTIONS },
    ),
  },
  { additionalProperties: false },
);

const problems = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, Problem]));
const badRequest = (field: string, detail: string) => new ProblemError(400, "Bad Request", detail, { field, in: "querystring" });
const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** What a cursor carries: where to resume and a fingerprint of the search it belongs to. */
interface CursorToken extends CursorPosition {
  f: string;
}

const fingerprint = (query: Omit<ProductSearchQuery, "page" | "after">): string =>
  createHash("sha256").update(JSON.stringify(query)).digest("base64url").slice(0, 16);
const encodeCursor = (token: CursorToken): string => Buffer.from(JSON.stringify(token)).toString("base64url");
function decodeCursor(text: string): CursorToken {
  try {
    const t = JSON.parse(Buffer.from(text, "base64url").toString("utf8")) as CursorToken;
    if (
      typeof t.value === "number" &&
      Number.isFinite(t.value) &&
      typeof t.sku === "string" &&
      Number.isInteger(t.page) &&
      t.page > 0 &&
      typeof t.f === "string"
    )
      return t;
  } catch {
    // falls through to the 400 below
  }
  throw badRequest("cursor", "cursor is not one this API handed out");
}

/** The query string as the search port's query; throws a 400 naming the parameter when it cannot be answered. */
export function searchQueryOf(qs: SearchQueryString): { query: ProductSearchQuery; fingerprint: string } {
  const size = qs.size === undefined ? 20 : Number(qs.size);
  const page = qs.page === undefined ? 1 : Number(qs.page);
  const minPrice = qs.minPrice === undefined ? undefined : Number(qs.minPrice);
  const maxPrice = qs.maxPrice === undefined ? undefined : Number(qs.maxPrice);
  if (minPrice !== undefined && maxPrice !== undefined && minPrice > maxPrice)
    throw badRequest("minPrice", `minPrice (${minPrice}) is above maxPrice (${maxPrice})`);
  if (page * size > MAX_WINDOW)
    throw badRequest("page", `page ${page} of size ${size} reaches past result ${MAX_WINDOW}; follow nextCursor to go deeper`);
  const attributes: Record<string, string[]> = {};
  for (const [key, value] of Object.entries(qs)) if (key.startsWith("attr.")) attributes[key.slice(5)] = list(value);
  const base = {
    q: qs.q ?? "",
    categories: list(qs.category),
    brands: list(qs.brand),
    ...(minPrice === undefined ? {} : { minPrice }),
    ...(maxPrice === undefined ? {} : { maxPrice }),
    ...(qs.inStock === undefined ? {} : { inStock: qs.inStock === "true" }),
    attributes,
    sort: (qs.sort ?? "relevance") as SearchSort,
    size,
    facets: qs.facets ? [...new Set(qs.facets.split(","))] : [...DEFAULT_FACETS],
  };
  const f = fingerprint(base);
  if (qs.cursor === undefined) return { query: { ...base, page }, fingerprint: f };
  if (qs.page !== undefined) throw badRequest("page", "give either page or cursor, not both");
  const token = decodeCursor(qs.cursor);
  if (token.f !== f) throw badRequest("cursor", "this cursor belongs to another search (q, filters, sort and size must stay the same)");
  return { query: { ...base, page: token.page, after: { value: token.value, sku: token.sku, page: token.page } }, fingerprint: f };
}

export async function searchRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const key = secretKey(deps.jwtSecret);
  const anyone = requireRoles(key, "customer", "ops", "auditor", "finance");

  /** ?waitFor / X-Wait-For: waits (at most 5 s) until search has the caller's write; answers anyway after that. */
  const readYourWrites = async (request: FastifyRequest, search: SearchReads) => {
    const q = (request.query as { waitFor?: string }).waitFor;
    const h = request.headers["x-wait-for"];
    const position = q || (typeof h === "string" ? h : "");
    if (position && !(await search.waitFor(position, 5_000)))
      request.log.warn({ position }, "search did not reach the requested position in time");
  };

  app.get<{ Querystring: SearchQueryString }>(
    "/api/search/products",
    {
      schema: {
        tags: ["search"],
        summary:
          "Product search: full text with typo tolerance, filters (attr.<name>=<value> too), multi-select facets, sorts, pages up to 10,000 results and a cursor beyond",
        querystring: SearchQuery,
        response: { 200: SearchResponse, ...problems(400, 401, 403, 501) },
      },
      onRequest: anyone,
    },
    async (request) => {
      const search = deps.search;
      if (!search) throw notImplemented("product search");
      const { query, fingerprint: f } = searchQueryOf(request.query);
      await readYourWrites(request, search);
      const result = await search.engine.search(query);
      const { next, ...rest } = result;
      return { ...rest, ...(next ? { nextCursor: encodeCursor({ ...next, f }) } : {}) };
    },
  );

  app.get<{ Querystring: Static<typeof SuggestQuery> }>(
    "/api/search/suggest",
    {
      schema: {
        tags: ["search"],
        summary: "Up to 10 product names completing q (one typo allowed), in-stock products first",
        querystring: SuggestQuery,
        response: { 200: SuggestResponse, ...problems(400, 401, 403, 501) },
      },
      onRequest: anyone,
    },
    async (request) => {
      const search = deps.search;
      if (!search) throw notImplemented("search suggestions");
      await readYourWrites(request, search);
      return { suggestions: await search.engine.suggest(request.query.q, MAX_SUGGESTIONS) };
    },
  );
}
