// Operator routes: what waits for a person (parked sagas and processor events) with a resume,
// and the read models with their lag and a shadow rebuild whose progress the GET shows.
// The work is done by the operations console (src/operations/console.ts) that app.ts wires in.

import { Type, type Static } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import {
  NothingToResumeError,
  RebuildRunningError,
  StillFailingError,
  UnknownReadModelError,
  type OperationsConsole,
} from "../operations/console.js";
import { actorOf, principalOf, requireRoles, secretKey } from "./auth.js";
import type { ApiDeps } from "./deps.js";
import { notImplemented, ProblemError } from "./problem.js";
import { Id, Problem } from "./schemas.js";

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

const AttentionItem = Type.Object(
  {
    kind: Type.Union([Type.Literal("gateway"), Type.Literal("event"), Type.Literal("processor")], {
      description:
        "gateway: the saga's gateway step kept failing; event: the saga processor parked one of the order's events; processor: another processor parked an event",
    }),
    orderId: Nullable(Type.String()),
    processor: Type.String(),
    stepId: Type.String({ description: "the failed saga step, or the parked event's id" }),
    eventType: Type.Optional(Type.String()),
    streamId: Type.Optional(Type.String()),
    error: Type.String(),
    attempts: Type.Integer({ minimum: 0 }),
    since: Type.String({ format: "date-time" }),
    resumable: Type.Boolean({ description: "POST /api/ops/attention/{orderId}/resume acts on it" }),
  },
  { additionalProperties: false },
);
const AttentionList = Type.Object({ items: Type.Array(AttentionItem) }, { additionalProperties: false });
const ResumeAccepted = Type.Object(
  {
    orderId: Type.String(),
    retriedEvents: Type.Integer({ minimum: 0, description: "parked saga events run through the saga again (they succeeded)" }),
    gatewaySteps: Type.Integer({
      minimum: 0,
      description: "parked gateway steps the saga was asked to re-run (it does so on its own; the item leaves the list when they succeed)",
    }),
    requestedBy: Type.String(),
  },
  { additionalProperties: false },
);

const RebuildProgress = Type.Object(
  {
    state: Type.Union([Type.Literal("running"), Type.Literal("done"), Type.Literal("failed")]),
    startedAt: Type.String({ format: "date-time" }),
    finishedAt: Type.Optional(Type.String({ format: "date-time" })),
    replayed: Type.Integer({ minimum: 0 }),
    total: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
    progress: Type.Number({ minimum: 0, maximum: 1 }),
    error: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
const ReadModel = Type.Object(
  {
    name: Type.String(),
    processor: Type.String(),
    kind: Type.Union([Type.Literal("sql"), Type.Literal("search"), Type.Literal("redis")], {
      description: "sql: a SQL read model; search: the search documents (and their Elasticsearch index); redis: the Redis hot read models",
    }),
    checkpoint: Type.String(),
    lagEvents: Type.Integer({ minimum: 0 }),
    lagCapped: Type.Boolean(),
    lagSeconds: Type.Number({ minimum: 0 }),
    parked: Type.Integer({ minimum: 0 }),
    pendingDocuments: Type.Optional(
      Type.Integer({ minimum: 0, description: "search on Elasticsearch: documents changed in the read model and not yet in the index" }),
    ),
    status: Type.Union([Type.Literal("live"), Type.Literal("catching-up"), Type.Literal("stopped"), Type.Literal("rebuilding")]),
    rebuild: Type.Optional(RebuildProgress),
  },
  { additionalProperties: false },
);
const ReadModelList = Type.Object({ projections: Type.Array(ReadModel) }, { additionalProperties: false });

const OrderParams = Type.Object({ orderId: Id }, { additionalProperties: false });
const NameParams = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 100, pattern: "^[a-z][a-z0-9_/-]*$" }) },
  { additionalProperties: false },
);
const EmptyBody = Type.Union([Type.Object({}, { additionalProperties: false }), Type.Null()]);

const problems = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, Problem]));

export async function opsRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const key = secretKey(deps.jwtSecret);
  const opsOnly = requireRoles(key, "ops");
  const readModelReaders = requireRoles(key, "ops", "analyst");
  const adminOnly = requireRoles(key);
  const ops = (): OperationsConsole => {
    if (!deps.ops) throw notImplemented("operator routes");
    return deps.ops;
  };

  app.get(
    "/api/ops/attention",
    {
      schema: {
        tags: ["operations"],
        summary: "What waits for an operator: parked sagas and parked processor events, with error, attempts and since (ops, admin)",
        response: { 200: AttentionList, ...problems(401, 403, 501) },
      },
      onRequest: opsOnly,
    },
    async () => ({ items: await ops().attention() }),
  );

  app.post<{ Params: Static<typeof OrderParams> }>(
    "/api/ops/attention/:orderId/resume",
    {
      schema: {
        tags: ["operations"],
        summary:
          "Resume a parked saga once its cause is fixed: its parked events run again, its parked gateway step is re-run (ops, admin)",
        params: OrderParams,
        body: EmptyBody,
        response: { 202: ResumeAccepted, ...problems(400, 401, 403, 404, 409, 501) },
      },
      onRequest: opsOnly,
    },
    async (request, reply) => {
      const by = actorOf(principalOf(request));
      try {
        const result = await ops().resume(request.params.orderId, by);
        return reply.code(202).send({ ...result, requestedBy: by });
      } catch (error) {
        if (error instanceof NothingToResumeError) throw new ProblemError(404, "Not Found", error.message);
        if (error instanceof StillFailingError) throw new ProblemError(409, "Conflict", error.message, { stillFailing: true });
        throw error;
      }
    },
  );

  app.get(
    "/api/ops/projections",
    {
      schema: {
        tags: ["operations"],
        summary: "Every read model with its checkpoint, lag (events and seconds), status and rebuild progress (ops, admin, analyst)",
        response: { 200: ReadModelList, ...problems(401, 403, 501) },
      },
      onRequest: readModelReaders,
    },
    async () => ({ projections: await ops().readModels() }),
  );

  app.post<{ Params: Static<typeof NameParams> }>(
    "/api/ops/projections/:name/rebuild",
    {
      schema: {
        tags: ["operations"],
        summary:
          "Start a shadow rebuild of a read model (admin): built beside the live one, swapped in when caught up; GET /api/ops/projections shows its progress",
        params: NameParams,
        body: EmptyBody,
        response: { 202: ReadModel, ...problems(400, 401, 403, 404, 409, 501) },
      },
      onRequest: adminOnly,
    },
    async (request, reply) => {
      try {
        return reply.code(202).send(await ops().rebuild(request.params.name));
      } catch (error) {
        if (error instanceof UnknownReadModelError) throw new ProblemError(404, "Not Found", error.message);
        if (error instanceof RebuildRunningError) throw new ProblemError(409, "Conflict", error.message);
        throw error;
      }
    },
  );
}
