// The notifications consumer: remembers each order's contact (name and phone, from
// commerce.order.placed.v1, the one event that carries them) and, on confirmation, shipping,
// delivery, cancellation and processed refunds, renders the customer's email and SMS and hands
// them to the NotificationSender, all in the inbox transaction.

import { integrationEventId } from "../../integration/envelope.js";
import type { ConsumerDefinition } from "../consumer.js";
import { notificationMigrations, storedNotificationSender, type NotificationSender } from "./sender.js";
import { render } from "./templates.js";

export const NOTIFICATIONS = "notifications";

export function notificationsConsumer(sender: NotificationSender = storedNotificationSender): ConsumerDefinition {
  return {
    name: NOTIFICATIONS,
    aggregateTypes: ["order", "payment"],
    migrations: notificationMigrations,
    async handle(event, sql) {
      const d = event.data;
      // One order's events at a time (order and payment topics are consumed side by side): else a
      // text could check for the contact while the placed event's transaction is still open, wait
      // for it, and miss the placed event's look for waiting texts.
      await sql.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`notifications:${String(d.orderId)}`]);
      if (event.type === "commerce.order.placed.v1") {
        const a = d.shippingAddress as { name: string; phone: string };
        await sql.query(
          "INSERT INTO notification_contacts (order_id, customer_id, name, phone) VALUES ($1, $2, $3, $4) ON CONFLICT (order_id) DO NOTHING",
          [d.orderId, d.customerId, a.name, a.phone],
        );
        // Texts of this order's events that arrived before the number did.
        const { rows: waiting } = await sql.query<{ id: string; template: string; body: string; created_at: Date | string }>(
          "DELETE FROM notification_sms_awaiting_contact WHERE order_id = $1 RETURNING id::text AS id, template, body, created_at",
          [d.orderId],
        );
        for (const w of waiting) {
          await sender.send(
            {
              id: w.id,
              customerId: String(d.customerId),
              orderId: String(d.orderId),
              channel: "sms",
              template: w.template,
              recipient: a.phone,
              body: w.body,
              createdAt: new Date(w.created_at).toISOString(),
            },
            { sql },
          );
        }
        return;
      }
      const { rows } = await sql.query<{ name: string; phone: string }>(
        "SELECT name, phone FROM notification_contacts WHERE order_id = $1",
        [d.orderId],
      );
      const contact = rows[0];
      const message = render(event, contact?.name ?? "there");
      if (!message) return;
      const base = { customerId: String(d.customerId), orderId: String(d.orderId), template: message.template, createdAt: event.time };
      await sender.send(
        {
          ...base,
          id: integrationEventId(event.id, "email"),
          channel: "email",
          recipient: String(d.customerId),
          subject: message.subject,
          body: message.email,
        },
        { sql },
      );
      const smsId = integrationEventId(event.id, "sms");
      if (contact) await sender.send({ ...base, id: smsId, channel: "sms", recipient: contact.phone, body: message.sms }, { sql });
      else {
        // The placed event (with the phone) has not arrived yet: the text waits for it.
        await sql.query(
          "INSERT INTO notification_sms_awaiting_contact (id, order_id, customer_id, template, body, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
          [smsId, base.orderId, base.customerId, base.template, message.sms, base.createdAt],
        );
      }
    },
  };
}
