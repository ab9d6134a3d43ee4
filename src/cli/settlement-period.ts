// The period a settlement report covers when --from/--to are not given: from the start of the
// first day its lines fall on to the end of the last. Log items outside it are not expected in it.

import type { SettlementLine } from "./settlement-csv.js";

/** The period a report covers when not given: from the first day of its lines to the end of the last. */
export function reportPeriod(lines: readonly SettlementLine[]): { from: Date; to: Date } | null {
  if (lines.length === 0) return null;
  const times = lines.map((l) => Date.parse(l.settledAt));
  const day = 86_400_000;
  return { from: new Date(Math.floor(Math.min(...times) / day) * day), to: new Date(Math.floor(Math.max(...times) / day) * day + day) };
}
