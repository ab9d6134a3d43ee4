// The Fastify server: error handling, docs, idempotency, and every route area.

import cors from "@fastify/cors";
import helmet from "@fastify/helmet";
import rateLimit from "@fastify/rate-limit";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import Fastify, { type FastifyInstance, type FastifyServerOptions } from "fastify";
import { createHash, randomUUID } from "node:crypto";
import { DEFAULT_MAX_TTL_MS, tokenVerifier } from "./auth.js";
import { cartRoutes } from "./cart.js";
import { catalogRoutes } from "./catalog.js";
import type { ApiDeps } from "./deps.js";
import { registerIdempotency } from "./idempotency.js";
import { operationsRoutes } from "./operations.js";
import { instancesRoutes } from "./instances.js";
import { opsRoutes } from "./ops.js";
import { orderRoutes } from "./orders.js";
import { paymentRoutes } from "./payments.js";
import { flashSaleRoutes } from "./flash-sales.js";
import { clientErrorHandler, errorHandler, ProblemError, sendProblem } from "./problem.js";
import { documentProblems } from "./responses.js";
import { Problem } from "./schemas.js";
import { registerRequestTracing } from "./tracing.js";
import { backOfficeRoutes } from "../web/routes.js";

export interface ServerOptions {
  logger?: FastifyServerOptions["logger"];
  /** Extra plugins registered after the API (e.g. the simulated gateway's pages). */
  plugins?: ((app: FastifyInstance) => Promise<void>)[];
}

export const BODY_LIMIT = 64 * 1024;

export async function buildServer(deps: ApiDeps, options: ServerOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: BODY_LIMIT,
    genReqId: (req) => {
      const given = req.headers["x-request-id"];
      return typeof given === "string" && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
    },
    // Wrong types are errors, never coerced; extra fields are errors, never dropped.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false } },
    return503OnClosing: true,
    // What the router and the HTTP parser refuse (a badly encoded URL, a path parameter over the
    // router's limit, a malformed request line) is answered as problem+json like everything else.
    frameworkErrors: (error, request, reply) => errorHandler(error, request, reply),
    clientErrorHandler,
  });
  app.decorate(
    "tokenVerifier",
    tokenVerifier({
      secret: deps.jwtSecret,
      maxTtlMs: deps.tokenPolicy?.maxTtlMs ?? DEFAULT_MAX_TTL_MS,
      ...(deps.tokenPolicy ?? {}),
      ...(deps.now ? { now: deps.now } : {}),
    }),
  );
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, 404, "Not Found", `no route ${request.method} ${request.url.split("?")[0]}`),
  );
  app.addSchema(Problem);
  // Every route documents the problems any route can answer, as application/problem+json.
  app.addHook("onRoute", documentProblems);
  // Before any route: it wraps each route's handler as the route is added.
  await registerRequestTracing(app);

  await app.register(swagger, {
    openapi: {
      info: {
        title: "Commerce core API",
        version: "0.1.0",
        description: "Event-sourced orders, payments and inventory. Errors are RFC 9457 problem+json.",
      },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } } },
      security: [{ bearer: [] }],
    },
  });
  // Browser-facing defaults. Security headers on every answer; the Content-Security-Policy allows
  // same-origin scripts and styles only (a page with its own .js file, like /admin, works; inline
  // scripts do not). The server speaks plain HTTP behind whatever terminates TLS, so it does not
  // ask browsers to upgrade requests. /docs sets its own policy with the hashes of swagger-ui's
  // inline scripts and styles (staticCSP).
  await app.register(helmet, { contentSecurityPolicy: { directives: { "upgrade-insecure-requests": null } } });
  // CORS: only the configured origins (CORS_ORIGINS) may call the API from a browser; bearer
  // tokens, not cookies, so no credentials.
  await app.register(cors, {
    origin: deps.corsOrigins && deps.corsOrigins.length > 0 ? deps.corsOrigins : false,
    methods: ["GET", "POST", "PUT", "PATCH", "DELETE"],
    allowedHeaders: ["authorization", "content-type", "idempotency-key", "if-match", "if-none-match", "x-wait-for", "x-request-id"],
    exposedHeaders: ["etag", "location", "x-commit-position", "retry-after", "idempotent-replayed", "x-request-id"],
    maxAge: 600,
  });
  await app.register(swaggerUi, {
    routePrefix: "/docs",
    staticCSP: true,
    transformStaticCSP: (csp) => csp.replace(/\s*upgrade-insecure-requests;?/, ""),
  });

  if (deps.rateLimitPerMinute && deps.rateLimitPerMinute > 0) {
    // Per caller: the bearer token when there is one (one customer behind a shared IP is not
    // throttled by its neighbours), else the client address. Probes, metrics, docs and the
    // gateway's webhooks are never limited: refusing a webhook would only delay its retry.
    await app.register(rateLimit, {
      max: deps.rateLimitPerMinute,
      timeWindow: 60_000,
      // Counted in Redis when it is configured, so every instance behind the load balancer shares
      // one count per caller; otherwise each instance counts on its own. Redis down: not limited.
      ...(deps.rateLimitRedis ? { redis: deps.rateLimitRedis, nameSpace: "commerce:rate-limit:", skipOnError: true } : {}),
      keyGenerator: (request) => {
        const auth = request.headers.authorization;
        return auth ? `token:${createHash("sha256").update(auth).digest("hex")}` : `ip:${request.ip}`;
      },
      allowList: (request) => /^\/(health|metrics|docs)(\/|$)|^\/api\/payments\/webhook$/.test(request.url.split("?")[0] ?? ""),
      errorResponseBuilder: (_request, context) =>
        new ProblemError(
          429,
          "Too Many Requests",
          `more than ${context.max} requests in ${context.after}`,
          { limit: context.max },
          { "retry-after": String(Math.ceil(context.ttl / 1000)) },
        ),
    });
  }

  registerIdempotency(app, deps.sql);
  await operationsRoutes(app, deps);
  await catalogRoutes(app, deps);
  await cartRoutes(app, deps);
  await orderRoutes(app, deps);
  await paymentRoutes(app, deps);
  if (deps.flashSales) await flashSaleRoutes(app, deps, deps.flashSales);
  await opsRoutes(app, deps);
  await instancesRoutes(app, deps);
  await backOfficeRoutes(app);
  for (const plugin of options.plugins ?? []) await plugin(app);
  return app;
}
