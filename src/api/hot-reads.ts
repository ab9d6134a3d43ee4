// The cheap reads served from the hot read models (Redis, with SQL fallback): the order status for
// tracking pages that poll. GET /api/products/{sku} uses the same reads (catalog.ts).

import { Type, type Static } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { HotReads } from "../queries/hot.js";
import { hasRole, principalOf, requireRoles, secretKey } from "./auth.js";
import { readYourWrites, type ApiDeps } from "./deps.js";
import { notFound, notImplemented } from "./problem.js";
import { Id, Problem } from "./schemas.js";

declare module "./deps.js" {
  interface ApiDeps {
    /** Product cards, availability and order status from Redis (SQL when Redis cannot answer); absent: the order status route answers 501. */
    hot?: HotReads;
  }
}

const OrderParams = Type.Object({ orderId: Id });
const WaitQuery = Type.Object({ waitFor: Type.Optional(Type.String({ maxLength: 100 })) }, { additionalProperties: false });
const OrderStatus = Type.Object(
  {
    orderId: Type.String(),
    status: Type.String(),
    paymentStatus: Type.String(),
    updatedAt: Type.String({ format: "date-time" }),
    version: Type.Integer({ minimum: 0, description: "the order stream's revision (as the order's ETag)" }),
  },
  { additionalProperties: false },
);
const problems = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, Problem]));

export async function hotReadRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const key = secretKey(deps.jwtSecret);
  const readers = requireRoles(key, "customer", "ops");

  app.get<{ Params: Static<typeof OrderParams>; Querystring: Static<typeof WaitQuery> }>(
    "/api/orders/:orderId/status",
    {
      schema: {
        tags: ["orders"],
        summary: "An order's status, cheap enough to poll (owner, ops, admin); from Redis, or SQL when Redis cannot answer",
        params: OrderParams,
        querystring: WaitQuery,
        response: { 200: OrderStatus, ...problems(400, 401, 403, 404, 501) },
      },
      onRequest: readers,
    },
    async (request, reply) => {
      if (!deps.hot) throw notImplemented("order status");
      await readYourWrites(deps, request);
      const found = await deps.hot.orderStatus(request.params.orderId);
      const p = principalOf(request);
      // Another customer's order is "not found", as for GET /api/orders/{orderId}.
      if (!found || (!hasRole(p, "ops") && found.customerId !== p.sub)) throw notFound(`order ${request.params.orderId}`);
      reply.header("ETag", `W/"${found.version}"`).header("X-Read-Source", found.source);
      return {
        orderId: found.orderId,
        status: found.status,
        paymentStatus: found.paymentStatus,
        updatedAt: found.updatedAt,
        version: found.version,
      };
    },
  );
}
