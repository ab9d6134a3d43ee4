// Closing the HTTP server on SIGTERM: requests in flight finish (a new request on an open
// connection gets 503), but for at most `limitMs`.
//  - A keep-alive connection whose request finishes during the drain is closed as soon as it is
//    idle. Closing the server alone closes only the connections idle at that moment; one busy then
//    stays open until its keep-alive timeout (72 s in Fastify), and the drain waits for it. That is
//    what kept a SIGTERMed instance from handing over its work within 20 s under load.
//  - Past the limit the connections still open are cut, so one stuck client cannot keep the
//    process from stopping; a cut-off writer retries with its Idempotency-Key on another instance
//    and gets the stored answer or a fresh one, never a double.

import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";

const IDLE_SWEEP_MS = 50;

export async function drainRequests(app: FastifyInstance, log?: Logger, limitMs = 10_000): Promise<void> {
  const startedAt = performance.now();
  const sweep = setInterval(() => app.server.closeIdleConnections(), IDLE_SWEEP_MS);
  const cut = setTimeout(() => {
    log?.warn({ limitMs }, "requests still in flight at the drain limit: closing their connections");
    app.server.closeAllConnections();
  }, limitMs);
  try {
    await app.close();
  } finally {
    clearInterval(sweep);
    clearTimeout(cut);
  }
  log?.info({ ms: Math.round(performance.now() - startedAt) }, "HTTP requests drained");
}
