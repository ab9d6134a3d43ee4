// Catalog, inventory and coupons (admin); product reads; search (its routes live in search.ts).

import { Type, type Static } from "@sinclair/typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { createProduct, updateProduct } from "../commands/catalog.js";
import { defineCoupon } from "../commands/coupons.js";
import { receiveStock } from "../commands/inventory.js";
import { requireRoles, secretKey } from "./auth.js";
import { commandContext, committed, etag, ifMatch, readModelsAt, readYourWrites, written, type ApiDeps } from "./deps.js";
import { notFound, ProblemError } from "./problem.js";
import { searchRoutes } from "./search.js";
import { CouponDefined, InventoryResource, ProductCreated, ProductResource, problems, StockReceived } from "./responses.js";
import { Currency, Id, IsoTime, Money, NonEmpty, Sku, WaitForQuery } from "./schemas.js";

const Attributes = Type.Record(
  Type.String({ maxLength: 64 }),
  Type.Union([Type.String({ maxLength: 500 }), Type.Number(), Type.Boolean()]),
  { maxProperties: 50 },
);

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

const Receipt = Type.Object(
  { warehouseId: Id, quantity: Type.Integer({ minimum: 1, maximum: 1_000_000 }) },
  { additionalProperties: false },
);

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

export async function catalogRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const key = secretKey(deps.jwtSecret);
  const admin = requireRoles(key, "admin");
  const anyone = requireRoles(key, "customer", "ops", "auditor", "finance");
  const stock = async (sku: string) =>
    (await deps.read.getInventory(sku)) ?? { sku, available: 0, reserved: 0, committed: 0, warehouses: [] };
  /** The product from the products read model, once it holds `position`; null when there is no such product. */
  const product = async (request: FastifyRequest, sku: string, position?: string | null) => {
    await readModelsAt(deps, request, position);
    return deps.read.getProduct(sku);
  };

  app.post<{ Body: Static<typeof CreateProduct> }>(
    "/api/products",
    {
      schema: {
        tags: ["catalog"],
        summary: "Create a product (admin)",
        body: CreateProduct,
        response: { 201: ProductCreated, ...problems(409, 413, 415, 422) },
      },
      onRequest: admin,
    },
    async (request, reply) => {
      const { attributes, ...rest } = request.body;
      const result = await createProduct(commandContext(deps, request), { ...rest, ...(attributes ? { attributes } : {}) });
      reply.header("Location", `/api/products/${encodeURIComponent(request.body.sku)}`);
      return reply.code(201).send({ sku: request.body.sku, version: result.nextExpectedRevision, ...written(reply, result) });
    },
  );

  app.patch<{ Params: Static<typeof SkuParams>; Body: Static<typeof PatchProduct> }>(
    "/api/products/:sku",
    {
      schema: {
        tags: ["catalog"],
        summary: "Change a product (admin); If-Match applies it only at that version",
        params: SkuParams,
        body: PatchProduct,
        response: { 200: ProductResource, ...problems(404, 409, 412, 413, 415, 422, 503) },
      },
      onRequest: admin,
    },
    async (request, reply) => {
      const { sku } = request.params;
      const expected = ifMatch(request);
      const { attributes, ...rest } = request.body;
      const result = await updateProduct(commandContext(deps, request), sku, { ...rest, ...(attributes ? { attributes } : {}) }, expected);
      // The answer is the product as GET shows it, read once the read model holds this write.
      const found = await product(request, sku, result.position);
      // Only when the read model is more than 5 s behind: the change is written, say where.
      if (!found)
        throw new ProblemError(
          503,
          "Service Unavailable",
          `the change is written (position ${result.position ?? "none"}); read it with GET ?waitFor=<position>`,
          { position: result.position },
        );
      reply.header("ETag", etag(found.version));
      return { ...found, ...committed(reply, result.position) };
    },
  );

  app.get<{ Params: Static<typeof SkuParams>; Querystring: Static<typeof WaitForQuery> }>(
    "/api/products/:sku",
    {
      schema: {
        tags: ["catalog"],
        summary:
          "A product with its price and available stock: its Redis card when REDIS_URL is set, else (or when Redis cannot answer) the products and inventory read models; ?waitFor=<a write's position> (or X-Wait-For) waits for it first",
        params: SkuParams,
        querystring: WaitForQuery,
        response: { 200: ProductResource, ...problems(404) },
      },
      onRequest: anyone,
    },
    async (request, reply) => {
      await readYourWrites(deps, request);
      // The hot card (Redis, with the products read model behind it) when the app keeps one:
      // product pages are read far more often than products change.
      const found = deps.hot ? await deps.hot.productCard(request.params.sku) : await product(request, request.params.sku);
      if (!found) throw notFound(`product ${request.params.sku}`);
      reply.header("ETag", etag(found.version));
      return found;
    },
  );

  app.post<{ Params: Static<typeof SkuParams>; Body: Static<typeof Receipt> }>(
    "/api/inventory/:sku/receipts",
    {
      schema: {
        tags: ["inventory"],
        summary: "Receive stock into a warehouse (admin)",
        params: SkuParams,
        body: Receipt,
        response: { 201: StockReceived, ...problems(409, 413, 415, 422) },
      },
      onRequest: admin,
    },
    async (request, reply) => {
      const result = await receiveStock(commandContext(deps, request), { sku: request.params.sku, ...request.body });
      const s = result.state;
      return reply.code(201).send({
        sku: request.params.sku,
        warehouseId: request.body.warehouseId,
        received: request.body.quantity,
        available: s.available,
        ...committed(reply, result.position),
      });
    },
  );

  app.get<{ Params: Static<typeof SkuParams>; Querystring: Static<typeof WaitForQuery> }>(
    "/api/inventory/:sku",
    {
      schema: {
        tags: ["inventory"],
        summary: "Stock of a SKU per warehouse (inventory read model; ?waitFor as for a product)",
        params: SkuParams,
        querystring: WaitForQuery,
        response: { 200: InventoryResource, ...problems(404) },
      },
      onRequest: anyone,
    },
    async (request) => {
      await readYourWrites(deps, request);
      if (!(await deps.read.getProduct(request.params.sku))) throw notFound(`product ${request.params.sku}`);
      return stock(request.params.sku);
    },
  );

  app.post<{ Body: Static<typeof CouponBody> }>(
    "/api/coupons",
    {
      schema: {
        tags: ["coupons"],
        summary: "Define a coupon (admin); an existing code answers 409",
        body: CouponBody,
        response: { 201: CouponDefined, ...problems(409, 413, 415, 422) },
      },
      onRequest: admin,
    },
    async (request, reply) => {
      const b = request.body;
      const result = await defineCoupon(commandContext(deps, request), b);
      return reply.code(201).send({ code: b.code.toUpperCase(), ...committed(reply, result.position) });
    },
  );

  // GET /api/search/products and /api/search/suggest (src/api/search.ts).
  await searchRoutes(app, deps);
}
