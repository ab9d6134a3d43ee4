// GET /api/ops/instances (ops, admin): every instance sharing the database, live or recently
// gone, with the units of work (projectors, saga partitions, the scheduler) whose leases it holds,
// and every lease. Read from the database, so any instance gives the same answer.

import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { requireRoles, secretKey } from "./auth.js";
import type { ApiDeps } from "./deps.js";
import { notImplemented } from "./problem.js";
import { Problem } from "./schemas.js";

const Time = Type.String({ format: "date-time" });
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

const Instance = Type.Object(
  {
    instanceId: Type.String(),
    roles: Type.Array(Type.String(), { description: "api: serves HTTP; processors: runs leased units of work" }),
    host: Type.String(),
    pid: Type.Integer(),
    startedAt: Time,
    lastSeenAt: Time,
    live: Type.Boolean({ description: "its heartbeat is within the lease TTL" }),
    stopping: Type.Boolean({ description: "shutting down: handing its units over" }),
    owns: Type.Array(Type.String(), { description: "units whose lease it holds now" }),
    self: Type.Boolean({ description: "the instance that answered" }),
  },
  { additionalProperties: false },
);
const Lease = Type.Object(
  {
    unit: Type.String(),
    owner: Nullable(Type.String()),
    token: Type.Integer({ minimum: 0, description: "fencing token: grows by one each time the unit changes hands" }),
    held: Type.Boolean(),
    acquiredAt: Nullable(Time),
    renewedAt: Nullable(Time),
    expiresAt: Time,
  },
  { additionalProperties: false },
);
const InstancesView = Type.Object(
  {
    instanceId: Type.String({ description: "the instance that answered" }),
    leaseTtlMs: Type.Integer(),
    heartbeatMs: Type.Integer(),
    instances: Type.Array(Instance),
    leases: Type.Array(Lease),
  },
  { additionalProperties: false },
);

export async function instancesRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const opsOnly = requireRoles(secretKey(deps.jwtSecret), "ops");
  app.get(
    "/api/ops/instances",
    {
      schema: {
        tags: ["operations"],
        summary: "The instances sharing the database and the units of work each one owns (ops, admin)",
        response: { 200: InstancesView, 401: Problem, 403: Problem, 501: Problem },
      },
      onRequest: opsOnly,
    },
    async () => {
      const source = deps.instances;
      if (!source) throw notImplemented("instance registry");
      const { instances, leases } = await source.snapshot();
      return {
        instanceId: source.instanceId,
        leaseTtlMs: source.ttlMs,
        heartbeatMs: source.heartbeatMs,
        instances: instances.map((i) => ({
          instanceId: i.instanceId,
          roles: i.roles,
          host: i.host,
          pid: i.pid,
          startedAt: i.startedAt,
          lastSeenAt: i.lastSeenAt,
          live: i.live,
          stopping: i.stopping,
          owns: i.owns,
          self: i.instanceId === source.instanceId,
        })),
        leases: leases.map((l) => ({
          unit: l.unit,
          owner: l.held ? l.owner : null,
          token: l.token,
          held: l.held,
          acquiredAt: l.acquiredAt,
          renewedAt: l.renewedAt,
          expiresAt: l.expiresAt,
        })),
      };
    },
  );
}
