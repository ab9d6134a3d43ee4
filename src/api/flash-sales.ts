// Flash sales: put one on (admin), read it, claim its units (customer). Claims answer from the
// gate at once, whatever the order pipeline's load: a claim holds its units for the sale's hold
// time, which covers waiting for the order pipeline to take the order.

import { Type, type Static } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { FlashSale } from "../aggregates/flash-sale.js";
import { claimIdFor } from "../flash-sales/ids.js";
import { scheduleSale } from "../flash-sales/schedule.js";
import { principalOf, requireRoles, secretKey } from "./auth.js";
import { commandContext, committed, type ApiDeps, type FlashSalesApi } from "./deps.js";
import { requestId } from "./idempotency.js";
import { notFound, ProblemError } from "./problem.js";
import { problems } from "./responses.js";
import { Id, IsoTime, Money, Quantity, Sku } from "./schemas.js";

/** What the flash-sale routes need (app.ts builds it). */

const CreateSaleBody = Type.Object(
  {
    saleId: Id,
    sku: Sku,
    warehouseId: Type.Optional(Id),
    quantity: Type.Integer({ minimum: 1, maximum: 10_000_000 }),
    price: Money,
    startsAt: IsoTime,
    endsAt: IsoTime,
    perCustomerLimit: Quantity,
    holdTtlMs: Type.Integer({ minimum: 1000, maximum: 86_400_000, description: "how long a claim holds its units before it expires" }),
  },
  { additionalProperties: false },
);
const SaleParams = Type.Object({ saleId: Id });
/** `<saleId>:<unique part>`, as POST /api/flash-sales/{saleId}/claims answered it. */
export const ClaimId = Type.String({ minLength: 3, maxLength: 200, pattern: "^[A-Za-z0-9][A-Za-z0-9._:-]*:[A-Za-z0-9-]+$" });
const ClaimBody = Type.Object({ quantity: Quantity }, { additionalProperties: false });

const Time = Type.String({ format: "date-time" });
export const SaleResource = Type.Object(
  {
    saleId: Type.String(),
    sku: Type.String(),
    warehouseId: Type.String(),
    price: Type.Integer({ description: "minor units per unit" }),
    currency: Type.String(),
    quantity: Type.Integer(),
    status: Type.String({
      enum: ["SCHEDULED", "LIVE", "ENDED", "CANCELLED"],
      description: "CANCELLED: the warehouse did not hold the units",
    }),
    remaining: Type.Integer({ description: "units no claim holds; approximate while the sale runs" }),
    startsAt: Time,
    endsAt: Time,
    perCustomerLimit: Type.Integer(),
    holdTtlMs: Type.Integer(),
    unsold: Type.Optional(Type.Integer({ description: "units given back to ordinary stock when the sale ended" })),
    position: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  },
  { additionalProperties: false },
);
export const ClaimResource = Type.Object(
  {
    claimId: Type.String(),
    saleId: Type.String(),
    quantity: Type.Integer(),
    expiresAt: Time,
    remaining: Type.Integer({ description: "units left in the pool right after this claim" }),
  },
  { additionalProperties: false },
);

function saleView(sale: FlashSale, remaining: number, now: Date): Static<typeof SaleResource> {
  const t = now.getTime();
  const status =
    sale.status === "CANCELLED"
      ? "CANCELLED"
      : sale.status === "ENDED" || t >= Date.parse(sale.endsAt)
        ? "ENDED"
        : t < Date.parse(sale.startsAt)
          ? "SCHEDULED"
          : "LIVE";
  return {
    saleId: sale.saleId,
    sku: sale.sku,
    warehouseId: sale.warehouseId,
    price: sale.price,
    currency: sale.currency,
    quantity: sale.quantity,
    status,
    remaining,
    startsAt: sale.startsAt,
    endsAt: sale.endsAt,
    perCustomerLimit: sale.perCustomerLimit,
    holdTtlMs: sale.holdTtlMs,
    ...(sale.unsold === undefined ? {} : { unsold: sale.unsold }),
  };
}

