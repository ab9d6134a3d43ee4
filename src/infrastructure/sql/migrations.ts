// Versioned, idempotent schema migrations. Each module (event store, read models, saga
// deadlines, idempotency keys) owns a named list; applied ids are recorded so a restart
// applies only what is new. An advisory lock keeps two starting processes from racing.

import type { SqlClient } from "./sql-client.js";

export interface Migration {
  /** Unique and stable forever, e.g. "eventstore/001-events". Order of the list is the apply order. */
  id: string;
  sql: string;
}

const MIGRATION_LOCK = 7_302_001;

export async function migrate(sql: SqlClient, migrations: readonly Migration[]): Promise<string[]> {
  return sql.transaction(async (tx) => {
    // The lock first: two processes starting on a fresh database would otherwise race on creating
    // the table itself ("type schema_migrations already exists"; seen with two instances).
    await tx.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
    await tx.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await tx.query<{ id: string }>("SELECT id FROM schema_migrations");
    const applied = new Set(rows.map((r) => r.id));
    const fresh: string[] = [];
    for (const migration of migrations) {
      if (applied.has(migration.id)) continue;
      await tx.exec(migration.sql);
      await tx.query("INSERT INTO schema_migrations (id) VALUES ($1)", [migration.id]);
      fresh.push(migration.id);
    }
    return fresh;
  });
}
