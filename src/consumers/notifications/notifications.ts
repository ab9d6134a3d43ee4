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
      if (event.type === "commerce.order.placed.v1") {
        const a = d.shippingAddress as { name: string; phone: string };
        await sql.query(
          "INSERT INTO notification_contacts (order_id, customer_id, name, phone) VALUES ($1, $2, $3, $4) ON CONFLICT (order_id) DO NOTHING",
          [d.orderId, d.customerId, a.name, a.phone],
        );
        return;
      }
      const { rows } = await sql.query<{ name: string; phone: string }>("SELECT name, phone FROM notification_contacts WHERE order_id = $1", [d.orderId]);
      const contact = rows[0];
      const message = render(event, contact?.name ?? "there");
      if (!message) return;
      const base = { customerId: String(d.customerId), orderId: String(d.orderId), template: message.template, createdAt: event.time };
      await sender.send({ ...base, id: integrationEventId(event.id, "email"), channel: "email", recipient: String(d.customerId), subject: message.subject, body: message.email }, { sql });
      // Without the order's placed event (it predates this consumer) there is no number to text.
      if (contact) await sender.send({ ...base, id: integrationEventId(event.id, "sms"), channel: "sms", recipient: contact.phone, body: message.sms }, { sql });
    },
  };
}
