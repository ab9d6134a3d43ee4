// The product lines of search hits (price, availability) from the Redis hot product cards when
// REDIS_URL is set: the cards are what product pages show and follow the log on their own
// processor, so a hit agrees with its product page even while the index is a little behind.
// Redis down, or a card not built yet: the engine's own document answers; never an error.
// Matching, filtering, facets and order stay the engine's (a price that changed since it indexed
// shows the new figure in the same place until the index catches up).

import type { Redis } from "ioredis";
import type { ProductSearchResult, SearchEngine, SearchHit } from "./port.js";

export interface ProductLine {
  price: number;
  available: number;
}

/** The current line of each SKU it knows; undefined when the source cannot answer at all. */
export type ProductLines = (skus: readonly string[]) => Promise<Map<string, ProductLine> | undefined>;

/**
 * Lines from the Redis read models (src/projections/redis: `<base>:generation` names the
 * generation; `card:<sku>` holds `price` JSON-encoded, `stock:<sku>` the summed `available`).
 */
export function redisProductLines(redis: Redis, base = "rm", onError?: (error: unknown) => void): ProductLines {
  return async (skus) => {
    if (skus.length === 0 || redis.status !== "ready") return undefined;
    try {
      const generation = await redis.get(`${base}:generation`);
      if (!generation) return undefined;
      const prefix = `${base}:${generation}:`;
      const pipeline = redis.pipeline();
      for (const sku of skus) {
        pipeline.hget(`${prefix}card:${sku}`, "price");
        pipeline.hget(`${prefix}stock:${sku}`, "available");
      }
      const replies = (await pipeline.exec()) ?? [];
      const lines = new Map<string, ProductLine>();
      skus.forEach((sku, i) => {
        const [priceError, price] = replies[2 * i] ?? [];
        const [stockError, available] = replies[2 * i + 1] ?? [];
        if (priceError || stockError || typeof price !== "string") return;
        lines.set(sku, { price: Number(JSON.parse(price)), available: Number(available ?? 0) });
      });
      return lines;
    } catch (error) {
      onError?.(error);
      return undefined;
    }
  };
}

const withLine = (hit: SearchHit, line: ProductLine | undefined): SearchHit =>
  line ? { ...hit, price: line.price, available: line.available, inStock: line.available > 0 } : hit;

/** `engine` with each hit's price and availability taken from `lines` where it has them. */
export function withProductLines(engine: SearchEngine, lines: ProductLines): SearchEngine {
  return {
    kind: engine.kind,
    async search(query): Promise<ProductSearchResult> {
      const result = await engine.search(query);
      const current = await lines(result.hits.map((h) => h.sku)).catch(() => undefined);
      if (!current) return result;
      return { ...result, hits: result.hits.map((hit) => withLine(hit, current.get(hit.sku))) };
    },
    suggest: (prefix, limit) => engine.suggest(prefix, limit),
  };
}
