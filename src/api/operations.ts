// Health, readiness (per dependency), Prometheus metrics.

import type { FastifyInstance } from "fastify";
import { Histogram } from "prom-client";
import type { ApiDeps } from "./deps.js";
import { sendProblem } from "./problem.js";
import { Liveness, MetricsText, problems, Readiness } from "./responses.js";

export async function operationsRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const duration = new Histogram({
    name: "http_request_duration_seconds",
    help: "HTTP request duration by method, route and status",
    labelNames: ["method", "route", "status"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [deps.registry],
  });
  app.addHook("onResponse", async (request, reply) => {
    duration.observe(
      { method: request.method, route: request.routeOptions.url ?? "unmatched", status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  app.get(
    "/health/live",
    { schema: { tags: ["operations"], summary: "The process is up", security: [], response: { 200: Liveness } } },
    async () => ({ status: "ok" }),
  );

  app.get(
    "/health/ready",
    {
      schema: {
        tags: ["operations"],
        summary:
          "Every configured dependency is reachable (per-dependency detail); 503 problem+json naming what is down, with the same detail",
        security: [],
        response: { 200: Readiness, ...problems(503) },
      },
    },
    async (_request, reply) => {
      const results = await Promise.all(
        deps.readiness.map(async (c) => {
          const started = performance.now();
          try {
            const detail = await Promise.race([
              c.check(),
              new Promise<never>((_, reject) => setTimeout(() => reject(new Error("timed out after 2 s")), 2000).unref()),
            ]);
            return [c.name, { status: "up", latencyMs: Math.round(performance.now() - started), ...(detail ?? {}) }] as const;
          } catch (error) {
            return [
              c.name,
              { status: "down", latencyMs: Math.round(performance.now() - started), error: (error as Error).message },
            ] as const;
          }
        }),
      );
      const dependencies = Object.fromEntries(results);
      const down = results.filter(([, r]) => r.status !== "up").map(([name]) => name);
      if (down.length === 0) return reply.code(200).send({ status: "ready", dependencies });
      // Not ready is an error answer like any other: problem+json, with the per-dependency detail.
      return sendProblem(reply.header("Retry-After", "5"), 503, "Service Unavailable", `not ready: ${down.join(", ")} down`, {
        dependencies,
      });
    },
  );

  app.get(
    "/metrics",
    {
      schema: {
        tags: ["operations"],
        summary: "Prometheus metrics",
        security: [],
        response: { 200: { description: "Prometheus text exposition format", content: { "text/plain": { schema: MetricsText } } } },
      },
    },
    async (_request, reply) => {
      reply.type(deps.registry.contentType);
      return deps.registry.metrics();
    },
  );
}
