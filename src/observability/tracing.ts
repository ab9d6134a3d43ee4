// Traces with OpenTelemetry. Code everywhere uses only @opentelemetry/api, which does nothing
// until an SDK is registered: main.ts starts one (src/observability/sdk.ts) when
// OTEL_EXPORTER_OTLP_ENDPOINT is set, and tests register an in-memory exporter.
//
// One order's whole flow is one trace although it crosses asynchronous hops (HTTP request ->
// events -> saga step -> commands -> events -> ...): every appended event stores the trace id
// of the span it was written in (metadata.traceId), and a processor handling an event continues
// that trace (`continueTraceOf`), so the commands it issues write the same trace id again. The
// payment gateway's webhook, a request of its own, continues the trace its payment was initiated
// in (src/payments/gateway-events.ts), linked to the request's span.

import {
  context,
  isSpanContextValid,
  ROOT_CONTEXT,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type Context,
  type Link,
  type Span,
} from "@opentelemetry/api";
import type { EventStore, RecordedEvent } from "../eventstore/port.js";

const tracer = () => trace.getTracer("commerce");

/**
 * Runs `work` in a new active span named `name`, a child of `parent` (default: the active span),
 * linked to `links`; an exception marks the span as failed and is rethrown.
 */
export function inSpan<T>(
  name: string,
  attributes: Attributes,
  work: (span: Span) => Promise<T>,
  parent: Context = context.active(),
  links: Link[] = [],
): Promise<T> {
  return tracer().startActiveSpan(name, { attributes, links }, parent, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.recordException(error instanceof Error ? error : String(error));
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Whether a registered tracer provider records spans (the API's default one records none). */
export function spansAreRecorded(): boolean {
  // Started, never ended: a span is exported when it ends, so this probe reaches no exporter.
  return tracer().startSpan("probe").isRecording();
}

/** The trace id of the active span, to store in the metadata of events written now; undefined outside a recorded trace. */
export function activeTraceId(): string | undefined {
  const spanContext = trace.getSpan(context.active())?.spanContext();
  return spanContext && isSpanContextValid(spanContext) ? spanContext.traceId : undefined;
}

const TRACE_ID = /^[0-9a-f]{32}$/;

/**
 * A context in the trace `event` was written in: spans started in it join that trace. The parent
 * span id is derived from the event id (the span that wrote the event is not stored, only its
 * trace), so the event stands in the trace as a remote parent. Without a stored trace id: a fresh trace.
 */
export function continueTraceOf(event: Pick<RecordedEvent, "id" | "metadata">): Context {
  const traceId = event.metadata.traceId;
  if (typeof traceId !== "string" || !TRACE_ID.test(traceId) || /^0+$/.test(traceId)) return ROOT_CONTEXT;
  const spanId = event.id.replace(/-/g, "").slice(0, 16).padEnd(16, "1");
  const parent = { traceId, spanId: /^0+$/.test(spanId) ? "1".repeat(16) : spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true };
  return trace.setSpanContext(ROOT_CONTEXT, parent);
}

/**
 * A link to the active span, for a span that continues another trace (the payment webhook's
 * request, from the span continuing the order's trace); none outside a recorded trace.
 */
export function linksToActive(): Link[] {
  const spanContext = trace.getSpan(context.active())?.spanContext();
  return spanContext && isSpanContextValid(spanContext) ? [{ context: spanContext }] : [];
}

/**
 * The event store with a span around every append (`appendToStream` and any other `append*`
 * method of the port), named after the method, with the stream and event count. Reads are not
 * traced: they are many and cheap, and the command span around them says enough.
 */
export function tracedEventStore<Store extends EventStore>(store: Store): Store {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      // Bound to the adapter itself: its methods may use private fields, which a proxy as `this` would break.
      if (typeof property !== "string" || !property.startsWith("append")) return (value as (...a: unknown[]) => unknown).bind(target);
      return (...args: unknown[]) => {
        const [first, events] = args;
        const attributes: Attributes =
          typeof first === "string"
            ? { "eventstore.stream": first, "eventstore.events": Array.isArray(events) ? events.length : 0 }
            : { "eventstore.streams": Array.isArray(first) ? first.length : 0 };
        return inSpan(`eventstore.${property}`, attributes, () =>
          Promise.resolve((value as (...a: unknown[]) => unknown).apply(target, args)),
        );
      };
    },
  });
}
