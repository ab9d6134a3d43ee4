// Is a projector running somewhere else right now? An in-place rebuild empties the live tables
// and resets the checkpoint under the projector's feet, so `replay rebuild` refuses when it might
// be (unless --force). Evidence, strongest first:
// - a lease on the projector in `processing_leases` that has not expired (instances that lease
//   their work, src/processing/ownership);
// - otherwise, on PostgreSQL, a session of the application ("commerce", the server's
//   application_name) connected to the same database: a server runs every projector.
// The embedded PGlite database belongs to one process at a time: the server holding DATA_DIR
// must be stopped before replay opens it, so there is nothing to detect there.

import type { SqlClient } from "../infrastructure/sql/sql-client.js";

export interface LiveProjector {
  projection: string;
  evidence: string;
}

async function tableExists(sql: SqlClient, name: string): Promise<boolean> {
  const { rows } = await sql.query<{ found: boolean }>("SELECT to_regclass($1) IS NOT NULL AS found", [name]);
  return rows[0]?.found === true;
}

export async function liveProjectors(sql: SqlClient, names: readonly string[]): Promise<LiveProjector[]> {
  if (await tableExists(sql, "processing_leases")) {
    const { rows } = await sql.query<{ unit: string; owner: string; expires_at: Date }>(
      "SELECT unit, owner, expires_at FROM processing_leases WHERE owner IS NOT NULL AND expires_at > now()",
    );
    const held = names.flatMap((name) =>
      rows
        .filter((r) => r.unit === name || r.unit.endsWith(`:${name}`) || r.unit.endsWith(`/${name}`))
        .map((r) => ({ projection: name, evidence: `leased by ${r.owner} until ${new Date(r.expires_at).toISOString()}` })),
    );
    if (held.length > 0 || rows.length > 0) return held;
  }
  if (sql.dialect !== "postgres") return [];
  const { rows } = await sql.query<{ n: number; since: Date | null }>(
    "SELECT count(*)::int AS n, min(backend_start) AS since FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'commerce' AND pid <> pg_backend_pid()",
  );
  const n = rows[0]?.n ?? 0;
  if (n === 0) return [];
  return names.map((projection) => ({
    projection,
    evidence: `${n} session(s) of the server ("commerce") connected to this database since ${rows[0]?.since ? new Date(rows[0].since).toISOString() : "?"}`,
  }));
}
