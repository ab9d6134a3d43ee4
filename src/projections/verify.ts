// Checking a projection: rebuild it into scratch tables (as a shadow rebuild does) and compare them
// with the live ones.

import type { EventStore } from "../eventstore/port.js";
import type { SqlClient } from "../infrastructure/sql/sql-client.js";
import { dumpTables, type Projection, type TableNames } from "./projection.js";
import { createTables, dropTables, replayFresh } from "./rebuild.js";

/**
 * Rebuilds a projection into scratch tables ("<table>_verify") and compares them with the live
 * tables row by row. Meaningful when the live projector is caught up with the head (or stopped).
 * Returns the logical names of the tables that differ (empty when equal).
 */
export async function verifyProjection(
  deps: { store: EventStore; sql: SqlClient },
  projection: Projection,
): Promise<{ table: string; onlyLive: string[]; onlyRebuilt: string[] }[]> {
  const scratch = Object.fromEntries(
    Object.entries(projection.tables).map(([logical, physical]) => [logical, `${physical}_verify`]),
  ) as TableNames;
  await createTables(deps.sql, projection, scratch);
  try {
    await replayFresh(deps, [{ projection, tables: scratch }]);
    const [live, rebuilt] = [await dumpTables(deps.sql, projection), await dumpTables(deps.sql, projection, scratch)];
    const differences: { table: string; onlyLive: string[]; onlyRebuilt: string[] }[] = [];
    for (const logical of Object.keys(projection.tables)) {
      const a = new Set(live[logical]);
      const b = new Set(rebuilt[logical]);
      const onlyLive = [...a].filter((r) => !b.has(r));
      const onlyRebuilt = [...b].filter((r) => !a.has(r));
      if (onlyLive.length > 0 || onlyRebuilt.length > 0) differences.push({ table: logical, onlyLive, onlyRebuilt });
    }
    return differences;
  } finally {
    await dropTables(deps.sql, scratch);
  }
}
