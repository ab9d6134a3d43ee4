// `replay reconcile --settlement <file.csv>`: the captures and refunds in the log matched
// against the gateway's settlement report, by payment id (captures) and payment + refund id
// (refunds). Reports what matched, what the log has and the gateway did not settle (within the
// report's period: the days its lines fall on, or --from/--to), what the gateway settled and
// the log does not have, amounts or currencies that differ, and duplicates on either side.
// Exit 1 when anything did not match.

import { stringify } from "csv-stringify/sync";
import { eventTime } from "../projections/refunds.js";
import { forEachPage, type CliContext } from "./context.js";
import type { ReportFormat } from "./reconcile.js";
import type { SettlementLine } from "./settlement-csv.js";
export { reportPeriod } from "./settlement-period.js";
import { ExitCode, type ExitCodeValue } from "./usage.js";

export type SettlementKind =
  | "matched"
  | "missing_at_gateway"
  | "missing_in_log"
  | "amount_mismatch"
  | "currency_mismatch"
  | "duplicate_in_report"
  | "duplicate_in_log";

export interface SettlementItem {
  kind: SettlementKind;
  type: "CAPTURE" | "REFUND";
  paymentId: string;
  refundId?: string;
  log?: { amount: number; currency: string; at: string; position: string };
  gateway?: { amount: number; currency: string; settledAt: string; line: number };
  detail: string;
}

interface LogItem {
  type: "CAPTURE" | "REFUND";
  paymentId: string;
  refundId?: string;
  amount: number;
  currency: string;
  at: string;
  position: string;
}

const keyOf = (x: { type: string; paymentId: string; refundId?: string }) =>
  x.type === "CAPTURE" ? `CAPTURE ${x.paymentId}` : `REFUND ${x.paymentId} ${x.refundId}`;

export function matchSettlement(
  logItems: readonly LogItem[],
  lines: readonly SettlementLine[],
  period: { from: Date; to: Date } | null,
): SettlementItem[] {
  const items: SettlementItem[] = [];
  const log = new Map<string, LogItem>();
  for (const x of logItems) {
    const key = keyOf(x);
    const first = log.get(key);
    if (first) {
      items.push({
        kind: "duplicate_in_log",
        type: x.type,
        paymentId: x.paymentId,
        ...(x.refundId ? { refundId: x.refundId } : {}),
        log: { amount: x.amount, currency: x.currency, at: x.at, position: x.position },
        detail: `${key} is in the log twice (positions ${first.position} and ${x.position})`,
      });
    } else log.set(key, x);
  }
  const seen = new Map<string, SettlementLine>();
  for (const line of lines) {
    const key = keyOf(line);
    const gateway = { amount: line.amount, currency: line.currency, settledAt: line.settledAt, line: line.line };
    const ids = { type: line.type, paymentId: line.paymentId, ...(line.refundId ? { refundId: line.refundId } : {}) };
    const earlier = seen.get(key);
    if (earlier) {
      items.push({
        kind: "duplicate_in_report",
        ...ids,
        gateway,
        detail: `${key} settled again on line ${line.line} (first on line ${earlier.line})`,
      });
      continue;
    }
    seen.set(key, line);
    const x = log.get(key);
    if (!x) {
      items.push({
        kind: "missing_in_log",
        ...ids,
        gateway,
        detail: `${key} settled by the gateway (line ${line.line}) is not in the log`,
      });
      continue;
    }
    const logSide = { amount: x.amount, currency: x.currency, at: x.at, position: x.position };
    if (x.currency !== line.currency)
      items.push({
        kind: "currency_mismatch",
        ...ids,
        log: logSide,
        gateway,
        detail: `log ${x.currency}, gateway ${line.currency} (line ${line.line})`,
      });
    else if (x.amount !== line.amount)
      items.push({
        kind: "amount_mismatch",
        ...ids,
        log: logSide,
        gateway,
        detail: `log ${x.amount}, gateway ${line.amount} (line ${line.line})`,
      });
    else items.push({ kind: "matched", ...ids, log: logSide, gateway, detail: `line ${line.line}` });
  }
  for (const [key, x] of log) {
    if (seen.has(key)) continue;
    const t = Date.parse(x.at);
    if (!period || t < period.from.getTime() || t >= period.to.getTime()) continue;
    items.push({
      kind: "missing_at_gateway",
      type: x.type,
      paymentId: x.paymentId,
      ...(x.refundId ? { refundId: x.refundId } : {}),
      log: { amount: x.amount, currency: x.currency, at: x.at, position: x.position },
      detail: `${key} (${x.amount} ${x.currency} at ${x.at}) is not in the report`,
    });
  }
  return items;
}

