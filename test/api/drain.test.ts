// Given requests in flight when the server is told to stop, when it drains, then a request that
// finishes gets its answer and its keep-alive connection does not hold the drain open, and one
// that never finishes is cut at the limit instead of keeping the process alive.

import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import { drainRequests } from "../../src/api/drain.js";

async function serverWith(handlerMs: number | "never") {
  const app = Fastify({ return503OnClosing: true });
  app.get("/slow", async () => {
    if (handlerMs === "never") await new Promise(() => undefined);
    else await new Promise((r) => setTimeout(r, handlerMs));
    return { done: true };
  });
  const url = await app.listen({ port: 0, host: "127.0.0.1" });
  return { app, url };
}

describe("draining the HTTP server", () => {
  it("lets a request in flight finish with its answer, then closes its keep-alive connection", async () => {
    const { app, url } = await serverWith(300);
    const inFlight = fetch(`${url}/slow`);
    await new Promise((r) => setTimeout(r, 50));
    // With a limit far beyond the test's timeout, the drain ends only if the connection is closed
    // once its request is done (Fastify keeps an idle keep-alive connection 72 s).
    await drainRequests(app, undefined, 3_600_000);
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ done: true });
  });

  it("cuts a request that never finishes at the limit, and stops", async () => {
    const { app, url } = await serverWith("never");
    const inFlight = fetch(`${url}/slow`).then(
      (res) => `answered ${res.status}`,
      () => "connection cut",
    );
    await new Promise((r) => setTimeout(r, 50));
    await drainRequests(app, undefined, 200);
    expect(await inFlight).toBe("connection cut");
    expect(app.server.listening).toBe(false);
  });
});
