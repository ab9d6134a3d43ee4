// The payment gateway's settlement report: one CSV line per capture or refund the gateway
// settled. Columns (docs/settlement-csv.md): type, payment_id, refund_id, amount, currency,
// settled_at, gateway_reference. A header line naming the columns comes first (any order; extra
// columns are ignored). A malformed line is bad usage: the whole file is refused, naming the line.

import { parse } from "csv-parse/sync";
import { UsageError } from "./usage.js";

export const SETTLEMENT_COLUMNS = ["type", "payment_id", "refund_id", "amount", "currency", "settled_at", "gateway_reference"] as const;
const REQUIRED = ["type", "payment_id", "refund_id", "amount", "currency", "settled_at"] as const;

export interface SettlementLine {
  /** 1-based line number in the file (the header is line 1). */
  line: number;
  type: "CAPTURE" | "REFUND";
  paymentId: string;
  refundId?: string;
  amount: number;
  currency: string;
  settledAt: string;
  gatewayReference?: string;
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

export function parseSettlement(text: string, file: string): SettlementLine[] {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, {
      info: true,
      relax_column_count: false,
      skip_empty_lines: true,
      trim: true,
      bom: true,
    }) as unknown as typeof records;
  } catch (error) {
    const e = error as { lines?: number; message?: string };
    throw new UsageError(`${file} line ${e.lines ?? "?"}: not valid CSV (${(e.message ?? String(error)).replace(/^Invalid [^:]*: /, "")})`);
  }
  const [header, ...rows] = records;
  if (!header) throw new UsageError(`${file}: empty (expected a header line: ${SETTLEMENT_COLUMNS.join(",")})`);
  const names = header.record.map((h) => h.toLowerCase());
  const missing = REQUIRED.filter((c) => !names.includes(c));
  if (missing.length > 0)
    throw new UsageError(
      `${file} line ${header.info.lines}: header lacks column(s) ${missing.join(", ")} (expected ${SETTLEMENT_COLUMNS.join(",")})`,
    );
  const col = (row: string[], name: string) => row[names.indexOf(name)] ?? "";
  return rows.map(({ record, info }) => {
    const bad = (problem: string) => new UsageError(`${file} line ${info.lines}: ${problem}`);
    const type = col(record, "type").toUpperCase();
    if (type !== "CAPTURE" && type !== "REFUND") throw bad(`type "${col(record, "type")}" is not CAPTURE or REFUND`);
    const paymentId = col(record, "payment_id");
    if (!paymentId) throw bad("payment_id is empty");
    const refundId = col(record, "refund_id");
    if (type === "REFUND" && !refundId) throw bad("a REFUND line needs its refund_id");
    const amountText = col(record, "amount");
    if (!/^\d{1,15}$/.test(amountText)) throw bad(`amount "${amountText}" is not a whole number of minor units (paise)`);
    const currency = col(record, "currency");
    if (!/^[A-Z]{3}$/.test(currency)) throw bad(`currency "${currency}" is not an ISO 4217 code`);
    const settledAt = col(record, "settled_at");
    if (!ISO_TIME.test(settledAt) || Number.isNaN(Date.parse(settledAt))) throw bad(`settled_at "${settledAt}" is not an ISO-8601 time`);
    const gatewayReference = names.includes("gateway_reference") ? col(record, "gateway_reference") : "";
    return {
      line: info.lines,
      type,
      paymentId,
      ...(type === "REFUND" ? { refundId } : {}),
      amount: Number(amountText),
      currency,
      settledAt: new Date(Date.parse(settledAt)).toISOString(),
      ...(gatewayReference ? { gatewayReference } : {}),
    };
  });
}
