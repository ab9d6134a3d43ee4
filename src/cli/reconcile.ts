// `replay reconcile --from <date> --to <date> [--format table|csv|json]`: the refund
// reconciliation report as finance reads it over HTTP (from the refunds read model), checked
// against the same report computed by scanning the log. Exit 1 when the report has mismatches
// or the read model disagrees with the log.

import { stringify } from "csv-stringify/sync";
import { migrateProjections, projectionStatus, refundsProjection } from "../projections/index.js";
import { reconcileRefunds, type DateRange, type Reconciliation } from "../queries/refunds.js";
import { reconcileRefundsFromLog } from "../queries/refunds-from-log.js";
import { logFraction, type CliContext } from "./context.js";
import { ExitCode, type ExitCodeValue } from "./usage.js";

export type ReportFormat = "table" | "plain" | "csv" | "json";

export interface ReadModelCheck {
  /** Events of the refunds projection's streams it has not applied yet (a live server's lag). */
  behind: number;
  differences: { part: string; readModel: unknown; log: unknown }[];
}

/** Compares two reports part by part: totals, each refund by id, the mismatch list. */
export function compareReports(readModel: Reconciliation, log: Reconciliation): ReadModelCheck["differences"] {
  const differences: ReadModelCheck["differences"] = [];
  for (const key of Object.keys(log.totals) as (keyof Reconciliation["totals"])[]) {
    if (readModel.totals[key] !== log.totals[key])
      differences.push({ part: `totals.${key}`, readModel: readModel.totals[key], log: log.totals[key] });
  }
  const byId = (r: Reconciliation) => new Map(r.refunds.map((x) => [`${x.paymentId}/${x.refundId}`, JSON.stringify(x)]));
  const [a, b] = [byId(readModel), byId(log)];
  for (const id of new Set([...a.keys(), ...b.keys()])) {
    if (a.get(id) !== b.get(id))
      differences.push({
        part: `refund ${id}`,
        readModel: a.has(id) ? JSON.parse(a.get(id)!) : null,
        log: b.has(id) ? JSON.parse(b.get(id)!) : null,
      });
  }
  const ms = (r: Reconciliation) => r.mismatches.map((m) => JSON.stringify(m)).sort();
  const [ma, mb] = [ms(readModel), ms(log)];
  for (const m of ma.filter((x) => !mb.includes(x))) differences.push({ part: "mismatch", readModel: JSON.parse(m), log: null });
  for (const m of mb.filter((x) => !ma.includes(x))) differences.push({ part: "mismatch", readModel: null, log: JSON.parse(m) });
  if (differences.length === 0 && JSON.stringify(readModel.refunds) !== JSON.stringify(log.refunds))
    differences.push({
      part: "refund order",
      readModel: readModel.refunds.map((r) => r.refundId),
      log: log.refunds.map((r) => r.refundId),
    });
  return differences;
}

export async function reconcileCommand(ctx: CliContext, range: DateRange, format: ReportFormat): Promise<ExitCodeValue> {
  await migrateProjections(ctx.sql, [refundsProjection]);
  const [status] = await projectionStatus(ctx, [refundsProjection]);
  const readModel = await reconcileRefunds(ctx.sql, range);
  const head = await ctx.store.headCheckpoint();
  const progress = ctx.out.progress("reconcile: checking the read model against the log", 1000);
  let log: Reconciliation;
  try {
    log = await reconcileRefundsFromLog(ctx.store, range, (_n, checkpoint) =>
      progress.update(Math.round(logFraction(ctx.store.kind, checkpoint, head) * 1000), 1000),
    );
  } finally {
    progress.stop();
  }
  const check: ReadModelCheck = { behind: status?.lagEvents ?? 0, differences: compareReports(readModel, log) };
  printReport(ctx, readModel, check, format);
  return readModel.mismatches.length > 0 || check.differences.length > 0 ? ExitCode.finding : ExitCode.ok;
}

function printReport(ctx: CliContext, report: Reconciliation, check: ReadModelCheck, format: ReportFormat): void {
  const { out } = ctx;
  if (format === "json") {
    out.json({ ...report, readModel: check });
    return;
  }
  if (format === "csv") {
    // One CSV for a spreadsheet: a row per refund, per mismatch and per read-model difference.
    const rows: unknown[][] = [
      ...report.refunds.map((r) => [
        "refund",
        r.refundId,
        r.orderId,
        r.paymentId,
        r.amount,
        r.status,
        r.requestedAt,
        r.processedAt ?? "",
        "",
        "",
      ]),
      ...report.mismatches.map((m) => ["mismatch", "", m.orderId, "", "", "", "", "", m.kind, m.detail]),
      ...check.differences.map((d) => [
        "read_model_differs",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        d.part,
        `read model ${JSON.stringify(d.readModel)}, log ${JSON.stringify(d.log)}`,
      ]),
    ];
    out.line(
      stringify(rows, {
        header: true,
        columns: ["record", "refundId", "orderId", "paymentId", "amount", "status", "requestedAt", "processedAt", "kind", "detail"],
      }).trimEnd(),
    );
    return;
  }
  const t = report.totals;
  out.table(
    ["from", "to", "captured", "refunded", "pending refunds", "failed refunds", "refunds", "mismatches"],
    [
      [
        report.from,
        report.to,
        t.captured,
        t.refunded,
        t.pendingRefunds,
        t.failedRefunds,
        report.refunds.length,
        report.mismatches.length + check.differences.length,
      ],
    ],
  );
  if (report.refunds.length > 0)
    out.table(
      ["refund", "order", "payment", "amount", "status", "requested", "processed"],
      report.refunds.map((r) => [r.refundId, r.orderId, r.paymentId, r.amount, r.status, r.requestedAt, r.processedAt ?? ""]),
    );
  const problems = [
    ...report.mismatches.map((m) => [m.kind, m.orderId, m.detail]),
    ...check.differences.map((d) => [
      "read_model_differs",
      "",
      `${d.part}: read model ${JSON.stringify(d.readModel)}, log ${JSON.stringify(d.log)}`,
    ]),
  ];
  if (problems.length > 0) out.table(["mismatch", "order", "detail"], problems);
  if (check.behind > 0) out.note(`the refunds read model is ${check.behind} event(s) behind the log: differences may be its lag`);
}
