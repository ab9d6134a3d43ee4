// A request that needs the database while it cannot be reached gets 503 problem+json with
// Retry-After (the same request may succeed shortly), not a 500: a real pg client against a port
// nothing listens on.

import Fastify from "fastify";
import { afterAll, describe, expect, it } from "vitest";
import { errorHandler } from "../../src/api/problem.js";
import { createPgClient } from "../../src/infrastructure/sql/pg-client.js";

describe("the database unreachable", () => {
  const sql = createPgClient({ connectionString: "postgres://postgres@127.0.0.1:1/postgres", max: 1 });
  const app = Fastify();
  app.setErrorHandler(errorHandler);
  app.get("/needs-the-database", async () => (await sql.query("SELECT 1 AS one")).rows);
  afterAll(async () => {
    await app.close();
    await sql.close();
  });

  it("answers 503 problem+json with Retry-After", async () => {
    const response = await app.inject({ method: "GET", url: "/needs-the-database" });
    expect(response.statusCode).toBe(503);
    expect(response.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(response.headers["retry-after"]).toBe("5");
    expect(response.json()).toMatchObject({
      status: 503,
      title: "Service Unavailable",
      detail: "the database is unavailable; try again shortly",
    });
  });
});
