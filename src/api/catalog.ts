// Catalog, inventory and coupons (admin); product reads; search (its routes live in search.ts).

import { Type, type Static } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { inventoryDecider } from "../aggregates/inventory.js";
import { fold } from "../aggregates/decider.js";
import { createProduct, getProductFromLog, updateProduct } from "../commands/catalog.js";
import { defineCoupon } from "../commands/coupons.js";
import { receiveStock } from "../commands/inventory.js";
import type { EventStore, RecordedEvent } from "../eventstore/port.js";
import { requireRoles, secretKey } from "./auth.js";
import { commandContext, committed, etag, ifMatch, readYourWrites, type ApiDeps } from "./deps.js";
import { notFound } from "./problem.js";
import { searchRoutes } from "./search.js";
import { CouponDefined, InventoryResource, ProductCreated, ProductResource, problems, StockReceived } from "./responses.js";
import { Currency, Id, IsoTime, Money, NonEmpty, Quantity, Sku } from "./schemas.js";

const Attributes = Type.Record(Type.String({ maxLength: 64 }), Type.Union([Type.String({ maxLength: 500 }), Type.Number(), Type.Boolean()]), { maxProperties: 50 });

const CreateProduct = Type.Object(
  {
    sku: Sku,
    name: NonEmpty(),
    description: Type.Optional(Type.String({ maxLength: 5000 })),
    category: Type.Array(NonEmpty(100), { maxItems: 10 }),
    brand: Type.Optional(NonEmpty(100)),
    price: Money,
    currency: Type.Optional(Currency),
    attributes: Type.Optional(Attributes),
  },
  { additionalProperties: false },
);

const PatchProduct = Type.Object(
  {
    price: Type.Optional(Money),
    name: Type.Optional(NonEmpty()),
    description: Type.Optional(Type.String({ maxLength: 5000 })),
    category: Type.Optional(Type.Array(NonEmpty(100), { maxItems: 10 })),
    brand: Type.Optional(NonEmpty(100)),
    attributes: Type.Optional(Attributes),
    active: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
);

const Receipt = Type.Object({ warehouseId: Id, quantity: Type.Integer({ minimum: 1, maximum: 1_000_000 }) }, { additionalProperties: false });

const CouponBody = Type.Object(
  {
    code: Type.String({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9_-]+$" }),
    kind: Type.Union([Type.Literal("percent"), Type.Literal("flat")]),
    value: Type.Integer({ minimum: 1, maximum: 100_000_000 }),
    minOrderAmount: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000_000_000 })),
    expiresAt: Type.Optional(IsoTime),
    maxRedemptions: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000_000 })),
  },
  { additionalProperties: false },
);

const SkuParams = Type.Object({ sku: Sku });

interface WarehouseStock {
  warehouseId: string;
  available: number;
  reserved: number;
  committed: number;
}

/** Stock of a SKU folded from the inventory streams of the log (used when no inventory read model is wired). */
async function inventoryFromLog(store: EventStore, sku: string): Promise<{ sku: string; available: number; reserved: number; committed: number; warehouses: WarehouseStock[] }> {
  const byStream = new Map<string, RecordedEvent[]>();
  let from = "";
  for (;;) {
    const page = await store.readAll({ from, maxCount: 1000, filter: { streamCategories: ["inventory"] } });
    for (const e of page.events) {
      if ((e.data as { sku?: string }).sku !== sku) continue;
      const list = byStream.get(e.streamId) ?? [];
      list.push(e);
      byStream.set(e.streamId, list);
    }
    if (page.events.length < 1000 || page.checkpoint === from) break;
    from = page.checkpoint;
  }
  const warehouses: WarehouseStock[] = [...byStream.values()].map((events) => {
    const s = fold(
      inventoryDecider,
      events.map((e) => ({ type: e.type, data: e.data }) as never),
    );
    return { warehouseId: s.warehouseId ?? "", available: s.available, reserved: s.reserved, committed: s.committed };
  });
  const sum = (k: "available" | "reserved" | "committed") => warehouses.reduce((n, w) => n + w[k], 0);
  return { sku, available: sum("available"), reserved: sum("reserved"), committed: sum("committed"), warehouses };
}

