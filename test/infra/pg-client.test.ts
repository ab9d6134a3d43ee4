// The PostgreSQL SqlClient keeps a connection the server refused a statement on (a conflict, a
// constraint, a division by zero): only a broken connection is replaced. pg-pool's own query()
// replaced it on every error, so each append conflict cost a new backend.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPgClient } from "../../src/infrastructure/sql/pg-client.js";
import type { SqlClient } from "../../src/infrastructure/sql/sql-client.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { missing, server } from "../support/env.js";

describe.skipIf(missing(server("DATABASE_URL")))("PostgreSQL SqlClient", () => {
  let db: TestDatabase;
  let sql: SqlClient;
  beforeAll(async () => {
    db = await createTestDatabase();
    sql = createPgClient({ connectionString: db.url, max: 1 }); // one connection: the same one or a new one
  });
  afterAll(async () => {
    await sql?.close();
    await db?.drop();
  });

  const backend = async () => (await sql.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;

  it("a statement the server refuses leaves the connection in the pool", async () => {
    const before = await backend();
    await expect(sql.query("SELECT 1 / 0")).rejects.toMatchObject({ code: "22012" });
    await expect(sql.exec("SELECT no_such_column FROM pg_class")).rejects.toMatchObject({ code: "42703" });
    await expect(sql.transaction((tx) => tx.query("SELECT 1 / 0"))).rejects.toMatchObject({ code: "22012" });
    expect(await backend()).toBe(before);
  });

  it("a connection the server ends is replaced, and the next statement runs", async () => {
    const before = await backend();
    await expect(sql.query("SELECT pg_terminate_backend(pg_backend_pid())")).rejects.toBeDefined();
    expect(await backend()).not.toBe(before);
  });
});