export async function flashSaleRoutes(app: FastifyInstance, deps: ApiDeps, flash: FlashSalesApi): Promise<void> {
  const key = secretKey(deps.jwtSecret);
  const admin = requireRoles(key);
  const customer = requireRoles(key, "customer");
  const reader = requireRoles(key, "customer", "ops", "auditor", "finance");

  const remainingOf = async (sale: FlashSale): Promise<number> => {
    if (sale.status === "CANCELLED" || sale.status === "ENDED") return 0;
    if (sale.status === "SCHEDULED") return sale.quantity;
    return (await flash.desk.status(sale.saleId))?.remaining ?? sale.quantity - sale.granted;
  };

  app.post<{ Body: Static<typeof CreateSaleBody> }>(
    "/api/flash-sales",
    {
      schema: {
        tags: ["flash sales"],
        summary: "Put a flash sale on (admin): its units are set aside from the warehouse's stock by one reservation",
        body: CreateSaleBody,
        response: { 201: SaleResource, ...problems(404, 409, 413, 415, 422) },
      },
      onRequest: admin,
    },
    async (request, reply) => {
      const b = request.body;
      if (Date.parse(b.endsAt) <= Date.parse(b.startsAt))
        throw new ProblemError(422, "Unprocessable Content", "endsAt must be after startsAt", { field: "endsAt" });
      if (b.perCustomerLimit > b.quantity)
        throw new ProblemError(422, "Unprocessable Content", "perCustomerLimit must not exceed quantity", { field: "perCustomerLimit" });
      const ctx = commandContext(deps, request, "flash-sale");
      const result = await scheduleSale(flash.deps, ctx, b);
      if (result.outcome === "refused") {
        throw new ProblemError(409, "Conflict", `the warehouse holds ${result.available} units of ${b.sku} available, not ${b.quantity}`, {
          rule: "out_of_stock",
          available: result.available,
          currentStatus: "CANCELLED",
        });
      }
      reply.header("Location", `/api/flash-sales/${b.saleId}`);
      return reply
        .code(201)
        .send({ ...saleView(result.sale, await remainingOf(result.sale), flash.deps.now()), ...committed(reply, result.position) });
    },
  );

  app.get<{ Params: Static<typeof SaleParams> }>(
    "/api/flash-sales/:saleId",
    {
      schema: {
        tags: ["flash sales"],
        summary: "A flash sale: status, window, units remaining (approximate while it runs)",
        params: SaleParams,
        response: { 200: SaleResource, ...problems(404) },
      },
      onRequest: reader,
    },
    async (request) => {
      const sale = await flash.desk.sale(request.params.saleId);
      if (!sale) throw notFound(`flash sale ${request.params.saleId}`);
      return saleView(sale, await remainingOf(sale), flash.deps.now());
    },
  );

  app.post<{ Params: Static<typeof SaleParams>; Body: Static<typeof ClaimBody> }>(
    "/api/flash-sales/:saleId/claims",
    {
      schema: {
        tags: ["flash sales"],
        summary:
          "Claim units of a live sale (customer): held for the sale's hold time, then used by placing an order with flashSaleClaimId",
        params: SaleParams,
        body: ClaimBody,
        response: { 201: ClaimResource, ...problems(404, 409, 410, 413, 415, 422, 425, 429) },
      },
      onRequest: customer,
    },
    async (request, reply) => {
      const { saleId } = request.params;
      const { quantity } = request.body;
      const sale = await flash.desk.terms(saleId);
      if (!sale) throw notFound(`flash sale ${saleId}`);
      if (quantity > sale.perCustomerLimit)
        throw new ProblemError(
          422,
          "Unprocessable Content",
          `body.quantity must be at most the sale's per-customer limit ${sale.perCustomerLimit}`,
          { field: "quantity", limit: sale.perCustomerLimit },
        );
      const customerId = principalOf(request).sub;
      const outcome = await flash.desk.claim({ saleId, claimId: claimIdFor(saleId, requestId(request, "claim")), customerId, quantity });
      switch (outcome.outcome) {
        case "granted":
          reply.header("Location", `/api/flash-sales/${saleId}/claims/${outcome.claimId}`);
          return reply.code(201).send({
            claimId: outcome.claimId,
            saleId,
            quantity: outcome.quantity,
            expiresAt: new Date(outcome.expiresAtMs).toISOString(),
            remaining: outcome.remaining,
          });
        case "soldOut":
          throw new ProblemError(409, "Conflict", `sold out: ${outcome.remaining} units left`, {
            rule: "sold_out",
            remaining: outcome.remaining,
          });
        case "overLimit":
          throw new ProblemError(
            429,
            "Too Many Requests",
            `you already hold ${outcome.held} of the ${outcome.limit} units one customer may claim`,
            { rule: "over_customer_limit", held: outcome.held, limit: outcome.limit },
          );
        case "notStarted":
          throw new ProblemError(425, "Too Early", `the sale starts at ${new Date(outcome.startsAtMs).toISOString()}`, {
            rule: "sale_not_started",
            startsAt: new Date(outcome.startsAtMs).toISOString(),
          });
        case "ended":
          throw new ProblemError(410, "Gone", `the sale ended at ${new Date(outcome.endsAtMs).toISOString()}`, {
            rule: "sale_ended",
            endsAt: new Date(outcome.endsAtMs).toISOString(),
          });
        case "notOpen":
          throw new ProblemError(409, "Conflict", `the sale is ${outcome.status}`, {
            rule: "sale_not_open",
            currentStatus: outcome.status,
          });
        case "unknownSale":
          throw notFound(`flash sale ${saleId}`);
      }
    },
  );
}
