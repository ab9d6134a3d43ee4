// Routes of the integration events: the AsyncAPI document of what is published to Kafka, a
// customer's notifications (stored by the notifications consumer), and sales analytics (kept by
// the analytics consumer). Both lists are empty until those consumers run (KAFKA_BROKERS set).

import { Type, type Static } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { salesBuckets } from "../consumers/analytics/read.js";
import { listNotifications } from "../consumers/notifications/read.js";
import { asyncApiDocument } from "../integration/asyncapi.js";
import { principalOf, requireRoles, secretKey } from "./auth.js";
import type { ApiDeps } from "./deps.js";
import { ProblemError } from "./problem.js";
import { problems } from "./responses.js";

const Time = Type.String({ format: "date-time" });

const NotificationList = Type.Object(
  {
    items: Type.Array(
      Type.Object(
        {
          id: Type.String(),
          channel: Type.String({ enum: ["email", "sms"] }),
          template: Type.String({ enum: ["order_confirmed", "order_shipped", "order_delivered", "order_cancelled", "refund_processed"] }),
          subject: Type.Optional(Type.String()),
          body: Type.String(),
          orderId: Type.String(),
          createdAt: Time,
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

const SalesQuery = Type.Object(
  {
    from: Type.Optional(Type.String({ format: "date-time", description: "inclusive; default: 7 days before `to`" })),
    to: Type.Optional(Type.String({ format: "date-time", description: "exclusive; default: now" })),
    granularity: Type.Optional(Type.Union([Type.Literal("day"), Type.Literal("hour")], { default: "day" })),
    category: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: "a top-level catalog category; absent: every category" }),
    ),
  },
  { additionalProperties: false },
);

const Count = Type.Integer({ minimum: 0 });
const SalesReport = Type.Object(
  {
    from: Time,
    to: Time,
    granularity: Type.String({ enum: ["day", "hour"] }),
    category: Type.Union([Type.String(), Type.Null()]),
    buckets: Type.Array(
      Type.Object(
        {
          start: Time,
          orders: Count,
          units: Count,
          gmv: Type.Integer({ description: "value of the lines ordered, minor units" }),
          cancellations: Count,
          refunds: Count,
          refundedAmount: Type.Integer({ description: "minor units (over every category only; 0 in a category's buckets)" }),
          delivered: Type.Integer({ description: "orders placed in the bucket that were delivered since" }),
          conversion: Type.Number({ description: "delivered / orders" }),
          currency: Type.String(),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

const AsyncApiDocument = Type.Object(
  { asyncapi: Type.Literal("3.0.0"), info: Type.Object({}, { additionalProperties: true }) },
  { additionalProperties: true, description: "AsyncAPI 3.0 document" },
);

const MAX_RANGE_MS = 366 * 24 * 3600 * 1000;

export async function integrationEventRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const key = secretKey(deps.jwtSecret);
  const doc = asyncApiDocument();

  app.get(
    "/docs/asyncapi.json",
    {
      schema: {
        tags: ["integration events"],
        summary: "AsyncAPI 3.0 document of every Kafka topic and message this service publishes",
        security: [],
        response: { 200: AsyncApiDocument },
      },
    },
    async () => doc,
  );

  app.get(
    "/api/me/notifications",
    {
      schema: {
        tags: ["integration events"],
        summary: "The customer's notifications (email and SMS texts), newest first",
        response: { 200: NotificationList },
      },
      onRequest: requireRoles(key, "customer"),
    },
    async (request) => ({ items: await listNotifications(deps.sql, principalOf(request).sub) }),
  );

  app.get<{ Querystring: Static<typeof SalesQuery> }>(
    "/api/analytics/sales",
    {
      schema: {
        tags: ["integration events"],
        summary: "Sales per day or hour: orders, units, GMV, cancellations, refunds, conversion to delivered",
        querystring: SalesQuery,
        response: { 200: SalesReport, ...problems(400) },
      },
      onRequest: requireRoles(key, "analyst"),
    },
    async (request) => {
      const to = request.query.to ? new Date(request.query.to) : (deps.now?.() ?? new Date());
      const from = request.query.from ? new Date(request.query.from) : new Date(to.getTime() - 7 * 24 * 3600 * 1000);
      if (Number.isNaN(to.getTime())) throw new ProblemError(400, "Bad Request", "to is not a date-time", { field: "to" });
      if (Number.isNaN(from.getTime())) throw new ProblemError(400, "Bad Request", "from is not a date-time", { field: "from" });
      if (from >= to) throw new ProblemError(400, "Bad Request", "from must be before to", { field: "from" });
      if (to.getTime() - from.getTime() > MAX_RANGE_MS)
        throw new ProblemError(400, "Bad Request", "the range may span at most 366 days", { field: "from" });
      const granularity = request.query.granularity ?? "day";
      const category = request.query.category;
      const buckets = await salesBuckets(deps.sql, {
        from: from.toISOString(),
        to: to.toISOString(),
        granularity,
        ...(category ? { category } : {}),
      });
      return { from: from.toISOString(), to: to.toISOString(), granularity, category: category ?? null, buckets };
    },
  );
}
