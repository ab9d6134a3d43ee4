// The consumers by name, for the app (in-process) and scripts/consumer.ts (alone).

import { analyticsConsumer, ANALYTICS } from "./analytics/analytics.js";
import type { ConsumerDefinition } from "./consumer.js";
import { notificationsConsumer, NOTIFICATIONS } from "./notifications/notifications.js";
import type { NotificationSender } from "./notifications/sender.js";

export const CONSUMER_NAMES = [NOTIFICATIONS, ANALYTICS] as const;
export type ConsumerName = (typeof CONSUMER_NAMES)[number];

export function consumerDefinition(name: ConsumerName, options: { sender?: NotificationSender } = {}): ConsumerDefinition {
  return name === NOTIFICATIONS ? notificationsConsumer(options.sender) : analyticsConsumer();
}

export { startConsumer, type RunningConsumer, type ConsumerOptions } from "./consumer.js";
