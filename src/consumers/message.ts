// A Kafka record read back as an integration event: CloudEvents headers plus the JSON data,
// checked against the type's schema. A record that cannot be read is poison: retrying will not
// help, so it goes to the dead-letter topic.

import type { KafkaMessage } from "kafkajs";
import { eventTypeByName, payloadErrors } from "../integration/catalog.js";

export interface ReceivedEvent {
  id: string;
  type: string;
  time: string;
  key: string;
  data: Record<string, unknown>;
  topic: string;
  partition: number;
  offset: string;
}

export class PoisonMessageError extends Error {
  override readonly name = "PoisonMessageError";
}

export const headerText = (message: KafkaMessage, name: string): string | undefined => {
  const v = message.headers?.[name];
  if (v === undefined) return undefined;
  const first = Array.isArray(v) ? v[0] : v;
  return first === undefined ? undefined : Buffer.isBuffer(first) ? first.toString("utf8") : String(first);
};

/** undefined for a type this service does not know (a newer version): consumers skip those. */
export function readEvent(topic: string, partition: number, message: KafkaMessage): ReceivedEvent | undefined {
  const id = headerText(message, "ce_id");
  const type = headerText(message, "ce_type");
  if (!id || !type) throw new PoisonMessageError("no ce_id / ce_type header");
  if (!eventTypeByName(type)) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(message.value?.toString("utf8") ?? "");
  } catch (error) {
    throw new PoisonMessageError(`value is not JSON: ${(error as Error).message}`);
  }
  const errors = payloadErrors(type, data);
  if (errors.length > 0) throw new PoisonMessageError(`${type} does not match its schema: ${errors.slice(0, 3).join("; ")}`);
  return {
    id,
    type,
    time: headerText(message, "ce_time") ?? new Date().toISOString(),
    key: message.key?.toString("utf8") ?? "",
    data: data as Record<string, unknown>,
    topic,
    partition,
    offset: message.offset,
  };
}
