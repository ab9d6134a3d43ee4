// The analytics consumer: sales per hour, per top-level category and in total (category "*"):
// orders, units, GMV (the lines' value at catalog prices), cancellations, refunds, and how many
// of the orders placed in the hour were delivered (conversion = delivered / orders). Day buckets
// are sums of hours (read.ts). Everything is kept in PostgreSQL in the inbox transaction.

import type { Migration } from "../../infrastructure/sql/migrations.js";
import type { SqlExecutor } from "../../infrastructure/sql/sql-client.js";
import type { ConsumerDefinition } from "../consumer.js";

export const ANALYTICS = "analytics";
export const ALL_CATEGORIES = "*";
export const UNCATEGORISED = "uncategorised";

export const analyticsMigrations: readonly Migration[] = [
  {
    id: "consumers/analytics/001-sales",
    sql: `
      CREATE TABLE analytics_orders (
        order_id text PRIMARY KEY,
        placed_at timestamptz NOT NULL,
        currency text NOT NULL,
        categories jsonb NOT NULL
      );
      CREATE TABLE analytics_sales (
        bucket timestamptz NOT NULL,
        category text NOT NULL,
        currency text NOT NULL,
        orders int NOT NULL DEFAULT 0,
        units int NOT NULL DEFAULT 0,
        gmv bigint NOT NULL DEFAULT 0,
        cancellations int NOT NULL DEFAULT 0,
        refunds int NOT NULL DEFAULT 0,
        refunded_amount bigint NOT NULL DEFAULT 0,
        delivered int NOT NULL DEFAULT 0,
        PRIMARY KEY (bucket, category, currency)
      );
    `,
  },
];

interface Delta {
  orders?: number;
  units?: number;
  gmv?: number;
  cancellations?: number;
  refunds?: number;
  refundedAmount?: number;
  delivered?: number;
}

async function add(sql: SqlExecutor, at: string, category: string, currency: string, d: Delta): Promise<void> {
  await sql.query(
    `INSERT INTO analytics_sales (bucket, category, currency, orders, units, gmv, cancellations, refunds, refunded_amount, delivered)
     VALUES (date_trunc('hour', $1::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (bucket, category, currency) DO UPDATE SET
       orders = analytics_sales.orders + excluded.orders,
       units = analytics_sales.units + excluded.units,
       gmv = analytics_sales.gmv + excluded.gmv,
       cancellations = analytics_sales.cancellations + excluded.cancellations,
       refunds = analytics_sales.refunds + excluded.refunds,
       refunded_amount = analytics_sales.refunded_amount + excluded.refunded_amount,
       delivered = analytics_sales.delivered + excluded.delivered`,
    [
      at,
      category,
      currency,
      d.orders ?? 0,
      d.units ?? 0,
      d.gmv ?? 0,
      d.cancellations ?? 0,
      d.refunds ?? 0,
      d.refundedAmount ?? 0,
      d.delivered ?? 0,
    ],
  );
}

interface OrderRow {
  placed_at: Date | string;
  currency: string;
  categories: unknown;
}

async function orderOf(
  sql: SqlExecutor,
  orderId: unknown,
): Promise<{ placedAt: string; currency: string; categories: string[] } | undefined> {
  const { rows } = await sql.query<OrderRow>("SELECT placed_at, currency, categories FROM analytics_orders WHERE order_id = $1", [orderId]);
  const r = rows[0];
  if (!r) return undefined;
  const categories = typeof r.categories === "string" ? (JSON.parse(r.categories) as string[]) : (r.categories as string[]);
  return { placedAt: new Date(r.placed_at).toISOString(), currency: r.currency, categories };
}

export function analyticsConsumer(): ConsumerDefinition {
  return {
    name: ANALYTICS,
    aggregateTypes: ["order", "payment"],
    migrations: analyticsMigrations,
    async handle(event, sql) {
      const d = event.data;
      switch (event.type) {
        case "commerce.order.placed.v1": {
          const items = d.items as { quantity: number; unitPrice: number; category: string[] }[];
          const currency = String(d.currency);
          const byCategory = new Map<string, { units: number; gmv: number }>();
          for (const i of items) {
            const c = i.category[0] ?? UNCATEGORISED;
            const v = byCategory.get(c) ?? { units: 0, gmv: 0 };
            byCategory.set(c, { units: v.units + i.quantity, gmv: v.gmv + i.quantity * i.unitPrice });
          }
          await sql.query(
            "INSERT INTO analytics_orders (order_id, placed_at, currency, categories) VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT (order_id) DO NOTHING",
            [d.orderId, d.placedAt, currency, JSON.stringify([...byCategory.keys()])],
          );
          const units = items.reduce((n, i) => n + i.quantity, 0);
          const gmv = items.reduce((n, i) => n + i.quantity * i.unitPrice, 0);
          await add(sql, String(d.placedAt), ALL_CATEGORIES, currency, { orders: 1, units, gmv });
          for (const [c, v] of byCategory) await add(sql, String(d.placedAt), c, currency, { orders: 1, ...v });
          return;
        }
        case "commerce.order.cancelled.v1": {
          const o = await orderOf(sql, d.orderId);
          for (const c of [ALL_CATEGORIES, ...(o?.categories ?? [])])
            await add(sql, String(d.cancelledAt), c, String(d.currency), { cancellations: 1 });
          return;
        }
        case "commerce.order.delivered.v1": {
          // Conversion is counted in the hour the order was placed.
          const o = await orderOf(sql, d.orderId);
          if (!o) return;
          for (const c of [ALL_CATEGORIES, ...o.categories]) await add(sql, o.placedAt, c, o.currency, { delivered: 1 });
          return;
        }
        case "commerce.payment.refund_processed.v1": {
          const o = await orderOf(sql, d.orderId);
          await add(sql, String(d.processedAt), ALL_CATEGORIES, String(d.currency), { refunds: 1, refundedAmount: Number(d.amount) });
          for (const c of o?.categories ?? []) await add(sql, String(d.processedAt), c, String(d.currency), { refunds: 1 });
          return;
        }
      }
    },
  };
}
