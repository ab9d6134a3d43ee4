// An integration event as it leaves the service, and the one way it becomes a Kafka record.
// Both transports (the Debezium outbox connector and the in-process relay) publish exactly what
// `kafkaRecordOf` describes: key = the aggregate's public id, value = the payload's JSON bytes
// as stored, CloudEvents 1.0 binary-mode headers plus correlation, causation and trace headers.

import { createHash } from "node:crypto";
import type { AggregateType } from "./catalog.js";

export interface IntegrationEvent {
  /** Derived from the source event's id and the integration type: the same on every replay. */
  id: string;
  /** e.g. `commerce.order.confirmed.v1` */
  type: string;
  /** CloudEvents source, e.g. `/commerce/order`. */
  source: string;
  /** ISO-8601 UTC: when the fact happened. */
  time: string;
  aggregateType: AggregateType;
  /** The Kafka key: order id (order and payment events), SKU (inventory), product id (product). */
  key: string;
  payload: unknown;
  correlationId: string;
  /** The domain event this was translated from. */
  causationId: string;
  /** W3C trace context of the request that caused it. */
  traceparent: string;
}

export const CE_SPECVERSION = "1.0";
export const CONTENT_TYPE = "application/json";

/** A name-based UUID (version 5 layout over SHA-256) of the source event id and the integration type. */
export function integrationEventId(sourceEventId: string, integrationType: string): string {
  const h = createHash("sha256").update(`${sourceEventId}\u0000${integrationType}`).digest();
  h[6] = ((h[6] ?? 0) & 0x0f) | 0x50;
  h[8] = ((h[8] ?? 0) & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

/**
 * `00-<trace id>-<span id>-01`. The trace id is the request's (metadata.traceId) when it is a W3C
 * one, else derived from the correlation id so every event of one request shares a trace; the
 * span id is derived from the source event id. Never absent, so both transports carry it alike.
 */
export function traceparentOf(traceId: string | undefined, correlationId: string, sourceEventId: string): string {
  const trace =
    traceId && /^[0-9a-f]{32}$/.test(traceId) && !/^0+$/.test(traceId)
      ? traceId
      : createHash("sha256").update(`trace:${correlationId}`).digest("hex").slice(0, 32);
  const span = createHash("sha256").update(`span:${sourceEventId}`).digest("hex").slice(0, 16);
  return `00-${trace}-${span}-01`;
}

/** The payload's bytes: compact JSON, UTF-8. Stored as such, published as such. */
export const payloadBytes = (payload: unknown): Buffer => Buffer.from(JSON.stringify(payload), "utf8");

export interface KafkaRecordShape {
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}

/**
 * The headers of a published event. `id` is there because Debezium's outbox router always adds the
 * row id under that name; the relay adds it too so both transports' records are identical.
 */
export function headersOf(
  e: Pick<IntegrationEvent, "id" | "type" | "source" | "time" | "correlationId" | "causationId" | "traceparent">,
): Record<string, string> {
  return {
    id: e.id,
    ce_id: e.id,
    ce_type: e.type,
    ce_source: e.source,
    ce_time: e.time,
    ce_specversion: CE_SPECVERSION,
    "content-type": CONTENT_TYPE,
    correlationid: e.correlationId,
    causationid: e.causationId,
    traceparent: e.traceparent,
  };
}
