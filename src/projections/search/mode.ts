// Which engine the stored search read model was built for (SearchModelMode in ./documents.ts).
// Recorded beside the tables so a server can tell when its configuration no longer matches what
// is stored: a model built for Elasticsearch lacks the embedded engine's terms, vocabulary and
// indexes, and only a rebuild from the log brings them back. The other way round needs nothing:
// a full model has every column the shipper reads.

import type { Migration } from "../../infrastructure/sql/migrations.js";
import { migrate } from "../../infrastructure/sql/migrations.js";
import type { SqlClient, SqlExecutor } from "../../infrastructure/sql/sql-client.js";
import { ident } from "../projection.js";
import type { SearchModelMode, SearchTables } from "./documents.js";

const modeMigrations: readonly Migration[] = [
  {
    id: "projections/search/003-model-mode",
    sql: `CREATE TABLE search_model_mode (singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), mode text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());`,
  },
];

/** What to tell operators when the embedded engine is configured over a model built for Elasticsearch. */
export const REBUILD_FOR_EMBEDDED =
  "the search read model was built for Elasticsearch (no full-text terms or typo vocabulary); the embedded engine misses text matches until `npm run replay -- rebuild search --shadow` rebuilds it";

/** The mode the stored model was built in; undefined before the first start (a model from before modes existed was built whole: "embedded"). */
export async function storedMode(sql: SqlExecutor): Promise<SearchModelMode | undefined> {
  const { rows } = await sql.query<{ mode: string }>("SELECT mode FROM search_model_mode");
  const mode = rows[0]?.mode;
  return mode === "embedded" || mode === "elasticsearch" ? mode : undefined;
}

export async function recordMode(sql: SqlExecutor, mode: SearchModelMode): Promise<void> {
  await sql.query(
    "INSERT INTO search_model_mode (singleton, mode) VALUES (true, $1) ON CONFLICT (singleton) DO UPDATE SET mode = EXCLUDED.mode, updated_at = now()",
    [mode],
  );
}

/** Drops the indexes only the embedded engine's queries use (all but the key and the shipper's pending index). */
async function dropQueryIndexes(sql: SqlExecutor, t: SearchTables): Promise<void> {
  const { rows } = await sql.query<{ indexname: string; indexdef: string }>(
    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1",
    [t.documents],
  );
  for (const { indexname, indexdef } of rows) {
    if (/UNIQUE/i.test(indexdef) || /ship_pending/.test(indexdef)) continue;
    await sql.query(`DROP INDEX IF EXISTS ${ident(indexname)}`);
  }
}

export interface ModeCheck {
  /** Set when the configured mode cannot be served by the stored model until a rebuild. */
  mismatch?: string;
}

/**
 * Brings the stored model to the configured mode where that needs no rebuild: "elasticsearch"
 * over any model drops the query indexes and is recorded; "embedded" over a model built for
 * Elasticsearch is reported (the projector writes full documents from here on, but the ones
 * already stored stay without terms until the rebuild, which records "embedded").
 */
export async function settleMode(sql: SqlClient, t: SearchTables, mode: SearchModelMode): Promise<ModeCheck> {
  await migrate(sql, modeMigrations);
  const stored = await storedMode(sql);
  if (mode === "elasticsearch") {
    await dropQueryIndexes(sql, t);
    if (stored !== mode) await recordMode(sql, mode);
    return {};
  }
  if (stored === "elasticsearch") return { mismatch: REBUILD_FOR_EMBEDDED };
  if (stored === undefined) await recordMode(sql, mode);
  return {};
}

/** For a rebuild: the table exists before its swap transaction records the rebuilt model's mode. */
export async function migrateMode(sql: SqlClient): Promise<void> {
  await migrate(sql, modeMigrations);
}
