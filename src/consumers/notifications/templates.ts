// The customer's messages, one template per notifying event, as email (subject + body) and SMS.

import type { ReceivedEvent } from "../message.js";

export interface Rendered {
  template: string;
  subject: string;
  email: string;
  sms: string;
}

const money = (minor: unknown, currency: unknown): string =>
  new Intl.NumberFormat("en-IN", { style: "currency", currency: String(currency ?? "INR") }).format(Number(minor) / 100);

const REASONS: Record<string, string> = {
  OUT_OF_STOCK: "an item went out of stock",
  PAYMENT_FAILED: "the payment failed",
  PAYMENT_TIMEOUT: "the payment was not completed in time",
  CUSTOMER_REQUEST: "you asked us to cancel it",
  ADMIN_REQUEST: "our team had to cancel it",
  FRAUD_SUSPECTED: "we could not verify it",
};

/** undefined for events that notify nobody. */
export function render(event: ReceivedEvent, name: string): Rendered | undefined {
  const d = event.data;
  const order = String(d.orderId);
  const hi = `Hi ${name},`;
  switch (event.type) {
    case "commerce.order.confirmed.v1":
      return {
        template: "order_confirmed",
        subject: `Order ${order} confirmed`,
        email: `${hi}\n\nThank you! Your order ${order} for ${money(d.totalAmount, d.currency)} is confirmed. We will tell you when it ships.`,
        sms: `Order ${order} confirmed (${money(d.totalAmount, d.currency)}). We'll let you know when it ships.`,
      };
    case "commerce.order.shipped.v1":
      return {
        template: "order_shipped",
        subject: `Order ${order} has shipped`,
        email: `${hi}\n\nYour order ${order} is on its way with ${String(d.carrier)} (tracking number ${String(d.trackingNumber)}).`,
        sms: `Order ${order} shipped with ${String(d.carrier)}, tracking ${String(d.trackingNumber)}.`,
      };
    case "commerce.order.delivered.v1":
      return {
        template: "order_delivered",
        subject: `Order ${order} delivered`,
        email: `${hi}\n\nYour order ${order} was delivered. We hope you enjoy it.`,
        sms: `Order ${order} delivered. Enjoy!`,
      };
    case "commerce.order.cancelled.v1": {
      const refund = Number(d.refundDue) > 0 ? ` ${money(d.refundDue, d.currency)} will be refunded to you.` : "";
      const why = REASONS[String(d.reason)] ?? "it could not be completed";
      return {
        template: "order_cancelled",
        subject: `Order ${order} cancelled`,
        email: `${hi}\n\nYour order ${order} was cancelled because ${why}.${refund}`,
        sms: `Order ${order} cancelled: ${why}.${refund}`,
      };
    }
    case "commerce.payment.refund_processed.v1":
      return {
        template: "refund_processed",
        subject: `Refund for order ${order}`,
        email: `${hi}\n\nWe refunded ${money(d.amount, d.currency)} for your order ${order}. It may take a few days to show in your account.`,
        sms: `Refund of ${money(d.amount, d.currency)} for order ${order} processed.`,
      };
    default:
      return undefined;
  }
}
