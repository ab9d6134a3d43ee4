// A span per HTTP request, active while its handler runs, so the commands a request issues (and
// the events they append, which store its trace id) belong to the request's trace. @fastify/otel
// does the wrapping; lifecycle-hook spans are left out (auth, idempotency and validation would
// add half a dozen spans to every request and say little). Probes and metrics scrapes are not traced.

import { FastifyOtelInstrumentation } from "@fastify/otel";
import type { FastifyInstance } from "fastify";

export async function registerRequestTracing(app: FastifyInstance): Promise<void> {
  const instrumentation = new FastifyOtelInstrumentation({
    instrumentHooks: false,
    ignorePaths: ({ url }) => /^\/(health|metrics)(\/|$)/.test(url),
  });
  await app.register(instrumentation.plugin());
}
