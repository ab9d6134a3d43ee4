// `replay rebuild search --shadow [--alias products]`: rebuilds the search read model from the log
// without downtime, beside a running server. Its tables are rebuilt as shadow tables and, with
// ELASTICSEARCH_URL set, into a new versioned index behind the read alias; the shadow catches up
// by log position and is swapped in, and one `_aliases` call flips the alias
// (rebuildSearch in src/projections/search/index.ts).

import { Client } from "@elastic/elasticsearch";
import { DEFAULT_SEARCH_ALIAS, rebuildSearch } from "../projections/search/index.js";
import type { CliContext } from "./context.js";
import { ExitCode, UsageError, type ExitCodeValue } from "./usage.js";

export interface RebuildSearchCommandOptions {
  shadow: boolean;
  /** The read alias the server searches through (app.ts uses "products"). */
  alias?: string;
}

export async function rebuildSearchCommand(ctx: CliContext, options: RebuildSearchCommandOptions): Promise<ExitCodeValue> {
  if (!options.shadow) throw new UsageError("search is rebuilt beside the live model and swapped in (no in-place rebuild): give --shadow");
  const alias = options.alias ?? DEFAULT_SEARCH_ALIAS;
  const client = ctx.config.elasticsearchUrl ? new Client({ node: ctx.config.elasticsearchUrl, requestTimeout: 60_000 }) : undefined;
  const started = performance.now();
  const progress = ctx.out.progress("rebuild projections/search", 1000);
  let events = 0;
  let index: string | null = null;
  try {
    await rebuildSearch(
      { store: ctx.store, sql: ctx.sql },
      {
        ...(client ? { elasticsearch: { client, alias } } : {}),
        onProgress: (replayed) => {
          events = replayed;
          progress.update(Math.min(999, replayed), 1000);
        },
        onAliasFlip: (_from, to) => {
          index = to;
        },
      },
    );
  } finally {
    progress.stop();
    await client?.close();
  }
  const result = {
    projection: "projections/search",
    mode: "shadow",
    engine: client ? "elasticsearch" : "postgres",
    ...(client ? { alias, index } : {}),
    events,
    seconds: Number(((performance.now() - started) / 1000).toFixed(3)),
  };
  if (ctx.out.mode === "json") ctx.out.json({ rebuilt: [result] });
  else
    ctx.out.table(
      ["projection", "mode", "engine", "index", "events", "seconds"],
      [[result.projection, result.mode, result.engine, index ?? "", result.events, result.seconds]],
    );
  return ExitCode.ok;
}
