// A span per HTTP request, active while its handler runs, so the commands a request issues (and
// the events they append, which store its trace id) belong to the request's trace. @fastify/otel
// does the wrapping; lifecycle-hook spans are left out (auth, idempotency and validation would
// add half a dozen spans to every request and say little). Probes and metrics scrapes are not traced.
// Only when spans go somewhere (a tracer provider is registered before the server is built, as
// main.ts does with OTEL_EXPORTER_OTLP_ENDPOINT): without one the wrapping made no trace at all
// but cost about a tenth of the server's CPU under the flash-sale claim load (CPU profile).

import { FastifyOtelInstrumentation } from "@fastify/otel";
import type { FastifyInstance } from "fastify";
import { spansAreRecorded } from "../observability/tracing.js";

export async function registerRequestTracing(app: FastifyInstance): Promise<void> {
  if (!spansAreRecorded()) return;
  const instrumentation = new FastifyOtelInstrumentation({
    instrumentHooks: false,
    ignorePaths: ({ url }) => /^\/(health|metrics)(\/|$)/.test(url),
  });
  await app.register(instrumentation.plugin());
}
