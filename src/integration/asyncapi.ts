// The AsyncAPI 3.0 document of every topic and message this service publishes, built from the
// catalog (so it cannot drift from what the translator emits). Served at GET /docs/asyncapi.json.

import { AGGREGATE_TYPES, DEFAULT_NAMESPACE, integrationEventTypes, topicOf, type IntegrationEventType } from "./catalog.js";

const KEY_OF: Record<(typeof AGGREGATE_TYPES)[number], string> = {
  order: "the order id",
  payment: "the order id of the payment (so a payment's events share the order's partition order)",
  inventory: "the SKU",
  product: "the product id (its SKU)",
};

const messageName = (e: IntegrationEventType): string => e.type.replace(/^commerce\./, "").replace(/[^A-Za-z0-9]+/g, "_");

const json = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

const headers = {
  type: "object",
  required: ["ce_id", "ce_type", "ce_source", "ce_time", "ce_specversion", "content-type", "correlationid", "causationid", "traceparent"],
  properties: {
    id: { type: "string", description: "same as ce_id (Debezium's outbox router always sets it; the relay matches it)" },
    ce_id: {
      type: "string",
      format: "uuid",
      description: "derived from the source domain event's id and the type: the same on every replay, so consumers drop duplicates by it",
    },
    ce_type: { type: "string", description: "the versioned type, e.g. commerce.order.confirmed.v1" },
    ce_source: { type: "string", description: "/commerce/<aggregate type>" },
    ce_time: { type: "string", format: "date-time", description: "when the fact happened (UTC)" },
    ce_specversion: { type: "string", const: "1.0" },
    "content-type": { type: "string", const: "application/json" },
    correlationid: { type: "string", description: "the request or process the fact belongs to" },
    causationid: { type: "string", description: "the id of the domain event it was translated from" },
    traceparent: { type: "string", pattern: "^00-[0-9a-f]{32}-[0-9a-f]{16}-01$", description: "W3C trace context" },
  },
};

export function asyncApiDocument(options: { namespace?: string; servers?: string[] } = {}): Record<string, unknown> {
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  for (const aggregate of AGGREGATE_TYPES) {
    const events = integrationEventTypes.filter((e) => e.aggregateType === aggregate);
    channels[aggregate] = {
      address: topicOf(aggregate, namespace),
      title: `${aggregate} events`,
      description: `Integration events of ${aggregate} aggregates. Key: ${KEY_OF[aggregate]}; per key, events arrive in commit order. Delivery is at least once: drop duplicates by ce_id.`,
      messages: Object.fromEntries(events.map((e) => [messageName(e), { $ref: `#/components/messages/${messageName(e)}` }])),
    };
    operations[`publish_${aggregate}_events`] = {
      action: "send",
      channel: { $ref: `#/channels/${aggregate}` },
      summary: `The commerce core publishes ${aggregate} events`,
      messages: events.map((e) => ({ $ref: `#/channels/${aggregate}/messages/${messageName(e)}` })),
    };
    for (const e of events) {
      messages[messageName(e)] = {
        name: e.type,
        title: e.type,
        summary: e.summary,
        description:
          e.personalDataFor.length > 0
            ? `Carries personal data (shipping address and phone) because ${e.personalDataFor.join(" and ")} need it; keep it out of logs and analytics stores.`
            : "Carries no personal data: the customer is named by id only.",
        contentType: "application/json",
        headers,
        payload: json(e.schema),
        bindings: { kafka: { key: { type: "string", description: KEY_OF[aggregate] }, bindingVersion: "0.5.0" } },
        tags: e.personalDataFor.length > 0 ? [{ name: "personal-data" }] : [{ name: "no-personal-data" }],
        "x-personal-data-for": [...e.personalDataFor],
        "x-translated-from": e.from,
      };
    }
  }
  return {
    asyncapi: "3.0.0",
    info: {
      title: "Commerce core integration events",
      version: "1.0.0",
      description:
        "Public, versioned integration events translated from the commerce core's domain events and published to Kafka (Debezium outbox on PostgreSQL, in-process relay otherwise). CloudEvents 1.0 binary mode: attributes in ce_* headers, the event data as the JSON value. A type's schema never changes: a change is published as a new version (…v2) beside the old one.",
    },
    defaultContentType: "application/json",
    servers: Object.fromEntries(
      (options.servers ?? ["localhost:9092"]).map((host, i) => [
        `kafka${i === 0 ? "" : i}`,
        { host, protocol: "kafka", description: "Kafka broker" },
      ]),
    ),
    channels,
    operations,
    components: { messages },
  };
}