/** Every capture and processed refund in the log, with its payment's currency. */
export async function settledItemsInLog(ctx: CliContext): Promise<LogItem[]> {
  const currency = new Map<string, string>();
  const items: LogItem[] = [];
  await forEachPage(
    ctx,
    "settlement: reading captures and refunds",
    { filter: { streamCategories: ["payment"], eventTypes: ["PaymentInitiated", "PaymentCaptured", "RefundProcessed"] } },
    (events) => {
      for (const e of events) {
        const d = e.data as { paymentId: string; refundId?: string; amount: number; currency?: string };
        if (e.type === "PaymentInitiated") {
          currency.set(d.paymentId, d.currency ?? "INR");
          continue;
        }
        const at = eventTime(e).toISOString();
        const base = { paymentId: d.paymentId, amount: d.amount, at, position: e.position };
        if (e.type === "PaymentCaptured")
          items.push({ type: "CAPTURE", ...base, currency: d.currency ?? currency.get(d.paymentId) ?? "INR" });
        else items.push({ type: "REFUND", ...base, refundId: d.refundId!, currency: currency.get(d.paymentId) ?? "INR" });
      }
    },
  );
  return items;
}

export async function settlementCommand(
  ctx: CliContext,
  lines: SettlementLine[],
  period: { from: Date; to: Date } | null,
  format: ReportFormat,
): Promise<ExitCodeValue> {
  const items = matchSettlement(await settledItemsInLog(ctx), lines, period);
  const counts = Object.fromEntries(
    (
      [
        "matched",
        "missing_at_gateway",
        "missing_in_log",
        "amount_mismatch",
        "currency_mismatch",
        "duplicate_in_report",
        "duplicate_in_log",
      ] as const
    ).map((k) => [k, items.filter((i) => i.kind === k).length]),
  );
  const problems = items.filter((i) => i.kind !== "matched");
  const periodJson = period ? { from: period.from.toISOString(), to: period.to.toISOString() } : null;
  const { out } = ctx;
  if (format === "json") out.json({ period: periodJson, counts, items });
  else if (format === "csv") {
    out.line(
      stringify(
        items.map((i) => [
          i.kind,
          i.type,
          i.paymentId,
          i.refundId ?? "",
          i.log?.amount ?? "",
          i.log?.currency ?? "",
          i.log?.position ?? "",
          i.gateway?.amount ?? "",
          i.gateway?.currency ?? "",
          i.gateway?.line ?? "",
          i.detail,
        ]),
        {
          header: true,
          columns: [
            "kind",
            "type",
            "paymentId",
            "refundId",
            "logAmount",
            "logCurrency",
            "logPosition",
            "gatewayAmount",
            "gatewayCurrency",
            "reportLine",
            "detail",
          ],
        },
      ).trimEnd(),
    );
  } else {
    out.table(Object.keys(counts), [Object.values(counts)]);
    if (problems.length > 0)
      out.table(
        ["kind", "type", "payment", "refund", "detail"],
        problems.map((i) => [i.kind, i.type, i.paymentId, i.refundId ?? "", i.detail]),
      );
  }
  return problems.length > 0 ? ExitCode.finding : ExitCode.ok;
}
