// A payment gateway's settlement report, generated for tests (and for the sample under docs/):
// the captures and processed refunds of the log as the gateway would settle them, which a test
// then perturbs to plant each kind of mismatch. Columns: docs/settlement-csv.md.

import { stringify } from "csv-stringify/sync";
import type { EventStore } from "../../src/eventstore/port.js";

export interface SettlementRow {
  type: "CAPTURE" | "REFUND";
  paymentId: string;
  refundId?: string;
  amount: number;
  currency: string;
  settledAt: string;
  gatewayReference?: string;
}

export const settlementCsv = (rows: readonly SettlementRow[]): string =>
  stringify(
    rows.map((r) => [r.type, r.paymentId, r.refundId ?? "", r.amount, r.currency, r.settledAt, r.gatewayReference ?? ""]),
    { header: true, columns: ["type", "payment_id", "refund_id", "amount", "currency", "settled_at", "gateway_reference"] },
  );

/** Every capture and processed refund in the log, settled at the time the log has for it. */
export async function settlementRowsFromLog(store: EventStore): Promise<SettlementRow[]> {
  const rows: SettlementRow[] = [];
  const currency = new Map<string, string>();
  let from = "";
  for (;;) {
    const page = await store.readAll({
      from,
      maxCount: 1000,
      filter: { streamCategories: ["payment"], eventTypes: ["PaymentInitiated", "PaymentCaptured", "RefundProcessed"] },
    });
    for (const e of page.events) {
      const d = e.data as {
        paymentId: string;
        refundId?: string;
        amount: number;
        currency?: string;
        gatewayPaymentId?: string;
        at: string;
      };
      if (e.type === "PaymentInitiated") currency.set(d.paymentId, d.currency ?? "INR");
      else if (e.type === "PaymentCaptured")
        rows.push({
          type: "CAPTURE",
          paymentId: d.paymentId,
          amount: d.amount,
          currency: d.currency ?? currency.get(d.paymentId) ?? "INR",
          settledAt: d.at,
          ...(d.gatewayPaymentId ? { gatewayReference: d.gatewayPaymentId } : {}),
        });
      else
        rows.push({
          type: "REFUND",
          paymentId: d.paymentId,
          refundId: d.refundId!,
          amount: d.amount,
          currency: currency.get(d.paymentId) ?? "INR",
          settledAt: d.at,
        });
    }
    if (page.events.length === 0 || page.checkpoint === from) break;
    from = page.checkpoint;
  }
  return rows;
}
