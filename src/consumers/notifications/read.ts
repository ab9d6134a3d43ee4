// What GET /api/me/notifications lists: a customer's stored messages, newest first.

import type { SqlExecutor } from "../../infrastructure/sql/sql-client.js";

export interface NotificationView {
  id: string;
  channel: "email" | "sms";
  template: string;
  subject?: string;
  body: string;
  orderId: string;
  createdAt: string;
}

export async function listNotifications(sql: SqlExecutor, customerId: string, limit = 100): Promise<NotificationView[]> {
  const exists = await sql.query<{ t: string | null }>("SELECT to_regclass('notification_messages')::text AS t");
  if (!exists.rows[0]?.t) return [];
  const { rows } = await sql.query<{
    id: string;
    channel: "email" | "sms";
    template: string;
    subject: string | null;
    body: string;
    order_id: string;
    created_at: Date | string;
  }>(
    `SELECT id::text AS id, channel, template, subject, body, order_id, created_at
       FROM notification_messages WHERE customer_id = $1 ORDER BY created_at DESC, channel LIMIT $2`,
    [customerId, limit],
  );
  return rows.map((r) => ({
    id: r.id,
    channel: r.channel,
    template: r.template,
    ...(r.subject === null ? {} : { subject: r.subject }),
    body: r.body,
    orderId: r.order_id,
    createdAt: new Date(r.created_at).toISOString(),
  }));
}
