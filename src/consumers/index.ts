// The consumers by name, for the app (in-process) and scripts/consumer.ts (alone).

import type { Logger } from "pino";
import type { SqlClient } from "../infrastructure/sql/sql-client.js";
import { analyticsConsumer, ANALYTICS } from "./analytics/analytics.js";
import { startConsumer as start, type ConsumerDefinition, type RunningConsumer as Running } from "./consumer.js";
import { notificationsConsumer, NOTIFICATIONS } from "./notifications/notifications.js";
import type { NotificationSender } from "./notifications/sender.js";

export const CONSUMER_NAMES = [NOTIFICATIONS, ANALYTICS] as const;
export type ConsumerName = (typeof CONSUMER_NAMES)[number];

export function consumerDefinition(name: ConsumerName, options: { sender?: NotificationSender } = {}): ConsumerDefinition {
  return name === NOTIFICATIONS ? notificationsConsumer(options.sender) : analyticsConsumer();
}

export { startConsumer } from "./consumer.js";

export interface InProcessConsumers {
  status(): Record<string, unknown>;
  stop(): Promise<void>;
}

/**
 * The consumers inside the server's process. Each starts in the background and retries until
 * Kafka answers: an unreachable broker shows in readiness, it never stops the server.
 */
export function startInProcessConsumers(
  names: readonly ConsumerName[],
  options: { sql: SqlClient; brokers: readonly string[]; namespace?: string; logger?: Logger; sender?: NotificationSender },
): InProcessConsumers {
  const running = new Map<ConsumerName, Running>();
  const errors = new Map<ConsumerName, string>();
  let stopped = false;
  const starting = names.map(async (name) => {
    for (let attempt = 1; !stopped; attempt++) {
      try {
        const c = await start(consumerDefinition(name, options.sender ? { sender: options.sender } : {}), {
          sql: options.sql,
          brokers: options.brokers,
          ...(options.namespace ? { namespace: options.namespace } : {}),
          ...(options.logger ? { logger: options.logger } : {}),
        });
        if (stopped) return void (await c.stop());
        running.set(name, c);
        errors.delete(name);
        return;
      } catch (error) {
        errors.set(name, error instanceof Error ? error.message : String(error));
        if (attempt === 1) options.logger?.warn({ err: error, consumer: name }, "consumer could not start; retrying");
        await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * attempt)));
      }
    }
  });
  return {
    status() {
      const out: Record<string, unknown> = {};
      for (const name of names) out[name] = running.get(name)?.stats() ?? { starting: errors.get(name) ?? "connecting" };
      if (names.some((n) => errors.has(n)))
        throw new Error(`consumers not running: ${[...errors].map(([n, e]) => `${n}: ${e}`).join("; ")}`);
      return out;
    },
    async stop() {
      stopped = true;
      await Promise.allSettled(starting);
      for (const c of running.values()) await c.stop();
    },
  };
}