export async function catalogRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const key = secretKey(deps.jwtSecret);
  const admin = requireRoles(key, "admin");
  const anyone = requireRoles(key, "customer", "ops", "auditor", "finance");
  const stock = async (sku: string) => (deps.read.getInventory ? ((await deps.read.getInventory(sku)) ?? { sku, available: 0, reserved: 0, committed: 0, warehouses: [] }) : inventoryFromLog(deps.store, sku));

  app.post<{ Body: Static<typeof CreateProduct> }>(
    "/api/products",
    { schema: { tags: ["catalog"], summary: "Create a product (admin)", body: CreateProduct, response: { 201: ProductCreated, ...problems(409, 413, 415, 422) } }, onRequest: admin },
    async (request, reply) => {
      const { attributes, ...rest } = request.body;
      const result = await createProduct(commandContext(deps, request), { ...rest, ...(attributes ? { attributes } : {}) });
      reply.header("ETag", etag(result.nextExpectedRevision)).header("Location", `/api/products/${encodeURIComponent(request.body.sku)}`);
      return reply.code(201).send({ sku: request.body.sku, version: result.nextExpectedRevision, ...committed(reply, result.position) });
    },
  );

  app.patch<{ Params: Static<typeof SkuParams>; Body: Static<typeof PatchProduct> }>(
    "/api/products/:sku",
    { schema: { tags: ["catalog"], summary: "Change a product (admin); If-Match applies it only at that version", params: SkuParams, body: PatchProduct, response: { 200: ProductResource, ...problems(404, 409, 412, 413, 415, 422) } }, onRequest: admin },
    async (request, reply) => {
      const { sku } = request.params;
      const expected = ifMatch(request);
      const { attributes, ...rest } = request.body;
      const result = await updateProduct(commandContext(deps, request), sku, { ...rest, ...(attributes ? { attributes } : {}) }, expected);
      reply.header("ETag", etag(result.revision));
      return { ...result.state, version: result.revision, ...committed(reply, result.position) };
    },
  );

  app.get<{ Params: Static<typeof SkuParams> }>(
    "/api/products/:sku",
    { schema: { tags: ["catalog"], summary: "A product with its price and available stock", params: SkuParams, response: { 200: ProductResource, ...problems(404) } }, onRequest: anyone },
    async (request, reply) => {
      await readYourWrites(deps, request);
      const found = await getProductFromLog(deps.store, request.params.sku);
      if (!found) throw notFound(`product ${request.params.sku}`);
      const inventory = await stock(request.params.sku);
      reply.header("ETag", etag(found.revision));
      return { ...found.product, active: found.product.status === "ACTIVE", available: inventory.available, version: found.revision };
    },
  );

  app.post<{ Params: Static<typeof SkuParams>; Body: Static<typeof Receipt> }>(
    "/api/inventory/:sku/receipts",
    { schema: { tags: ["inventory"], summary: "Receive stock into a warehouse (admin)", params: SkuParams, body: Receipt, response: { 201: StockReceived, ...problems(409, 413, 415, 422) } }, onRequest: admin },
    async (request, reply) => {
      const result = await receiveStock(commandContext(deps, request), { sku: request.params.sku, ...request.body });
      const s = result.state;
      return reply.code(201).send({ sku: request.params.sku, warehouseId: request.body.warehouseId, received: request.body.quantity, available: s.available, ...committed(reply, result.position) });
    },
  );

  app.get<{ Params: Static<typeof SkuParams> }>(
    "/api/inventory/:sku",
    { schema: { tags: ["inventory"], summary: "Stock of a SKU per warehouse", params: SkuParams, response: { 200: InventoryResource, ...problems(404) } }, onRequest: anyone },
    async (request) => {
      await readYourWrites(deps, request);
      if (!(await getProductFromLog(deps.store, request.params.sku))) throw notFound(`product ${request.params.sku}`);
      return stock(request.params.sku);
    },
  );

  app.post<{ Body: Static<typeof CouponBody> }>(
    "/api/coupons",
    { schema: { tags: ["coupons"], summary: "Define a coupon (admin); an existing code answers 409", body: CouponBody, response: { 201: CouponDefined, ...problems(409, 413, 415, 422) } }, onRequest: admin },
    async (request, reply) => {
      const b = request.body;
      const result = await defineCoupon(commandContext(deps, request), b);
      return reply.code(201).send({ code: b.code.toUpperCase(), ...committed(reply, result.position) });
    },
  );

  // GET /api/search/products and /api/search/suggest (src/api/search.ts).
  await searchRoutes(app, deps);
}

export { Quantity };
