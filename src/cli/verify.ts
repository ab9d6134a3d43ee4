// `replay verify [<projection>]`: rebuild each read model into scratch tables and compare them
// row by row with the live ones (verifyProjection in src/projections/index.ts). Exit 1 when any
// differs, naming the table and the rows found only on one side. Meaningful when the projector
// is caught up (or stopped): rows it has not reached yet count as differences.

import { migrateProjections, verifyProjection } from "../projections/index.js";
import type { CliContext } from "./context.js";
import { chosenProjections } from "./rebuild.js";
import { ExitCode, type ExitCodeValue } from "./usage.js";

const SHOWN_ROWS = 5;

export async function verifyCommand(ctx: CliContext, name: string | undefined): Promise<ExitCodeValue> {
  const chosen = chosenProjections(name, name === undefined);
  await migrateProjections(ctx.sql, chosen);
  const progress = ctx.out.progress("verify", chosen.length);
  const report: { projection: string; table: string; onlyLive: string[]; onlyRebuilt: string[] }[] = [];
  const checked: string[] = [];
  try {
    for (const [i, projection] of chosen.entries()) {
      for (const d of await verifyProjection(ctx, projection)) report.push({ projection: projection.name, ...d });
      checked.push(projection.name);
      progress.update(i + 1, chosen.length);
    }
  } finally {
    progress.stop();
  }
  if (ctx.out.mode === "json") {
    ctx.out.json({ checked, equal: report.length === 0, differences: report });
  } else if (report.length === 0) {
    ctx.out.table(
      ["projection", "result"],
      checked.map((p) => [p, "equal to a rebuild from the log"]),
    );
  } else {
    const rows = report.flatMap((d) => [
      ...d.onlyLive.slice(0, SHOWN_ROWS).map((r) => [d.projection, d.table, "only in the live table", r]),
      ...d.onlyRebuilt.slice(0, SHOWN_ROWS).map((r) => [d.projection, d.table, "only in the rebuild", r]),
      ...(d.onlyLive.length + d.onlyRebuilt.length > 2 * SHOWN_ROWS
        ? [[d.projection, d.table, `${d.onlyLive.length} live-only, ${d.onlyRebuilt.length} rebuild-only rows in all`, ""]]
        : []),
    ]);
    ctx.out.table(["projection", "table", "difference", "row"], rows);
  }
  return report.length === 0 ? ExitCode.ok : ExitCode.finding;
}
