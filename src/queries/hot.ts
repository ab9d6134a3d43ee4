// The hot reads: product cards, availability and order status from Redis when it is configured
// and answering, from the SQL read models otherwise (Redis down, or a key not built yet). A Redis
// failure never fails the request: it is logged once per outage and SQL answers.

import type { Redis } from "ioredis";
import type { SqlExecutor } from "../infrastructure/sql/sql-client.js";
import { getInventory, type InventoryView } from "./inventory.js";
import { getOrder } from "./orders.js";
import { getProduct } from "./products.js";

export interface ProductCardView {
  sku: string;
  name: string;
  description?: string;
  category: string[];
  brand?: string;
  attributes: Record<string, string | number | boolean>;
  price: number;
  currency: string;
  status: "ACTIVE" | "INACTIVE";
  active: boolean;
  available: number;
  createdAt: string;
  updatedAt: string;
  version: number;
}

export interface OrderStatusView {
  orderId: string;
  customerId: string;
  status: string;
  paymentStatus: string;
  updatedAt: string;
  version: number;
}

export type HotSource = "redis" | "sql";

export interface HotReads {
  productCard(sku: string): Promise<(ProductCardView & { source: HotSource }) | null>;
  availability(sku: string): Promise<(InventoryView & { source: HotSource }) | null>;
  orderStatus(orderId: string): Promise<(OrderStatusView & { source: HotSource }) | null>;
}

// One round trip: resolve the generation pointer, then read the hashes under it.
const READ = `
local generation = redis.call('GET', KEYS[1])
if not generation then return false end
local out = {}
for i = 1, #ARGV do out[i] = redis.call('HGETALL', (string.gsub(ARGV[i], '{g}', generation))) end
return out
`;

type Hash = Record<string, string>;
const toHash = (flat: string[]): Hash | null => {
  if (flat.length === 0) return null;
  const h: Hash = {};
  for (let i = 0; i < flat.length; i += 2) h[flat[i]!] = flat[i + 1]!;
  return h;
};

/** The warehouses of an availability hash (fields `w:<warehouse>:<counter>`). */
function stockView(sku: string, h: Hash): InventoryView {
  const warehouses = new Map<
    string,
    { warehouseId: string; available: number; reserved: number; committed: number; shipped: number; received: number }
  >();
  for (const [field, value] of Object.entries(h)) {
    const m = /^w:(.+):(available|reserved|committed)$/.exec(field);
    if (!m) continue;
    const w = warehouses.get(m[1]!) ?? { warehouseId: m[1]!, available: 0, reserved: 0, committed: 0, shipped: 0, received: 0 };
    w[m[2] as "available" | "reserved" | "committed"] = Number(value);
    warehouses.set(m[1]!, w);
  }
  return {
    sku,
    available: Number(h.available ?? 0),
    reserved: Number(h.reserved ?? 0),
    committed: Number(h.committed ?? 0),
    warehouses: [...warehouses.values()]
      .sort((a, b) => (a.warehouseId < b.warehouseId ? -1 : 1))
      .map(({ warehouseId, available, reserved, committed }) => ({ warehouseId, available, reserved, committed }) as never),
  };
}

export function hotReads(options: { sql: SqlExecutor; redis?: Redis; base?: string; onRedisError?: (error: unknown) => void }): HotReads {
  const { sql, redis } = options;
  const base = options.base ?? "rm";
  if (redis && !("hotRead" in redis)) redis.defineCommand("hotRead", { lua: READ, numberOfKeys: 1 });

  /** The hashes from Redis, or undefined when Redis cannot answer (then SQL does). */
  const fromRedis = async (keys: string[]): Promise<(Hash | null)[] | undefined> => {
    if (redis?.status !== "ready") return undefined;
    try {
      const result =
        (await (redis as Redis & { hotRead(key: string, ...args: string[]): Promise<string[][] | null> }).hotRead(
          `${base}:generation`,
          ...keys.map((k) => `${base}:{g}:${k}`),
        )) ?? undefined;
      return result?.map(toHash);
    } catch (error) {
      options.onRedisError?.(error);
      return undefined;
    }
  };

  return {
    async productCard(sku) {
      const hashes = await fromRedis([`card:${sku}`, `stock:${sku}`]);
      const card = hashes?.[0];
      if (card && card.name !== undefined) {
        const parse = (field: string) => (card[field] === undefined ? undefined : JSON.parse(card[field]!));
        const active = card.active === "true";
        const description = parse("description");
        const brand = parse("brand");
        return {
          sku,
          name: parse("name"),
          ...(description == null ? {} : { description }),
          category: parse("category") ?? [],
          ...(brand == null ? {} : { brand }),
          attributes: parse("attributes") ?? {},
          price: parse("price"),
          currency: parse("currency"),
          status: active ? "ACTIVE" : "INACTIVE",
          active,
          available: Number(hashes?.[1]?.available ?? 0),
          createdAt: parse("createdAt"),
          updatedAt: parse("updatedAt"),
          version: Number(card.version),
          source: "redis",
        };
      }
      const p = await getProduct(sql, sku);
      if (!p) return null;
      return {
        sku: p.sku,
        name: p.name,
        ...(p.description === undefined ? {} : { description: p.description }),
        category: p.category,
        ...(p.brand === undefined ? {} : { brand: p.brand }),
        attributes: p.attributes,
        price: p.price,
        currency: p.currency,
        status: p.active ? "ACTIVE" : "INACTIVE",
        active: p.active,
        available: p.available,
        createdAt: p.createdAt,
        updatedAt: p.updatedAt,
        version: p.version,
        source: "sql",
      };
    },
    async availability(sku) {
      const hashes = await fromRedis([`stock:${sku}`]);
      const h = hashes?.[0];
      if (h) return { ...stockView(sku, h), source: "redis" };
      const view = await getInventory(sql, sku);
      return view ? { ...view, source: "sql" } : null;
    },
    async orderStatus(orderId) {
      const hashes = await fromRedis([`order:${orderId}`]);
      const h = hashes?.[0];
      if (h && h.status !== undefined) {
        return {
          orderId,
          customerId: h.customerId ?? "",
          status: h.status,
          paymentStatus: h.paymentStatus ?? "",
          updatedAt: h.updatedAt ?? "",
          version: Number(h.version),
          source: "redis",
        };
      }
      const o = await getOrder(sql, orderId);
      return o
        ? {
            orderId: o.orderId,
            customerId: o.customerId,
            status: o.status,
            paymentStatus: o.paymentStatus,
            updatedAt: o.updatedAt,
            version: o.version,
            source: "sql",
          }
        : null;
    },
  };
}
