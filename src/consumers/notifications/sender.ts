// The NotificationSender port: where a rendered customer message goes. The default adapter stores
// it (GET /api/me/notifications lists what was stored) inside the consumer's inbox transaction,
// so a message exists exactly once per event and channel. An adapter for a real email/SMS
// provider would send after that transaction, keyed by the message id for the provider's own
// de-duplication.

import type { Migration } from "../../infrastructure/sql/migrations.js";
import type { SqlExecutor } from "../../infrastructure/sql/sql-client.js";

export interface NotificationMessage {
  /** Stable per (integration event, channel). */
  id: string;
  customerId: string;
  orderId: string;
  channel: "email" | "sms";
  template: string;
  /** Email: the customer id (the provider resolves the address); SMS: the phone number. */
  recipient: string;
  subject?: string;
  body: string;
  /** When the fact happened. */
  createdAt: string;
}

export interface NotificationSender {
  send(message: NotificationMessage, context: { sql: SqlExecutor }): Promise<void>;
}

export const notificationMigrations: readonly Migration[] = [
  {
    id: "consumers/notifications/001-messages",
    sql: `
      CREATE TABLE notification_contacts (
        order_id text PRIMARY KEY,
        customer_id text NOT NULL,
        name text NOT NULL,
        phone text NOT NULL
      );
      CREATE TABLE notification_messages (
        id uuid PRIMARY KEY,
        customer_id text NOT NULL,
        order_id text NOT NULL,
        channel text NOT NULL,
        template text NOT NULL,
        recipient text NOT NULL,
        subject text,
        body text NOT NULL,
        created_at timestamptz NOT NULL,
        stored_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX notification_messages_customer ON notification_messages (customer_id, created_at DESC);
    `,
  },
  {
    // Topics are ordered each on its own: a payment event may arrive before its order's placed
    // event (the one that carries the phone). Its SMS waits here until the number is known.
    id: "consumers/notifications/002-sms-awaiting-contact",
    sql: `
      CREATE TABLE notification_sms_awaiting_contact (
        id uuid PRIMARY KEY,
        order_id text NOT NULL,
        customer_id text NOT NULL,
        template text NOT NULL,
        body text NOT NULL,
        created_at timestamptz NOT NULL
      );
      CREATE INDEX notification_sms_awaiting_contact_order ON notification_sms_awaiting_contact (order_id);
    `,
  },
];

/** The default sender: keeps every message in notification_messages. */
export const storedNotificationSender: NotificationSender = {
  async send(m, { sql }) {
    await sql.query(
      `INSERT INTO notification_messages (id, customer_id, order_id, channel, template, recipient, subject, body, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING`,
      [m.id, m.customerId, m.orderId, m.channel, m.template, m.recipient, m.subject ?? null, m.body, m.createdAt],
    );
  },
};
