// What GET /api/analytics/sales answers: the hourly sales rows summed per hour or UTC day.

import type { SqlExecutor } from "../../infrastructure/sql/sql-client.js";
import { ALL_CATEGORIES } from "./analytics.js";

export interface SalesBucket {
  start: string;
  orders: number;
  units: number;
  gmv: number;
  cancellations: number;
  refunds: number;
  refundedAmount: number;
  delivered: number;
  /** delivered / orders of the bucket's orders; 0 when there were none. */
  conversion: number;
  currency: string;
}

export async function salesBuckets(
  sql: SqlExecutor,
  q: { from: string; to: string; granularity: "day" | "hour"; category?: string },
): Promise<SalesBucket[]> {
  const exists = await sql.query<{ t: string | null }>("SELECT to_regclass('analytics_sales')::text AS t");
  if (!exists.rows[0]?.t) return [];
  const { rows } = await sql.query<Record<string, string | number | Date>>(
    `SELECT date_trunc($1, bucket AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS start, currency,
            sum(orders)::bigint AS orders, sum(units)::bigint AS units, sum(gmv)::bigint AS gmv,
            sum(cancellations)::bigint AS cancellations, sum(refunds)::bigint AS refunds,
            sum(refunded_amount)::bigint AS refunded_amount, sum(delivered)::bigint AS delivered
       FROM analytics_sales
      WHERE category = $2
        AND bucket >= date_trunc($1, $3::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
        AND bucket < $4::timestamptz
      GROUP BY 1, 2 ORDER BY 1, 2`,
    [q.granularity, q.category ?? ALL_CATEGORIES, q.from, q.to],
  );
  return rows.map((r) => {
    const orders = Number(r.orders);
    const delivered = Number(r.delivered);
    return {
      start: new Date(r.start as string).toISOString(),
      orders,
      units: Number(r.units),
      gmv: Number(r.gmv),
      cancellations: Number(r.cancellations),
      refunds: Number(r.refunds),
      refundedAmount: Number(r.refunded_amount),
      delivered,
      conversion: orders === 0 ? 0 : Math.round((delivered / orders) * 10_000) / 10_000,
      currency: String(r.currency),
    };
  });
}
