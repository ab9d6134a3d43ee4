// Helpers for driving orders through the API in tests.

import { currentHead } from "../../src/projections/index.js";
import { address, eventually, type TestApp } from "./harness.js";

export async function placeOrder(
  app: TestApp,
  token: string,
  items: { sku: string; quantity: number }[],
  paymentMethod = "UPI",
  key?: string,
) {
  const res = await app.request("POST", "/api/orders", {
    token,
    body: { items, shippingAddress: address, paymentMethod },
    ...(key ? { headers: { "idempotency-key": key } } : {}),
  });
  if (res.status !== 202) throw new Error(`place order: ${res.status} ${res.text}`);
  return res.body as { orderId: string; status: string; position: string };
}

export async function awaitOrder(app: TestApp, token: string, orderId: string, predicate: (o: any) => boolean, what: string) {
  return eventually(
    async () => {
      const res = await app.request("GET", `/api/orders/${orderId}`, { token });
      return res.status === 200 && predicate(res.body) ? res.body : undefined;
    },
    20_000,
    `${what} (order ${orderId})`,
  );
}

export const awaitStatus = (app: TestApp, token: string, orderId: string, ...statuses: string[]) =>
  awaitOrder(app, token, orderId, (o) => statuses.includes(o.status), statuses.join("|"));

export function paymentEvent(
  type: string,
  paymentId: string,
  amount: number,
  id = `evt-${type}-${paymentId}-${Math.random().toString(36).slice(2)}`,
  extra: Record<string, unknown> = {},
) {
  return {
    id,
    type,
    created: new Date().toISOString(),
    data: { paymentId, gatewayPaymentId: `sim_pay_${paymentId}`, amount, currency: "INR", ...extra },
  };
}

/** The log's head now, URL-encoded for ?waitFor=: reads after writes that answer no position (the saga's, a webhook's) wait for it. */
export const logHead = async (app: TestApp): Promise<string> => encodeURIComponent(await currentHead(app.built.store));
