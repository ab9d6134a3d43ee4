// The HTTP server of a worker-only instance (ROLES=processors): health, readiness, metrics and the
// instance registry, so it can be probed and watched; none of the shop's API.

import Fastify, { type FastifyInstance, type FastifyServerOptions } from "fastify";
import type { ApiDeps } from "./deps.js";
import { instancesRoutes } from "./instances.js";
import { operationsRoutes } from "./operations.js";
import { errorHandler, sendProblem } from "./problem.js";
import { Problem } from "./schemas.js";

export async function buildWorkerServer(
  deps: ApiDeps,
  options: { logger?: FastifyServerOptions["logger"] } = {},
): Promise<FastifyInstance> {
  const app = Fastify({ logger: options.logger ?? false, return503OnClosing: true });
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      reply,
      404,
      "Not Found",
      `no route ${request.method} ${request.url.split("?")[0]} on a worker-only instance (ROLES=processors)`,
    ),
  );
  app.addSchema(Problem);
  await operationsRoutes(app, deps);
  await instancesRoutes(app, deps);
  return app;
}
